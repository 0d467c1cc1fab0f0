"""The codebase's own rules: lint and format clean, Python 3.9 syntax, the domain free of Textual."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

DOMAIN = [
    "mailtui.model", "mailtui.sanitize", "mailtui.sources", "mailtui.envelope", "mailtui.parsers.postfix",
    "mailtui.parsers.sendmail", "mailtui.parsers.amavis", "mailtui.parsers.exchange", "mailtui.correlate",
    "mailtui.link", "mailtui.query", "mailtui.session", "mailtui.export", "mailtui.stats", "mailtui.cli",
    "mailtui.reasons", "mailtui.pivot", "mailtui.index", "mailtui.parallel", "mailtui.timehints",
    "mailtui.fastpath",
]  # fmt: skip


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(ROOT / ".venv" / "bin")) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return path


def test_domain_modules_do_not_import_textual_or_rich():
    code = (
        "import sys\n"
        f"for name in {DOMAIN!r}: __import__(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') or m.startswith('mailtui.ui'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == ""


def test_ruff_check_and_format_are_clean():
    ruff = _tool("ruff")
    check = subprocess.run([ruff, "check", "--quiet", "."], capture_output=True, text=True, cwd=ROOT)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run(
        [ruff, "format", "--check", "--quiet", "."], capture_output=True, text=True, cwd=ROOT
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_code_runs_on_python_3_9():
    vermin = _tool("vermin")
    result = subprocess.run(
        [
            vermin,
            "--no-tips",
            "--violations",
            "-t=3.9-",
            "--eval-annotations",
            "--backport",
            "zoneinfo",
            "mailtui",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr

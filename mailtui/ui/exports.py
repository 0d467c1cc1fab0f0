"""Write a trace's text report and JSON to the user's data directory (0700 dirs, 0600 files)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Mapping, Optional, Tuple

from mailtui.export import trace_json, trace_report
from mailtui.model import Trace
from mailtui.session import Session


def export_dir(environ: Optional[Mapping[str, str]] = None) -> Path:
    """`$XDG_DATA_HOME/mailtui/exports`, else `~/.local/share/mailtui/exports`."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or ""
    root = (
        Path(base) if base and os.path.isabs(base) else Path(env.get("HOME") or Path.home()) / ".local/share"
    )
    return root / "mailtui" / "exports"


def _make_private_dirs(path: Path) -> None:
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700)
        os.chmod(directory, 0o700)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_export(trace: Trace, session: Session, directory: Optional[Path] = None) -> Tuple[Path, Path]:
    """Write `<id>.txt` and `<id>.json` (never overwriting: `-2`, `-3`... when taken); returns both paths."""
    target = export_dir() if directory is None else directory
    _make_private_dirs(target)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", trace.id).strip("._") or "trace"
    number = 1
    while True:
        name = stem if number == 1 else f"{stem}-{number}"
        text_path, json_path = target / f"{name}.txt", target / f"{name}.json"
        if not text_path.exists() and not json_path.exists():
            break
        number += 1
    _write_private(text_path, trace_report(trace, session) + "\n")
    _write_private(
        json_path, json.dumps(trace_json(trace, session, with_text=True), indent=2, ensure_ascii=False) + "\n"
    )
    return text_path, json_path

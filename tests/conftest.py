"""Shared helpers: write a small log, load it the way the CLI does, look traces up."""

from __future__ import annotations

import os
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, List, Optional

import pytest

from mailtui.model import Trace
from mailtui.session import Session, open_logs

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
#: Logs written in tests are dated as if last written on this day, so RFC 3164 years are fixed.
MTIME = datetime(2024, 3, 15, 12, 0, tzinfo=timezone.utc).timestamp()


def write_log(directory: Path, name: str, text: str, mtime: float = MTIME) -> Path:
    """Write a dedented log file and date it."""
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


def load(*paths: Path, **options: object) -> Session:
    """open_logs in UTC, so times in assertions read as written."""
    options.setdefault("local_tz", timezone.utc)
    return open_logs([str(p) for p in paths], **options)  # type: ignore[arg-type]


def by_qid(session: Session, qid: str) -> Trace:
    """The one trace that has a hop with this queue id."""
    found = [t for t in session.traces if any(h.queue_id == qid for h in t.hops)]
    assert len(found) == 1, f"{qid}: {[t.id for t in found]}"
    return found[0]


def statuses(trace: Trace) -> dict:
    return {r.address: r.status for r in trace.recipients}


@pytest.fixture
def logdir(tmp_path: Path) -> Callable[..., Path]:
    """write_log bound to the test's own directory."""

    def make(name: str, text: str, mtime: float = MTIME) -> Path:
        return write_log(tmp_path, name, text, mtime)

    return make


def texts(session: Session, trace: Trace) -> List[str]:
    return session.read_lines(trace.lines)


def shared_or_skip(path: Path) -> Optional[Path]:
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared is beside the project in CI)")
    return path

"""Write a trace's text report and JSON, or the listed traces as CSV and JSON lines, to the export
directory: ``$MAILTUI_EXPORT_DIR`` when set, else the user's data directory (new directories 0700,
files 0600, never overwriting)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence, TextIO, Tuple

from mailtui.export import trace_json, trace_report, write_csv, write_jsonl
from mailtui.model import Trace
from mailtui.session import Session


def export_dir(environ: Optional[Mapping[str, str]] = None) -> Path:
    """`$MAILTUI_EXPORT_DIR` (`~` expanded), else `$XDG_DATA_HOME/mailtui/exports`, else
    `~/.local/share/mailtui/exports`."""
    env = os.environ if environ is None else environ
    chosen = env.get("MAILTUI_EXPORT_DIR") or ""
    if chosen:
        return Path(os.path.expanduser(chosen)).absolute()
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


def _open_private(path: Path) -> TextIO:
    """A new file, 0600, for text (fails if it exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def _free_stem(target: Path, stem: str, suffixes: Sequence[str]) -> str:
    number = 1
    while True:
        name = stem if number == 1 else f"{stem}-{number}"
        if not any((target / f"{name}{suffix}").exists() for suffix in suffixes):
            return name
        number += 1


def write_list_export(
    traces: Sequence[Trace], session: Session, directory: Optional[Path] = None, now: Optional[float] = None
) -> Tuple[Path, Path]:
    """Write `mailtui-list-<time>.csv` (the `search --csv` columns) and `.jsonl` (the `search --json`
    objects); returns both paths."""
    target = export_dir() if directory is None else directory
    _make_private_dirs(target)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    name = _free_stem(target, f"mailtui-list-{stamp}", (".csv", ".jsonl"))
    csv_path, jsonl_path = target / f"{name}.csv", target / f"{name}.jsonl"
    for path, write in (
        (csv_path, lambda h: write_csv(traces, h)),
        (jsonl_path, lambda h: write_jsonl(traces, session, h)),
    ):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
    return csv_path, jsonl_path

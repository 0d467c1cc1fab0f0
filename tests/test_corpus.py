"""Every real-world sample in ../shared/corpus loads; no line from a supported MTA goes unrecognised.

The corpus is third-party data and is never copied into this project: these tests skip when
../shared is not beside the checkout.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import pytest
from conftest import CORPUS, shared_or_skip

from mailtui.envelope import EnvelopeParser
from mailtui.parsers import postfix, sendmail
from mailtui.session import LoadedFile, open_logs

#: Files that are test fixtures or documentation, not logs.
_NOT_LOGS = {".json", ".jsonl", ".yaml", ".yml", ".md", ".ini", ".txt", ".assert"}
_NOT_LOG_NAMES = {"LICENSE", "result", "SOURCES.md"}
#: Near-misses the corpus carries on purpose: Exchange SMTP *protocol* logs and a template whose
#: dates are `%(day)s` placeholders. mailtui must refuse them with "unknown format".
NEAR_MISSES = {
    "artefacts-help/RECV2023011116-1.LOG.excerpt",
    "crowdsec-hub/exchange-smtp-bf.log",
    "crowdsec-hub/exchange-smtp-logs.log",
    "modoboa/mail.log",
}
#: Lines from supported MTAs that are unreadable by design: maillogsentinel replaced ordinary words
#: with tokens (`client=` → `anon_hostname_5=`), sergeymakinen's fixture has deliberately broken lines.
EXPECTED_UNRECOGNISED = {
    "maillogsentinel/sample_mail.log": None,  # any line
    # "postfix/unknown[12345]: foo" and "Unsupported" bodies, written to be unsupported.
    "sergeymakinen-postfix_exporter/mail.log": {3, 45, 46, 50, 60, 63, 66},
}


def corpus_logs() -> List[Path]:
    if not CORPUS.exists():
        return []
    found = []
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or path.name in _NOT_LOG_NAMES:
            continue
        if path.suffix.lower() in _NOT_LOGS:
            continue
        found.append(path)
    return found


def _name(path: Path) -> str:
    return str(path.relative_to(CORPUS))


@pytest.mark.parametrize("path", corpus_logs(), ids=_name)
def test_corpus_file_loads_and_mta_lines_are_understood(path: Path) -> None:
    shared_or_skip(CORPUS)
    missed: List[Tuple[int, str]] = []

    def unrecognised(loaded: LoadedFile, line_no: int, text: str) -> None:
        missed.append((line_no, text))

    session = open_logs([str(path)], on_unrecognised=unrecognised)
    if _name(path) in NEAR_MISSES:
        assert session.files == [] and "unknown format" in session.errors[0]
        return
    assert session.errors == []
    (loaded,) = session.files
    assert loaded.lines == sum(1 for _ in path.open("rb")) or loaded.lines >= 1
    assert loaded.unrecognised == len(missed)
    allowed = EXPECTED_UNRECOGNISED.get(_name(path), set())
    parser = EnvelopeParser(path.stat().st_mtime)
    mta_lines = []
    for line_no, text in missed:
        envelope = parser.parse(text)
        if envelope is None:
            continue
        program = envelope.program
        from_mta = (
            postfix.postfix_daemon(program) or program in sendmail.PROGRAMS or program.startswith("amavis")
        )
        if from_mta and allowed is not None and line_no not in allowed:
            mta_lines.append((line_no, text[:160]))
    assert mta_lines == []


def test_corpus_is_there_in_ci() -> None:
    """CI has ../shared beside the checkout: make sure the corpus tests above really ran."""
    shared_or_skip(CORPUS)
    assert len(corpus_logs()) >= 30

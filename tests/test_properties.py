"""Property tests (issue 4): any input to any parser or to the whole load, no exception out, and
every line counted once (`lines == parsed + unrecognised`, `lines` = the lines in the file)."""

from __future__ import annotations

import os
import tempfile
from datetime import timezone
from pathlib import Path
from typing import List

from conftest import MTIME, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailtui.envelope import EnvelopeParser
from mailtui.model import Envelope
from mailtui.parsers import amavis, postfix, sendmail
from mailtui.parsers.exchange import ExchangeReader
from mailtui.session import open_logs

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sample_lines() -> List[bytes]:
    """Real lines to splice into the noise, so the parsers get past their first check."""
    lines: List[bytes] = []
    for name in (
        "postfix/mail.log",
        "sendmail/maillog",
        "exchange/MSGTRK20240311-1.LOG",
        "syslog/rfc5424.log",
        "syslog/journal.json",
        "hostile/hostile-subjects.log",
    ):
        lines.extend((ROOT / "samples" / name).read_bytes().splitlines()[:60])
    return lines


SAMPLE_LINES = _sample_lines()
SAMPLE_TEXT = [line.decode("utf-8", "replace") for line in SAMPLE_LINES]


@st.composite
def mangled_text(draw: st.DrawFn) -> str:
    """A real line cut, spliced or mixed with arbitrary characters, or arbitrary text."""
    if draw(st.booleans()):
        return draw(st.text(max_size=300))
    line = draw(st.sampled_from(SAMPLE_TEXT))
    start = draw(st.integers(0, len(line)))
    end = draw(st.integers(start, len(line)))
    return line[:start] + draw(st.text(max_size=40)) + line[end:]


@st.composite
def log_bytes(draw: st.DrawFn) -> bytes:
    """A file's bytes: arbitrary bytes, real lines (cut, doubled, reordered) and mixed line ends."""
    parts = draw(
        st.lists(
            st.one_of(
                st.binary(max_size=200),
                st.sampled_from(SAMPLE_LINES),
                st.sampled_from(SAMPLE_LINES).map(lambda line: line[: len(line) // 2]),
            ),
            max_size=30,
        )
    )
    ends = draw(
        st.lists(
            st.sampled_from([b"\n", b"\r\n", b"\r", b"", b"\x00\n"]), min_size=len(parts), max_size=len(parts)
        )
    )
    return b"".join(part + end for part, end in zip(parts, ends))


@PROPS
@given(st.one_of(st.text(max_size=400), mangled_text()), st.sampled_from([None, 2023]))
def test_envelope_parser_never_raises(line: str, year) -> None:
    parser = EnvelopeParser(MTIME, year=year, local_tz=timezone.utc)
    for _ in range(2):  # twice: the second time through the caches
        envelope = parser.parse(line)
        assert envelope is None or isinstance(envelope, Envelope)
    if envelope is not None:
        assert isinstance(envelope.body, str) and isinstance(envelope.program, str)


@PROPS
@given(st.sampled_from(sorted(postfix.DAEMONS)), st.one_of(st.text(max_size=400), mangled_text()))
def test_postfix_parse_never_raises(daemon: str, body: str) -> None:
    event = postfix.parse(daemon, body)
    assert event is None or isinstance(event.kind, str)
    postfix.postfix_daemon(body)
    postfix.split_host_ip(body)


@PROPS
@given(st.one_of(st.text(max_size=400), mangled_text()))
def test_sendmail_parse_never_raises(body: str) -> None:
    event = sendmail.parse(body)
    assert event is None or isinstance(event.kind, str)
    sendmail.parse_relay(body)
    sendmail.fields(body)


@PROPS
@given(st.one_of(st.text(max_size=400), mangled_text()))
def test_amavis_parse_never_raises(body: str) -> None:
    verdict = amavis.parse(body)
    assert verdict is None or isinstance(verdict.reason, str)
    assert isinstance(amavis.is_amavis_line(body), bool)


@PROPS
@given(st.lists(st.one_of(st.text(max_size=300), mangled_text()), max_size=20))
def test_exchange_reader_feed_never_raises(lines: List[str]) -> None:
    reader = ExchangeReader(0)
    offset = 0
    for number, line in enumerate(lines, 1):
        assert reader.feed(number, offset, line) in (True, False)
        offset += len(line) + 1
    for tx in reader.transactions():
        assert tx.queue_id


_DIR = tempfile.mkdtemp(prefix="mailtui-properties-")


@PROPS
@given(
    log_bytes(),
    st.sampled_from(["auto", "syslog", "exchange"]),
    st.sampled_from(["mail.log", "MSGTRK20240311-1.LOG"]),
)
def test_open_logs_on_any_bytes_counts_every_line(data: bytes, fmt: str, name: str) -> None:
    path = Path(_DIR) / name
    path.write_bytes(data)
    os.utime(path, (MTIME, MTIME))
    session = open_logs([str(path)], fmt=fmt, local_tz=timezone.utc)
    expected = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    if not session.files:  # refused (unknown format, or starts like zstd/.Z/zip): one clear line
        [error] = session.errors
        assert (fmt == "auto" and "unknown format" in error) or "not supported" in error
        return
    [loaded] = session.files
    if loaded.source.compression is None:  # arbitrary bytes that start like gzip/bzip2/xz are not
        assert session.errors == []
        assert loaded.lines == expected
    assert 0 <= loaded.unrecognised <= loaded.lines
    for trace in session.traces:  # and every trace's raw lines can be shown
        assert len(session.read_lines(trace.lines)) == len(trace.lines)

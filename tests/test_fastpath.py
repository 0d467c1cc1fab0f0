"""The fast path (one match for the commonest Postfix lines) reads every line as the general path does.

mailtui.fastpath's pattern is made of the general path's pieces; these tests hold it to that, line
by line: the same envelope, the same Postfix event (or the same "not understood"), and the same
envelope parser state after a file (year counted on at New Year, summer-time hours, the time a
tag-only line borrows), on the bundled samples, generated logs, the corpus and lines written to
sit just beside the fast path's shapes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timezone
from pathlib import Path
from typing import Iterable, List, Optional
from zoneinfo import ZoneInfo

import pytest
from conftest import CORPUS, MTIME, ROOT, SAMPLES

from mailtui import sources
from mailtui.envelope import EnvelopeParser
from mailtui.fastpath import LineParser
from mailtui.parsers import postfix


def _state(parser: EnvelopeParser) -> tuple:
    return tuple(getattr(parser, name) for name in type(parser).__slots__)


def _mismatches(lines: Iterable[str], make_parser=lambda: EnvelopeParser(MTIME)) -> List[str]:
    """Lines the two paths read differently (and a note when the parsers end in different states)."""
    fast, general = LineParser(make_parser()), LineParser(make_parser(), fast=False)
    found = [line for line in lines if fast.parse(line) != general.parse(line)]
    if _state(fast.envelope) != _state(general.envelope):
        found.append("<the envelope parsers' states differ>")
    return found


def _file_lines(path: Path) -> List[str]:
    found, _errors = sources.expand_paths([str(path)])
    return [sources.decode(raw) for source in found for _, _, raw in sources.iter_lines(source)]


def test_the_fast_path_takes_the_common_postfix_lines() -> None:
    """Not vacuous: the shapes it is for are read by the one match (and give the right events)."""
    parser = LineParser(EnvelopeParser(MTIME, local_tz=timezone.utc))
    lines = {
        "Mar  1 10:00:00 mx postfix/smtpd[7]: connect from a.example[192.0.2.1]": ("connect", ""),
        "Mar  1 10:00:01 mx postfix/smtpd[7]: 4A1B2C3D4E: client=a.example[192.0.2.1]": (
            "client",
            "4A1B2C3D4E",
        ),
        "Mar  1 10:00:01 mx postfix/cleanup[8]: 4A1B2C3D4E: message-id=<x@y>": ("message-id", "4A1B2C3D4E"),
        "Mar  1 10:00:01 mx postfix/qmgr[9]: 4A1B2C3D4E: from=<a@b>, size=10, nrcpt=1 (queue active)": (
            "queued",
            "4A1B2C3D4E",
        ),
        "Mar  1 10:00:02 mx postfix/smtp[10]: 4A1B2C3D4E: to=<c@d>, relay=e[192.0.2.2]:25, delay=1, "
        "delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)": ("delivery", "4A1B2C3D4E"),
        "Mar  1 10:00:02 mx postfix/qmgr[9]: 4A1B2C3D4E: removed": ("removed", "4A1B2C3D4E"),
        "Mar  1 10:00:02 mx postfix/smtpd[7]: disconnect from a.example[192.0.2.1] ehlo=1": (
            "disconnect",
            "",
        ),
    }
    for line, (kind, qid) in lines.items():
        parsed = parser.parse(line)
        assert parsed is not None and parsed[7:9] == (kind, qid), line
    assert parser.parse("Mar  1 10:00:02 mx postfix/qmgr[9]: 4A1B2C3D4E: removed")[:7] == (
        1709287202.0, 0, "mx", "postfix/qmgr", 9, "postfix", "qmgr"
    )  # fmt: skip
    assert parser._stamp is not None  # the last line went the fast way


#: Lines just beside the fast path's shapes: each must be read exactly as the general path reads it.
NEAR_MISSES = [
    "Mar  1 10:00:00.250 mx postfix/smtpd[7]: connect from a.example[192.0.2.1]",  # a fraction
    "Mar  1 10:00:00 mx postfix/smtpd: connect from a.example[192.0.2.1]",  # no pid
    "Mar  1 10:00:00 mx postfix/smtpd[7]:connect from a.example[192.0.2.1]",  # no space
    "Mar  1 10:00:00 mx postfix/smtpd[7]: connect from unknown",  # no [ip]
    "Mar  1 10:00:00 mx postfix/smtpd[7]: connect from  a[192.0.2.1]",
    "Mar  1 10:00:00 mx postfix/smtpd[7]: connect from a\xa0b[192.0.2.1]",  # Unicode spaces in bodies
    "Mar  1 10:00:00 mx postfix/smtpd[9]: 4A1B2C3D4E: client=a\u2003b[192.0.2.1]",
    "Mar  1 10:00:00 mx postfix/smtpd[7]: [ID 197553 mail.info] connect from a[192.0.2.1]",  # Solaris
    "Mar  1 10:00:00 mx sendmail[7]: [ID 801593 mail.info] x12345678: from=<a@b>, size=1",
    "Mar\xa0 1 10:00:00 mx postfix/smtpd[7]: connect from a[192.0.2.1]",  # no-break space
    "Mar 31 10:61:00 mx postfix/qmgr[9]: 4A1B2C3D4E: removed",  # no such minute
    "Feb 30 10:00:00 mx postfix/qmgr[9]: 4A1B2C3D4E: removed",  # no such day
    "Foo  1 10:00:00 mx postfix/qmgr[9]: 4A1B2C3D4E: removed",  # no such month
    "Mar  1 10:00:00 mx postfix/qmgr[9]: 4A1B2C3D4E: removedX",
    "Mar  1 10:00:00 mx postfix/postsuper[9]: 4A1B2C3D4E: removed (deleted by admin)",
    "Mar  1 10:00:00 mx postfix/qmgr[9]: 4a1b2c3d4e9: removed",  # lower-case (hand-made) id
    "Mar  1 10:00:00 mx postfix/qmgr[9]: 4A1B2C3D4E5F6A7B8: removed",  # 17 characters
    "Mar  1 10:00:00 mx postfix/qmgr[9]: 3Tbq5B1zkXz9tWK: removed",  # long queue id
    "Mar  1 10:00:00 mx postfix/qmgr[9]: NOQUEUE: removed",
    "Mar  1 10:00:00 mx postfix/qmgr[9]: 4A1B2C3D4E: from=<a@b>, status=expired, returned to sender",
    "Mar  1 10:00:00 mx postfix/qmgr[9]: 4A1B2C3D4E: from=<a@b>, size=x, nrcpt=1",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: 4A1B2C3D4E: client=a[192.0.2.1], sasl_method=PLAIN, sasl_username= u ",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: 4A1B2C3D4E: client=a[192.0.2.1]:4321, orig_queue_id=4A1B2C3D4F",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: 4A1B2C3D4E: client=a [192.0.2.1]",
    "Mar  1 10:00:00 mx postfix/cleanup[9]: 4A1B2C3D4E: message-id=<a@b>  ",
    "Mar  1 10:00:00 mx postfix/cleanup[9]: 4A1B2C3D4E: message-id=<a>b>",
    "Mar  1 10:00:00 mx postfix/cleanup[9]: 4A1B2C3D4E: message-id=a@b",
    "Mar  1 10:00:00 mx postfix/cleanup[9]: 4A1B2C3D4E: resent-message-id=<r@b>",
    "Mar  1 10:00:00 mx postfix/cleanup[9]: 4A1B2C3D4E: message-id=<>",
    "Mar  1 10:00:00 mx postfix/cleanup[9]: 4A1B2C3D4E: info: header Subject: Grüße from a[192.0.2.1]; "
    "from=<a@b> to=<c@d> proto=ESMTP helo=<a>",
    "Mar  1 10:00:00 mx postfix/cleanup[9]: 4A1B2C3D4E: reject: body Spam from a[192.0.2.1]: 5.7.1 no",
    "Mar  1 10:00:00 mx postfix/cleanup[9]: 4A1B2C3D4E: milter-reject: END-OF-MESSAGE from a[192.0.2.1]: "
    "5.7.1 spam; from=<a@b> to=<c@d> proto=ESMTP helo=<a>",
    "Mar  1 10:00:00 mx postfix/smtp[9]: 4A1B2C3D4E: to=<c@d>, relay=none, delay=0.1, delays=0/0/0/0, "
    "dsn=4.4.1, status=deferred (connect to x[192.0.2.9]:25: Connection refused)",
    "Mar  1 10:00:00 mx postfix/smtp[9]: 4A1B2C3D4E: to=<c@d>, orig_to=<e@d>, relay=x[192.0.2.9]:25, "
    "conn_use=2, delay=0.1, delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 5B6C7D8E9F)",
    "Mar  1 10:00:00 mx postfix/smtp[9]: 4A1B2C3D4E: to=<c@d>, relay=x, delay=0.1, dsn=2.0.0000, status=sent (ok)",
    "Mar  1 10:00:00 mx postfix/smtp[9]: 4A1B2C3D4E: to=<c@d>, relay=x, status=sent (ok) trailing",
    "Mar  1 10:00:00 mx postfix/smtp[9]: 4A1B2C3D4E: to=<c@d>, relay=x, status=sent (smtp:[x]: status=bounced)",
    "Mar  1 10:00:00 mx postfix/local[9]: 4A1B2C3D4E: to=<ü@d>, relay=local, delay=0, status=sent (délivré)",
    "Mar  1 10:00:00 mx postfix/smtp[9]: 4A1B2C3D4E: to=<c@d>, relay=x, delay=0, status=sent\u00b2 (x)",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: disconnect from a[192.0.2.1] ehlo=1 commands=1",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: disconnect fromage",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: Anonymous TLS connection established from a[192.0.2.1]: TLSv1.3",
    "Mar  1 10:00:00 mx postfix/postscreen[9]: CONNECT from [192.0.2.1]:4321 to [192.0.2.10]:25",
    "Mar  1 10:00:00 mx postfix/postscreen[9]: PASS NEW [192.0.2.1]:4321",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: lost connection after CONNECT from a[192.0.2.1]",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: timeout after END-OF-MESSAGE from a[192.0.2.1]",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: NOQUEUE: reject: RCPT from a[192.0.2.1]: 554 5.7.1 no; "
    "from=<a@b> to=<c@d> proto=ESMTP helo=<a>",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: warning: 4A1B2C3D4E: queue file size limit exceeded",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: 4A1B2C3D4E: reject: RCPT from a[192.0.2.1]: 550 no; to=<c@d>",
    "Mar  1 10:00:00 mx postfix/bounce[9]: 4A1B2C3D4E: sender non-delivery notification: 5B6C7D8E9F",
    "Mar  1 10:00:00 mx postfix/pickup[9]: 4A1B2C3D4E: uid=0 from=<root>",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: statistics: max connection rate 1/60s",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: something nobody logs",
    "Mar  1 10:00:00 mx postfix-out/smtp[9]: 4A1B2C3D4E: removed",  # a second instance
    "Mar  1 10:00:00 mx postfix/submission/smtpd[9]: connect from a[192.0.2.1]",
    "Mar  1 10:00:00 mx amavis[9]: (09-01) Passed CLEAN {RelayedInbound}, <a@b> -> <c@d>, Queue-ID: 4A1B2C3D4E",
    "Mar  1 10:00:00 mx dovecot[9]: connect from a[192.0.2.1]",  # a fast shape from another program
    "Mar  1 10:00:00 mx kernel[0]: connect from a[192.0.2.1]",
    "Mar  1 10:00:00 mx postfix/qmgr[9]: ",
    "Mar  1 10:00:00 mx postfix/qmgr[9]: 4A1B2C3D4E: ",
    "Mar  1 10:00:00 mx postfix/smtpd[9]: connect from a[192.0.2.1]\x1b[31m",
    "",
    "Mar  1 10:00:00",
]


def test_lines_beside_the_fast_shapes_read_as_the_general_path_reads_them() -> None:
    assert _mismatches(NEAR_MISSES) == []
    # Each after a line of the same second, and then again after a line the general path took.
    stamped = ["Mar  1 10:00:00 mx postfix/qmgr[9]: 4A1B2C3D4E: removed"]
    assert _mismatches([line for near in NEAR_MISSES for line in (*stamped, near, *stamped)]) == []


def _clock(year: Optional[int] = None, zone: str = "Europe/Berlin"):
    return lambda: EnvelopeParser(MTIME, year=year, local_tz=ZoneInfo(zone))


def test_new_year_and_summer_time_are_counted_the_same_way() -> None:
    line = "{} mx postfix/qmgr[9]: 4A1B2C3D4E: removed"
    new_year = [line.format(stamp) for stamp in ("Dec 31 23:59:59", "Dec 31 23:59:59", "Jan  1 00:00:00")]
    # 02:00-02:59 happens twice on 27 October 2024 in Berlin: the clock goes back after 02:59:59.
    autumn = [line.format(f"Oct 27 02:{minute:02d}:00") for minute in (10, 59, 59, 5, 5, 30)]
    for make in (_clock(2023), _clock(2024), _clock()):
        assert _mismatches(new_year + autumn, make) == []
        assert _mismatches(new_year + autumn, make) == []
    fast = LineParser(_clock(2024)())
    times = [fast.parse(text)[0] for text in autumn]  # type: ignore[index]
    assert times[3] - times[2] == 6 * 60  # 02:05 after 02:59 summer time: the second 02:05, not 54 min back


def test_bundled_samples_read_the_same_both_ways() -> None:
    logs = [path for path in SAMPLES.rglob("*") if path.is_file() and path.suffix != ".md"]
    assert len(logs) > 10
    for path in logs:
        assert _mismatches(_file_lines(path)) == [], path


def test_generated_logs_read_the_same_both_ways(tmp_path: Path) -> None:
    for fmt, seed in (("postfix", 11), ("sendmail", 12)):
        out = tmp_path / f"{fmt}.log"
        generate = [sys.executable, str(ROOT / "bench" / "generate.py"), "--size", "400K", "--out", str(out)]
        subprocess.run(
            [*generate, "--seed", str(seed), "--format", fmt], check=True, stdout=subprocess.DEVNULL
        )
        lines = _file_lines(out)
        assert len(lines) > 1000
        assert _mismatches(lines, _clock(2024, "America/New_York")) == []


@pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus is not beside the checkout")
def test_corpus_reads_the_same_both_ways() -> None:
    logs = [path for path in CORPUS.rglob("*") if path.is_file() and path.suffix not in (".md", ".json")]
    for path in logs:
        assert _mismatches(_file_lines(path)) == [], path


def test_the_usual_delivery_timings_match_gives_what_the_searches_give(tmp_path: Path) -> None:
    """delivery_event reads `delay=, delays=, dsn=, ` in one match when the middle has that shape."""
    middles = [
        "delay=1.3, delays=0.05/0/0.01/1.2, dsn=2.0.0, ",
        "delay=0, delays=0/0/0/0, dsn=5.1.10, ",
        "delay=12345.67, delays=1/2/3/4, dsn=4.4.1, ",
        "conn_use=2, delay=0.1, delays=0/0/0/0, dsn=2.0.0, ",  # the searches' way
        "delays=0/0/0/0, delay=1, dsn=2.0.0, ",
        "delay=1, delays=0/0/0/0, dsn=2.0.0000, ",
        "delay=1, dsn=2.0.0, ",
        "",
    ]
    out = tmp_path / "generated.log"
    generate = [sys.executable, str(ROOT / "bench" / "generate.py"), "--size", "300K", "--out", str(out)]
    subprocess.run([*generate, "--seed", "21"], check=True, stdout=subprocess.DEVNULL)
    pattern = re.compile(postfix.DELIVERY)
    middles += [m.group(4) for line in _file_lines(out) for m in [pattern.search(line)] if m is not None]
    usual = 0
    for middle in middles:
        event = postfix.delivery_event("4A1B2C3D4E", "a@b", None, "x", middle, "sent", "ok")
        expected = {
            "to": "a@b",
            "relay": "x",
            "status": "sent",
            "reply": "ok",
            **postfix.delivery_timings(middle),
        }
        assert event.data == expected, middle
        usual += postfix._USUAL_TIMINGS.match(middle) is not None
    assert 100 < usual < len(middles)  # both ways were taken

"""Tests for mailtui.envelope: every syslog/journal line format, year inference, DST, robustness."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailtui.envelope import EnvelopeParser, detect_syslog
from mailtui.model import Envelope
from mailtui.sources import decode, expand_paths, iter_lines

try:
    from zoneinfo import ZoneInfo
except ImportError:  # Python 3.8-: the project needs 3.9, keep the import honest anyway
    ZoneInfo = None  # type: ignore[assignment,misc]

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def epoch(*args: int, tz: Optional[timezone] = UTC) -> float:
    return datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


def mtime(*args: int) -> float:
    """A file mtime at noon UTC on the given date."""
    return epoch(*args, 12)


def parser(year: Optional[int] = None, ref: Optional[float] = None, tz=UTC) -> EnvelopeParser:
    return EnvelopeParser(mtime(2024, 6, 1) if ref is None else ref, year=year, local_tz=tz)


# -- RFC 3164 -------------------------------------------------------------------------------------


def test_seed_postfix_line_berlin() -> None:
    line = "Feb  3 01:01:12 util-ubuntu postfix/smtpd[16325]: connect from unknown[172.20.63.1]"
    env = parser(tz=BERLIN).parse(line)
    assert env == Envelope(
        epoch(2024, 2, 3, 0, 1, 12),
        60,
        "util-ubuntu",
        "postfix/smtpd",
        16325,
        "connect from unknown[172.20.63.1]",
    )


def test_seed_sendmail_lines() -> None:
    p = parser(ref=mtime(2005, 1, 12))
    first = p.parse(
        "Jan 11 11:45:49 ns1 sendmail[28022]: j0BGjkc28022: from=boss@example.com, size=376597, class=0, "
        "nrcpts=1, msgid=Pine.LNX.4.61.0501111145450.17081@boss.example.com, proto=SMTP, daemon=MTA, "
        "relay=esafe1.example.com[10.211.15.69] (may be forged)"
    )
    second = p.parse(
        "Jan 11 11:46:00 ns1 sendmail[28025]: j0BGjkc28022: to=employee@example.com, delay=00:00:14, "
        "xdelay=00:00:11, mailer=local, pri=405901, dsn=2.0.0, stat=Sent"
    )
    assert first is not None and second is not None
    assert (first.ts, first.tz, first.host, first.program, first.pid) == (
        epoch(2005, 1, 11, 11, 45, 49),
        0,
        "ns1",
        "sendmail",
        28022,
    )
    assert first.body.startswith("j0BGjkc28022: from=boss@example.com, size=376597")
    assert second.ts - first.ts == 11
    assert second.body.endswith("stat=Sent")


@pytest.mark.parametrize("day", ["Feb  3", "Feb 3", "Feb 03"])
def test_day_spellings(day: str) -> None:
    env = parser().parse(f"{day} 01:01:12 mx1 postfix/qmgr[1482]: 307DF802B3: removed")
    assert env == Envelope(epoch(2024, 2, 3, 1, 1, 12), 0, "mx1", "postfix/qmgr", 1482, "307DF802B3: removed")


@pytest.mark.parametrize(
    ("line", "program", "pid", "body"),
    [
        ("<40>Dec 21 10:00:00 mx postfix-out/smtp[7]: x", "postfix-out/smtp", 7, "x"),
        ("   Dec 21 10:00:00 mx postfix/submission/smtpd[7]: x", "postfix/submission/smtpd", 7, "x"),
        ("<13> Dec 21 10:00:00 mx sm-mta[9]: y", "sm-mta", 9, "y"),
        ("Dec 21 10:00:00 mx crond(pam_unix)[2915]: session", "crond(pam_unix)", 2915, "session"),
        ("Dec 21 10:00:00 mx dovecot: imap-login: Login", "dovecot", None, "imap-login: Login"),
        ("Dec 21 10:00:00 mx sendmail[1]: [ID 801593 mail.info] k1: from=<a>", "sendmail", 1, "k1: from=<a>"),
        ("Dec 21 10:00:00 mx amavis[5]: ", "amavis", 5, ""),
    ],
)
def test_classic_variants(line: str, program: str, pid: Optional[int], body: str) -> None:
    env = parser().parse(line)
    assert env == Envelope(epoch(2023, 12, 21, 10), 0, "mx", program, pid, body)


def test_syslog_ng_facility_before_host() -> None:
    env = parser().parse(
        "Jun 17 14:37:39 <mail.notice> robin sm-mta[2794]: 55HIbcGI002794: lost input channel"
    )
    assert env == Envelope(
        epoch(2023, 6, 17, 14, 37, 39), 0, "robin", "sm-mta", 2794, "55HIbcGI002794: lost input channel"
    )


def test_fraction_and_missing_host() -> None:
    p = parser()
    env = p.parse("Mar  4 05:06:07.250000 mx postfix/smtp[3]: a")
    assert env is not None and env.ts == epoch(2024, 3, 4, 5, 6, 7) + 0.25
    env = p.parse("Mar  4 05:06:08 postfix/smtp[3]: b")
    assert env == Envelope(epoch(2024, 3, 4, 5, 6, 8), 0, "", "postfix/smtp", 3, "b")


def test_year_inferred_from_mtime_across_new_year() -> None:
    p = parser(ref=mtime(2025, 1, 2))
    assert p.parse("Dec 31 23:59:59 mx postfix/smtpd[1]: a").ts == epoch(2024, 12, 31, 23, 59, 59)
    assert p.parse("Jan  1 00:00:01 mx postfix/smtpd[1]: b").ts == epoch(2025, 1, 1, 0, 0, 1)
    # up to a day after the mtime still counts as this year (clock skew, mtime in another zone)
    assert p.parse("Jan  3 00:00:01 mx postfix/smtpd[1]: c").ts == epoch(2025, 1, 3, 0, 0, 1)
    assert p.parse("Jan  4 00:00:01 mx postfix/smtpd[1]: d").ts == epoch(2024, 1, 4, 0, 0, 1)


def test_given_year_rolls_over_at_new_year() -> None:
    p = parser(year=2023)
    assert p.parse("Nov 30 10:00:00 mx postfix/smtpd[1]: a").ts == epoch(2023, 11, 30, 10)
    assert p.parse("Dec 31 23:59:59 mx postfix/smtpd[1]: b").ts == epoch(2023, 12, 31, 23, 59, 59)
    assert p.parse("Jan  1 00:00:01 mx postfix/smtpd[1]: c").ts == epoch(2024, 1, 1, 0, 0, 1)
    assert p.parse("Feb  1 00:00:01 mx postfix/smtpd[1]: d").ts == epoch(2024, 2, 1, 0, 0, 1)


def test_dst_spring_forward_berlin() -> None:
    p = parser(tz=BERLIN)
    before = p.parse("Mar 31 01:59:59 mx postfix/smtpd[1]: a")
    after = p.parse("Mar 31 03:00:00 mx postfix/smtpd[1]: b")
    assert (before.ts, before.tz) == (epoch(2024, 3, 31, 0, 59, 59), 60)
    assert (after.ts, after.tz) == (epoch(2024, 3, 31, 1, 0, 0), 120)
    assert after.ts - before.ts == 1


def test_dst_fall_back_berlin_repeated_hour() -> None:
    p = parser(ref=mtime(2024, 11, 1), tz=BERLIN)
    first = p.parse("Oct 27 02:30:00 mx postfix/smtpd[1]: summer")
    last_summer = p.parse("Oct 27 02:59:00 mx postfix/smtpd[1]: summer")
    winter = p.parse("Oct 27 02:10:00 mx postfix/smtpd[1]: winter")
    later = p.parse("Oct 27 02:40:00 mx postfix/smtpd[1]: winter")
    assert (first.ts, first.tz) == (epoch(2024, 10, 27, 0, 30), 120)
    assert (last_summer.ts, last_summer.tz) == (epoch(2024, 10, 27, 0, 59), 120)
    assert (winter.ts, winter.tz) == (epoch(2024, 10, 27, 1, 10), 60)
    assert (later.ts, later.tz) == (epoch(2024, 10, 27, 1, 40), 60)


def test_system_local_zone_is_the_default() -> None:
    p = EnvelopeParser(mtime(2024, 6, 1))
    env = p.parse("Feb  3 01:01:12 mx postfix/smtpd[1]: x")
    local = datetime(2024, 2, 3, 1, 1, 12).astimezone()
    assert env.ts == local.timestamp()
    assert env.tz == local.utcoffset() // timedelta(minutes=1)


# -- ISO 8601, RFC 5424, journal ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "ts", "tz"),
    [
        ("2024-08-22T08:12:59.100443+00:00", epoch(2024, 8, 22, 8, 12, 59) + 0.100443, 0),
        ("2024-08-22T08:12:59.1Z", epoch(2024, 8, 22, 8, 12, 59) + 0.1, 0),
        ("2024-08-22T08:12:59Z", epoch(2024, 8, 22, 8, 12, 59), 0),
        ("2024-08-22T08:12:59+0100", epoch(2024, 8, 22, 7, 12, 59), 60),
        ("2024-08-22T08:12:59.123456789-05:30", epoch(2024, 8, 22, 13, 42, 59) + 0.123456789, -330),
        ("2020-01-30T06:26:05.404714+09:00", epoch(2020, 1, 29, 21, 26, 5) + 0.404714, 540),
    ],
)
def test_iso8601(stamp: str, ts: float, tz: int) -> None:
    env = parser().parse(f"{stamp} mx1 postfix/smtpd[60203]: NOQUEUE: reject: RCPT")
    assert env is not None
    assert env.ts == pytest.approx(ts, abs=1e-6)
    assert (env.tz, env.host, env.program, env.pid, env.body) == (
        tz,
        "mx1",
        "postfix/smtpd",
        60203,
        "NOQUEUE: reject: RCPT",
    )


def test_iso8601_without_offset_is_local_time() -> None:
    env = parser(tz=BERLIN).parse("2024-07-01T12:00:00 mx postfix/smtpd[1]: x")
    assert (env.ts, env.tz) == (epoch(2024, 7, 1, 10), 120)


def test_rfc5424() -> None:
    p = parser()
    env = p.parse("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \ufeff'su root' failed")
    assert env == Envelope(
        epoch(2003, 10, 11, 22, 14, 15) + 0.003, 0, "mymachine.example.com", "su", None, "'su root' failed"
    )
    env = p.parse(
        '<165>1 2003-10-11T22:14:15.003-07:00 mx postfix/smtpd 8710 - [exampleSDID@32473 iut="3" '
        'eventSource="Appl\\]ication"][examplePriority@32473 class="high"] connect from x'
    )
    assert env is not None
    assert env.ts == pytest.approx(epoch(2003, 10, 12, 5, 14, 15) + 0.003)
    assert (env.tz, env.host, env.program, env.pid, env.body) == (
        -420,
        "mx",
        "postfix/smtpd",
        8710,
        "connect from x",
    )
    env = p.parse("<13>1 - - - - - -")
    assert env == Envelope(env.ts, env.tz, "", "", None, "")


def test_journal_json() -> None:
    record = {
        "__REALTIME_TIMESTAMP": "1700000000123456",
        "_HOSTNAME": "mx1",
        "SYSLOG_IDENTIFIER": "postfix/smtpd",
        "_PID": "124",
        "SYSLOG_PID": "123",
        "MESSAGE": "connect from a[1.2.3.4]",
    }
    p = parser(tz=BERLIN)
    env = p.parse(json.dumps(record))
    assert env == Envelope(1700000000.123456, 60, "mx1", "postfix/smtpd", 123, "connect from a[1.2.3.4]")
    del record["SYSLOG_PID"]
    record["MESSAGE"] = list(b"Subject: caf\xe9")
    env = p.parse(json.dumps(record))
    assert (env.pid, env.body) == (124, "Subject: café")
    assert p.parse('{"MESSAGE": "no time"}') is None
    assert p.parse('{"__REALTIME_TIMESTAMP": "17') is None


def test_detect_syslog() -> None:
    assert detect_syslog(["# header", "Feb  3 01:01:12 mx postfix/smtpd[1]: x"]) == "syslog"
    assert detect_syslog(['{"__REALTIME_TIMESTAMP":"1700000000123456","MESSAGE":"m"}']) == "journal-json"
    assert detect_syslog(["#Fields: date-time,client-ip", "2014-02-21T00:00:03.343Z,10.0.0.1,,"]) is None
    assert detect_syslog([]) is None


# -- prefixes and bare tags -----------------------------------------------------------------------


def test_docker_compose_prefix() -> None:
    env = parser().parse(
        "mailserver                | Nov 18 10:59:26 mail opendkim[1138]: B0E6F5828BC: s=default"
    )
    assert env == Envelope(
        epoch(2023, 11, 18, 10, 59, 26), 0, "mail", "opendkim", 1138, "B0E6F5828BC: s=default"
    )


def test_loghub_prefix_uses_its_epoch_and_host() -> None:
    env = parser().parse(
        "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session closed"
    )
    assert env == Envelope(1131566461.0, -480, "dn228", "crond(pam_unix)", 2915, "session closed")


def test_bare_mta_tag_takes_previous_time() -> None:
    p = parser()
    assert p.parse("sm-mta[20900]: k4PK8NYf020900: ruleset=check_rcpt").ts == 0.0
    p.parse("May 25 16:08:23 mx sm-mta[20900]: k4PK8NYf020900: from=<a>")
    env = p.parse("sm-mta[20900]: k4PK8NYf020900: ruleset=check_rcpt, arg1=<b>")
    assert env == Envelope(
        epoch(2024, 5, 25, 16, 8, 23), 0, "", "sm-mta", 20900, "k4PK8NYf020900: ruleset=check_rcpt, arg1=<b>"
    )
    assert p.parse("postfix-out/smtp[5]: 1A2B: to=<x>").program == "postfix-out/smtp"
    assert p.parse("kernel[1]: not an MTA") is None
    assert p.parse("postfix_anvil_cache_size: 1") is None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "# failJSON: {}",
        "Jan",
        "Jan:",
        "Jan 1 00:00:00",
        "Jan: 1 00:00:00 hostname postfix/postscreen[12345]: foo",
        "Jan 1 00:00:00 hostname postfix/postscreen[abcde]: foo",
        "Jan 1 00:00:00 hostname postfix/postscreen[12345",
        "Foo 1 00:00:00 hostname postfix/smtpd[1]: x",
        "Feb 30 00:00:00 hostname postfix/smtpd[1]: x",
        "Feb 3 25:00:00 hostname postfix/smtpd[1]: x",
        "@400000004c91b044077a9e94 imap-login: Info: Aborted login",
        "This is prose about Postfix: it logs lines.",
        "2024-13-01T00:00:00Z mx postfix/smtpd[1]: x",
        "<34>1 2003-10-11T22:14:15.003Z mx su - ID47 [unterminated",
        "{not json",
        "[1, 2]",
    ],
)
def test_no_envelope(line: str) -> None:
    assert parser().parse(line) is None


# -- robustness -----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_fuzz_any_text(line: str) -> None:
    result = parser(year=2024).parse(line)
    assert result is None or isinstance(result, Envelope)


FRAGMENTS = [
    "<13>",
    "<34>1 ",
    " ",
    "  ",
    "Feb",
    "Jan 1",
    "Feb  3 ",
    "01:01:12",
    ".123",
    "2024-08-22T08:12:59",
    "+01:00",
    "Z",
    "mx",
    "postfix/smtpd",
    "sm-mta",
    "[",
    "]",
    "[123]",
    ":",
    ": ",
    "|",
    "- 1131566461 2005.11.09 dn228 ",
    "{",
    '"MESSAGE"',
    "\\",
    "-",
    "\ufeff",
    "[ID 1 mail.info]",
]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=14).map("".join))
def test_fuzz_near_miss_lines(line: str) -> None:
    p = parser()
    result = p.parse(line)
    if result is not None:
        assert isinstance(result.ts, float)
        assert result.pid is None or result.pid >= 0


@pytest.mark.parametrize(
    "line",
    [
        " " * 1_000_000,
        "Feb  3 01:01:12 " + "a" * 1_000_000,
        "Feb  3 01:01:12 mx " + "p" * 1_000_000,
        "2024-08-22T08:12:59." + "1" * 1_000_000,
        "<34>1 2003-10-11T22:14:15Z h a p m " + "[x" * 500_000,
        "mailserver " + " " * 1_000_000 + "x",
        "postfix" + "/a" * 500_000,
    ],
    ids=[
        "blanks",
        "classic-no-host",
        "classic-long-host",
        "iso-fraction",
        "rfc5424-sd",
        "compose",
        "bare-tag",
    ],
)
def test_megabyte_lines_are_fast(line: str) -> None:
    started = time.perf_counter()
    parser().parse(line)
    assert time.perf_counter() - started < 1.0


def test_classic_parse_speed() -> None:
    lines = [
        f"Feb {d:2d} {h:02d}:{m:02d}:{s:02d} mx1 postfix/smtpd[{1000 + s}]: 307DF802B3: client=x[10.0.0.1]"
        for d in (1, 2)
        for h in range(24)
        for m in range(0, 60, 3)
        for s in range(0, 60, 13)
    ]
    p = parser(tz=BERLIN)
    started = time.perf_counter()
    parsed = [p.parse(line) for line in lines]
    per_line = (time.perf_counter() - started) / len(lines)
    assert all(env is not None for env in parsed)
    assert per_line < 20e-6  # ~1.4 µs measured; generous for slow CI machines


# -- the corpus -----------------------------------------------------------------------------------


def corpus_files() -> List[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(path for path in CORPUS.rglob("*") if path.is_file())


def parse_file(path: Path, year: Optional[int] = None) -> List[tuple]:
    found, errors = expand_paths([str(path)])
    assert errors == []
    source = found[0]
    p = EnvelopeParser(source.mtime, year=year, local_tz=UTC)
    return [(decode(raw), p.parse(decode(raw))) for _, _, raw in iter_lines(source)]


def test_whole_corpus_parses_without_exceptions() -> None:
    files = corpus_files()
    if not files:
        pytest.skip("shared corpus not available")
    parsed = 0
    for path in files:
        parsed += sum(env is not None for _, env in parse_file(path))
    assert parsed > 5000


def test_crowdsec_mixed_classic_and_iso_all_parse() -> None:
    path = CORPUS / "crowdsec-hub" / "postfix-logs.log"
    if not path.exists():
        pytest.skip("shared corpus not available")
    results = parse_file(path, year=2024)
    assert len(results) == 7
    assert all(env is not None for _, env in results)
    envs = [env for _, env in results]
    assert [env.pid for env in envs] == [26897, 26897, 60203, 3887453, 3967801, 2634372, 479101]
    assert [env.host for env in envs] == ["host1", "host1"] + ["machine"] * 5
    assert envs[5].program == "postfix/submission/smtpd"
    assert envs[2].ts == epoch(2024, 8, 26, 1, 33, 38) + 0.572449
    assert envs[1].body == "NOQUEUE: reject: RCPT from unknown[192.168.1.1]: 554 5.7.1 Service unavailable"


@pytest.mark.parametrize(
    "relative",
    [
        "parse-syslog-mail/postfix-plain.log",
        "parse-syslog-mail/sendmail-plain.log",
        "youyo-postfix-log-parser/test.log",
        "youyo-postfix-log-parser/test-iso8601.log",
        "pflogsumm-go/rfc3339.log",
        "loghub/Thunderbird_2k.log",
        "github-issue-excerpts/docker-mailserver_issue3642.log",
        "maillogsentinel/sample_sasl.log",
    ],
)
def test_corpus_files_that_are_all_syslog(relative: str) -> None:
    path = CORPUS / relative
    if not path.exists():
        pytest.skip("shared corpus not available")
    results = parse_file(path)
    missing = [line for line, env in results if env is None and line.strip()]
    assert missing == []


@pytest.mark.parametrize("name", ["postfix", "sendmail-auth", "sendmail-reject"])
def test_fail2ban_times_match_their_ground_truth(name: str) -> None:
    """fail2ban's samples state each line's time in a `# failJSON:` comment before it."""
    path = CORPUS / "fail2ban" / name
    if not path.exists():
        pytest.skip("shared corpus not available")
    expected: Optional[str] = None
    checked = 0
    for line, env in parse_file(path):
        if line.startswith("# failJSON:"):
            match = re.search(r'"time":\s*"([^"]+)"', line)
            expected = match.group(1) if match else None
            continue
        if not line.strip() or line.startswith("#") or expected is None:
            continue
        if re.match(r"[A-Z][a-z]{2} ", line):  # classic lines: the year is fail2ban's guess, skip it
            assert env is not None, line
            got = datetime.fromtimestamp(env.ts, UTC)
            assert [int(n) for n in re.findall(r"\d+", expected)[1:6]] == [
                got.month,
                got.day,
                got.hour,
                got.minute,
                got.second,
            ], line
            checked += 1
        expected = None
    assert checked >= 10

"""Hostile and broken input (issue 4): never crash, never lose a line, never let log text drive the
terminal, never touch the logs.

Every test that loads something also checks the line-count invariant: each file's `lines` is the
number of lines in it, and `lines == parsed + unrecognised` (as `mailtui stats --json` reports it).
"""

from __future__ import annotations

import builtins
import bz2
import csv
import gzip
import io
import json
import lzma
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from conftest import MTIME, ROOT, by_qid, load, statuses, write_log

from mailtui import sources
from mailtui.cli import main
from mailtui.parsers.exchange import FIELDS_2007, FIELDS_2016
from mailtui.session import Session, open_logs

HOSTILE = ROOT / "samples" / "hostile" / "hostile-subjects.log"

#: What must never reach a terminal from log text: C0 controls but newline (TAB is expanded), DEL,
#: C1 controls, bidi embeddings/overrides/isolates and marks.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# -- helpers ----------------------------------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture, *args: str) -> Tuple[int, str, str]:
    """Run `mailtui ARGS` in-process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def stats_json(capsys: pytest.CaptureFixture, *paths: Path) -> Tuple[int, Dict, str]:
    code, out, err = cli(capsys, "stats", *map(str, paths), "--json")
    return code, (json.loads(out) if out.strip() else {}), err


def newline_count(data: bytes) -> int:
    """Lines in a file the way mailtui counts them: one per `\\n`, plus a last line without one."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def assert_accounted(stats: Dict, expected: Optional[Dict[str, int]] = None) -> None:
    """Per file and in total: lines == parsed + unrecognised, with every line of the file counted."""
    files = stats["files"]
    assert stats["lines"] == sum(f["lines"] for f in files)
    assert stats["lines_unrecognised"] == sum(f["lines_unrecognised"] for f in files)
    for entry in files:
        assert 0 <= entry["lines_unrecognised"] <= entry["lines"]
        if expected is not None and entry["file"] in expected:
            assert entry["lines"] == expected[entry["file"]], entry


def assert_session_accounted(session: Session, *paths: Path) -> None:
    """Each loaded file counted exactly its own lines (no line lost, none counted twice)."""
    by_name = {loaded.name: loaded for loaded in session.files}
    for path in paths:
        loaded = by_name[str(path)]
        assert loaded.lines == newline_count(path.read_bytes()), path
        assert 0 <= loaded.unrecognised <= loaded.lines


def write_bytes(path: Path, data: bytes, mtime: float = MTIME) -> Path:
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def message(
    qid: str, minute: int = 0, sender: str = "a@example.org", rcpt: str = "b@example.com"
) -> List[str]:
    """The lines of one plain Postfix delivery on mx1 at 10:MM (UTC)."""
    t = f"Mar 11 10:{minute:02d}"
    pid = 20000 + minute
    return [
        f"{t}:01 mx1 postfix/smtpd[{pid}]: connect from mail.example.org[192.0.2.7]",
        f"{t}:02 mx1 postfix/smtpd[{pid}]: {qid}: client=mail.example.org[192.0.2.7]",
        f"{t}:02 mx1 postfix/cleanup[{pid + 1}]: {qid}: message-id=<{qid}@example.org>",
        f"{t}:02 mx1 postfix/qmgr[812]: {qid}: from=<{sender}>, size=1234, nrcpt=1 (queue active)",
        f"{t}:03 mx1 postfix/smtpd[{pid}]: disconnect from mail.example.org[192.0.2.7]",
        f"{t}:04 mx1 postfix/smtp[{pid + 2}]: {qid}: to=<{rcpt}>, relay=mx.example.com[198.51.100.5]:25, delay=2, delays=0.1/0/0.9/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F8E7D6C5B)",
        f"{t}:04 mx1 postfix/qmgr[812]: {qid}: removed",
    ]


def lines_bytes(lines: List[str], end: str = "\n") -> bytes:
    return "".join(line + end for line in lines).encode()


# -- bytes and line ends ----------------------------------------------------------------------------


def test_latin1_subjects_and_hostile_sample_load_fully(capsys: pytest.CaptureFixture) -> None:
    code, stats, err = stats_json(capsys, HOSTILE)
    assert code == 0, err
    assert_accounted(stats, {str(HOSTILE): newline_count(HOSTILE.read_bytes())})
    assert stats["lines_unrecognised"] == 0
    assert stats["messages"] == 9
    session = load(HOSTILE)
    latin1 = by_qid(session, "1A2B3C4D08")
    assert latin1.subject == "Café crème ¿Qué?"  # the 8-bit bytes read as Latin-1, not dropped
    assert by_qid(session, "1A2B3C4D03").subject == "clear \x1b[2J screen"  # kept as logged


def test_nul_bytes_inside_and_between_lines(tmp_path: Path) -> None:
    lines = message("1A1A1A1A01")
    lines[3] = lines[3].replace("a@example.org", "a\x00b@example.org")
    data = lines_bytes(lines[:4]) + b"\x00" * 4096 + b"\n" + lines_bytes(lines[4:])  # a crash's NUL block
    path = write_bytes(tmp_path / "mail.log", data)
    session = load(path)
    assert_session_accounted(session, path)
    assert session.files[0].unrecognised == 1  # just the NUL block
    trace = by_qid(session, "1A1A1A1A01")
    assert trace.sender == "a\x00b@example.org"
    assert statuses(trace) == {"b@example.com": "sent"}


def test_crlf_lone_cr_and_no_final_newline(tmp_path: Path) -> None:
    crlf = write_bytes(tmp_path / "crlf.log", lines_bytes(message("2B2B2B2B01"), "\r\n"))
    lone = message("2B2B2B2B02", 5)
    lone[3] = lone[3].replace("a@example.org", "a\rb@example.org")  # a CR inside a line stays in it
    lone_cr = write_bytes(tmp_path / "lonecr.log", lines_bytes(lone))
    unended = write_bytes(tmp_path / "unended.log", lines_bytes(message("2B2B2B2B03", 9)).rstrip(b"\n"))
    mac = write_bytes(tmp_path / "mac.log", lines_bytes(message("2B2B2B2B04", 12), "\r"))
    session = load(crlf, lone_cr, unended, mac)
    assert session.errors == []
    assert_session_accounted(session, crlf, lone_cr, unended)
    assert statuses(by_qid(session, "2B2B2B2B01")) == {"b@example.com": "sent"}
    assert by_qid(session, "2B2B2B2B01").hops[0].message_id == "2B2B2B2B01@example.org"  # no stray \r
    assert by_qid(session, "2B2B2B2B02").sender == "a\rb@example.org"
    assert by_qid(session, "2B2B2B2B03").hops[0].removed  # the last line, without a newline, was read
    # Lone CRs are not line ends (syslog never writes them): the whole file is one line, counted.
    assert session.files[3].lines == 1


def test_ten_megabyte_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    before = message("3C3C3C3C01", 1)
    after = message("3C3C3C3C02", 2)
    huge = b"Mar 11 10:01:30 mx1 postfix/smtpd[1]: warning: " + b"A" * (10 << 20)
    path = write_bytes(tmp_path / "mail.log", lines_bytes(before) + huge + b"\n" + lines_bytes(after))
    started = time.monotonic()
    code, stats, err = stats_json(capsys, path)
    assert time.monotonic() - started < 20
    assert code == 0, err
    assert_accounted(stats, {str(path): 15})
    assert stats["messages"] == 2  # both neighbours parsed
    session = load(path)
    trace = by_qid(session, "3C3C3C3C02")
    assert session.read_lines(trace.lines)[1].endswith("3C3C3C3C02: client=mail.example.org[192.0.2.7]")


def test_empty_file_loads_with_no_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = write_bytes(tmp_path / "empty.log", b"")
    code, stats, err = stats_json(capsys, empty)
    assert (code, err) == (0, "")
    assert stats["files"][0]["lines"] == 0 and stats["messages"] == 0
    code, out, err = cli(capsys, "search", str(empty))
    assert (code, err, out.count("\n")) == (0, "", 1)  # the header only


def test_random_bytes_is_an_unknown_format_and_other_paths_load(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    noise = write_bytes(
        tmp_path / "noise.log", random.Random(4).getrandbits(8 * 200_000).to_bytes(200_000, "big")
    )
    good = write_bytes(tmp_path / "mail.log", lines_bytes(message("4D4D4D4D01")))
    code, stats, err = stats_json(capsys, noise, good)
    assert code == 2
    assert err.splitlines() == [
        f"mailtui: {noise}: unknown format (not syslog, journal or Exchange message tracking; try --format)"
    ]
    assert [f["file"] for f in stats["files"]] == [str(good)]
    assert stats["messages"] == 1
    # Forced to read it as syslog: every line is counted, as unrecognised.
    session = load(noise, fmt="syslog")
    assert_session_accounted(session, noise)
    assert session.files[0].unrecognised == session.files[0].lines


# -- compressed files -------------------------------------------------------------------------------


def many_lines(count: int = 3000) -> List[bytes]:
    """Distinct lines (distinct ids and sizes), so compressors cannot fold them into nothing."""
    rng = random.Random(7)
    out = []
    for n in range(count):
        qid = f"{rng.getrandbits(40):010X}"
        out.append(
            f"Mar 11 {10 + n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d} mx1 postfix/qmgr[812]: "
            f"{qid}: from=<user{rng.getrandbits(30)}@example.org>, size={rng.getrandbits(20)}, nrcpt=1 (queue active)".encode()
        )
    return out


COMPRESSORS = {
    "gz": gzip.compress,
    "bz2": lambda data: bz2.compress(data, compresslevel=1),  # 100 kB blocks: a cut leaves whole ones
    "xz": lzma.compress,
}


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_broken_compressed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, kind: str, damage: str
) -> None:
    original = many_lines()
    packed = bytearray(COMPRESSORS[kind](b"\n".join(original) + b"\n"))
    cut = len(packed) * 3 // 4
    if damage == "truncated":
        packed = packed[:cut]
    else:
        for i in range(cut, cut + 32):
            packed[i] ^= 0x5A
    broken = write_bytes(tmp_path / f"mail.log.1.{kind}", bytes(packed))
    good = write_bytes(tmp_path / "other.log", lines_bytes(message("5E5E5E5E01")))
    code, out, err = cli(capsys, "stats", str(broken), str(good), "--json")
    stats = json.loads(out)
    assert code == 2
    # One clear line naming the file and where it broke (reported once, not once per pass).
    assert len(err.splitlines()) == 1, err
    assert re.fullmatch(
        rf"mailtui: {re.escape(str(broken))}: (truncated|corrupt) \S+ (stream|data) after \d+ bytes.*\n", err
    )
    entry = stats["files"][0]
    assert entry["file"] == str(broken) and entry["errors"] == [err[len("mailtui: ") :].rstrip("\n")]
    assert_accounted(stats, {str(good): 7})
    # The lines before the break were read, as they were written.
    read = [raw for _no, _off, raw in sources.iter_lines(sources.expand_paths([str(broken)])[0][0])]
    assert len(read) >= len(original) // 4, len(read)
    assert entry["lines"] == len(read)
    intact = read[: len(original) // 4]
    assert intact == original[: len(intact)]
    if damage == "truncated":
        assert read[:-1] == original[: len(read) - 1]  # all but a last, cut line
        assert original[len(read) - 1].startswith(read[-1])


# -- what syslog does to lines ----------------------------------------------------------------------


def test_lines_cut_in_half(tmp_path: Path) -> None:
    lines = message("6F6F6F6F01")
    cut = lines[5][:60]  # the delivery line, cut by syslog's line limit
    halves = [*lines[:5], cut, lines[5][60:], lines[6]]
    halves[1] = halves[1][:40]  # the client= line cut inside the queue id
    path = write_log(tmp_path, "mail.log", "\n".join(halves) + "\n")
    session = load(path)
    assert_session_accounted(session, path)
    trace = by_qid(session, "6F6F6F6F01")
    assert trace.sender == "a@example.org"
    assert statuses(trace) in ({}, {"b@example.com": "in-queue"})  # never a delivery it did not see


def test_duplicated_lines_do_not_duplicate_recipients(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lines = message("7A7A7A7A01")
    doubled = [line for line in lines for _ in (0, 1)]
    path = write_log(tmp_path, "mail.log", "\n".join(doubled) + "\n")
    session = load(path)
    assert_session_accounted(session, path)
    trace = by_qid(session, "7A7A7A7A01")
    assert [r.address for r in trace.recipients] == ["b@example.com"]
    assert trace.status == "sent" and len(session.traces) == 1
    _code, out, _err = cli(capsys, "search", str(path), "--json")
    [obj] = [json.loads(line) for line in out.splitlines()]
    assert len(obj["recipients"]) == 1 and obj["recipients"][0]["status"] == "sent"


def test_lines_out_of_time_order_and_a_clock_jump(tmp_path: Path) -> None:
    lines = message("8B8B8B8B01")
    shuffled = [lines[5], lines[0], lines[3], lines[1], lines[6], lines[2], lines[4]]
    jump = message("8B8B8B8B02", 30)
    jump[5] = jump[5].replace("Mar 11 10:30:04", "Mar 11 09:30:04")  # NTP stepped the clock back an hour
    jump[6] = jump[6].replace("Mar 11 10:30:04", "Mar 12 18:30:04")  # and then forward a day
    path = write_log(tmp_path, "mail.log", "\n".join(shuffled + jump) + "\n")
    session = load(path)
    assert_session_accounted(session, path)
    assert session.files[0].unrecognised == 0
    for qid in ("8B8B8B8B01", "8B8B8B8B02"):
        trace = by_qid(session, qid)
        assert statuses(trace) == {"b@example.com": "sent"}
        assert trace.first_seen <= trace.last_seen
        assert len(trace.hops) == 1
    assert len(session.traces) == 2


def test_new_year_rollover(tmp_path: Path) -> None:
    lines = message("9C9C9C9C01")
    text = "\n".join(lines[:4]).replace("Mar 11 10:00", "Dec 31 23:59") + "\n"
    text += "\n".join(lines[4:]).replace("Mar 11 10:00", "Jan  1 00:00") + "\n"
    mtime = datetime(2024, 1, 1, 6, 0, tzinfo=timezone.utc).timestamp()
    path = write_log(tmp_path, "mail.log", text, mtime)
    session = load(path)
    assert_session_accounted(session, path)
    trace = by_qid(session, "9C9C9C9C01")
    assert datetime.fromtimestamp(trace.first_seen, timezone.utc) == datetime(
        2023, 12, 31, 23, 59, 2, tzinfo=timezone.utc
    )
    assert datetime.fromtimestamp(trace.last_seen, timezone.utc) == datetime(
        2024, 1, 1, 0, 0, 4, tzinfo=timezone.utc
    )
    assert statuses(trace) == {"b@example.com": "sent"}


def test_dst_changes(tmp_path: Path) -> None:
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    except Exception:  # no tz database on this machine
        pytest.skip("no Europe/Berlin zone")
    autumn = message("ADADADAD01")  # summer time ends: 02:00-02:59 happens twice
    text = "\n".join(autumn[:4]).replace("Mar 11 10:00", "Oct 27 02:59") + "\n"
    text += "\n".join(autumn[4:]).replace("Mar 11 10:00", "Oct 27 02:00") + "\n"
    spring = message("ADADADAD02")  # summer time starts: 02:00-02:59 does not exist
    text += "\n".join(spring[:4]).replace("Mar 11 10:00", "Mar 31 01:59") + "\n"
    text += "\n".join(spring[4:]).replace("Mar 11 10:00", "Mar 31 03:00") + "\n"
    mtime = datetime(2024, 11, 1, tzinfo=timezone.utc).timestamp()
    path = write_log(tmp_path, "mail.log", text, mtime)
    session = load(path, local_tz=berlin)
    assert_session_accounted(session, path)
    for qid in ("ADADADAD01", "ADADADAD02"):
        trace = by_qid(session, qid)
        assert statuses(trace) == {"b@example.com": "sent"}
        assert 0 < trace.last_seen - trace.first_seen < 300, qid  # minutes apart, not an hour
    hop = by_qid(session, "ADADADAD01").hops[0]
    assert hop.tz == 120  # CEST when it arrived


def test_queue_id_reused_within_a_day(tmp_path: Path) -> None:
    first = message("BEBEBEBE01", 1, sender="first@example.org", rcpt="one@example.com")
    second = message("BEBEBEBE01", 50, sender="second@example.org", rcpt="two@example.com")
    path = write_log(tmp_path, "mail.log", "\n".join(first + second) + "\n")
    session = load(path)
    assert_session_accounted(session, path)
    found = session.find("BEBEBEBE01")
    assert [(t.sender, [r.address for r in t.recipients]) for t in found] == [
        ("first@example.org", ["one@example.com"]),
        ("second@example.org", ["two@example.com"]),
    ]


def test_queue_id_only_in_its_removed_line_is_not_a_message(tmp_path: Path) -> None:
    path = write_log(
        tmp_path,
        "mail.log",
        "Mar 11 10:00:01 mx1 postfix/qmgr[812]: CFCFCFCF01: removed\n"
        "Mar 11 10:00:02 mx1 postfix/postsuper[99]: CFCFCFCF02: removed\n",
    )
    session = load(path)
    assert_session_accounted(session, path)
    assert session.traces == [] and session.files[0].unrecognised == 0


def test_delivery_without_from_log_started_mid_message(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lines = message("D0D0D0D001")[5:]  # only the delivery and `removed`
    path = write_log(tmp_path, "mail.log", "\n".join(lines) + "\n")
    session = load(path)
    assert_session_accounted(session, path)
    trace = by_qid(session, "D0D0D0D001")
    assert trace.sender is None and statuses(trace) == {"b@example.com": "sent"}
    code, out, err = cli(capsys, "search", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["sender"] is None
    code, out, err = cli(capsys, "search", str(path))
    assert code == 0 and "D0D0D0D001" in out


# -- Exchange ---------------------------------------------------------------------------------------


def exchange_row(fields: Tuple[str, ...], **values: str) -> str:
    row = {name: "" for name in fields}
    row.update({k.replace("_", "-"): v for k, v in values.items()})
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([row[name] for name in fields])
    return buffer.getvalue()


def receive(fields: Tuple[str, ...], iid: str, subject: str, sender: str = "carol@partner.example") -> str:
    return exchange_row(
        fields,
        date_time="2024-03-11T08:15:02.131Z",
        client_ip="203.0.113.25",
        client_hostname="mail.partner.example",
        server_ip="10.20.0.11",
        server_hostname="EX01",
        source="SMTP",
        event_id="RECEIVE",
        internal_message_id=iid,
        message_id=f"<{iid}@partner.example>",
        recipient_address="alice@corp.example",
        total_bytes="1000",
        recipient_count="1",
        message_subject=subject,
        sender_address=sender,
    )


HEADER_2016 = "#Fields: " + ",".join(FIELDS_2016)


def test_exchange_changed_missing_header_extra_columns_and_quoted_subjects(tmp_path: Path) -> None:
    tricky = 'Re: "Invoice", due, 30 days; ok? ""quoted"" \x1b[2J'
    reordered = (*FIELDS_2007[:8], "message-subject", *[f for f in FIELDS_2007[8:] if f != "message-subject"])
    lines = [
        "#Software: Microsoft Exchange Server",
        HEADER_2016,
        receive(FIELDS_2016, "1001", tricky),
        receive(FIELDS_2016, "1002", "extra column") + ",surplus,columns",  # no layout has 32 fields
        ",".join(receive(FIELDS_2016, "1003", "missing columns").split(",")[:12]),  # cut short
        "#Fields: " + ",".join(reordered),  # a restart with another field list, in another order
        receive(reordered, "1004", "after the new header"),
    ]
    with_header = write_bytes(tmp_path / "MSGTRK20240311-1.LOG", ("\r\n".join(lines) + "\r\n").encode())
    headerless = write_bytes(
        tmp_path / "MSGTRK20240311-2.LOG",
        (
            receive(FIELDS_2016, "2001", "no header at all")
            + "\n"
            + receive(FIELDS_2007, "2002", "2007 layout")
            + "\n"
        ).encode(),
    )
    session = load(with_header, headerless)
    assert session.errors == []
    assert [f.format for f in session.files] == ["exchange", "exchange"]
    assert_session_accounted(session, with_header, headerless)
    subjects = {t.hops[0].queue_id: t.subject for t in session.traces}
    assert subjects == {
        "1001": tricky,
        "1004": "after the new header",
        "2001": "no header at all",
        "2002": "2007 layout",
    }
    assert session.files[0].unrecognised == 2  # the rows with too many and too few columns
    assert by_qid(session, "1004").sender == "carol@partner.example"


# -- paths ------------------------------------------------------------------------------------------


def test_bad_paths_one_line_each_and_the_rest_loads(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = write_bytes(tmp_path / "mail.log", lines_bytes(message("E1E1E1E101")))
    missing = tmp_path / "missing.log"
    directory = tmp_path / "empty"
    directory.mkdir()
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.log"
    os.symlink(tmp_path / "loop2.log", loop)
    os.symlink(loop, tmp_path / "loop2.log")
    paths = [missing, directory, fifo, loop]
    code, out, err = cli(capsys, "stats", *map(str, [*paths, good]), "--json")
    assert code == 2
    assert err.splitlines() == [
        f"mailtui: {missing}: no such file or directory",
        f"mailtui: {directory}: no mail logs in this directory",
        f"mailtui: {fifo}: not a regular file (FIFO, socket or device); use - for a pipe",
        f"mailtui: {loop}: too many levels of symbolic links (symlink loop?)",
    ]
    stats = json.loads(out)
    assert [f["file"] for f in stats["files"]] == [str(good)] and stats["messages"] == 1
    # Nothing readable at all: the same lines, exit 2, and no output.
    code, out, err = cli(capsys, "search", *map(str, paths))
    assert (code, out) == (2, "") and len(err.splitlines()) == 4


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory other users can enter (pytest's tmp_path is 0700, root's own)."""
    path = Path(tempfile.mkdtemp(prefix="mailtui-hostile-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_unreadable_file_really_denied(shared_dir: Path) -> None:
    """As an unprivileged user, so the kernel refuses the open (root would read anything)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run as nobody")
    locked = write_bytes(shared_dir / "locked.log", lines_bytes(message("E2E2E2E201")))
    locked.chmod(0o600)
    good = write_bytes(shared_dir / "mail.log", lines_bytes(message("E2E2E2E202")))
    good.chmod(0o644)
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run([*nobody, sys.executable, "-c", "import mailtui"], capture_output=True, cwd=ROOT)
    if probe.returncode != 0:
        pytest.skip("nobody cannot run this interpreter")
    result = subprocess.run(
        [*nobody, sys.executable, "-m", "mailtui", "stats", str(locked), str(good), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == f"mailtui: {locked}: permission denied\n"
    assert json.loads(result.stdout)["messages"] == 1
    alone = subprocess.run(
        [*nobody, sys.executable, "-m", "mailtui", "search", str(locked)],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert (alone.returncode, alone.stdout) == (2, "")


def test_unreadable_file_simulated(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = write_bytes(tmp_path / "locked.log", lines_bytes(message("E3E3E3E301")))
    good = write_bytes(tmp_path / "mail.log", lines_bytes(message("E3E3E3E302")))
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):
        if str(file) == str(locked):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    code, out, err = cli(capsys, "stats", str(locked), str(good), "--json")
    assert code == 2 and err == f"mailtui: {locked}: permission denied\n"
    assert json.loads(out)["messages"] == 1


def test_file_truncated_while_being_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "CHUNK_SIZE", 256)  # many small reads, so the cut lands mid-read
    lines = []
    for n in range(40):
        lines += message(f"F1F1F1F1{n:02d}", n)
    lines.insert(3, "Mar 11 10:00:02 mx1 kernel: not a mail line")
    path = write_log(tmp_path, "mail.log", "\n".join(lines) + "\n")
    size = path.stat().st_size
    cut_at = size // 3

    def rotate(loaded, line_no: int, text: str) -> None:
        with open(path, "r+b") as handle:  # what `logrotate copytruncate` does
            handle.truncate(cut_at)

    session = open_logs([str(path)], local_tz=timezone.utc, on_unrecognised=rotate)
    loaded = session.files[0]
    [error] = session.errors
    assert re.fullmatch(
        rf"{re.escape(str(path))}: file shrank from {size} to {cut_at} bytes while being read \(truncated by a rotation\?\); "
        r"read \d+ bytes, later lines may be missing",
        error,
    )
    assert 4 <= loaded.lines < len(lines)  # what was read before the cut is kept and counted
    assert loaded.errors == session.errors
    assert by_qid(session, "F1F1F1F100").status == "sent"


def test_file_rotated_while_being_read(tmp_path: Path) -> None:
    lines = [*message("F2F2F2F201"), "Mar 11 10:00:05 mx1 kernel: not a mail line", *message("F2F2F2F202", 1)]
    path = write_log(tmp_path, "mail.log", "\n".join(lines) + "\n")

    def rotate(loaded, line_no: int, text: str) -> None:
        if not (tmp_path / "mail.log.1").exists():
            path.rename(tmp_path / "mail.log.1")  # logrotate's default: rename, then a new file
            path.write_bytes(b"Mar 11 11:00:00 mx1 postfix/qmgr[812]: 0123456789: removed\n")

    session = open_logs([str(path)], local_tz=timezone.utc, on_unrecognised=rotate)
    assert session.errors == []
    assert session.files[0].lines == len(lines)  # the open file was read to its end
    trace = by_qid(session, "F2F2F2F202")
    assert trace.status == "sent"
    # Its raw lines now live in mail.log.1: showing mail.log's bytes at those offsets would be wrong.
    with pytest.raises(Exception, match="replaced \\(rotated\\?\\) since it was read"):
        session.read_lines(trace.lines)


# -- untrusted text ---------------------------------------------------------------------------------


HOSTILE_TEXTS = [
    "[bold red]x[/]",
    "[link=https://evil.example]click[/link]",
    "\x1b[2J",
    "\x1b]0;owned\x07",
    "\x1b]52;c;ZXZpbA==\x07",
    "\x07\x07",
    "\x08\x08",
    "\u202e",
    "\u2066",
    "Café crème",
]


def test_cli_text_output_never_carries_controls(capsys: pytest.CaptureFixture) -> None:
    outputs = []
    for args in (
        ["search", str(HOSTILE)],
        ["search", str(HOSTILE), "subject:bidi"],
        ["stats", str(HOSTILE)],
        *[["trace", str(HOSTILE), f"1A2B3C4D0{n}"] for n in range(1, 9)],
        ["trace", str(HOSTILE), "mx1:NOQUEUE:1"],
        ["trace", str(HOSTILE), "\x1b]0;title\x07"],  # an id that is not there, echoed back
    ):
        code, out, err = cli(capsys, *args)
        assert code in (0, 1), (args, err)
        outputs.append(out + err)
        assert not UNSAFE.search(out + err), (args, UNSAFE.findall(out + err))
    text = "\n".join(outputs)
    # Shown literally: markup stays text, escapes become visible glyphs.
    assert "[bold red]x[/]" in text and "[link=https://evil.example]click" in text
    assert "\u241b[2J" in text and "\u241b]0;owned\u2407" in text and "\u241b]52;c;ZXZpbA==\u2407" in text
    assert "<U+202E>exe.txt" in text and "Café crème ¿Qué?" in text


def test_json_output_is_valid_and_keeps_the_original_text(capsys: pytest.CaptureFixture) -> None:
    code, out, err = cli(capsys, "search", str(HOSTILE), "--json")
    assert code == 0, err
    assert not UNSAFE.search(out)  # escaped by JSON: \u001b, \u202e ...
    objects = [json.loads(line) for line in out.splitlines()]
    subjects = [o["subject"] for o in objects]
    assert "[bold red]x[/]" in subjects
    assert "title \x1b]0;owned\x07 set" in subjects
    assert "bidi \u202eexe.txt\u202c and \u2066isolate\u2069" in subjects
    assert "Café crème ¿Qué?" in subjects
    code, out, err = cli(capsys, "trace", str(HOSTILE), "1A2B3C4D06", "--json")
    assert code == 0 and not UNSAFE.search(out)
    texts = [line["text"] for line in json.loads(out)["lines"]]
    assert any("bell \x07\x07 and back\x08\x08space" in t for t in texts)
    code, out, err = cli(capsys, "stats", str(HOSTILE), "--json")
    assert code == 0 and not UNSAFE.search(out)
    assert json.loads(out)["top_senders"]


def test_journal_json_with_lone_surrogates_and_newlines(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    entries = [
        {
            "MESSAGE": "ABCDEF0123: from=<a\ud800\nlines 0  unrecognised 0\u009b@x.example>, size=1, nrcpt=1 (queue active)"
        },
        {
            "MESSAGE": "ABCDEF0123: to=<b@example.com>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (ok)"
        },
    ]
    text = ""
    for entry in entries:
        entry.update(
            {
                "__REALTIME_TIMESTAMP": "1710151200000000",
                "_HOSTNAME": "mx1",
                "SYSLOG_IDENTIFIER": "postfix/qmgr",
                "_PID": "812",
            }
        )
        text += json.dumps(entry) + "\n"  # json.dumps writes the lone surrogate as \ud800
    path = write_log(tmp_path, "journal.json", text)
    for args in (
        ["search"],
        ["search", "--json"],
        ["stats"],
        ["stats", "--json"],
        ["trace", "--json"],
        ["trace"],
    ):
        extra = ["ABCDEF0123"] if args[0] == "trace" else []
        code, out, err = cli(capsys, args[0], str(path), *extra, *args[1:])
        assert code == 0, (args, err)
        assert not UNSAFE.search(out), args
        if "--json" in args:
            for line in out.splitlines():
                json.loads(line)
        else:
            assert "\nlines 0" not in out  # the newline inside the sender did not start a line
    session = load(path)
    assert by_qid(session, "ABCDEF0123").sender == "a\ufffd\nlines 0  unrecognised 0\u009b@x.example"


def test_ascii_terminal_gets_escapes_not_a_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mailtui", "search", str(HOSTILE)],
        capture_output=True, env={**os.environ, "PYTHONIOENCODING": "ascii"}, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert b"Caf\\xe9 cr\\xe8me" in result.stdout


# -- logs are only ever read ------------------------------------------------------------------------


def _snapshot(directory: Path) -> Dict[str, Tuple[int, int, bytes]]:
    return {
        entry.name: (
            entry.stat(follow_symlinks=False).st_mtime_ns,
            entry.stat(follow_symlinks=False).st_mode,
            Path(entry.path).read_bytes(),
        )
        for entry in os.scandir(directory)
    }


def test_logs_are_opened_read_only_and_nothing_is_written_beside_them(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(HOSTILE, logs / "mail.log")
    shutil.copy(ROOT / "samples" / "postfix" / "rotated" / "mail.log.2.gz", logs / "mail.log.2.gz")
    shutil.copy(ROOT / "samples" / "exchange" / "MSGTRK20240311-1.LOG", logs / "MSGTRK20240311-1.LOG")
    for path in logs.iterdir():
        path.chmod(0o444)
    logs.chmod(0o555)
    before = _snapshot(logs)
    writes: List[Tuple[str, object]] = []

    def audit(event: str, args: tuple) -> None:
        if event == "open" and str(args[0]).startswith(str(logs)):
            mode, flags = args[1], args[2]
            if (isinstance(mode, str) and set(mode) & set("wax+")) or (
                isinstance(flags, int)
                and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
            ):
                writes.append((event, args))
        elif event in (
            "os.rename",
            "os.remove",
            "os.chmod",
            "os.utime",
            "os.truncate",
            "fcntl.flock",
            "fcntl.lockf",
            "os.mkdir",
        ) and (
            any(str(a).startswith(str(logs)) for a in args if isinstance(a, (str, Path)))
            or event.startswith("fcntl")
        ):
            writes.append((event, args))

    _AUDIT.append(audit)
    try:
        for args in (
            ["search", str(logs)],
            ["search", str(logs), "--json"],
            ["trace", str(logs), "1A2B3C4D01"],
            ["trace", str(logs), "1A2B3C4D01", "--json"],
            ["stats", str(logs)],
            ["stats", str(logs), "--json"],
        ):
            code, _out, err = cli(capsys, *args)
            assert code == 0, (args, err)
    finally:
        _AUDIT.remove(audit)
        logs.chmod(0o755)
    assert writes == []
    assert _snapshot(logs) == before


#: Active audit checks (an audit hook cannot be removed, so one hook runs whatever is listed here).
_AUDIT: List = []


def _audit_hook(event: str, args: tuple) -> None:
    for check in list(_AUDIT):
        check(event, args)


sys.addaudithook(_audit_hook)


def test_no_write_mode_anywhere_in_the_readers() -> None:
    """Belt and braces: the reading modules never open anything for writing."""
    for name in ("sources.py", "session.py", "envelope.py", "export.py", "stats.py", "cli.py"):
        source = (ROOT / "mailtui" / name).read_text(encoding="utf-8")
        assert not re.search(r"open\([^)]*[\"'][wax]b?\+?[\"']", source), name
        assert "O_WRONLY" not in source and "O_RDWR" not in source and "flock" not in source, name
    assert stat.S_IMODE(HOSTILE.stat().st_mode) & 0o444


def test_no_break_space_after_the_header_does_not_recurse() -> None:
    """Found by the property tests: `\\xa0` after the first ": " recursed until RecursionError."""
    from mailtui.envelope import EnvelopeParser

    assert EnvelopeParser(MTIME).parse("#Log-type: Message T\x1c(\xa0ing Log") is None


def test_text_starting_with_bzh_is_not_bzip2(tmp_path: Path) -> None:
    """Found by the property tests: a plain log whose first line starts with "BZh" was read as bzip2."""
    path = write_bytes(tmp_path / "mail.log", b"BZh ok\n" + lines_bytes(message("BABABABA01")))
    session = load(path)
    assert session.errors == [] and session.files[0].source.compression is None
    assert_session_accounted(session, path)
    assert by_qid(session, "BABABABA01").status == "sent"

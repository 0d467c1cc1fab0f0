"""Following growing logs: appended lines, partial lines, rotation by rename and by copytruncate,
stable trace ids, and `search --follow` as a process."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from datetime import timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from mailtui.follow import Follower
from mailtui.session import Loader, Session

ROOT = Path(__file__).resolve().parents[1]


def mail(qid: str, minute: int, rcpt: str, *statuses: str, host: str = "mx1") -> List[str]:
    """The Postfix lines of one mail received at 10:MM: one delivery line per status, then
    `removed` when the last status is final."""
    t = f"Mar 11 10:{minute:02d}"
    lines = [
        f"{t}:01 {host} postfix/smtpd[2001]: {qid}: client=mail.example.net[198.51.100.7]",
        f"{t}:01 {host} postfix/cleanup[2002]: {qid}: message-id=<{qid.lower()}@example.net>",
        f"{t}:02 {host} postfix/qmgr[812]: {qid}: from=<anna@example.net>, size=1200, nrcpt=1 (queue active)",
    ]
    lines += [delivery(qid, minute, rcpt, status, n, host=host) for n, status in enumerate(statuses)]
    if statuses and statuses[-1] != "deferred":
        lines.append(f"{t}:{10 + len(statuses):02d} {host} postfix/qmgr[812]: {qid}: removed")
    return lines


def delivery(qid: str, minute: int, rcpt: str, status: str, n: int = 0, host: str = "mx1") -> str:
    reply = "250 2.0.0 Ok: queued" if status == "sent" else "connect to mx.example.org: Connection timed out"
    dsn = "2.0.0" if status == "sent" else "4.4.1"
    return (
        f"Mar 11 10:{minute:02d}:{10 + n:02d} {host} postfix/smtp[2003]: {qid}: to=<{rcpt}>, "
        f"relay=mx.example.org[203.0.113.5]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn={dsn}, "
        f"status={status} ({reply})"
    )


def reject(minute: int, rcpt: str, host: str = "mx1") -> List[str]:
    return [
        f"Mar 11 10:{minute:02d}:30 {host} postfix/smtpd[2101]: NOQUEUE: reject: RCPT from "
        f"spam.example[192.0.2.66]: 554 5.7.1 <{rcpt}>: Relay access denied; "
        f"from=<x@spam.example> to=<{rcpt}> proto=ESMTP helo=<spam.example>"
    ]


def append(path: Path, lines: Sequence[str], newline: bool = True) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + ("\n" if newline else ""))


def start(*paths: Path) -> Tuple[Loader, Session, Follower]:
    loader = Loader([str(p) for p in paths], year=2024, local_tz=timezone.utc)
    session = loader.run()
    return loader, session, Follower(loader, session)


def one_shot(*paths: Path) -> Session:
    return Loader([str(p) for p in paths], year=2024, local_tz=timezone.utc).run()


def state(session: Session) -> Dict[Tuple[str, ...], Tuple[str, Tuple[Tuple[str, str], ...]]]:
    """Each trace as (its queue ids) -> (status, (recipient, status)...)."""
    return {
        tuple(hop.queue_id for hop in trace.hops): (
            trace.status,
            tuple((r.address, r.status) for r in trace.recipients),
        )
        for trace in session.traces
    }


def line_count(session: Session) -> int:
    return sum(f.lines for f in session.files)


def all_raw_lines(session: Session) -> List[str]:
    """Every raw line of every trace, re-read by offset (sorted)."""
    return sorted(line for trace in session.traces for line in session.read_lines(trace.lines))


def poll_until(follower: Follower, timeout: float = 2.0) -> Session:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        session = follower.poll()
        if session is not None:
            return session
        time.sleep(0.005)
    raise AssertionError("no change seen")


def test_appended_lines_make_new_traces_and_change_status(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(
        log,
        mail("A1A1A1A1A1", 0, "boss@example.org", "sent") + mail("B2B2B2B2B2", 1, "b@x.example", "deferred"),
    )
    _, session, follower = start(log)
    assert follower.followed == [str(log)]
    assert state(session) == {
        ("A1A1A1A1A1",): ("sent", (("boss@example.org", "sent"),)),
        ("B2B2B2B2B2",): ("deferred", (("b@x.example", "deferred"),)),
    }
    ids = {t.id for t in session.traces}
    assert follower.poll() is None  # nothing appended: nothing to do

    append(log, mail("C3C3C3C3C3", 2, "c@y.example", "sent"))
    new = follower.poll()
    assert new is not None
    assert state(new) == {
        ("A1A1A1A1A1",): ("sent", (("boss@example.org", "sent"),)),
        ("B2B2B2B2B2",): ("deferred", (("b@x.example", "deferred"),)),
        ("C3C3C3C3C3",): ("sent", (("c@y.example", "sent"),)),
    }
    assert follower.changed == {"mx1:C3C3C3C3C3"}
    assert ids <= {t.id for t in new.traces}

    # The deferred mail is finally sent: its status changes, nothing else does.
    append(
        log,
        [
            delivery("B2B2B2B2B2", 5, "b@x.example", "sent"),
            "Mar 11 10:05:11 mx1 postfix/qmgr[812]: B2B2B2B2B2: removed",
        ],
    )
    new = follower.poll()
    assert new is not None
    assert state(new)[("B2B2B2B2B2",)] == ("sent", (("b@x.example", "sent"),))
    assert follower.changed == {"mx1:B2B2B2B2B2"}
    assert state(new) == state(one_shot(log))
    assert line_count(new) == line_count(one_shot(log)) == 16
    assert follower.last_line_at is not None and follower.lines_read == 7
    assert new.read_lines(new.find("B2B2B2B2B2")[0].lines)[-1].endswith("B2B2B2B2B2: removed")


def test_a_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, mail("A1A1A1A1A1", 0, "a@x.example", "deferred"))
    _, _, follower = start(log)
    line = delivery("A1A1A1A1A1", 3, "a@x.example", "sent")
    append(log, [line[:40]], newline=False)
    assert follower.poll() is None  # half a line: kept back
    append(log, [line[40:-10]], newline=False)
    assert follower.poll() is None
    append(log, [line[-10:]])
    new = follower.poll()
    assert new is not None
    assert state(new) == {("A1A1A1A1A1",): ("sent", (("a@x.example", "sent"),))}
    assert line_count(new) == line_count(one_shot(log)) == 5
    assert new.read_lines(new.traces[0].lines)[-1] == line


def test_a_last_line_without_newline_at_load_time_is_not_read_twice(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, mail("A1A1A1A1A1", 0, "a@x.example", "sent"), newline=False)
    _, session, follower = start(log)
    assert line_count(session) == 5
    append(log, ["", *mail("B2B2B2B2B2", 1, "b@x.example", "sent")])  # the newline comes first
    new = poll_until(follower)
    assert state(new) == state(one_shot(log))
    assert line_count(new) == line_count(one_shot(log)) == 10


def test_crlf_lines_are_followed(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    log.write_bytes(("\r\n".join(mail("A1A1A1A1A1", 0, "a@x.example", "deferred")) + "\r\n").encode())
    _, _, follower = start(log)
    with open(log, "ab") as handle:
        handle.write((delivery("A1A1A1A1A1", 4, "a@x.example", "sent") + "\r\n").encode())
    new = poll_until(follower)
    assert state(new) == {("A1A1A1A1A1",): ("sent", (("a@x.example", "sent"),))}
    assert not new.read_lines(new.traces[0].lines)[-1].endswith("\r")


def test_rotation_by_rename(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, mail("A1A1A1A1A1", 0, "a@x.example", "sent"))
    _, _, follower = start(log)
    # A mail starts in the old file...
    spanning = mail("D4D4D4D4D4", 3, "d@z.example", "deferred")
    append(log, mail("B2B2B2B2B2", 1, "b@x.example", "sent") + spanning)
    assert follower.poll() is not None
    writer = open(log, "a", encoding="utf-8")  # noqa: SIM115 - a syslog daemon that has not reopened yet
    os.rename(log, tmp_path / "mail.log.1")
    writer.write("\n".join(mail("C3C3C3C3C3", 2, "c@y.example", "sent")) + "\n")
    writer.flush()
    assert follower.poll() is not None  # the old file, through the kept descriptor
    assert follower.poll() is None  # no new mail.log yet
    writer.write(delivery("D4D4D4D4D4", 4, "d@z.example", "deferred", 1) + "\n")
    writer.close()
    # ...and ends in the new one.
    append(
        log,
        [delivery("D4D4D4D4D4", 6, "d@z.example", "sent", 2), *mail("E5E5E5E5E5", 7, "e@y.example", "sent")],
    )
    new = follower.poll()
    assert new is not None
    expected = one_shot(tmp_path / "mail.log.1", log)
    assert state(new) == state(expected)
    assert state(new)[("D4D4D4D4D4",)] == ("sent", (("d@z.example", "sent"),))
    assert line_count(new) == line_count(expected) == 26
    assert [f.name for f in new.files] == [str(log), str(log)]
    # Raw lines of both files are still shown right (the old one through its descriptor).
    assert all_raw_lines(new) == all_raw_lines(expected)
    assert any("rotated" in notice for notice in follower.notices)
    follower.close()


def test_rotation_between_load_and_follow(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, mail("A1A1A1A1A1", 0, "a@x.example", "sent"))
    loader = Loader([str(log)], year=2024, local_tz=timezone.utc)
    session = loader.run()
    append(log, mail("B2B2B2B2B2", 1, "b@x.example", "sent"))
    os.rename(log, tmp_path / "mail.log.1")
    append(log, mail("C3C3C3C3C3", 2, "c@y.example", "sent"))
    follower = Follower(loader, session)
    new = follower.poll()
    assert new is not None
    expected = one_shot(tmp_path / "mail.log.1", log)
    assert state(new) == state(expected)
    assert line_count(new) == line_count(expected) == 15


def test_copytruncate(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, mail("A1A1A1A1A1", 0, "a@x.example", "sent"))
    _, _, follower = start(log)
    append(log, mail("B2B2B2B2B2", 1, "b@x.example", "deferred"))
    assert follower.poll() is not None
    # Written after the last poll, before the copy: only the copy has these lines.
    append(log, mail("C3C3C3C3C3", 2, "c@y.example", "sent"))
    shutil.copyfile(log, tmp_path / "mail.log.1")
    with open(log, "r+b") as handle:
        handle.truncate(0)
    append(log, [delivery("B2B2B2B2B2", 5, "b@x.example", "sent", 1)])
    new = follower.poll()
    assert new is not None
    expected = one_shot(tmp_path / "mail.log.1", log)
    assert state(new) == state(expected)
    assert state(new)[("B2B2B2B2B2",)] == ("sent", (("b@x.example", "sent"),))
    assert line_count(new) == line_count(expected) == 15
    assert all_raw_lines(new) == all_raw_lines(expected)
    # The file grows again after the truncation.
    append(log, mail("D4D4D4D4D4", 6, "d@z.example", "sent"))
    new = follower.poll()
    assert new is not None
    assert state(new) == state(one_shot(tmp_path / "mail.log.1", log))
    assert line_count(new) == 20


def test_copytruncate_without_a_copy_found(tmp_path: Path) -> None:
    """The copy went elsewhere: what was written since the last poll is lost (copytruncate's
    nature); everything after the truncation is read, nothing twice."""
    log = tmp_path / "mail.log"
    append(log, mail("A1A1A1A1A1", 0, "a@x.example", "sent"))
    _, _, follower = start(log)
    append(log, mail("C3C3C3C3C3", 2, "c@y.example", "sent"))  # lost
    with open(log, "r+b") as handle:
        handle.truncate(0)
    append(log, mail("D4D4D4D4D4", 6, "d@z.example", "sent"))
    new = follower.poll()
    assert new is not None
    assert set(state(new)) == {("A1A1A1A1A1",), ("D4D4D4D4D4",)}
    assert line_count(new) == 10
    assert any("no copy found" in notice for notice in follower.notices)


def test_copytruncate_twice_and_rename_in_one_follow(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, mail("A1A1A1A1A1", 0, "a@x.example", "sent"))
    _, _, follower = start(log)
    contents = []
    for n, qid in enumerate(["B2B2B2B2B2", "C3C3C3C3C3"]):
        append(log, mail(qid, n + 1, "b@x.example", "sent"))
        follower.poll()
        contents.append(log.read_text())
        with open(log, "r+b") as handle:
            handle.truncate(0)
        follower.poll()
    os.rename(log, tmp_path / "old.log")
    append(log, mail("E5E5E5E5E5", 9, "e@x.example", "sent"))
    new = poll_until(follower)
    assert set(state(new)) == {(q,) for q in ("A1A1A1A1A1", "B2B2B2B2B2", "C3C3C3C3C3", "E5E5E5E5E5")}
    assert line_count(new) == 20


def test_trace_ids_stay_stable(tmp_path: Path) -> None:
    """NOQUEUE rows are numbered in time order; a later line with an earlier time (another file
    of the same host) must not renumber the rows already shown."""
    a = tmp_path / "a.log"
    b = tmp_path / "b.log"
    append(a, reject(30, "x1@example.org") + reject(31, "x2@example.org"))
    append(b, mail("A1A1A1A1A1", 0, "a@x.example", "sent"))
    _, session, follower = start(a, b)
    before = {t.id: state_of(t) for t in session.traces}
    assert set(before) == {"mx1:NOQUEUE:1", "mx1:NOQUEUE:2", "mx1:A1A1A1A1A1"}
    append(b, reject(5, "early@example.org"))
    new = follower.poll()
    assert new is not None
    after = {t.id: state_of(t) for t in new.traces}
    for trace_id, value in before.items():
        assert after[trace_id] == value
    assert follower.changed == {"mx1:NOQUEUE:3"}
    assert after["mx1:NOQUEUE:3"][1] == (("early@example.org", "rejected"),)


def state_of(trace) -> tuple:  # type: ignore[no-untyped-def]
    return (trace.status, tuple((r.address, r.status) for r in trace.recipients))


def test_what_is_not_followed(tmp_path: Path) -> None:
    import gzip

    log = tmp_path / "mail.log"
    append(log, mail("A1A1A1A1A1", 0, "a@x.example", "sent"))
    (tmp_path / "mail.log.1").write_text("\n".join(mail("B2B2B2B2B2", 0, "b@x.example", "sent")) + "\n")
    with gzip.open(tmp_path / "mail.log.2.gz", "wt") as handle:
        handle.write("\n".join(mail("C3C3C3C3C3", 0, "c@x.example", "sent")) + "\n")
    _, _, follower = start(tmp_path)
    assert follower.followed == [str(log)]


def test_poll_latency(tmp_path: Path) -> None:
    """From a line written to poll() returning it (the UI polls every POLL_INTERVAL seconds)."""
    log = tmp_path / "mail.log"
    append(log, mail("A1A1A1A1A1", 0, "a@x.example", "deferred"))
    _, _, follower = start(log)
    latencies = []
    for n in range(20):
        written = time.perf_counter()
        append(log, [delivery("A1A1A1A1A1", 1 + n, "a@x.example", "deferred", n)])
        poll_until(follower)
        latencies.append(time.perf_counter() - written)
    assert max(latencies) < 0.5, latencies


# -- the command line ------------------------------------------------------------------------------


def _mailtui(*args: str, stdout: Optional[int] = subprocess.PIPE) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "mailtui", *args], stdout=stdout, stderr=subprocess.PIPE, env=env
    )


_BUFFERS: Dict[int, bytes] = {}


def _read_line(process: subprocess.Popen, timeout: float) -> bytes:
    """The next line the process prints, waiting at most `timeout` seconds for it."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + timeout
    while b"\n" not in _BUFFERS.get(fd, b""):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        assert ready, f"no line within {timeout}s"
        data = os.read(fd, 65536)
        assert data, "the process ended"
        _BUFFERS[fd] = _BUFFERS.get(fd, b"") + data
    line, _, rest = _BUFFERS[fd].partition(b"\n")
    _BUFFERS[fd] = rest
    return line


def test_search_follow_json(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(
        log,
        mail("A1A1A1A1A1", 0, "boss@example.org", "deferred")
        + mail("B2B2B2B2B2", 1, "x@other.example", "sent"),
    )
    process = _mailtui("search", str(log), "--follow", "--json", "--year", "2024", "to:boss@example.org")
    try:
        first = json.loads(_read_line(process, 10))  # the matching mail already in the log
        assert (first["id"], first["status"]) == ("mx1:A1A1A1A1A1", "deferred")
        time.sleep(0.7)  # the follower is running by now
        latencies = []
        # Another mail that does not match: nothing printed; the awaited one arrives.
        append(log, mail("C3C3C3C3C3", 2, "x@other.example", "sent"))
        written = time.perf_counter()
        append(
            log,
            [
                delivery("A1A1A1A1A1", 6, "boss@example.org", "sent", 1),
                "Mar 11 10:06:12 mx1 postfix/qmgr[812]: A1A1A1A1A1: removed",
            ],
        )
        changed = json.loads(_read_line(process, 2))
        latencies.append(time.perf_counter() - written)
        assert (changed["id"], changed["status"]) == ("mx1:A1A1A1A1A1", "sent")
        written = time.perf_counter()
        append(log, mail("D4D4D4D4D4", 7, "boss@example.org", "sent"))
        new = json.loads(_read_line(process, 2))
        latencies.append(time.perf_counter() - written)
        assert (new["id"], new["status"]) == ("mx1:D4D4D4D4D4", "sent")
        assert max(latencies) < 2.0
        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(timeout=5) == 0
        assert process.stdout is not None and _BUFFERS.pop(process.stdout.fileno()) == b""
        assert process.stdout.read() == b""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_search_follow_ends_cleanly_on_sigterm_and_sigpipe(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    append(log, mail("A1A1A1A1A1", 0, "a@x.example", "sent"))
    process = _mailtui("search", str(log), "--follow", "--year", "2024")
    try:
        _read_line(process, 10)  # the table header
        _read_line(process, 2)
        _BUFFERS.clear()
        process.terminate()
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # The reader goes away: the next line written ends the follow, quietly.
    process = _mailtui("search", str(log), "--follow", "--json", "--year", "2024")
    try:
        _read_line(process, 10)
        assert process.stdout is not None
        _BUFFERS.pop(process.stdout.fileno())
        process.stdout.close()
        for n in range(40):
            append(log, mail(f"B{n:09d}", 1, "b@x.example", "sent"))
            time.sleep(0.1)
            if process.poll() is not None:
                break
        assert process.wait(timeout=5) == 0
        assert process.stderr is not None
        assert b"Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

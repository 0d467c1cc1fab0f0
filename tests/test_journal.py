"""Reading and following the systemd journal through a fake `journalctl` that prints recorded
`journalctl -o json` output and records the arguments it was given."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
import time
from datetime import timezone
from pathlib import Path
from typing import Dict, List

import pytest

from mailtui import cli, journal
from mailtui.follow import Follower
from mailtui.session import open_logs

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "syslog" / "journal.json"
MATCHES = list(journal.MATCHES)

#: Recorded-style `journalctl -o json` entries of a Postfix host (what journald stores for
#: syslog(3) lines: identifier, pid, facility, unit, realtime timestamp in microseconds).
_BASE = 1710151200_000000  # 2024-03-11 10:00:00 UTC


def entry(seconds: float, ident: str, pid: int, message: str, n: int) -> str:
    ts = _BASE + int(seconds * 1e6)
    return json.dumps(
        {
            "__CURSOR": f"s=0b6f4c1d2e3a4b5c;i={n:x};b=7e3f1c2d;m={n:x};t={ts:x};x={n:x}",
            "__REALTIME_TIMESTAMP": str(ts),
            "__MONOTONIC_TIMESTAMP": str(8123456789 + n),
            "_BOOT_ID": "7e3f1c2d4b5a69788796a5b4c3d2e1f0",
            "_HOSTNAME": "mx7",
            "PRIORITY": "6",
            "SYSLOG_FACILITY": "2",
            "SYSLOG_IDENTIFIER": ident,
            "SYSLOG_PID": str(pid),
            "_PID": str(pid),
            "_TRANSPORT": "syslog",
            "_SYSTEMD_UNIT": "postfix@-.service",
            "_SYSTEMD_SLICE": "system-postfix.slice",
            "_SOURCE_REALTIME_TIMESTAMP": str(ts - 30),
            "MESSAGE": message,
        },
        separators=(",", ":"),
    )


def mail_entries(qid: str, minute: int, rcpt: str, status: str, start: int) -> List[str]:
    t = minute * 60
    reply = "250 2.0.0 Ok: queued" if status == "sent" else "Connection timed out"
    rows = [
        (t + 1, "postfix/smtpd", 3001, f"{qid}: client=mail.example.net[198.51.100.7]"),
        (t + 1, "postfix/cleanup", 3002, f"{qid}: message-id=<{qid.lower()}@example.net>"),
        (t + 2, "postfix/qmgr", 812, f"{qid}: from=<anna@example.net>, size=1200, nrcpt=1 (queue active)"),
        (
            t + 3,
            "postfix/smtp",
            3003,
            f"{qid}: to=<{rcpt}>, relay=mx.example.org[203.0.113.5]:25, delay=1.2, "
            f"delays=0.1/0/0.5/0.6, dsn={'2.0.0' if status == 'sent' else '4.4.1'}, status={status} ({reply})",
        ),
    ]
    return [entry(s, ident, pid, msg, start + i) for i, (s, ident, pid, msg) in enumerate(rows)]


FAKE = textwrap.dedent(
    """\
    #!{python}
    import os, sys, time
    with open(os.environ["FAKE_JOURNAL_ARGS"], "a") as log:
        log.write(repr(sys.argv[1:]) + "\\n")
    if os.environ.get("FAKE_JOURNAL_FAIL"):
        sys.stderr.write(os.environ["FAKE_JOURNAL_FAIL"] + "\\n")
        sys.exit(1)
    if "--follow" not in sys.argv:
        with open(os.environ["FAKE_JOURNAL"], "rb") as recorded:
            sys.stdout.buffer.write(recorded.read())
        sys.exit(0)
    # Following: print what is appended to the "live" file, as journalctl -f does.
    pos = 0
    while True:
        with open(os.environ["FAKE_JOURNAL_LIVE"], "rb") as live:
            live.seek(pos)
            data = live.read()
        end = data.rfind(b"\\n") + 1
        if end:
            sys.stdout.buffer.write(data[:end])
            sys.stdout.buffer.flush()
            pos += end
        time.sleep(0.01)
    """
)


@pytest.fixture
def fake_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Path]:
    """A fake journalctl first on PATH; returns its files (recorded output, live output, argv log)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "journalctl"
    script.write_text(FAKE.replace("{python}", sys.executable))
    script.chmod(0o755)
    files = {
        "recorded": tmp_path / "recorded.json",
        "live": tmp_path / "live.json",
        "args": tmp_path / "args.txt",
    }
    files["recorded"].write_text(
        "\n".join(mail_entries("A1A1A1A1A1", 0, "boss@example.org", "deferred", 1)) + "\n"
    )
    files["live"].write_text("")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_JOURNAL", str(files["recorded"]))
    monkeypatch.setenv("FAKE_JOURNAL_LIVE", str(files["live"]))
    monkeypatch.setenv("FAKE_JOURNAL_ARGS", str(files["args"]))
    return files


def calls(files: Dict[str, Path], wait_for: int = 0) -> List[List[str]]:
    """The argument lists journalctl was called with (waiting up to 5 s for `wait_for` calls)."""
    import ast

    deadline = time.monotonic() + 5
    while wait_for and time.monotonic() < deadline:
        if files["args"].exists() and len(files["args"].read_text().splitlines()) >= wait_for:
            break
        time.sleep(0.01)
    if not files["args"].exists():
        return []
    return [ast.literal_eval(line) for line in files["args"].read_text().splitlines()]


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_journal_passes_the_filters_and_options(fake_journal, capsys) -> None:
    code, out, err = run_cli(
        capsys, "search", "--journal", "--since", "2024-03-11 09:00", "--until", "today",
        "-D", "/srv/copied-journal", "--json", "to:boss@example.org",
    )  # fmt: skip
    assert code == 0, err
    assert calls(fake_journal) == [
        [
            "-o", "json", "--no-pager", "--directory", "/srv/copied-journal",
            "--since", "2024-03-11 09:00", "--until", "today", *MATCHES,
        ]
    ]  # fmt: skip
    (trace,) = [json.loads(line) for line in out.splitlines()]
    assert (trace["id"], trace["status"]) == ("mx7:A1A1A1A1A1", "deferred")
    assert trace["lines"][0] == {"file": "journal", "line": 1}
    assert [hop["instance"] for hop in trace["hops"]] == ["postfix"]


def test_the_filters_select_the_mail_facility_units_and_identifiers() -> None:
    """Terms separated by "+" are OR'ed by journalctl; same-field values within a term too."""
    assert MATCHES[0] == "SYSLOG_FACILITY=2"
    terms: List[List[str]] = [[]]
    for match in MATCHES:
        if match == "+":
            terms.append([])
        else:
            terms[-1].append(match)
    for term in terms:
        assert len({match.split("=", 1)[0] for match in term}) == 1  # one field per term: an OR
    assert "_SYSTEMD_SLICE=system-postfix.slice" in MATCHES  # every postfix@INSTANCE.service
    assert "SYSLOG_IDENTIFIER=sm-mta" in MATCHES


def test_journal_gives_the_same_traces_as_the_same_json_in_a_file(fake_journal, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FAKE_JOURNAL", str(SAMPLE))
    code, out, _ = run_cli(capsys, "search", "--journal", "--json")
    assert code == 0
    from_journal = [json.loads(line) for line in out.splitlines()]
    code, out, _ = run_cli(capsys, "search", str(SAMPLE), "--json")
    from_file = [json.loads(line) for line in out.splitlines()]
    assert len(from_journal) == len(from_file) > 0
    for a, b in zip(from_journal, from_file):
        assert a["lines"] == [{**line, "file": "journal"} for line in b["lines"]]
        a.pop("lines"), b.pop("lines")
        assert a == b


def test_trace_and_stats_read_the_journal_and_show_raw_lines(fake_journal, capsys) -> None:
    code, out, _ = run_cli(capsys, "trace", "--journal", "A1A1A1A1A1", "--json")
    assert code == 0
    trace = json.loads(out)
    assert trace["lines"][0]["text"].startswith('{"__CURSOR"')
    code, out, _ = run_cli(capsys, "stats", "--journal", "--json")
    assert code == 0
    assert json.loads(out)["messages"] == 1
    assert len(calls(fake_journal)) == 2


def test_without_journalctl_one_clear_line_and_exit_2(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    code, out, err = run_cli(capsys, "search", "--journal")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "journalctl not found" in err


def test_journalctl_failing_is_reported(fake_journal, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FAKE_JOURNAL_FAIL", "Failed to parse timestamp: yesterdayish")
    code, _, err = run_cli(capsys, "stats", "--journal", "--since", "yesterdayish")
    assert code == 2
    assert err == "mailtui: journalctl: Failed to parse timestamp: yesterdayish\n"


def test_journal_options_without_journal_are_refused(tmp_path, capsys) -> None:
    log = tmp_path / "mail.log"
    log.write_text("")
    code, _, err = run_cli(capsys, "search", str(log), "--since", "today")
    assert code == 2
    assert "--since is for the journal" in err


def test_no_path_and_no_log_file_falls_back_to_the_journal(
    fake_journal, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(cli, "DEFAULT_LOGS", (str(tmp_path / "nothing.log"),))
    assert cli.default_inputs() == ([], True)
    code, out, err = run_cli(capsys, "search", "--json")
    assert code == 0
    assert "reading the systemd journal" in err
    assert json.loads(out)["id"] == "mx7:A1A1A1A1A1"
    # Neither a log file nor journalctl: the one-line message says both.
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(cli.NoMailLogFile):
        cli.default_inputs()
    code, out, err = run_cli(capsys, "search")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "nothing.log is readable" in err and "journalctl" in err


def test_follower_follows_the_journal_after_the_last_cursor(fake_journal) -> None:
    recorded = fake_journal["recorded"].read_text().splitlines()
    last_cursor = json.loads(recorded[-1])["__CURSOR"]
    query = journal.JournalQuery(since="today")
    loader = journal.journal_loader(query, local_tz=timezone.utc)
    session = loader.run()
    assert [(t.id, t.status) for t in session.traces] == [("mx7:A1A1A1A1A1", "deferred")]
    with Follower(loader, session) as follower:
        assert follower.followed == ["journal"]
        assert calls(fake_journal, wait_for=2)[-1] == [
            "-o", "json", "--no-pager", "--follow", "--no-tail", "--after-cursor", last_cursor, *MATCHES,
        ]  # fmt: skip
        assert follower.poll() is None
        live = [
            entry(600, "postfix/smtp", 3003, "A1A1A1A1A1: to=<boss@example.org>, relay=mx.example.org[203.0.113.5]:25, "
                  "delay=600, delays=0.1/599/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok)", 10),
            entry(601, "postfix/qmgr", 812, "A1A1A1A1A1: removed", 11),
        ]  # fmt: skip
        new = _written_then_polled(fake_journal["live"], live[0][:50], follower, expect_change=False)
        assert new is None  # half an entry: kept back
        new = _written_then_polled(fake_journal["live"], live[0][50:] + "\n" + live[1] + "\n", follower)
        assert new is not None
        assert [(t.id, t.status) for t in new.traces] == [("mx7:A1A1A1A1A1", "sent")]
        assert follower.changed == {"mx7:A1A1A1A1A1"}
        # The new lines are re-read from the spool like the first ones.
        texts = new.read_lines(new.traces[0].lines)
        assert json.loads(texts[-1])["MESSAGE"] == "A1A1A1A1A1: removed"
        assert json.loads(texts[0])["MESSAGE"].startswith("A1A1A1A1A1: client=")
        assert sum(f.lines for f in new.files) == 6


def _written_then_polled(live: Path, text: str, follower: Follower, expect_change: bool = True):  # type: ignore[no-untyped-def]
    with open(live, "a", encoding="utf-8") as handle:
        handle.write(text)
    deadline = time.monotonic() + (2.0 if expect_change else 0.3)
    while time.monotonic() < deadline:
        new = follower.poll()
        if new is not None:
            return new
        time.sleep(0.01)
    return None


def test_journal_follow_without_prior_entries_uses_since(fake_journal) -> None:
    fake_journal["recorded"].write_text("")
    loader = journal.journal_loader(journal.JournalQuery(since="-1h"))
    session = loader.run()
    assert session.traces == []
    with Follower(loader, session):
        assert calls(fake_journal, wait_for=2)[-1] == [
            "-o",
            "json",
            "--no-pager",
            "--follow",
            "--no-tail",
            "--since",
            "-1h",
            *MATCHES,
        ]


def test_search_journal_follow_in_a_process(fake_journal) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "mailtui", "search", "--journal", "--follow", "--json", "to:boss@example.org"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        reader = _Lines(process.stdout.fileno())
        assert json.loads(reader.line(10))["status"] == "deferred"
        assert "--follow" in calls(fake_journal, wait_for=2)[-1]
        line = entry(600, "postfix/smtp", 3003, "A1A1A1A1A1: to=<boss@example.org>, relay=mx.example.org"
                     "[203.0.113.5]:25, delay=600, delays=0/599/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok)", 10)  # fmt: skip
        written = time.perf_counter()
        with open(fake_journal["live"], "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        changed = json.loads(reader.line(2))
        assert time.perf_counter() - written < 2.0
        assert (changed["id"], changed["status"]) == ("mx7:A1A1A1A1A1", "sent")
        process.terminate()
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class _Lines:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def line(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.fd], [], [], max(deadline - time.monotonic(), 0))
            assert ready, f"no line within {timeout}s"
            data = os.read(self.fd, 65536)
            assert data, "the process ended"
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line


def test_open_logs_still_reads_journal_json_files() -> None:
    session = open_logs([str(SAMPLE)], local_tz=timezone.utc)
    assert session.traces

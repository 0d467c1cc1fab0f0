"""The command line as scripts use it: names, exit codes, one-line errors, JSON lines."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import SAMPLES, write_log
from test_postfix_engine import AMAVIS, SEED

from mailtui.cli import main, query_text, split_paths_and_query


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mailtui", *args], capture_output=True, text=True, input=stdin, timeout=60
    )


def test_search_json_is_one_object_per_trace_in_time_order(tmp_path):
    log = write_log(tmp_path, "mail.log", SEED + AMAVIS)
    result = run("search", str(log), "--json")
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in objects] == ["util-ubuntu:307DF802B3", "mx1:4A1B2C3D4E"]
    assert objects[0]["first_seen"] <= objects[1]["first_seen"]
    assert objects[1]["message_id"] == "abc123@sender.org"


def test_search_query_words_filter(tmp_path):
    log = write_log(tmp_path, "mail.log", SEED + AMAVIS)
    result = run("search", str(log), "from:ann@sender.org", "subject:quarterly", "--json")
    assert [json.loads(line)["sender"] for line in result.stdout.splitlines()] == ["ann@sender.org"]
    table = run("search", str(log), "to:billy@evil.example")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].startswith("TIME") and len(lines) == 2 and "billy@evil.example" in lines[1]


def test_trace_by_queue_id_message_id_and_trace_id(tmp_path):
    log = write_log(tmp_path, "mail.log", SEED + AMAVIS)
    for ident in ("5B6C7D8E9F", "<abc123@sender.org>", "abc123@sender.org", "mx1:4A1B2C3D4E"):
        result = run("trace", str(log), ident, "--json")
        assert result.returncode == 0, (ident, result.stderr)
        data = json.loads(result.stdout)
        assert data["id"] == "mx1:4A1B2C3D4E"
        assert all("text" in line for line in data["lines"])
    human = run("trace", str(log), "307DF802B3")
    assert "172.20.63.1 -> util-ubuntu (307DF802B3) -> mail.evil.example" in human.stdout
    assert "removed" in human.stdout  # the raw lines are shown


def test_trace_unknown_id_is_exit_1_with_one_line(tmp_path):
    log = write_log(tmp_path, "mail.log", SEED)
    result = run("trace", str(log), "NOSUCHID")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "NOSUCHID" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_inputs_are_one_line_errors(tmp_path):
    missing = run("stats", str(tmp_path / "nope.log"))
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0
    assert "nope.log" in missing.stderr and "Traceback" not in missing.stderr
    binary = tmp_path / "random.log"
    binary.write_bytes(bytes(range(256)) * 4)
    unknown = run("search", str(binary))
    assert unknown.returncode == 2 and "unknown format" in unknown.stderr
    log = write_log(tmp_path, "mail.log", SEED)
    bad_query = run("search", str(log), "status:lost")
    assert bad_query.returncode == 2 and "lost" in bad_query.stderr and "Traceback" not in bad_query.stderr
    bad_format = run("search", str(log), "--format", "qmail")
    assert bad_format.returncode == 2 and "qmail" in bad_format.stderr


def test_good_and_missing_path_together_print_results_and_fail(tmp_path):
    log = write_log(tmp_path, "mail.log", SEED)
    result = run("search", str(log), str(tmp_path / "gone.log"), "--json")
    assert len(result.stdout.splitlines()) == 1
    assert result.returncode == 2 and "gone.log" in result.stderr


def test_stats_json_counts_every_line(tmp_path):
    log = write_log(
        tmp_path, "mail.log", SEED + "Mar 11 10:00:00 mx1 kernel: [1.0] something else\n" + AMAVIS.lstrip()
    )
    result = run("stats", str(log), "--json")
    data = json.loads(result.stdout)
    assert data["lines"] == 7 + 1 + 15
    assert data["lines_unrecognised"] == 1
    (entry,) = data["files"]
    assert entry["lines"] == data["lines"] and entry["unrecognised_examples"][0]["line"] == 8
    assert data["messages"] == 2 and data["recipients"] == 2
    assert data["messages_by_status"] == {"sent": 2}
    assert data["top_senders"][0]["count"] == 1
    assert sum(data["messages_per_hour"].values()) == 2


def test_stdin_is_read_with_a_dash():
    result = run("search", "-", "--json", stdin=SEED.lstrip("\n"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sender"] == "bob@example.com"


def test_paths_and_query_words_are_told_apart(tmp_path):
    log = write_log(tmp_path, "mail.log", SEED)
    paths, words = split_paths_and_query([str(log), "from:bob@example.com", "invoice", "/var/log/x.log"])
    assert paths == [str(log), "/var/log/x.log"]
    assert words == ["from:bob@example.com", "invoice"]
    assert query_text(["since:jan 11", "from:a to:b"]) == 'since:"jan 11" from:a to:b'


def test_main_returns_status_instead_of_raising(tmp_path, capsys):
    assert main(["stats", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err


def test_stats_json_has_the_overview_numbers():
    result = run("stats", str(SAMPLES / "postfix" / "mail.log"), "--year", "2024", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for kept in ("messages_by_status", "top_senders", "top_client_hosts", "top_relays", "messages_per_hour"):
        assert kept in data
    assert data["top_senders"][0] == {"value": "<>", "count": 3, "query": "from:<>"}
    assert data["top_sender_domains"][0]["value"] == "example.com"
    assert data["top_relay_hosts"][0] == {
        "value": "mx1.example.com",
        "count": 8,
        "query": "relay:mx1.example.com",
    }
    assert data["top_reject_reasons"][0]["query"].startswith("status:rejected reason:")
    assert data["volume"]["bucket"] == "hour" and len(data["volume"]["buckets"]) == 9
    assert data["delays"]["end_to_end"]["max"] == 1600
    assert set(data["delays"]) == {"end_to_end", "a", "b", "c", "d"}
    text = run("stats", str(SAMPLES / "postfix" / "mail.log"), "--year", "2024").stdout
    assert "delay end_to_end: median" in text and "messages per hour (by status):" in text


def test_search_csv_columns_and_quoting():
    import csv
    import io

    result = run(
        "search", str(SAMPLES / "postfix" / "mail.log"), "--year", "2024", "status:mixed,bounced", "--csv"
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == [
        "id", "first_seen", "last_seen", "status", "sender", "recipients", "message_id", "subject", "size",
        "client", "client_ip", "servers", "queue_ids",
    ]  # fmt: skip
    assert [row["id"] for row in rows] == ["mx1:C1D2E3F4A5", "mx1:5A6B7C8D9E"]
    assert rows[1]["recipients"] == "ann@client.example old.contact@client2.example"
    hostile = run("search", str(SAMPLES / "hostile"), "--year", "2024", "--csv")
    assert "\x1b" in hostile.stdout  # a pipe or a file gets the log's text as it is
    assert len(list(csv.DictReader(io.StringIO(hostile.stdout)))) == 9
    assert run("search", str(SAMPLES / "hostile"), "--csv", "--json").returncode == 2


def test_search_csv_to_a_terminal_shows_glyphs(capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["search", str(SAMPLES / "hostile"), "--year", "2024", "--csv"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "␛" in out

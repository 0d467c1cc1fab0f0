"""Engine side of issue 7: folded reasons, `reason:`, the numbers behind the overview, CSV rows."""

from __future__ import annotations

import csv
import io

import pytest
from conftest import SAMPLES, load

from mailtui.export import CSV_COLUMNS, csv_row, write_csv
from mailtui.pivot import PIVOTS, pivot_query
from mailtui.query import QueryError, parse_query, quote_value
from mailtui.reasons import fold_reason
from mailtui.stats import compute_stats, percentile, stats_text


@pytest.fixture(scope="module")
def mail_log():
    return load(SAMPLES / "postfix" / "mail.log", year=2024)


@pytest.mark.parametrize(
    ("reply", "folded"),
    [
        ("554 5.7.1 <victim@example.org>: Relay access denied", "Relay access denied"),
        (
            "host mx.example.net[198.51.100.42] said: 450 4.7.1 Greylisted, please try again later "
            "(in reply to RCPT TO command)",
            "Greylisted, please try again later",
        ),
        ("connect to mail2.example.com[10.0.0.2]:25: Connection refused", "Connection refused"),
        ("connect to mx.closed-shop.example[203.0.113.80]:25: Connection timed out", "Connection timed out"),
        ("<nosuch@example.com>... User unknown", "User unknown"),
        (
            "550 5.1.1 <jdoe@example.org>: Recipient address rejected: User unknown (in reply to RCPT TO command)",
            "Recipient address rejected: User unknown",
        ),
        (
            "451 4.4.316 Connection refused [Message=Socket error code 10061]",
            "Connection refused [Message=Socket error code N]",
        ),
        (None, "(no reason logged)"),
        ("", "(no reason logged)"),
    ],
)
def test_fold_reason_groups_equal_replies(reply, folded):
    assert fold_reason(reply) == folded


def test_reason_field_matches_replies_as_logged_and_folded(mail_log):
    def found(query):
        return [t.id for t in mail_log.search(query)]

    assert found('reason:"relay access denied"') == ["mx1:NOQUEUE:1"]
    assert found("reason:Greylisted") == []  # P4 was greylisted, then sent: its last reply counts
    assert found('reason:"1rjZ5x-0004Qa-2B"') == ["mx1:8A4B3C2D1E"]
    assert found('reason:"User unknown"') == ["mx1:C1D2E3F4A5", "mx1:5A6B7C8D9E"]
    assert found('reason:"Client host […] blocked using zen.spamhaus.org"') == ["mx1:NOQUEUE:2"]
    assert found('reason:"as SPAM"') == ["mx1:7E8F9A0B1C"]  # amavis' discard, the trace's own reason
    assert "mx1:NOQUEUE:1" not in found('-reason:"relay access denied"')
    with pytest.raises(QueryError, match="reason"):
        parse_query("reason:")


@pytest.mark.parametrize(
    "value", ["plain", "two words", 'say "hi"', "a,b", "-dash", "back\\slash", "", "Relay […] N"]
)
def test_quote_value_reads_back_as_one_value(value):
    query = parse_query("subject:" + quote_value(value) if value else 'subject:""x')
    assert query.text
    if value:
        from mailtui.query import _alternatives, _lex, _term

        (token,) = list(_lex("subject:" + quote_value(value)))
        assert _alternatives(_term(token).pieces) == [value]


def test_stats_rows_carry_queries_that_list_their_mail(mail_log):
    stats = compute_stats(mail_log)
    for key in ("top_senders", "top_sender_domains", "top_client_hosts", "top_reject_reasons"):
        for row in stats[key]:
            assert len(mail_log.search(row["query"])) == row["count"], (key, row)
    for row in stats["top_recipients"]:
        assert len(mail_log.search(row["query"])) >= 1
    assert stats["top_sender_domains"][0] == {
        "value": "example.com",
        "count": 5,
        "query": "from:@example.com",
    }
    assert {"value": "mx1.example.com", "count": 8, "query": "relay:mx1.example.com"} in stats[
        "top_relay_hosts"
    ]
    for bucket in stats["volume"]["buckets"]:
        assert len(mail_log.search(bucket["query"])) == bucket["total"]
    assert stats["top_deferral_reasons"] == []  # nothing is still deferred at the end of mail.log


def test_day_buckets_and_gaps():
    session = load(SAMPLES / "postfix" / "rotated", year=2024)
    volume = compute_stats(session)["volume"]
    assert volume["bucket"] == "day" and volume["contiguous"]
    assert [b["start"][:10] for b in volume["buckets"]] == ["2024-03-09", "2024-03-10", "2024-03-11"]
    assert [b["total"] for b in volume["buckets"]] == [2, 2, 2]
    assert volume["buckets"][0]["by_status"] == {"sent": 1, "rejected": 1}


def test_delays_and_percentiles(mail_log):
    delays = compute_stats(mail_log)["delays"]
    assert delays["end_to_end"]["count"] == 13  # delivered recipients
    assert delays["end_to_end"]["max"] == 1600  # P4
    assert delays["a"]["max"] == 1599  # P4's delays=1599/0.01/0.2/0.3 or alike: waited before the queue
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
    assert percentile([], 0.5) is None
    text = stats_text(compute_stats(mail_log))
    assert "delay end_to_end: median" in text and "top sender domains:" in text
    assert "messages per hour (by status):" in text


def test_pivot_queries(mail_log):
    p2 = mail_log.trace("mx1:3F2A1B2C3D")
    assert {name: pivot_query(p2, name) for name in PIVOTS} == {
        "msgid": "msgid:<CAF1x7q2Lw9@mail.example.net>",
        "from": "from:anna@example.net",
        "to": "to:boss@example.com",
        "client": "client:198.51.100.7",
        "relay": "relay:mx1.example.com",
        "subject": 'subject:"Q1 figures"',
    }
    ndr = mail_log.trace("mx1:0D1E2F3A4B")
    assert pivot_query(ndr, "from") == "from:<>"
    assert pivot_query(ndr, "client") is None
    rejected = mail_log.trace("mx1:NOQUEUE:1")
    assert pivot_query(rejected, "relay") is None


def test_csv_rows_quote_and_keep_the_text(mail_log):
    traces = mail_log.search("status:bounced,mixed")
    out = io.StringIO()
    assert write_csv(traces, out) == 2
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[1] == csv_row(traces[0])
    p12 = dict(zip(CSV_COLUMNS, rows[2]))
    assert p12["servers"] == "mx1" and p12["queue_ids"] == "5A6B7C8D9E"
    assert p12["first_seen"] == "2024-03-11T11:12:41+00:00"


def test_csv_to_a_terminal_shows_control_characters_as_glyphs():
    session = load(SAMPLES / "hostile", year=2024)
    raw, shown = io.StringIO(), io.StringIO()
    write_csv(session.traces, raw)
    write_csv(session.traces, shown, terminal=True)
    assert "\x1b" in raw.getvalue()
    assert "\x1b" not in shown.getvalue() and "␛" in shown.getvalue()

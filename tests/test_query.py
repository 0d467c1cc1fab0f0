"""The query language: every field, negation, OR lists, quoting, aliases, times and error messages."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from mailtui.model import Trace, Transaction
from mailtui.query import QueryError, parse_query

UTC = timezone.utc
#: 2024-01-15 12:00:00 UTC, a Monday.
NOW = datetime(2024, 1, 15, 12, 0, tzinfo=UTC).timestamp()


def ts(text: str, tz: timezone = UTC) -> float:
    """Epoch seconds of an ISO time written in `tz`."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def hop(
    server: str = "mx1.example.com",
    queue_id: str = "307DF802B3",
    *,
    sender: Optional[str] = "boss@example.com",
    rcpts: Sequence[Tuple[str, str]] = (("alice@example.org", "sent"),),
    client: Optional[str] = "mail.client.example",
    client_ip: Optional[str] = "10.14.168.11",
    subject: Optional[str] = "Invoice 42",
    message_id: Optional[str] = "Abc.123@Example.COM",
    relay: Optional[str] = "mail.evil.example[10.14.168.11]:587",
    start: str = "2024-01-11T09:00:00",
    end: Optional[str] = None,
    orig: Optional[Dict[str, str]] = None,
) -> Transaction:
    """One transaction with recipients (address, status), times in UTC."""
    tx = Transaction("postfix", server, "postfix", queue_id, ts(start), None, 0)
    if end:
        tx.last_seen = ts(end)
    tx.sender, tx.client, tx.client_ip = sender, client, client_ip
    tx.subject, tx.message_id = subject, message_id
    for address, status in rcpts:
        rcpt = tx.recipient(address, (orig or {}).get(address))
        rcpt.status = status
        rcpt.relay = relay
    return tx


def trace(*hops: Transaction, trace_id: str = "T1", status: Optional[str] = None) -> Trace:
    """A trace whose recipients are the last hop's, status derived like the merger would."""
    if not hops:
        hops = (hop(),)
    result = Trace(trace_id, list(hops), [])
    result.recipients = [rcpt.copy() for rcpt in hops[-1].recipients.values()]
    statuses = {rcpt.status for rcpt in result.recipients}
    result.status = status or (statuses.pop() if len(statuses) == 1 else "mixed")
    return result


def match(query: str, subject: Trace, **kwargs: object) -> bool:
    return parse_query(query, now=NOW, tz=UTC, **kwargs).matches(subject)


def hits(query: str, traces: List[Trace]) -> List[str]:
    compiled = parse_query(query, now=NOW, tz=UTC)
    return [t.id for t in traces if compiled.matches(t)]


# ----------------------------------------------------------------------------------- basics


def test_empty_query_matches_everything():
    query = parse_query("   ", now=NOW)
    assert query.is_empty()
    assert query.matches(trace())
    assert query.since is None and query.until is None
    assert not parse_query("from:x", now=NOW).is_empty()


def test_terms_are_anded():
    t = trace()
    assert match("from:boss@example.com to:alice@example.org", t)
    assert not match("from:boss@example.com to:bob@example.org", t)


def test_query_keeps_its_text():
    assert parse_query("from:a  status:sent", now=NOW).text == "from:a  status:sent"


# ------------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("boss@example.com", True),
        ("BOSS@Example.COM", True),
        ("<boss@example.com>", True),
        ("boss@example.co", False),
        ("@example.com", True),
        ("@mail.example.com", False),
        ("boss@", True),
        ("bos@", False),
        ("example.com", True),
        ("com", True),
        ("ample.com", False),
        ("boss", True),
        ("bos", False),
    ],
)
def test_from_address_forms(value: str, expected: bool):
    assert match(f"from:{value}", trace()) is expected


def test_domain_forms_and_subdomains():
    sub = trace(hop(sender="x@mail.example.org"))
    top = trace(hop(sender="x@example.org"))
    assert [match("from:@example.org", t) for t in (sub, top)] == [False, True]
    assert [match("from:@.example.org", t) for t in (sub, top)] == [True, False]
    assert [match("from:example.org", t) for t in (sub, top)] == [True, True]


def test_sender_alias_and_any_hop_sender():
    t = trace(hop(sender="orig@example.com"), hop("mx2", "AAA", sender="srs@relay.example"))
    assert match("sender:orig@example.com", t)
    assert match("from:srs@relay.example", t)
    assert not match("sender:other@example.com", t)


@pytest.mark.parametrize("query", ["from:<>", 'from:""', "from:", "sender:<>"])
def test_null_sender(query: str):
    assert match(query, trace(hop(sender="")))
    assert not match(query, trace(hop(sender="boss@example.com")))
    assert not match(query, trace(hop(sender=None)))


def test_null_sender_in_or_list():
    assert match("from:nobody@x,<>", trace(hop(sender="")))


def test_to_checks_every_recipient_orig_address_and_hop():
    first = hop(
        rcpts=[("postmaster@example.org", "sent")], orig={"postmaster@example.org": "pm@alias.example"}
    )
    second = hop("mx2", "BBB", rcpts=[("alice@example.org", "sent"), ("bob@other.example", "bounced")])
    t = trace(first, second)
    assert match("to:bob@other.example", t)
    assert match("to:pm@alias.example", t)  # orig_address on the first hop only
    assert match("rcpt:postmaster@", t)
    assert match("to:@other.example", t)
    assert not match("to:carol@example.org", t)
    assert not match("to:<>", t)


# ------------------------------------------------------------------------------------ status


def test_status_matches_trace_or_any_recipient():
    mixed = trace(hop(rcpts=[("a@x.example", "sent"), ("b@x.example", "bounced")]))
    assert mixed.status == "mixed"
    assert match("status:bounced", mixed)
    assert match("status:mixed", mixed)
    assert match("status:sent", mixed)
    assert not match("status:deferred", mixed)
    assert not match("status:mixed", trace())


def test_status_or_list_and_problem():
    deferred = trace(hop(rcpts=[("a@x.example", "deferred")]), trace_id="D")
    sent = trace(trace_id="S")
    rejected = trace(hop(rcpts=[]), trace_id="R", status="rejected")
    traces = [deferred, sent, rejected]
    assert hits("status:bounced,deferred", traces) == ["D"]
    assert hits("status:problem", traces) == ["D", "R"]
    assert hits("-status:problem", traces) == ["S"]
    assert hits("status:IN-QUEUE,Sent", traces) == ["S"]


def test_status_error_names_the_word_and_lists_valid_ones():
    with pytest.raises(QueryError) as info:
        parse_query("status:sent,bouncd", now=NOW)
    message = str(info.value)
    assert "'bouncd'" in message
    for word in ("sent", "deferred", "in-queue", "mixed", "problem"):
        assert word in message


# ------------------------------------------------------------------------ subject and bare words


def test_subject_substring_case_insensitive():
    t = trace(hop(subject="Quarterly Report, Q3"))
    assert match("subject:report", t)
    assert match('subject:"quarterly report"', t)
    assert match('subject:"report, q3"', t)  # quoted comma is literal
    assert not match("subject:invoice", t)
    assert not match("subject:x", trace(hop(subject=None)))


def test_subject_unquoted_comma_is_or():
    t = trace(hop(subject="Quarterly Report"))
    assert match("subject:invoice,report", t)
    assert not match("subject:invoice,bill", t)


@pytest.mark.parametrize(
    "word",
    ["boss@", "ALICE", "invoice", "abc.123", "307df8", "mx1", "client.example", "10.14.168", "evil", "t1"],
)
def test_bare_word_searches_everywhere(word: str):
    assert match(word, trace())


def test_bare_word_misses_and_does_not_span_fields():
    t = trace()
    assert not match("nowhere", t)
    assert not match('"example.com invoice"', t)  # message-id then subject, never one text


def test_bare_words_and_negation():
    t = trace()
    assert match("invoice boss", t)
    assert not match("invoice -boss", t)
    assert match("-spam", t)
    assert not match("-invoice", t)
    assert match('"Invoice 42"', t)
    assert not match('-"invoice 42"', t)


def test_quoted_word_with_colon_is_a_bare_word():
    assert match('"invoice 42"', trace())
    assert match('"re:hello"', trace(hop(subject="Re:Hello")))


def test_bare_ipv6_is_not_a_field():
    t = trace(hop(client_ip="2001:db8::1"))
    assert match("2001:db8::1", t)
    assert match("dead:beef::1", trace(hop(client_ip="dead:beef::1")))


# --------------------------------------------------------------------------------- negation


def test_negated_fields():
    t = trace()
    assert not match("-from:boss@example.com", t)
    assert match("-from:other@example.com", t)
    assert match("-to:@evil.example -status:bounced", t)
    assert not match("-server:mx1", t)
    assert not match("-qid:307DF802B3,XYZ", t)


# ----------------------------------------------------------------------------- client / relay


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.14.168.11", True),
        ("10.14.168.12", False),
        ("10.14.", True),
        ("10.14.168.", True),
        ("10.15.", False),
        ("10.0.0.0/8", True),
        ("10.14.168.0/24", True),
        ("192.168.0.0/16", False),
        ("mail.client.example", True),
        ("client.example", True),
        ("CLIENT.EXAMPLE", True),
        ("lient.example", False),
        ("[10.14.168.11]", True),
    ],
)
def test_client_values(value: str, expected: bool):
    assert match(f"client:{value}", trace()) is expected


def test_client_looks_at_every_hop_and_ipv6():
    t = trace(hop(), hop("mx2", "X", client="localhost", client_ip="IPv6:2001:DB8:0:0::5"))
    assert match("client:localhost", t)
    assert match("client:2001:db8::5", t)
    assert match("client:2001:db8::/32", t)
    assert not match("client:2001:db9::/32", t)
    assert not match("client:::1", t)


def test_client_cidr_ignores_other_ip_version():
    assert not match("client:::/0", trace())
    assert match("client:0.0.0.0/0", trace())


@pytest.mark.parametrize(
    ("relay", "value", "expected"),
    [
        ("mail.evil.example[10.14.168.11]:587", "mail.evil.example", True),
        ("mail.evil.example[10.14.168.11]:587", "evil.example", True),
        ("mail.evil.example[10.14.168.11]:587", "10.14.168.11", True),
        ("mail.evil.example[10.14.168.11]:587", "10.14.168.0/24", True),
        ("mail.evil.example[10.14.168.11]:587", "mail.evil.example[10.14.168.11]:587", True),
        ("mail.evil.example[10.14.168.11]:587", "587", False),
        ("local", "local", True),
        ("local", "10.0.0.0/8", False),
        ("127.0.0.1[127.0.0.1]:10024", "127.0.0.1", True),
        ("127.0.0.1[127.0.0.1]:10024", "127.", True),
        ("gmail-smtp-in.l.google.com. [142.250.1.26]", "google.com", True),
        ("gmail-smtp-in.l.google.com. [142.250.1.26]", "142.250.0.0/15", True),
        ("[192.0.2.7]", "192.0.2.7", True),
        ("mx.example.net[IPv6:2001:db8::9]:25", "2001:db8::9", True),
        ("mx.example.net:25", "mx.example.net", True),
    ],
)
def test_relay_parsing(relay: str, value: str, expected: bool):
    assert match(f'relay:"{value}"', trace(hop(relay=relay))) is expected


def test_relay_on_an_earlier_hop_counts():
    t = trace(hop(relay="127.0.0.1[127.0.0.1]:10024"), hop("mx1", "Q2", relay="mx.far.example[192.0.2.1]:25"))
    assert match("relay:127.0.0.1", t)
    assert match("relay:far.example", t)
    assert not match("relay:near.example", t)
    assert not match("relay:x", trace(hop(relay=None)))


def test_ip_and_host_aliases_are_client_or_relay():
    by_client = trace(hop(client="in.example", client_ip="192.0.2.1", relay="local"))
    by_relay = trace(hop(client="in.example", client_ip="192.0.2.1", relay="out.example[198.51.100.2]:25"))
    assert match("ip:192.0.2.1", by_client)
    assert match("ip:198.51.100.2", by_relay)
    assert not match("ip:198.51.100.2", by_client)
    assert match("host:out.example", by_relay)
    assert not match("host:out.example", by_client)


def test_bad_network_is_an_error():
    with pytest.raises(QueryError, match=r"client: cannot read '10\.0\.0\.0/33'"):
        parse_query("client:10.0.0.0/33", now=NOW)


# ----------------------------------------------------------------------------- server / ids


def test_server_exact_or_short_name():
    t = trace(hop("mx1.example.com"))
    assert match("server:mx1", t)
    assert match("server:MX1.example.com", t)
    assert not match("server:mx", t)
    assert match("server:mx1.example", t)  # any prefix that ends at a dot
    assert not match("server:mx1.exam", t)
    assert not match("server:example.com", t)
    assert match("server:mx2,mx1", t)


def test_msgid_strips_angles_and_ignores_case():
    t = trace(hop(message_id="Abc.123@Example.COM"))
    assert match("msgid:<abc.123@example.com>", t)
    assert match("msgid:ABC.123@EXAMPLE.COM", t)
    assert not match("msgid:abc.123", t)


def test_msgid_exchange_network_message_id():
    tx = hop(message_id=None)
    tx.network_message_id = "5f1e-77"
    assert match("msgid:5F1E-77", trace(tx))


def test_qid_any_hop_case_insensitive():
    t = trace(hop(queue_id="307DF802B3"), hop("mx2", "4A8B"))
    assert match("qid:307df802b3", t)
    assert match("qid:4a8b", t)
    assert not match("qid:307DF802", t)


def test_id_alias_covers_qid_msgid_and_trace_id():
    t = trace(trace_id="TR-9")
    assert match("id:307DF802B3", t)
    assert match("id:<abc.123@example.com>", t)
    assert match("id:tr-9", t)
    assert not match("id:nope", t)


# ------------------------------------------------------------------------------------ quoting


def test_unbalanced_quote_is_an_error_naming_the_word():
    with pytest.raises(QueryError) as info:
        parse_query('from:a subject:"quarterly report', now=NOW)
    assert "unbalanced quote" in str(info.value)
    assert 'subject:"quarterly report' in str(info.value)


def test_escaped_quote_inside_quotes():
    assert match(r'subject:"say \"hi\""', trace(hop(subject='They say "hi" again')))


# ------------------------------------------------------------------------------------ errors


def test_unknown_field_names_it_and_lists_fields():
    with pytest.raises(QueryError) as info:
        parse_query("from:a foo:bar", now=NOW)
    message = str(info.value)
    assert "unknown field 'foo'" in message
    for name in ("from", "to", "status", "since", "until", "client", "relay", "qid", "msgid"):
        assert name in message


@pytest.mark.parametrize("field", ["subject", "status", "qid", "client", "server"])
def test_empty_value_is_an_error(field: str):
    with pytest.raises(QueryError, match=f"^{field}: needs"):
        parse_query(f"{field}:", now=NOW)


def test_query_error_is_a_mailtui_error():
    from mailtui.model import MailtuiError

    assert issubclass(QueryError, MailtuiError)


# -------------------------------------------------------------------------------------- time


def timed(trace_id: str, start: str, end: str) -> Trace:
    return trace(hop(start=start, end=end), trace_id=trace_id)


TIMED = [
    timed("jan10", "2024-01-10T10:00:00", "2024-01-10T10:05:00"),
    timed("jan11-morning", "2024-01-11T08:00:00", "2024-01-11T08:30:00"),
    timed("jan11-span", "2024-01-11T08:50:00", "2024-01-11T09:10:00"),
    timed("jan14-late", "2024-01-14T23:30:00", "2024-01-14T23:40:00"),
    timed("today", "2024-01-15T11:00:00", "2024-01-15T11:50:00"),
]


def test_since_with_quoted_date_and_time():
    assert hits('since:"2024-01-11 09:00"', TIMED) == ["jan11-span", "jan14-late", "today"]


def test_until_date_without_time_is_end_of_day():
    assert hits("until:2024-01-11", TIMED) == ["jan10", "jan11-morning", "jan11-span"]
    assert hits('until:"2024-01-11 08:40"', TIMED) == ["jan10", "jan11-morning"]


def test_since_until_range_and_bounds():
    query = parse_query('since:"jan 11" until:"jan 11 09:00"', now=NOW, tz=UTC)
    assert [t.id for t in TIMED if query.matches(t)] == ["jan11-morning", "jan11-span"]
    assert query.since == ts("2024-01-11T00:00:00")
    assert query.until == ts("2024-01-11T09:00:00")


def test_today_yesterday_now():
    assert hits("since:today", TIMED) == ["today"]
    assert hits("since:yesterday until:yesterday", TIMED) == ["jan14-late"]
    assert hits("until:today", TIMED) == [t.id for t in TIMED]
    assert parse_query("until:now", now=NOW).until == NOW
    assert parse_query("until:today", now=NOW, tz=UTC).until == ts("2024-01-15T23:59:59.999999")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30m", 1800), ("2h", 7200), ("3d", 3 * 86400), ("1w", 7 * 86400), ("90s", 90), ('"2 hours ago"', 7200)],
)
def test_relative_times(value: str, seconds: int):
    assert parse_query(f"since:{value}", now=NOW).since == NOW - seconds


def test_relative_since_selects_recent():
    assert hits("since:2h", TIMED) == ["today"]
    assert hits("since:1d", TIMED) == ["jan14-late", "today"]


def test_negated_since_and_multiple_bounds_tighten():
    assert hits("-since:2024-01-11", TIMED) == ["jan10"]
    query = parse_query("since:1d since:3d until:yesterday until:today", now=NOW, tz=UTC)
    assert query.since == NOW - 86400
    assert query.until == ts("2024-01-14T23:59:59.999999")
    assert parse_query("-since:1d", now=NOW).since is None


def test_naive_dates_use_the_given_zone():
    plus_two = timezone(timedelta(hours=2))
    query = parse_query('since:"2024-01-11 09:00"', now=NOW, tz=plus_two)
    assert query.since == ts("2024-01-11T07:00:00")
    assert parse_query("since:today", now=NOW, tz=plus_two).since == ts("2024-01-14T22:00:00")


def test_explicit_zone_in_date_wins():
    query = parse_query('since:"2024-01-11T09:00:00+01:00"', now=NOW, tz=UTC)
    assert query.since == ts("2024-01-11T08:00:00")


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset")
def test_naive_dates_default_to_local_zone(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "JST-9")  # POSIX spelling of UTC+9, no tz database needed
    time.tzset()
    try:
        query = parse_query('since:"2024-01-11 09:00" until:today', now=NOW)
        assert query.since == ts("2024-01-11T00:00:00")
        assert query.until == ts("2024-01-15T23:59:59.999999", timezone(timedelta(hours=9)))
    finally:
        monkeypatch.undo()
        time.tzset()


def test_date_commas_are_not_or_lists():
    assert parse_query('since:"jan 11, 2024"', now=NOW, tz=UTC).since == ts("2024-01-11T00:00:00")


@pytest.mark.parametrize("field", ["since", "until"])
def test_bad_date_is_an_error(field: str):
    with pytest.raises(QueryError) as info:
        parse_query(f"{field}:blah", now=NOW)
    assert str(info.value).startswith(f"{field}: cannot read 'blah' as a date")


def test_fuzzy_dates_are_refused():
    with pytest.raises(QueryError, match="cannot read 'on jan 11 please'"):
        parse_query('since:"on jan 11 please"', now=NOW)


# -------------------------------------------------------------------------------------- argv


def test_argv_items_are_one_term_each():
    query = parse_query(
        ["since:jan 11", "subject:quarterly report", "-from:boss@example.com"], now=NOW, tz=UTC
    )
    assert query.since == ts("2024-01-11T00:00:00")
    assert query.matches(
        trace(hop(sender="x@y.example", subject="The Quarterly Report", end="2024-01-12T00:00:00"))
    )
    assert not query.matches(trace(hop(sender="boss@example.com", subject="The Quarterly Report")))


def test_argv_bare_phrase_and_quoted_item():
    t = trace(hop(subject="Quarterly Report"))
    assert parse_query(["quarterly report"], now=NOW).matches(t)
    assert not parse_query(["report quarterly"], now=NOW).matches(t)
    assert parse_query(['subject:"quarterly report"'], now=NOW).matches(t)
    assert parse_query(["status:sent,bounced", "to:alice@"], now=NOW).matches(trace())


def test_argv_text_reads_back_as_the_same_query():
    items = ["since:jan 11", '-subject:a "b" c', "plain", "from:x,y"]
    query = parse_query(items, now=NOW, tz=UTC)
    again = parse_query(query.text, now=NOW, tz=UTC)
    assert query.since == again.since
    t = trace(hop(subject='a "b" c', sender="y", end="2024-01-12T00:00:00"))
    t2 = trace(hop(subject="plain", sender="y", end="2024-01-12T00:00:00"))
    assert [query.matches(t), query.matches(t2)] == [again.matches(t), again.matches(t2)] == [False, True]


def test_argv_unknown_field_with_spaces_is_an_error():
    with pytest.raises(QueryError, match="unknown field 'foo'"):
        parse_query(["foo:bar baz"], now=NOW)

"""The search index: an indexed search finds exactly what testing every trace finds, in the same order."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime, timezone
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

import pytest
from conftest import MTIME, ROOT, SAMPLES, load

from mailtui import index as index_module
from mailtui.index import SearchCancelled, TraceIndex, scan
from mailtui.model import Trace, Transaction
from mailtui.query import COLUMNS, Query, parse_query
from mailtui.session import Session

UTC = timezone.utc


def stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


_NOW: Dict[int, Tuple[List[Trace], float]] = {}


def compile_query(text: str, session: Session) -> Query:
    """`text` compiled in UTC, "now" being the session's last line (so `since:2h` finds some)."""
    key = id(session.traces)
    if key not in _NOW:  # (the list is kept, so its id is not reused)
        _NOW[key] = (session.traces, max((trace.last_seen for trace in session.traces), default=0.0))
    return parse_query(text, now=_NOW[key][1], tz=UTC)


def assert_same(session: Session, text: str) -> List[Trace]:
    """The indexed search returns what a plain scan returns, same traces, same order."""
    query = compile_query(text, session)
    expected = [trace for trace in session.traces if query.matches(trace)]
    found = session.search(query)
    assert [t.id for t in found] == [t.id for t in expected], text
    assert all(a is b for a, b in zip(found, expected)), text
    return found


def words_of(text: Optional[str]) -> Iterator[str]:
    for word in (text or "").replace('"', " ").replace("\\", " ").split():
        if word.strip(",-"):
            yield word.strip(",")


def queries_for(session: Session, picks: int = 12) -> List[str]:
    """Queries for every field and value form, most built from values `picks` traces hold."""
    traces = session.traces
    chosen = traces[:: max(1, len(traces) // picks)]
    found = [
        "from:",
        "from:<>",
        "to:",
        "status:sent",
        "status:bounced,deferred",
        "status:problem",
        "status:mixed",
        "status:in-queue,expired,discarded,rejected",
        "-status:sent",
        "server:mx1",
        "server:mx1,ns1",
        "client:10.0.0.0/8",
        "client:192.0.2.0/24,198.51.100.0/24",
        "client:203.0.113.",
        "client:2001:db8::/32",
        "ip:127.0.0.1",
        "host:localhost",
        "relay:127.0.0.1",
        "relay:local",
        "relay:dovecot",
        "to:@example.com",
        "to:@.example.net",
        "from:@example.org",
        "to:example.com",
        "from:example",
        "to:alice@",
        "from:root",
        "subject:invoice",
        'subject:"re:"',
        "subject:invoice,order",
        'reason:"Relay access denied"',
        "reason:greylist",
        "-reason:spam",
        "example",
        "EXAMPLE.COM",
        "zzqxjv",
        "noqueue",
        "queued",
        "example -sent",
        "-example",
        "invoice -from:@example.org",
        "a b c",
        '"re:"',
        '":"',
        "@",
        "since:2h",
        "until:1h",
        "since:1d until:2h",
        "-since:1h",
        "-until:1h",
    ]
    for trace in chosen:
        first = trace.hops[0]
        found.append(f"id:{trace.id}")
        found.append(f"id:{trace.id.swapcase()}")
        found.append(f"since:{stamp(trace.first_seen)!r}".replace("'", '"'))
        found.append(f'until:"{stamp(trace.first_seen)}"')
        found.append(f'since:"{stamp(trace.first_seen)}" until:"{stamp(trace.first_seen + 300)}"')
        found.append(f'since:"{stamp(trace.last_seen)}" until:"{stamp(trace.last_seen)}"')
        if first.queue_id:
            found += [f"qid:{first.queue_id}", f"qid:{first.queue_id.lower()}", f"id:{first.queue_id}"]
            found += [first.queue_id[-5:].lower(), f"-qid:{first.queue_id}"]
        if trace.message_id:
            found += [
                f"msgid:{trace.message_id}",
                f"msgid:<{trace.message_id.upper()}>",
                f"id:<{trace.message_id}>",
            ]
            found.append(trace.message_id.split("@")[0][-6:])
        sender = trace.sender
        if sender is not None:
            found += [f"from:{sender}", f"from:<{sender.upper()}>", f"sender:{sender},nobody@example.org"]
            if "@" in sender:
                local, domain = sender.rsplit("@", 1)
                found += [f"from:@{domain}", f"from:{local}@", f"from:{domain.split('.')[-1]}"]
                found.append(f'from:{sender} since:"{stamp(trace.first_seen - 3600)}"')
        for rcpt in trace.recipients[:2]:
            found += [f"to:{rcpt.address}", f"rcpt:{rcpt.address.upper()}", f"-to:{rcpt.address}"]
            if "@" in rcpt.address:
                found += [f"to:@{rcpt.address.split('@')[1]}", f"to:{rcpt.address.split('@')[0]}@"]
                found.append(f"to:{rcpt.address} status:{rcpt.status}")
            if rcpt.relay:
                found += [f'relay:"{rcpt.relay}"', f"ip:{rcpt.relay.split('[')[0] or 'x'}"]
        if trace.client_ip:
            ip = trace.client_ip
            found += [f"client:{ip}", f"ip:{ip}", f"client:[{ip}]", f"-client:{ip}", f"client:{ip},10.9.9.9"]
            if "." in ip:
                found += [
                    "client:" + ".".join(ip.split(".")[:3]) + ".",
                    "client:" + ip.rsplit(".", 1)[0] + ".0/24",
                ]
        if trace.client:
            found += [f"client:{trace.client}", f"host:{trace.client.upper()}"]
            if "." in trace.client:
                found.append("client:" + trace.client.split(".", 1)[1])
        if trace.subject:
            found.append(f"subject:{trace.subject.split()[0]!r}".replace("'", '"'))
            found += [f'"{word}"' for word in list(words_of(trace.subject))[:2]]
        found.append(f"server:{first.server}")
        found.append(f"status:{trace.status}")
        found.append(f"{first.server}:")  # a bare word with a colon is a field error unless quoted
    return found


def check_all(session: Session, texts: List[str]) -> int:
    checked = 0
    for text in texts:
        try:
            compile_query(text, session)
        except Exception:
            continue  # not a query (the language says why); not this test's business
        assert_same(session, text)
        checked += 1
    return checked


@pytest.fixture(scope="module")
def samples() -> Session:
    return load(SAMPLES)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """About 1,500 traces of generated Postfix and Sendmail log across New Year."""
    out = tmp_path_factory.mktemp("generated") / "mail.log"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            *("--size", "2M", "--out", str(out), "--seed", "3", "--format", "mixed"),
            *("--start", "2023-12-31T23:40"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.utime(out, (MTIME, MTIME))
    return load(out)


def test_samples_every_field_and_form(samples: Session) -> None:
    assert len(samples.traces) > 50
    assert check_all(samples, queries_for(samples, 30)) > 300


def test_generated_log_every_field_and_form(generated: Session) -> None:
    assert len(generated.traces) > 1000
    assert check_all(generated, queries_for(generated)) > 250


def test_fresh_index_per_query(generated: Session) -> None:
    """Each query on an index with nothing built yet: the planner's choices differ, not the result."""
    for text in queries_for(generated)[::5]:
        try:
            query = compile_query(text, generated)
        except Exception:
            continue
        fresh = TraceIndex(generated.traces)
        assert fresh.search(query) == [t for t in generated.traces if query.matches(t)], text


def test_columns_hold_what_the_extractors_read(generated: Session, samples: Session) -> None:
    """The one-pass build (inlined for speed) files every value the reference extractors read."""
    for session in (generated, samples):
        built = TraceIndex(session.traces)
        built.ensure()
        for name in COLUMNS:
            column = built._columns[name]
            expected: Set[Tuple[str, int]] = set()
            for position, trace in enumerate(session.traces):
                expected.update((value, position) for value in index_module._EXTRACT[name](trace))
            held: Set[Tuple[str, int]] = set()
            if isinstance(column, index_module._Grouped):
                for number, value in enumerate(column.values):
                    run = column.positions[column.starts[number] : column.starts[number + 1]]
                    assert list(run) == sorted(set(run)), name
                    held.update((value, position) for position in run)
            else:
                positions = column.positions or range(len(column.values))
                held.update(zip(column.values, positions))
            assert held == expected, name


def test_index_is_built_lazily_per_column(generated: Session) -> None:
    fresh = TraceIndex(generated.traces)
    fresh.search(compile_query("from:alice@example.com", generated))
    assert set(fresh._columns) == {"sender"} and fresh._times is None
    fresh.search(compile_query("qid:ABC since:2h", generated))
    assert set(fresh._columns) == {"sender", "qid"} and fresh._times is not None
    assert all(size > 0 for size in fresh.memory().values())


def test_find_by_queue_id_message_id_and_trace_id(generated: Session, samples: Session) -> None:
    for session in (generated, samples):

        def linear(ident: str, session: Session = session) -> List[Trace]:
            ident = ident.strip()
            by_id = [trace for trace in session.traces if trace.id == ident]
            if by_id:
                return by_id[:1]
            bare = ident[1:-1] if ident.startswith("<") and ident.endswith(">") else ident
            return [
                t for t in session.traces if any(h.queue_id == ident or h.message_id == bare for h in t.hops)
            ]

        idents = ["", "<>", "NOQUEUE", "nothing-like-this", " x "]
        for trace in session.traces[:: max(1, len(session.traces) // 40)]:
            idents.append(trace.id)
            for hop in trace.hops:
                idents += [hop.queue_id, hop.queue_id.lower(), f" {hop.queue_id} "]
                if hop.message_id:
                    idents += [hop.message_id, f"<{hop.message_id}>", hop.message_id.upper()]
        for ident in idents:
            assert session.find(ident) == linear(ident), ident


# ------------------------------------------------------------------------- hand-made edge cases


def tx(
    queue_id: str,
    start: float,
    end: Optional[float] = None,
    server: str = "mx1.example.com",
    **fields: object,
) -> Transaction:
    hop = Transaction("postfix", server, "postfix", queue_id, start, None, 0)
    if end is not None:
        hop.last_seen = end
    rcpts = fields.pop("rcpts", ())
    for name, value in fields.items():
        setattr(hop, name, value)
    for address, status, relay, orig in rcpts:  # type: ignore[attr-defined]
        rcpt = hop.recipient(address, orig)
        rcpt.status, rcpt.relay = status, relay
    return hop


def edge_traces() -> List[Trace]:
    day = datetime(2024, 1, 11, tzinfo=UTC).timestamp()
    specs: List[Tuple[str, List[Transaction], Dict[str, object]]] = [
        (
            "T1",
            [
                tx(
                    "ABCDEF1234",
                    day + 3600,
                    day + 3 * 86400,  # deferred for days: a long-lived trace
                    sender="Boss@Example.COM",
                    client="Mail.Client.Example",
                    client_ip="10.14.168.11",
                    message_id="<Abc.123@Example.COM>",
                    subject="ΟΔΥΣΣΕΥΣ Invoice 42",
                    rcpts=[
                        ("Alice@Example.org", "deferred", "mx.example.org[192.0.2.7]:25", "a@example.org")
                    ],
                )
            ],
            {"status": "deferred"},
        ),
        (
            "T2",
            [
                tx(
                    "1F2E3D",
                    day + 60,
                    sender="",
                    client_ip="IPv6:2001:DB8:0:0::1",
                    network_message_id="NetID-9",
                    subject="line one\nline two",
                    rcpts=[("", "bounced", None, ""), ("bob@example.net", "sent", "local", None)],
                ),
                tx(
                    "2A3B4C",
                    day + 120,
                    server="mx2.example.com",
                    client="localhost",
                    client_ip="[ipv6:10.1.2.3]",
                    message_id="plain@id",
                    rcpts=[("bob@example.net", "sent", "[10.0.0.5]", None)],
                ),
            ],
            {"status": "mixed"},
        ),
        (
            "T3",
            [tx("NOQUEUE", day + 30, sender="spam@bad.example", client_ip="203.0.113.9")],
            {"status": "rejected"},
        ),
        ("t4", [tx("abcdef1234", day + 7200, server="", sender=None, message_id="ABC.123@example.com")], {}),
    ]
    traces = []
    for trace_id, hops, extra in specs:
        trace = Trace(trace_id, hops, [])
        trace.recipients = [rcpt.copy() for hop in hops for rcpt in hop.recipients.values()]
        trace.status = str(extra.get("status", "in-queue"))
        traces.append(trace)
    return traces  # deliberately not in first_seen order


EDGE_QUERIES = [
    "qid:abcdef1234",
    "qid:ABCDEF1234,NOQUEUE",
    "id:t1",
    "id:T4,<abc.123@example.com>",
    "msgid:abc.123@example.com",
    "msgid:<ABC.123@EXAMPLE.COM>",
    "msgid:netid-9",
    "id:netid-9",
    "from:boss@example.com",
    "from:<>",
    "from:",
    "to:",
    "to:<>",
    "to:a@example.org",
    "to:@example.org",
    "to:example.org",
    "to:org",
    "to:alice@",
    "client:2001:db8::1",
    "client:[IPv6:2001:db8::1]",
    "client:2001:db8::/48",
    "client:10.1.2.3",
    "client:10.0.0.0/8",
    "client:10.14.",
    "client:client.example",
    "client:MAIL.CLIENT.EXAMPLE",
    "client:localhost",
    "ip:192.0.2.7",
    "ip:10.0.0.5",
    "relay:local",
    "relay:mx.example.org",
    "relay:example.org",
    "relay:[10.0.0.5]",
    "server:mx2",
    "server:mx1.example.com",
    "subject:οδυσσευς",
    "subject:ΟΔΥΣΣΕΥΣ",
    "οδυσσευς",
    '"line one\nline two"',
    '"one\nline"',
    "invoice",
    "status:deferred",
    "status:problem",
    "status:mixed,in-queue",
    "status:sent",
    "since:2024-01-12",
    "until:2024-01-11",
    'since:"2024-01-11 00:01:30" until:"2024-01-11 00:01:30"',
    "since:2024-01-13 until:2024-01-12",
    "since:2024-01-14",
    "until:2024-01-10",
    "-until:2024-01-11",
    "bob -mx2",
    "example -from:<>",
]


def test_edge_cases_unsorted_traces() -> None:
    session = Session([], edge_traces(), [])
    for text in EDGE_QUERIES:
        found = assert_same(session, text)
        fresh = TraceIndex(session.traces).search(compile_query(text, session))
        assert fresh == found, text
    assert [t.id for t in session.search("since:2024-01-12")] == ["T1"]  # the long-lived trace
    assert session.find("abcdef1234") == [session.traces[3]]
    assert session.find("<plain@id>") == [session.traces[1]]


def test_a_query_built_without_index_terms_is_scanned() -> None:
    session = Session([], edge_traces(), [])
    plain = Query("custom", [lambda trace: trace.id.startswith("T")])
    assert [t.id for t in session.search(plain)] == ["T1", "T2", "T3"]
    timed = Query(
        "custom", [lambda trace: trace.id != "T2"], since=datetime(2024, 1, 11, tzinfo=UTC).timestamp()
    )
    assert [t.id for t in session.search(timed)] == ["T1", "T3", "t4"]


def test_replaced_trace_list_gets_a_new_index() -> None:
    session = Session([], edge_traces(), [])
    assert len(session.search("example")) == 4
    session.traces = session.traces[:1]
    assert [t.id for t in session.search("example")] == ["T1"]


# --------------------------------------------------------------------------------- cancelling


def counter(after: int) -> Callable[[], bool]:
    """A `cancelled` callable that says yes from its `after`-th call on."""
    calls = [0]

    def cancelled() -> bool:
        calls[0] += 1
        return calls[0] > after

    return cancelled


@pytest.mark.parametrize(
    "text", ["reason:zzz", "example", "to:@example.com", "since:1d", "-from:alice@example.com"]
)
def test_a_cancelled_search_stops(generated: Session, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "CHECK_EVERY", 64)  # look at `cancelled` often in this small log
    query = compile_query(text, generated)
    with pytest.raises(SearchCancelled):
        generated.search(query, cancelled=lambda: True)
    assert generated.search(query, cancelled=lambda: False) == scan(generated.traces, [query.matches])


@pytest.mark.parametrize("text", ["reason:zzz", "example", "-from:alice@example.com"])
def test_a_search_cancelled_midway_stops(
    generated: Session, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "CHECK_EVERY", 64)
    with pytest.raises(SearchCancelled):
        TraceIndex(generated.traces).search(compile_query(text, generated), cancelled=counter(2))


def test_waiting_for_another_search_building_the_index_can_be_cancelled(generated: Session) -> None:
    fresh = TraceIndex(generated.traces)
    query = compile_query("from:alice@example.com", generated)
    fresh._lock.acquire()  # as if another search were building
    try:
        with pytest.raises(SearchCancelled):
            fresh.search(query, cancelled=counter(3))
    finally:
        fresh._lock.release()
    assert fresh.search(query) == scan(generated.traces, [query.matches])


def test_searches_in_threads_share_one_build(generated: Session) -> None:
    fresh = TraceIndex(generated.traces)
    texts = ["example", "from:@example.com", "invoice status:sent", "to:alice@example.com"]
    queries = [compile_query(text, generated) for text in texts]
    results: Dict[int, List[Trace]] = {}

    def run(number: int) -> None:
        results[number] = fresh.search(queries[number % len(queries)])

    threads = [threading.Thread(target=run, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for number, found in results.items():
        query = queries[number % len(queries)]
        assert found == [t for t in generated.traces if query.matches(t)]


def test_the_session_module_exports_the_cancel_exception() -> None:
    from mailtui import session as session_module

    assert session_module.SearchCancelled is SearchCancelled
    assert not issubclass(SearchCancelled, RuntimeError)  # the UI retries on RuntimeError

"""Exchange message tracking: detection, column mapping, grouping, statuses and link claims."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailtui.model import Transaction
from mailtui.parsers.exchange import (
    FIELDS_2010,
    FIELDS_2016,
    ExchangeReader,
    attach_dsn_claims,
    log_kind,
    looks_like_exchange,
    parse_time,
    short_host,
    split_addresses,
    split_statuses,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "exchange"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
SEED = SHARED / "checks" / "data" / "MSGTRK20140221-1.LOG"


def read_lines(path: Path) -> List[str]:
    """A file's lines as the pipeline hands them over: decoded, line ends removed, BOM left in place."""
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


def feed_lines(lines: Sequence[str], kind: str = "MSGTRK") -> Tuple[ExchangeReader, List[bool]]:
    reader = ExchangeReader(3, kind=kind)
    results = []
    offset = 0
    for number, line in enumerate(lines, 1):
        results.append(reader.feed(number, offset, line))
        offset += len(line.encode("utf-8")) + 2
    return reader, results


def parse_file(path: Path) -> Tuple[Dict[str, Transaction], List[bool]]:
    reader, results = feed_lines(read_lines(path), log_kind(path.name))
    return {tx.queue_id: tx for tx in reader.transactions()}, results


def make_row(fields: Sequence[str] = FIELDS_2016, **values: str) -> str:
    """A CSV row for `fields`, values given by underscore names, quoted when needed."""
    cells = []
    for name in fields:
        value = values.pop(name.replace("-", "_"), "")
        if any(c in value for c in ',"'):
            value = '"' + value.replace('"', '""') + '"'
        cells.append(value)
    assert not values, values
    return ",".join(cells)


HEADER_2016 = [
    "#Software: Microsoft Exchange Server",
    "#Version: 15.01.2507.027",
    "#Log-type: Message Tracking Log",
    "#Date: 2024-03-11T00:00:00.000Z",
    "#Fields: " + ",".join(FIELDS_2016),
]


# --- the seed ---------------------------------------------------------------------------------------


def test_seed_check_file() -> None:
    txs, results = parse_file(shared(SEED))
    assert all(results)
    assert len(txs) == 1
    tx = txs["21474836514"]
    assert tx.mta == "exchange"
    assert tx.instance == "MSGTRK"
    assert tx.server == "WIN-13C1F1N1KA5"
    assert tx.message_id == "7d3c619a-1e64-4600-a2be-c96055aa3612@WIN-13C1F1N1KA5.test.org"
    assert tx.network_message_id == "4300205ec92949755aa208d0fcbccbf2"
    assert tx.sender == "bob@example.com"
    assert list(tx.recipients) == ["Administrator@test.org"]
    assert tx.recipients["Administrator@test.org"].status == "in-queue"
    assert tx.size == 1356
    # "an e-mail client at 192.168.200.154 connected": original-client-ip wins over the proxy's 10.0.2.15
    assert tx.client_ip == "192.168.200.154"
    assert tx.tz == 0
    assert tx.first_seen == parse_time("2014-02-21T01:38:46.806Z")
    assert [ref.line for ref in tx.lines] == [6]
    assert tx.lines[0].file_id == 3


def test_seed_is_detected() -> None:
    assert looks_like_exchange(read_lines(shared(SEED)))


# --- the corpus -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "elastic-integrations/test-messagetracking.log",
        "elastic-beats/bom8.log",
        "kinesis-agent-windows/MSGTRK-excerpt-ExchangeLogParserTest.LOG",
        "artefacts-help/MSGTRKMS2022091915-1.LOG.excerpt",
    ],
)
def test_corpus_rows_all_parse(name: str) -> None:
    lines = read_lines(shared(CORPUS / name))
    assert looks_like_exchange(lines)
    _, results = feed_lines(lines)
    assert results and all(results), [i + 1 for i, ok in enumerate(results) if not ok]


@pytest.mark.parametrize(
    "name",
    [
        "artefacts-help/RECV2023011116-1.LOG.excerpt",
        "crowdsec-hub/exchange-smtp-bf.log",
        "crowdsec-hub/exchange-smtp-logs.log",
        "pflogsumm-go/sample.log",
        "modoboa/mail.log",
    ],
)
def test_near_misses_are_not_detected(name: str) -> None:
    assert not looks_like_exchange(read_lines(shared(CORPUS / name))[:200])


def test_smtp_protocol_log_rows_are_not_understood() -> None:
    lines = read_lines(shared(CORPUS / "artefacts-help/RECV2023011116-1.LOG.excerpt"))
    _, results = feed_lines(lines)
    data = [ok for line, ok in zip(lines, results) if not line.lstrip("\ufeff").startswith("#")]
    assert data and not any(data)


def test_elastic_rows_match_expected_json() -> None:
    log = shared(CORPUS / "elastic-integrations/test-messagetracking.log")
    expected = json.loads(
        shared(CORPUS / "elastic-integrations/test-messagetracking.log-expected.json").read_text()
    )
    txs, _ = parse_file(log)
    checked = 0
    for doc in expected["expected"]:
        exchange = doc["microsoft"]["exchange"]
        iid = exchange.get("internalmessageid")
        if not iid:
            continue  # NOTIFYMAPI: no message yet, no transaction
        tx = txs[iid]
        email = doc.get("email", {})
        if email.get("message_id"):
            assert tx.message_id == email["message_id"].strip("<>")
        assert tx.subject == email.get("subject")
        assert tx.network_message_id == exchange.get("networkmessageid")
        senders = email.get("from", {}).get("address", [])
        if senders:
            assert tx.sender in senders
        status = exchange.get("recipientstatus")
        if status:
            assert [r.response for r in tx.recipients.values()] == [status]
        checked += 1
    assert checked == 5


def test_quoted_source_context_maps_fields_right() -> None:
    txs, _ = parse_file(shared(CORPUS / "elastic-integrations/test-messagetracking.log"))
    tx = txs["8774618205228"]
    assert tx.server == "HELLOWORLD"  # SENDEXTERNAL: the local server is the client side
    assert tx.message_id == "1736846922.907742.2942@foo.bar.local"
    assert tx.subject == "John Doe"
    assert tx.sender == ""  # return-path <>
    assert tx.size == 136349
    rcpt = tx.recipients["email@email.com"]
    assert rcpt.status == "sent"
    assert rcpt.relay == "global-mail-onmicrosoft-com.mail.protection.outlook.com[175.16.199.1]"
    assert rcpt.dsn == "2.1.5"
    [claim] = tx.claims
    assert (claim.kind, claim.target_id) == ("exchange-internalid", "5450313518243")
    assert claim.target_host == "AAAAAAAAAAAAA.bbbbbbbb.prod.outlook.com"


def test_bom8_exchange_2010_layout() -> None:
    reader, results = feed_lines(read_lines(shared(CORPUS / "elastic-beats/bom8.log")))
    assert all(results)
    assert reader.transactions() == []  # NOTIFYMAPI rows carry no internal-message-id


def test_kinesis_shadow_copy_has_no_recipients() -> None:
    txs, _ = parse_file(shared(CORPUS / "kinesis-agent-windows/MSGTRK-excerpt-ExchangeLogParserTest.LOG"))
    shadow = txs["64712272257894"]
    assert shadow.server == "EX13D13UWA001"
    assert shadow.recipients == {}
    assert shadow.claims == []  # "[InternalId = host, Hostname = number]" is no hop claim
    assert shadow.reason == "shadow redundancy copy"
    assert txs["64712272257893"].server == "EX13D13UWA001"  # AGENTINFO: client-hostname


def test_msgtrkms_excerpt() -> None:
    path = shared(CORPUS / "artefacts-help/MSGTRKMS2022091915-1.LOG.excerpt")
    txs, _ = parse_file(path)
    tx = txs["438"]
    assert tx.instance == "MSGTRKMS"
    assert tx.server == "SERVER-HOSTNAME"
    assert tx.client_ip == "95.11.22.33"
    assert list(tx.recipients) == ["user.name4@gmail.com"]


# --- the samples ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ex01() -> Dict[str, Transaction]:
    txs, results = parse_file(SAMPLES / "MSGTRK20240311-1.LOG")
    assert all(results)
    return txs


def test_samples_are_detected_and_fully_parsed() -> None:
    paths = sorted(SAMPLES.glob("*.LOG"))
    assert len(paths) == 3
    for path in paths:
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf#Software: Microsoft Exchange Server\r\n")
        lines = read_lines(path)
        assert looks_like_exchange(lines[:20])
        _, results = feed_lines(lines)
        assert all(results)


def test_sample_inbound_mail(ex01: Dict[str, Transaction]) -> None:
    tx = ex01["12884901889"]
    assert tx.server == "EX01"
    assert tx.client == "mail.partner.example"
    assert tx.client_ip == "203.0.113.25"
    assert tx.sender == "carol@partner.example"
    assert tx.nrcpt == 2
    assert len(tx.lines) == 4  # RECEIVE, HAREDIRECT (shadow: lines only), AGENTINFO, SEND
    assert tx.reason is None
    for address in ("alice@corp.example", "bob@corp.example"):
        rcpt = tx.recipients[address]
        assert rcpt.status == "sent"
        assert rcpt.relay == "EX02.corp.example[10.20.0.12]"
        assert rcpt.final_server == "EX01"
        assert "Queued mail for delivery" in (rcpt.response or "")
    [claim] = tx.claims
    assert claim == claim._replace(kind="exchange-internalid", target_id="3298534883329")
    assert claim.target_host == "EX02.corp.example"
    assert claim.proof.line == 9


def test_sample_statuses_per_recipient(ex01: Dict[str, Transaction]) -> None:
    tx = ex01["12884901891"]
    assert tx.subject == 'Re: "Budget, v2" - final numbers, please review'
    ghost = tx.recipients["ghost@corp.example"]
    assert (ghost.status, ghost.dsn) == ("bounced", "5.1.1")
    assert ghost.response == "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found"
    for address in ("dave@partner.example", "erin@partner.example"):
        rcpt = tx.recipients[address]
        assert (rcpt.status, rcpt.relay) == ("sent", "mx.partner.example[198.51.100.7]")
    assert ("queued-as", "4TtQ8Z3LkKz9vBc", "mx.partner.example") in [c[:3] for c in tx.claims]
    dropped = ex01["12884901897"].recipients["ivy@corp.example"]
    assert (dropped.status, dropped.reason) == ("discarded", "dropped without a DSN")


def test_sample_defer_before_the_restart() -> None:
    lines = read_lines(SAMPLES / "MSGTRK20240311-1.LOG")
    restart = next(i for i, line in enumerate(lines) if i > 5 and line.startswith("#Software"))
    reader, _ = feed_lines(lines[:restart])
    tx = next(t for t in reader.transactions() if t.queue_id == "12884901891")
    dave = tx.recipients["dave@partner.example"]
    assert (dave.status, dave.dsn) == ("deferred", "4.4.316")
    assert dave.response is not None and dave.response.startswith("451 4.4.316 Connection refused")
    assert tx.recipients["erin@partner.example"].status == "deferred"


def test_sample_repeated_header(ex01: Dict[str, Transaction]) -> None:
    lines = read_lines(SAMPLES / "MSGTRK20240311-1.LOG")
    assert sum(line.lstrip("\ufeff").startswith("#Fields:") for line in lines) == 2
    assert ex01["12884901891"].lines[-1].line == 24  # the SEND after the restart joined its message
    assert ex01["12884901897"].server == "EX01"


def test_sample_expand(ex01: Dict[str, Transaction]) -> None:
    tx = ex01["12884901893"]
    assert list(tx.recipients) == ["gina@corp.example", "hank@corp.example"]
    assert {r.orig_address for r in tx.recipients.values()} == {"sales@corp.example"}
    assert tx.subject == "Price list 2024 (EUR, USD)"


def test_sample_dsn_is_a_child_of_its_original(ex01: Dict[str, Transaction]) -> None:
    dsn = ex01["12884901892"]
    assert dsn.sender == ""
    assert list(dsn.recipients) == ["frank@corp.example"]
    original = ex01["12884901891"]
    dsn_claims = [c for c in original.claims if c.kind == "dsn"]
    assert [(c.target_id, c.target_host, c.proof.line) for c in dsn_claims] == [("12884901892", "", 13)]


def test_sample_message_crosses_servers(ex01: Dict[str, Transaction]) -> None:
    delivered, _ = parse_file(SAMPLES / "MSGTRKMD20240311-1.LOG")
    submitted, _ = parse_file(SAMPLES / "MSGTRKMS20240311-1.LOG")
    md = delivered["3298534883329"]  # named by EX01's SEND [InternalId=..., Hostname=EX02...]
    assert (md.server, md.instance) == ("EX02", "MSGTRKMD")
    assert md.message_id == ex01["12884901889"].message_id
    assert {r.status for r in md.recipients.values()} == {"sent"}
    assert {r.relay for r in md.recipients.values()} == {"mailbox"}
    assert {r.mailer for r in md.recipients.values()} == {"STOREDRIVER"}
    ms = submitted["3298534883330"]
    assert (ms.server, ms.instance) == ("EX02", "MSGTRKMS")
    assert ms.message_id == ex01["12884901891"].message_id
    assert ms.network_message_id == ex01["12884901891"].network_message_id


# --- unit behaviour ---------------------------------------------------------------------------------


def test_header_repeated_with_another_field_list() -> None:
    row16 = make_row(
        date_time="2024-03-11T08:00:00.000Z", server_hostname="EX9", source="SMTP", event_id="RECEIVE",
        internal_message_id="11", message_id="<a@b>", recipient_address="x@y.example",
        message_subject="one", sender_address="s@y.example",
    )  # fmt: skip
    reordered = ["event-id", "date-time", "internal-message-id", "recipient-address", "recipient-status",
                 "server-hostname", "source", "message-id"]  # fmt: skip
    row_b = "FAIL,2024-03-11T08:01:00.000Z,11,x@y.example,550 5.1.1 nope,EX9,ROUTING,<a@b>"
    reader, results = feed_lines([*HEADER_2016, row16, "#Fields: " + ",".join(reordered), row_b])
    assert all(results)
    [tx] = reader.transactions()
    assert tx.recipients["x@y.example"].status == "bounced"
    assert len(tx.lines) == 2


def test_headerless_rows_fall_back_by_column_count() -> None:
    row10 = make_row(
        FIELDS_2010, date_time="2012-05-01T10:00:00.5Z", client_ip="192.0.2.1", client_hostname="mx.example",
        server_hostname="HUB1.example.local", source="SMTP", event_id="RECEIVE", internal_message_id="77",
        message_id="<m@x>", recipient_address="a@example.local", sender_address="b@x",
    )  # fmt: skip
    reader, results = feed_lines([row10])
    assert results == [True]
    [tx] = reader.transactions()
    assert (tx.server, tx.client, tx.client_ip) == ("HUB1", "mx.example", "192.0.2.1")


def test_exo_underscore_header() -> None:
    header = (
        '"date_time_utc","client_ip","client_hostname","server_ip","server_hostname","event_id",'
        '"internal_message_id","message_id","network_message_id","recipient_address","sender_address"'
    )
    row = (
        '"2024-01-02T03:04:05.123Z","","","","BN0PR01MB1234","SENDEXTERNAL","999","<q@r>","n-1",'
        '"to@ext.example","me@org.example"'
    )
    assert looks_like_exchange([header, row])
    reader, results = feed_lines([header, row])
    assert results == [True, True]
    [tx] = reader.transactions()
    assert tx.message_id == "q@r"
    assert tx.recipients["to@ext.example"].status == "sent"


def test_malformed_rows_are_not_understood() -> None:
    good = make_row(date_time="2024-03-11T08:00:00.000Z", event_id="RECEIVE", internal_message_id="1")
    bad_date = good.replace("2024-03-11T08:00:00.000Z", "2024-13-40T08:00:00.000Z")
    _, results = feed_lines([*HEADER_2016, good, bad_date, "a,b,c", "", "#Comment"])
    assert results[5:] == [True, False, False, True, True]


def test_defer_then_send_overrides_and_single_quoted_members() -> None:
    receive = make_row(
        date_time="2024-03-11T08:00:00.000Z", server_hostname="EX1", event_id="RECEIVE", source="SMTP",
        internal_message_id="5",
        recipient_address="'odd;name@x.example';'o''brien@x.example';'semi;x'@x.example;plain@x.example",
    )  # fmt: skip
    defer = make_row(
        date_time="2024-03-11T08:01:00.000Z", client_hostname="EX1", event_id="DEFER", source="SMTP",
        internal_message_id="5", recipient_address="plain@x.example", recipient_status="451 4.4.0 later",
    )  # fmt: skip
    send = make_row(
        date_time="2024-03-11T08:05:00.000Z", client_hostname="EX1.x.example", server_hostname="mx.x.example",
        server_ip="192.0.2.9", event_id="SEND", source="SMTP", internal_message_id="5",
        recipient_address="plain@x.example", recipient_status="250 2.0.0 Ok: queued as 3F1A2B3C4D",
    )  # fmt: skip
    reader, _ = feed_lines([*HEADER_2016, receive, defer])
    [tx] = reader.transactions()
    assert list(tx.recipients) == [
        "odd;name@x.example",
        "o'brien@x.example",
        "semi;x@x.example",
        "plain@x.example",
    ]
    assert tx.recipients["plain@x.example"].status == "deferred"
    reader.feed(8, 0, send)
    rcpt = tx.recipients["plain@x.example"]
    assert (rcpt.status, rcpt.dsn, rcpt.relay) == ("sent", "2.0.0", "mx.x.example[192.0.2.9]")
    assert rcpt.ts == parse_time("2024-03-11T08:05:00.000Z")
    assert tx.last_seen == rcpt.ts
    assert [c[:3] for c in tx.claims] == [("queued-as", "3F1A2B3C4D", "mx.x.example")]


def test_dsn_whose_original_is_elsewhere() -> None:
    dsn = make_row(
        date_time="2024-03-11T08:00:00.000Z", server_hostname="EX1", event_id="DSN", source="DSN",
        internal_message_id="40", message_id="<dsn@EX1>", recipient_address="s@x.example",
        reference="<orig@x.example>", return_path="<>",
    )  # fmt: skip
    reader, _ = feed_lines([*HEADER_2016, dsn])
    [dsn_tx] = reader.transactions()
    assert dsn_tx.claims == []
    [pending] = reader.pending_dsn()
    assert pending[:2] == (dsn_tx, "orig@x.example")
    original = Transaction("exchange", "EX0", "MSGTRK", "39", 0.0, 0, 0)
    original.message_id = "orig@x.example"
    assert attach_dsn_claims(reader.pending_dsn(), [original, dsn_tx]) == 1
    assert [c[:3] for c in original.claims] == [("dsn", "40", "EX1")]


def test_fail_naming_its_dsn_claims_it() -> None:
    fail = make_row(
        date_time="2024-03-11T08:00:00.000Z", server_hostname="EX1", event_id="FAIL", source="SMTP",
        internal_message_id="41", recipient_address="a@x.example", recipient_status="550 5.1.1 unknown",
        reference="<dsn@EX1>",
    )  # fmt: skip
    reader, _ = feed_lines([*HEADER_2016, fail])
    [tx] = reader.transactions()
    assert [c[:3] for c in tx.claims] == [("dsn", "dsn@EX1", "")]


def test_status_splitting() -> None:
    assert split_statuses("550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found", 1) == [
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found"
    ]
    assert split_statuses("550 5.1.1 A; not found;250 2.1.5 OK", 2) == [
        "550 5.1.1 A; not found",
        "250 2.1.5 OK",
    ]
    assert split_statuses("To;Cc", 2) == ["To", "Cc"]
    assert (
        split_statuses("[{LRT=};{LED=451 4.4.0 x};{FQDN=}]", 3) == ["[{LRT=};{LED=451 4.4.0 x};{FQDN=}]"] * 3
    )
    assert split_statuses("", 2) == [None, None]
    assert split_addresses(" a@x ; b@y ;") == ["a@x", "b@y"]


def test_small_helpers() -> None:
    assert short_host("EX01.corp.example") == "EX01"
    assert short_host("10.0.0.1") == "10.0.0.1"
    assert short_host("fe80::1%3") == "fe80::1%3"
    assert log_kind(r"C:\Logs\MSGTRKMD20240311-1.LOG") == "MSGTRKMD"
    assert log_kind("messages.log") == "MSGTRK"
    assert parse_time("2014-02-21T01:38:46.806Z") == pytest.approx(1392946726.806)
    assert parse_time("2019-05-02T09:07:41.6050000Z") == pytest.approx(1556788061.605)
    assert parse_time("2014-02-30T01:38:46Z") is None


def test_detection_of_syslog_and_headers() -> None:
    assert not looks_like_exchange(["Feb  3 01:01:12 host postfix/smtpd[1]: connect from x[1.2.3.4]"])
    assert not looks_like_exchange([])
    assert looks_like_exchange(
        ["\ufeff#Software: Microsoft Exchange Server", "#Log-type: Message Tracking Log"]
    )
    assert not looks_like_exchange(
        ["#Software: Microsoft Exchange Server", "#Log-type: SMTP Send Protocol Log"]
    )
    assert looks_like_exchange(["#Fields: date-time,event-id,internal-message-id"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=120), max_size=12))
def test_any_text_never_raises(lines: List[str]) -> None:
    looks_like_exchange(lines)
    reader, results = feed_lines([*HEADER_2016[:1], *lines])
    assert all(isinstance(ok, bool) for ok in results)
    reader.transactions()
    reader.pending_dsn()
    # feed() has a safety net; the parsing underneath must not need it
    bare = ExchangeReader(0)
    for number, line in enumerate([*HEADER_2016, *lines], 1):
        bare._feed(number, 0, line)


NOISE = [",", '"', ";", "'", "RECEIVE", "DSN", "SEND", "1", "<a@b>", "2024-03-11T08:00:00Z",
         "[InternalId=1, Hostname=h]", "\ufeff", "\r"]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(NOISE), max_size=60))
def test_row_like_noise_never_raises(parts: List[str]) -> None:
    reader = ExchangeReader(0)
    for number, line in enumerate([*HEADER_2016, "".join(parts), ",".join(parts), ";".join(parts)], 1):
        assert isinstance(reader._feed(number, 0, line), bool)
    reader.transactions()

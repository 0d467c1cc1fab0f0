"""Every bundled sample shows exactly what samples/README.md says it should (the README is the spec)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Dict, List, Tuple

import pytest
from conftest import SAMPLES, by_qid, statuses

from mailtui.export import hop_chain
from mailtui.model import Trace
from mailtui.session import Session, open_logs

# The samples' classic syslog lines are 2024, but their mtimes are the checkout time: always pass the year.
YEAR = 2024


def load_samples(*relative: str) -> Session:
    return open_logs([str(SAMPLES / r) for r in relative], year=YEAR, local_tz=timezone.utc)


def utc(text: str) -> float:
    """Epoch seconds of an ISO time; a time without an offset is UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def span(session: Session, trace: Trace) -> Tuple[str, str]:
    """The syslog time stamps of the trace's first and last raw line."""
    texts = session.read_lines(trace.lines)
    return texts[0][:15], texts[-1][:15]


def link_set(trace: Trace) -> set:
    return {(link.kind, link.source.queue_id, link.target.queue_id) for link in trace.links}


def proof(session: Session, trace: Trace, kind: str) -> Tuple[str, int]:
    """(file name relative to samples/, line) of the one link of this kind."""
    (link,) = [link for link in trace.links if link.kind == kind]
    assert link.proof is not None
    name = session.files[link.proof.file_id].name
    return name.split("samples/", 1)[1], link.proof.line


def attempts(session: Session, trace: Trace, address: str) -> List[Tuple[str, str]]:
    """(time, status) of each delivery attempt for one recipient, from the trace's raw lines."""
    found = []
    for text in session.read_lines(trace.lines):
        if f"to=<{address}>" not in text and f"to={address}," not in text:
            continue
        match = re.search(r"\b(?:status|stat)=(\w+)", text)
        if match:
            found.append((text[:15], match.group(1).lower()))
    return found


def rcpt(trace: Trace, address: str):
    (found,) = [r for r in trace.recipients if r.address == address]
    return found


# --- seeds/ -------------------------------------------------------------------------------------------


def test_seed_postfix_book() -> None:
    path = SAMPLES / "seeds" / "postfix-book.log"
    assert "Feb\u00a0 3 " in path.read_text(encoding="utf-8").splitlines()[0]
    shared = SAMPLES.parent.parent / "shared" / "checks" / "data" / "seed-postfix.log"
    if shared.exists():
        assert path.read_bytes() == shared.read_bytes()
    session = load_samples("seeds/postfix-book.log")
    assert session.files[0].lines == 7 and session.files[0].unrecognised == 0
    (trace,) = session.traces
    assert trace.id == "util-ubuntu:307DF802B3"
    assert len(trace.hops) == 1
    assert (trace.sender, trace.status, trace.size, trace.message_id) == (
        "bob@example.com",
        "sent",
        446,
        None,
    )
    assert (trace.client, trace.client_ip) == ("unknown", "172.20.63.1")
    assert statuses(trace) == {"billy@evil.example": "sent"}
    assert trace.recipients[0].relay == "mail.evil.example[10.14.168.11]:587"


def test_seed_sendmail_book() -> None:
    session = load_samples("seeds/sendmail-book.log")
    (trace,) = session.traces
    assert trace.id == "mail:s1KJ39AQ014274"
    assert trace.sender == "billy@evil.example"
    assert statuses(trace) == {"bob@example.com": "sent"}
    assert trace.recipients[0].mailer == "local"
    assert (trace.client, trace.client_ip) == ("mail.evil.example", "10.14.168.11")  # relay= of the from line
    assert trace.size == 7779
    assert trace.message_id == "COL0-MC3-F3967350980D9E82EBFC23CF9A0@phx.gbl"


def test_seed_sendmail_anton() -> None:
    session = load_samples("seeds/sendmail-anton.log")
    (trace,) = session.traces
    assert trace.id == "ns1:j0BGjkc28022"
    assert trace.sender == "boss@example.com"
    assert statuses(trace) == {"employee@example.com": "sent"}
    assert trace.recipients[0].mailer == "local"
    assert trace.size == 376597
    assert trace.message_id == "Pine.LNX.4.61.0501111145450.17081@boss.example.com"
    assert (trace.client, trace.client_ip) == (
        "esafe1.example.com",
        "10.211.15.69",
    )  # "(may be forged)" dropped


def test_seed_exchange_2013() -> None:
    raw = (SAMPLES / "seeds" / "MSGTRK20140221-1.LOG").read_bytes()
    assert raw.count(b"\r\n") == 6 and b"#Version: 15.00.0516.025\r\n" in raw
    session = load_samples("seeds/MSGTRK20140221-1.LOG")
    assert session.files[0].format == "exchange"
    (trace,) = session.traces
    assert [hop.queue_id for hop in trace.hops] == ["21474836514"]
    assert trace.sender == "bob@example.com"
    assert statuses(trace) == {"Administrator@test.org": "in-queue"}
    assert trace.status == "in-queue"
    assert trace.message_id == "7d3c619a-1e64-4600-a2be-c96055aa3612@WIN-13C1F1N1KA5.test.org"


# --- postfix/mail.log ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mx1() -> Session:
    return load_samples("postfix/mail.log")


def test_mail_log_file(mx1: Session) -> None:
    (loaded,) = mx1.files
    assert loaded.lines == 213
    texts = mx1.read_lines([t.lines[0] for t in mx1.traces])
    assert texts[0].startswith("Mar 11 08:57:40")
    assert mx1.traces[-1].last_seen == utc("2024-03-11T16:05:29")
    assert all(t.hops[0].server == "mx1" for t in mx1.traces)


def test_p1_expired_mid_life_with_ndr(mx1: Session) -> None:
    trace = by_qid(mx1, "A7B8C9D0E1")
    assert span(mx1, trace) == ("Mar 11 08:57:40", "Mar 11 08:58:10")
    first = mx1.read_lines(trace.lines)[0]
    assert "postfix/qmgr" in first and first.endswith("(queue active)")
    assert trace.sender == "dave@example.com"
    assert statuses(trace) == {"info@closed-shop.example": "expired"}
    assert trace.status == "expired"
    assert attempts(mx1, trace, "info@closed-shop.example") == [("Mar 11 08:58:10", "deferred")]
    info = trace.recipients[0]
    assert info.delay == 432088
    assert "status=expired, returned to sender" in "\n".join(mx1.read_lines(trace.lines))
    ndr = by_qid(mx1, "0D1E2F3A4B")
    assert trace.children == [ndr.id] and ndr.parent == trace.id
    assert (ndr.sender, ndr.message_id) == ("", "20240311085810.0D1E2F3A4B@mx1.example.com")
    assert "sender non-delivery notification: 0D1E2F3A4B" in mx1.read_lines([trace.links[0].proof])[0]
    assert statuses(ndr) == {"dave@example.com": "sent"}
    assert ndr.recipients[0].mailer == "lmtp" and ndr.recipients[0].response.endswith("Saved")


def test_p2_inbound_through_amavis(mx1: Session) -> None:
    trace = mx1.trace("mx1:3F2A1B2C3D")
    assert trace is not None
    assert span(mx1, trace) == ("Mar 11 09:02:10", "Mar 11 09:02:12")
    assert [hop.queue_id for hop in trace.hops] == ["3F2A1B2C3D", "5B6C7D8E9F"]
    assert link_set(trace) == {
        ("queued-as", "3F2A1B2C3D", "5B6C7D8E9F"),
        ("orig-queue-id", "5B6C7D8E9F", "3F2A1B2C3D"),
        ("amavis", "3F2A1B2C3D", "5B6C7D8E9F"),
    }
    assert (trace.client, trace.client_ip) == ("mail.example.net", "198.51.100.7")
    assert (trace.subject, trace.message_id) == ("Q1 figures", "CAF1x7q2Lw9@mail.example.net")
    assert trace.sender == "anna@example.net"
    assert statuses(trace) == {"boss@example.com": "sent"}
    boss = trace.recipients[0]
    assert boss.mailer == "lmtp" and boss.response.endswith("Saved")
    assert [hop.size for hop in trace.hops] == [5120, 5893]
    assert trace.size == 5120
    amavis = mx1.read_lines([ref for ref in trace.lines if "amavis" in mx1.read_lines([ref])[0]])
    assert len(amavis) == 1
    for words in ("Passed CLEAN {RelayedInbound}", "Hits: -1.2", "size: 5120", "queued_as: 5B6C7D8E9F"):
        assert words in amavis[0]


@pytest.mark.parametrize(
    ("number", "times", "sender", "recipient", "client", "reply"),
    [
        (
            "1",
            ("Mar 11 09:05:33", "Mar 11 09:05:34"),
            "sales@bulk.example",
            "victim@example.org",
            "203.0.113.66",
            "554 5.7.1 <victim@example.org>: Relay access denied",
        ),
        (
            "2",
            ("Mar 11 09:14:05", "Mar 11 09:14:06"),
            "noreply@promo.example",
            "bob@example.com",
            "198.51.100.23",
            "blocked using zen.spamhaus.org",
        ),
        (
            "3",
            ("Mar 11 10:02:30", "Mar 11 10:02:31"),
            "x@spam.example",
            "carol@example.com",
            "203.0.113.99",
            "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname",
        ),
    ],
    ids=["P3", "P5", "P9"],
)
def test_p3_p5_p9_noqueue_rejects(mx1: Session, number, times, sender, recipient, client, reply) -> None:
    trace = mx1.trace(f"mx1:NOQUEUE:{number}")
    assert trace is not None
    assert span(mx1, trace) == times
    assert (trace.status, trace.sender, trace.client, trace.client_ip) == (
        "rejected",
        sender,
        "unknown",
        client,
    )
    assert statuses(trace) == {recipient: "rejected"}
    assert reply in trace.recipients[0].response


def test_p3_and_p9_helo(mx1: Session) -> None:
    p3, p9 = mx1.trace("mx1:NOQUEUE:1"), mx1.trace("mx1:NOQUEUE:3")
    assert "helo=<bulk.example>" in mx1.read_lines(p3.lines)[1]
    assert "helo=<localhost>" in mx1.read_lines(p9.lines)[1]


def test_postscreen_session_is_not_a_message(mx1: Session) -> None:
    texts = mx1.read_lines([ref for t in mx1.traces for ref in t.lines])
    assert not any("198.51.100.99" in text for text in texts)
    assert mx1.search("ip:198.51.100.99") == []


def test_p4_submission_deferred_twice_then_sent(mx1: Session) -> None:
    trace = by_qid(mx1, "8A4B3C2D1E")
    assert span(mx1, trace) == ("Mar 11 09:10:41", "Mar 11 09:37:22")
    assert trace.sender == "carol@example.com" and trace.subject == "Order 4471"
    assert (trace.client, trace.client_ip) == ("unknown", "203.0.113.140")
    assert "sasl_username=carol@example.com" in "\n".join(mx1.read_lines(trace.lines))
    assert attempts(mx1, trace, "orders@supplier.example") == [
        ("Mar 11 09:11:12", "deferred"),
        ("Mar 11 09:20:52", "deferred"),
        ("Mar 11 09:37:22", "sent"),
    ]
    texts = mx1.read_lines(trace.lines)
    assert "Connection timed out" in texts[-6] and "451 4.7.1 Greylisted" in texts[-4]
    orders = trace.recipients[0]
    assert (trace.status, orders.status, orders.delay) == ("sent", "sent", 1600)
    assert orders.response == "250 OK id=1rjZ5x-0004Qa-2B"
    assert mx1.find("1rjZ5x-0004Qa-2B") == []  # an Exim id at a host with no sample: dangling
    # the warning and the pid-only "connect to" line come before the first lines/deferred of the message
    lines = (SAMPLES / "postfix" / "mail.log").read_text(encoding="utf-8").splitlines()
    assert "warning: hostname" in lines[42] and "does not resolve" in lines[42]
    assert "connect to mx.supplier.example[203.0.113.25]:25: Connection timed out" in lines[50]
    assert "8A4B3C2D1E: " not in lines[50] and "status=deferred" in lines[51]


def test_p6_discarded_by_amavis(mx1: Session) -> None:
    trace = by_qid(mx1, "7E8F9A0B1C")
    assert span(mx1, trace) == ("Mar 11 09:18:44", "Mar 11 09:18:47")
    assert len(trace.hops) == 1
    assert (trace.sender, trace.subject) == ("winner@lottery.example", "You are our lucky winner!")
    assert statuses(trace) == {"bob@example.com": "discarded"}
    assert trace.status == "discarded"
    assert trace.reason == "discarded by amavis as SPAM, hits 13.814"
    assert trace.recipients[0].response == "250 2.7.0 Ok, discarded, id=01991-03 - spam"
    text = "\n".join(mx1.read_lines(trace.lines))
    assert "Blocked SPAM {DiscardedInbound,Quarantined}" in text and "spam-Hk3mQ9x2Lp0a.gz" in text
    assert "queued_as" not in text


def test_p7_two_recipients_through_amavis(mx1: Session) -> None:
    trace = by_qid(mx1, "4D5E6F7A8B")
    assert span(mx1, trace) == ("Mar 11 09:31:10", "Mar 11 09:31:12")
    assert [hop.queue_id for hop in trace.hops] == ["4D5E6F7A8B", "9A8B7C6D5E"]
    assert trace.sender == "notifications@git.example"
    assert trace.subject == "[acme/infra] Rotate TLS certificates (#42)"
    assert trace.message_id == "acme/infra/pull/42@git.example"
    assert statuses(trace) == {"carol@example.com": "sent", "dave@example.com": "sent"}
    assert "TLS connection established" not in "\n".join(mx1.read_lines(trace.lines))


def test_p8_two_instances_on_one_host(mx1: Session) -> None:
    trace = by_qid(mx1, "2B3C4D5E6F")
    assert span(mx1, trace) == ("Mar 11 09:45:12", "Mar 11 09:45:14")
    assert [(h.server, h.instance, h.queue_id) for h in trace.hops] == [
        ("mx1", "postfix", "2B3C4D5E6F"),
        ("mx1", "postfix-out", "4TtX213dSnzWt0C"),
    ]
    assert link_set(trace) == {
        ("queued-as", "2B3C4D5E6F", "4TtX213dSnzWt0C"),
        ("orig-queue-id", "4TtX213dSnzWt0C", "2B3C4D5E6F"),
    }
    assert trace.hops[1].client == "localhost" and trace.hops[1].client_ip == "127.0.0.1"
    texts = mx1.read_lines(trace.lines)
    assert any("opendkim[801]: 2B3C4D5E6F: DKIM-Signature field added" in t for t in texts)
    assert any("sasl_username=bob@example.com" in t for t in texts)
    assert (trace.sender, trace.subject) == ("bob@example.com", "Contract draft v3")
    assert statuses(trace) == {"lee@partner.example": "sent"}
    lee = trace.recipients[0]
    assert lee.relay == "mx.partner.example[198.51.100.60]:25"
    assert lee.response == "250 2.0.0 Ok: queued as 4TtX224tVhz9BNp"
    assert mx1.find("4TtX224tVhz9BNp") == []  # dangling: no hop with that id
    assert mx1.find("4TtX213dSnzWt0C") == [trace]


def test_p10_pickup_bounce_and_ndr(mx1: Session) -> None:
    trace = by_qid(mx1, "C1D2E3F4A5")
    assert span(mx1, trace) == ("Mar 11 10:15:02", "Mar 11 10:15:03")
    texts = mx1.read_lines(trace.lines)
    assert "pickup" in texts[0] and "uid=1000 from=<alice>" in texts[0]
    assert trace.sender == "alice@mx1.example.com"
    assert statuses(trace) == {"jdoe@example.org": "bounced"}
    assert trace.status == "bounced"
    assert (
        "550 5.1.1 <jdoe@example.org>: Recipient address rejected: User unknown (in reply to RCPT TO command)"
        in trace.recipients[0].response
    )
    ndr = by_qid(mx1, "D6E7F8A9B0")
    assert trace.children == [ndr.id] and ndr.parent == trace.id
    assert ndr.sender == ""
    assert statuses(ndr) == {"alice@mx1.example.com": "sent"}
    assert (ndr.recipients[0].mailer, ndr.recipients[0].response) == ("local", "delivered to mailbox")
    # Postfix <= 3.10 order: the NDR's cleanup line comes before the bounce line
    raw = (SAMPLES / "postfix" / "mail.log").read_text(encoding="utf-8").splitlines()
    cleanup = next(i for i, t in enumerate(raw) if "cleanup" in t and "D6E7F8A9B0: message-id=" in t)
    bounce = next(i for i, t in enumerate(raw) if "sender non-delivery notification: D6E7F8A9B0" in t)
    assert cleanup < bounce
    assert proof(mx1, trace, "ndr") == ("postfix/mail.log", bounce + 1)


def test_p11_local_submission(mx1: Session) -> None:
    trace = by_qid(mx1, "E1F2A3B4C5")
    assert span(mx1, trace) == ("Mar 11 10:40:19", "Mar 11 10:40:19")
    assert "uid=1000 from=<alice>" in mx1.read_lines(trace.lines)[0]
    assert trace.sender == "alice@mx1.example.com"
    assert trace.message_id == "20240311104019.E1F2A3B4C5@mx1.example.com"
    assert statuses(trace) == {"bob@example.com": "sent"}
    assert trace.recipients[0].mailer == "lmtp"


def test_p12_mixed_results_and_ndr(mx1: Session) -> None:
    trace = by_qid(mx1, "5A6B7C8D9E")
    assert span(mx1, trace) == ("Mar 11 11:12:40", "Mar 11 11:12:42")
    assert (trace.sender, trace.subject) == ("dave@example.com", "Meeting notes 11 March")
    assert statuses(trace) == {"ann@client.example": "sent", "old.contact@client2.example": "bounced"}
    assert trace.status == "mixed"
    assert rcpt(trace, "ann@client.example").response == "250 2.0.0 Ok: queued as 4TtYyy27dKzHjqL"
    bounced = rcpt(trace, "old.contact@client2.example")
    assert bounced.dsn == "5.1.1" and "550 5.1.1" in bounced.response
    ndr = by_qid(mx1, "6B7C8D9E0F")
    assert trace.children == [ndr.id] and ndr.parent == trace.id
    assert statuses(ndr) == {"dave@example.com": "sent"}


def test_p13_invoice_through_amavis(mx1: Session) -> None:
    trace = by_qid(mx1, "1E2F3A4B5C")
    assert span(mx1, trace) == ("Mar 11 11:47:05", "Mar 11 11:47:07")
    assert [hop.queue_id for hop in trace.hops] == ["1E2F3A4B5C", "6F5E4D3C2B"]
    assert (trace.sender, trace.subject) == ("billing@provider.example", "Your invoice 2024-03-7781")
    assert statuses(trace) == {"bob@example.com": "sent"}


def test_p14_reused_queue_id_is_a_separate_trace(mx1: Session) -> None:
    p2, p14 = mx1.find("3F2A1B2C3D")
    assert (p2.id, p14.id) == ("mx1:3F2A1B2C3D", "mx1:3F2A1B2C3D:2")
    assert span(mx1, p14) == ("Mar 11 15:40:03", "Mar 11 15:40:05")
    assert [hop.queue_id for hop in p14.hops] == ["3F2A1B2C3D", "0C1D2E3F4A"]
    assert not {hop.queue_id for hop in p2.hops} & {"0C1D2E3F4A"}
    removed = next(t for t in mx1.read_lines(p2.lines) if t.endswith("3F2A1B2C3D: removed"))
    assert removed.startswith("Mar 11 09:02:12")
    assert (
        utc("2024-03-11T15:40:03") - utc("2024-03-11T09:02:12") == 6 * 3600 + 37 * 60 + 51
    )  # README: ~6 h 38 min
    assert (p14.sender, p14.subject) == ("news@shop.example", "Spring sale: 20% off")
    assert p14.message_id == "spring-sale.4471.carol@shop.example"
    assert statuses(p14) == {"carol@example.com": "sent"}


def test_p15_outbound_submission(mx1: Session) -> None:
    trace = by_qid(mx1, "2F3A4B5C6D")
    assert span(mx1, trace) == ("Mar 11 16:05:27", "Mar 11 16:05:29")
    assert (trace.sender, trace.subject) == ("boss@example.com", "Re: Q1 figures")
    assert "sasl_username=boss@example.com" in "\n".join(mx1.read_lines(trace.lines))
    assert statuses(trace) == {"anna@example.net": "sent"}
    assert trace.recipients[0].response == "250 2.0.0 Ok: queued as 4TthSn4Xk9zR05x"
    raw = (SAMPLES / "postfix" / "mail.log").read_text(encoding="utf-8").splitlines()
    pre = next(i for i, t in enumerate(raw) if "Trusted TLS connection established to mail.example.net" in t)
    assert "2F3A4B5C6D: to=<anna@example.net>" in raw[pre + 1]


def test_mail_log_totals(mx1: Session) -> None:
    qid_traces = {t.id for t in mx1.traces if t.hops[0].queue_id != "NOQUEUE" and t.parent is None}
    assert qid_traces == {
        "mx1:A7B8C9D0E1", "mx1:3F2A1B2C3D", "mx1:8A4B3C2D1E", "mx1:7E8F9A0B1C", "mx1:4D5E6F7A8B",
        "mx1:2B3C4D5E6F", "mx1:C1D2E3F4A5", "mx1:E1F2A3B4C5", "mx1:5A6B7C8D9E", "mx1:1E2F3A4B5C",
        "mx1:3F2A1B2C3D:2", "mx1:2F3A4B5C6D",
    }  # fmt: skip
    children = {t.id: t.parent for t in mx1.traces if t.parent}
    assert children == {
        "mx1:0D1E2F3A4B": "mx1:A7B8C9D0E1",
        "mx1:D6E7F8A9B0": "mx1:C1D2E3F4A5",
        "mx1:6B7C8D9E0F": "mx1:5A6B7C8D9E",
    }
    rejected = [t.id for t in mx1.traces if t.hops[0].queue_id == "NOQUEUE"]
    assert rejected == ["mx1:NOQUEUE:1", "mx1:NOQUEUE:2", "mx1:NOQUEUE:3"]
    assert len(mx1.traces) == 12 + 3 + 3
    final = {t.id: t.status for t in mx1.traces}
    assert final == {
        "mx1:A7B8C9D0E1": "expired", "mx1:0D1E2F3A4B": "sent",
        "mx1:3F2A1B2C3D": "sent",
        "mx1:NOQUEUE:1": "rejected",
        "mx1:8A4B3C2D1E": "sent",
        "mx1:NOQUEUE:2": "rejected",
        "mx1:7E8F9A0B1C": "discarded",
        "mx1:4D5E6F7A8B": "sent",
        "mx1:2B3C4D5E6F": "sent",
        "mx1:NOQUEUE:3": "rejected",
        "mx1:C1D2E3F4A5": "bounced", "mx1:D6E7F8A9B0": "sent",
        "mx1:E1F2A3B4C5": "sent",
        "mx1:5A6B7C8D9E": "mixed", "mx1:6B7C8D9E0F": "sent",
        "mx1:1E2F3A4B5C": "sent",
        "mx1:3F2A1B2C3D:2": "sent",
        "mx1:2F3A4B5C6D": "sent",
    }  # fmt: skip
    assert not any(r.status == "in-queue" for t in mx1.traces for r in t.recipients)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("from:bob@example.com", ["mx1:2B3C4D5E6F"]),
        ("to:boss@example.com", ["mx1:3F2A1B2C3D"]),
        ("from:boss@example.com", ["mx1:2F3A4B5C6D"]),
        ("status:bounced", ["mx1:C1D2E3F4A5", "mx1:5A6B7C8D9E"]),
        ("status:rejected", ["mx1:NOQUEUE:1", "mx1:NOQUEUE:2", "mx1:NOQUEUE:3"]),
        ("qid:3F2A1B2C3D", ["mx1:3F2A1B2C3D", "mx1:3F2A1B2C3D:2"]),
        ('subject:"Q1 figures"', ["mx1:3F2A1B2C3D", "mx1:2F3A4B5C6D"]),
    ],
)
def test_mail_log_example_queries(mx1: Session, query: str, expected: List[str]) -> None:
    assert [t.id for t in mx1.search(query)] == expected


# --- postfix/relay/ -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def relay() -> Session:
    return load_samples("postfix/relay/mx1.log", "postfix/relay/mail2.log")


def test_relay_files(relay: Session) -> None:
    assert {f.name.rsplit("/", 1)[1]: (f.lines, f.unrecognised) for f in relay.files} == {
        "mx1.log": (40, 0),
        "mail2.log": (30, 0),
    }
    assert len(relay.traces) == 4
    assert all(
        t.first_seen >= utc("2024-03-11T10:05:00") and t.last_seen < utc("2024-03-11T10:37:00")
        for t in relay.traces
    )


def test_r1_two_hosts_queued_as(relay: Session) -> None:
    trace = by_qid(relay, "1A2B3C4D5E")
    assert [(h.server, h.queue_id) for h in trace.hops] == [("mx1", "1A2B3C4D5E"), ("mail2", "7B8C9D0E1F")]
    assert link_set(trace) == {("queued-as", "1A2B3C4D5E", "7B8C9D0E1F")}
    assert "250 2.0.0 Ok: queued as 7B8C9D0E1F" in relay.read_lines([trace.links[0].proof])[0]
    assert {h.message_id for h in trace.hops} == {"CAF1x9z7Qq1@mail.example.net"}
    assert (trace.client, trace.client_ip) == ("mail.example.net", "198.51.100.7")
    assert (trace.sender, trace.subject) == ("anna@example.net", "Agenda for Tuesday")
    assert statuses(trace) == {"bob@example.com": "sent"}
    bob = trace.recipients[0]
    assert (bob.mailer, bob.final_server, bob.response) == ("virtual", "mail2", "delivered to maildir")


def test_r2_relay_side_without_exchange(relay: Session) -> None:
    trace = by_qid(relay, "2C3D4E5F6A")
    assert [(h.server, h.queue_id) for h in trace.hops] == [("mx1", "2C3D4E5F6A"), ("mail2", "8D9E0F1A2B")]
    assert link_set(trace) == {("queued-as", "2C3D4E5F6A", "8D9E0F1A2B")}
    assert "sasl_username=carol@example.com" in "\n".join(relay.read_lines(trace.lines))
    assert (trace.sender, trace.subject) == ("carol@example.com", "Budget 2024 draft")
    assert trace.message_id == "20240311.relay-ex@mx1.example.com"
    dave = rcpt(trace, "dave@corp.example")
    assert (dave.status, dave.final_server, dave.relay) == (
        "sent",
        "mail2",
        "ex01.corp.example[10.0.0.50]:25",
    )
    assert dave.dsn == "2.6.0"
    assert dave.response == (
        "250 2.6.0 <20240311.relay-ex@mx1.example.com> [InternalId=12345678901234, Hostname=EX01.corp.example] "
        "4567 bytes in 0.120, 37.1 KB/sec Queued mail for delivery"
    )
    assert dave.ts == utc("2024-03-11T10:15:05")


def test_r3_two_recipients_one_transaction_each(relay: Session) -> None:
    trace = by_qid(relay, "3D4E5F6A7B")
    assert [(h.server, h.queue_id) for h in trace.hops] == [("mx1", "3D4E5F6A7B"), ("mail2", "9E0F1A2B3C")]
    assert link_set(trace) == {("queued-as", "3D4E5F6A7B", "9E0F1A2B3C")}
    assert (trace.sender, trace.subject) == ("lists@example.net", "[staff] Fire drill on Thursday")
    assert statuses(trace) == {"boss@example.com": "sent", "erin@example.com": "sent"}


def test_r4_refused_then_sent(relay: Session) -> None:
    trace = by_qid(relay, "4E5F6A7B8C")
    assert [(h.server, h.queue_id) for h in trace.hops] == [("mx1", "4E5F6A7B8C"), ("mail2", "A1B2C3D4E5")]
    assert link_set(trace) == {("queued-as", "4E5F6A7B8C", "A1B2C3D4E5")}
    first_hop = [ref for ref in trace.lines if ref.file_id == trace.hops[0].lines[0].file_id]
    assert attempts(relay, trace, "bob@example.com") == [
        ("Mar 11 10:30:13", "deferred"),  # mx1
        ("Mar 11 10:35:43", "sent"),  # mx1: queued as A1B2C3D4E5
        ("Mar 11 10:35:43", "sent"),  # mail2: virtual
    ]
    assert any(
        "connect to mail2.example.com[10.0.0.2]:25: Connection refused" in t
        for t in relay.read_lines(first_hop)
    )
    assert (trace.sender, trace.subject) == ("anna@example.net", "Re: Agenda for Tuesday")
    assert statuses(trace) == {"bob@example.com": "sent"}
    assert trace.recipients[0].final_server == "mail2"


# --- postfix/rotated/ ---------------------------------------------------------------------------------

ROTATED = ("mail.log.2.gz", "mail.log.1", "mail.log")


@pytest.fixture(scope="module")
def rotated() -> Session:
    return load_samples(*(f"postfix/rotated/{name}" for name in reversed(ROTATED)))


def test_rotated_read_order_by_content(rotated: Session) -> None:
    raw = (SAMPLES / "postfix" / "rotated" / "mail.log.2.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0" and not raw[3] & 0x08  # mtime=0, no FNAME
    assert [(f.name.rsplit("/", 1)[1], f.lines, f.unrecognised) for f in rotated.files] == [
        ("mail.log.2.gz", 22, 0),
        ("mail.log.1", 11, 0),
        ("mail.log", 15, 0),
    ]
    assert [t.id for t in rotated.traces] == [
        "mx2:B1C2D3E4F5",
        "mx2:NOQUEUE:1",
        "mx2:C2D3E4F5A6",
        "mx2:D3E4F5A6B7",
        "mx2:E4F5A6B7C8",
        "mx2:0F5A6B7C8D",
    ]
    assert rotated.traces[0].first_seen == utc("2024-03-09T07:12:04")
    assert rotated.traces[-1].last_seen == utc("2024-03-11T09:30:04")


def test_rotated_b1_weekend_plans(rotated: Session) -> None:
    trace = by_qid(rotated, "B1C2D3E4F5")
    assert {ref.file_id for ref in trace.lines} == {0}
    assert (trace.sender, trace.subject) == ("anna@example.net", "Weekend plans")
    assert statuses(trace) == {"bob@example.com": "sent"}
    assert trace.recipients[0].mailer == "lmtp"


def test_rotated_noqueue(rotated: Session) -> None:
    trace = rotated.trace("mx2:NOQUEUE:1")
    assert trace is not None and trace.first_seen == utc("2024-03-09T14:40:52")
    assert (trace.status, trace.sender) == ("rejected", "sales@bulk.example")
    assert statuses(trace) == {"victim@example.org": "rejected"}
    assert "Relay access denied" in trace.recipients[0].response


def test_rotated_c2_one_trace_across_two_files(rotated: Session) -> None:
    trace = by_qid(rotated, "C2D3E4F5A6")
    assert len(trace.hops) == 1
    assert {rotated.files[ref.file_id].name.rsplit("/", 1)[1] for ref in trace.lines} == {
        "mail.log.2.gz",
        "mail.log.1",
    }
    assert trace.sender == "carol@example.com"
    history = attempts(rotated, trace, "sales@slow.example")
    assert history == [
        ("Mar 10 05:50:14", "deferred"),
        ("Mar 10 06:00:44", "deferred"),
        ("Mar 10 07:05:44", "deferred"),
        ("Mar 10 08:15:44", "sent"),
    ]
    texts = rotated.read_lines(trace.lines)
    assert any("421 4.3.2 System not accepting network messages" in t for t in texts)
    by_file = {}
    for ref, text in zip(trace.lines, texts):
        if "status=" in text:
            by_file.setdefault(rotated.files[ref.file_id].name.rsplit("/", 1)[1], []).append(text[:15])
    assert by_file == {
        "mail.log.2.gz": ["Mar 10 05:50:14", "Mar 10 06:00:44"],
        "mail.log.1": ["Mar 10 07:05:44", "Mar 10 08:15:44"],
    }
    sales = trace.recipients[0]
    assert (trace.status, sales.status, sales.delay) == ("sent", "sent", 8731)
    assert sales.response == "250 OK id=1rjA2b-0001xY-Qe"
    assert sales.ts == utc("2024-03-10T08:15:44")


def test_rotated_d3_root_alias(rotated: Session) -> None:
    trace = by_qid(rotated, "D3E4F5A6B7")
    assert (
        "pickup" in rotated.read_lines(trace.lines)[0]
        and "uid=0 from=<root>" in rotated.read_lines(trace.lines)[0]
    )
    assert statuses(trace) == {"alice@mx2.example.com": "sent"}
    alice = trace.recipients[0]
    assert (alice.orig_address, alice.mailer) == ("root", "local")


def test_rotated_e4_and_0f(rotated: Session) -> None:
    e4 = by_qid(rotated, "E4F5A6B7C8")
    assert (e4.sender, e4.subject) == ("anna@example.net", "Minutes")
    assert statuses(e4) == {"carol@example.com": "sent"}
    f0 = by_qid(rotated, "0F5A6B7C8D")
    assert f0.sender == "bob@example.com"
    texts = "\n".join(rotated.read_lines(f0.lines))
    assert "sasl_username=bob@example.com" in texts and "TLS connection established" not in texts
    assert statuses(f0) == {"anna@example.net": "sent"}
    assert f0.recipients[0].response == "250 2.0.0 Ok: queued as 4TtWk01bQdz9kLm"
    assert {ref.file_id for ref in e4.lines} == {ref.file_id for ref in f0.lines} == {2}


# --- sendmail/maillog ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ns1() -> Session:
    return load_samples("sendmail/maillog")


def test_sendmail_file(ns1: Session) -> None:
    (loaded,) = ns1.files
    assert loaded.lines == 27
    assert all("dovecot" in text for _, text in loaded.examples)  # only the two pop3 lines may be noise
    assert all(t.hops[0].server == "ns1" for t in ns1.traces)
    # queue id scheme: 42B9A1hK030101 = 2024-03-11 09:10:01, pid 30101
    assert by_qid(ns1, "42B9A1hK030101").first_seen == utc("2024-03-11T09:10:01")


def test_s1_msp_to_mta(ns1: Session) -> None:
    trace = by_qid(ns1, "42B9A1hK030101")
    assert [h.queue_id for h in trace.hops] == ["42B9A1hK030101", "42B9A1Gq030102"]
    assert link_set(trace) == {("accepted-for-delivery", "42B9A1hK030101", "42B9A1Gq030102")}
    assert proof(ns1, trace, "accepted-for-delivery") == ("sendmail/maillog", 3)
    assert {h.message_id for h in trace.hops} == {"202403110910.42B9A1hK030101@ns1.example.com"}
    assert [h.sender for h in trace.hops] == ["alice", "alice@ns1.example.com"]
    assert ns1.search("from:alice@ns1.example.com") == [trace]
    assert statuses(trace) == {"bob@example.org": "sent"}
    bob = trace.recipients[0]
    assert (bob.mailer, bob.response) == ("esmtp", "Ok: queued as 4TtXGm3kVbz1Rt7")
    texts = ns1.read_lines(trace.lines)
    assert "STARTTLS=client" not in "\n".join(texts)  # pid 30104 pre-line has no queue id
    assert "relay=alice@localhost" in texts[0]


def test_s1_sender_is_the_qualified_address(ns1: Session) -> None:
    assert by_qid(ns1, "42B9A1hK030101").sender == "alice@ns1.example.com"


def test_s2_inbound_starttls(ns1: Session) -> None:
    trace = by_qid(ns1, "42B9CUAb030150")
    assert trace.sender == "partner@example.net"
    assert statuses(trace) == {"employee@example.com": "sent"}
    assert trace.recipients[0].mailer == "local"
    assert "proto=ESMTPS" in ns1.read_lines(trace.lines)[0]


def test_s3_deferred_deferred_sent(ns1: Session) -> None:
    trace = by_qid(ns1, "42B9K0Tn030200")
    assert trace.sender == "carol@example.com"
    assert "proto=ESMTPA" in ns1.read_lines(trace.lines)[0]
    assert attempts(ns1, trace, "orders@supplier.example") == [
        ("Mar 11 09:20:31", "deferred"),
        ("Mar 11 10:20:13", "deferred"),
        ("Mar 11 11:20:15", "sent"),
    ]
    texts = ns1.read_lines(trace.lines)
    assert "Connection timed out with mx.supplier.example." in texts[1]
    assert "sendmail[30950]" in texts[2] and "451 4.7.1 Greylisted" in texts[2]
    assert "sendmail[31288]" in texts[3]
    orders = trace.recipients[0]
    assert (trace.status, orders.status, orders.delay) == ("sent", "sent", 2 * 3600 + 15)
    assert orders.response == "OK id=1rjb7Q-0007Lm-3F"


def test_s4_multi_recipient_line(ns1: Session) -> None:
    trace = by_qid(ns1, "42B9fALw030377")
    assert trace.sender == "newsletter@news.example"
    assert "class=-60" in ns1.read_lines(trace.lines)[0]
    assert statuses(trace) == {"bob@example.com": "sent", "carol@example.com": "sent"}


def test_s5_bounce_and_dsn(ns1: Session) -> None:
    trace = by_qid(ns1, "42BA5KPe030410")
    assert trace.sender == "erin@example.com"
    assert statuses(trace) == {"nobody@example.org": "bounced"}
    nobody = trace.recipients[0]
    assert (nobody.dsn, nobody.response) == ("5.1.1", "User unknown")
    dsn = by_qid(ns1, "42BA5MPe030412")
    assert trace.children == [dsn.id] and dsn.parent == trace.id
    assert proof(ns1, trace, "dsn") == ("sendmail/maillog", 16)
    assert statuses(dsn) == {"erin@example.com": "sent"}
    assert dsn.recipients[0].mailer == "local"


def test_s6_check_rcpt_reject(ns1: Session) -> None:
    trace = by_qid(ns1, "42BAViRd030490")
    assert (trace.status, trace.sender, trace.client_ip) == ("rejected", None, "203.0.113.66")
    assert statuses(trace) == {"victim@example.net": "rejected"}
    assert trace.recipients[0].response == "550 5.7.1 <victim@example.net>... Relaying denied"
    assert "lost input channel" in ns1.read_lines(trace.lines)[-1]


def test_s7_connection_event_is_not_a_message(ns1: Session) -> None:
    assert not any(h.queue_id == "42BAm3Sc030533" for t in ns1.traces for h in t.hops)
    assert ns1.find("42BAm3Sc030533") == []
    assert 21 not in [line for line, _ in ns1.files[0].examples]  # understood (counted, shown raw)
    assert len(ns1.traces) == 8  # S1-S6, S8 and S5's DSN


def test_s8_anton_style(ns1: Session) -> None:
    trace = by_qid(ns1, "42BB2GKp030610")
    assert trace.sender == "boss@example.com"
    assert trace.message_id == "Pine.LNX.4.64.2403111102150.9921@boss.example.com"
    assert "proto=SMTP," in ns1.read_lines(trace.lines)[0]
    assert statuses(trace) == {"employee@example.com": "sent"}
    assert trace.recipients[0].mailer == "local"
    assert [t.id for t in ns1.search("from:boss@example.com")] == [trace.id]


# --- syslog/ envelopes --------------------------------------------------------------------------------

ENVELOPES = ("rfc5424.log", "iso8601.log", "short-iso.log", "journal.json")
#: The four files hold the same events; each names its own host so that `mailtui samples/` shows them apart.
ENVELOPE_HOSTS = {"rfc5424.log": "mx4", "iso8601.log": "mx3", "short-iso.log": "mx5", "journal.json": "mx6"}


def envelope_summary(session: Session) -> List[tuple]:
    """What must agree between the envelopes (host names differ on purpose: mx3 → HOST)."""
    host = session.traces[0].hops[0].server
    return [
        (
            t.id.replace(host, "HOST"),
            t.status,
            (t.sender or "").replace(host, "HOST"),
            (t.message_id or "").replace(host, "HOST"),
            tuple(sorted(statuses(t).items())),
            int(t.first_seen),
            int(t.last_seen),
        )
        for t in session.traces
    ]


@pytest.fixture(scope="module")
def envelopes() -> Dict[str, Session]:
    return {name: load_samples(f"syslog/{name}") for name in ENVELOPES}


@pytest.mark.parametrize("name", ENVELOPES)
def test_envelope_shows_the_three_messages(envelopes: Dict[str, Session], name: str) -> None:
    session = envelopes[name]
    (loaded,) = session.files
    assert loaded.lines == 19
    host = ENVELOPE_HOSTS[name]
    assert [t.id for t in session.traces] == [f"{host}:6A7B8C9D0E", f"{host}:NOQUEUE:1", f"{host}:7C8D9E0F1A"]
    first = session.traces[0]
    assert int(first.first_seen) == int(utc("2024-03-11T09:00:01+01:00"))
    assert int(session.traces[-1].last_seen) == int(utc("2024-03-11T09:06:32+01:00"))

    inbound = by_qid(session, "6A7B8C9D0E")
    assert (inbound.sender, inbound.message_id) == ("anna@example.net", "CAF1yy01Qa@mail.example.net")
    assert (inbound.client, inbound.client_ip) == ("mail.example.net", "198.51.100.7")
    assert statuses(inbound) == {"bob@example.com": "sent"}
    assert inbound.recipients[0].mailer == "lmtp"

    reject = session.trace(f"{host}:NOQUEUE:1")
    assert (reject.status, reject.sender, reject.client, reject.client_ip) == (
        "rejected",
        "sales@bulk.example",
        "unknown",
        "203.0.113.66",
    )
    assert statuses(reject) == {"victim@example.org": "rejected"}
    assert "Relay access denied" in reject.recipients[0].response
    assert int(reject.first_seen) == int(utc("2024-03-11T09:00:07+01:00"))
    assert 9 not in [line for line, _ in loaded.examples]  # the warning line is understood

    queued = by_qid(session, "7C8D9E0F1A")
    assert queued.sender == f"alice@{host}.example.com" and queued.client == "local (uid 1000)"
    history = attempts(session, queued, "jdoe@example.org")
    assert [status for _, status in history] == ["deferred", "sent"]
    assert "450 4.7.1" in "\n".join(
        session.read_lines(queued.lines)
    ) and "Greylisted for 300 seconds" in "\n".join(session.read_lines(queued.lines))
    jdoe = queued.recipients[0]
    assert (jdoe.status, jdoe.response) == ("sent", "250 2.0.0 Ok: queued as 4TtWq52f0Nz3Dkx")
    assert int(jdoe.ts) == int(utc("2024-03-11T09:06:32+01:00"))


def test_envelopes_agree(envelopes: Dict[str, Session]) -> None:
    summaries = {name: envelope_summary(session) for name, session in envelopes.items()}
    assert summaries["iso8601.log"] == summaries["rfc5424.log"]
    assert summaries["short-iso.log"] == summaries["rfc5424.log"]
    assert summaries["journal.json"] == summaries["rfc5424.log"]
    # the three sub-second envelopes agree to the microsecond; short-iso has whole seconds
    exact = {
        name: [(t.first_seen, t.last_seen, [r.ts for r in t.recipients]) for t in envelopes[name].traces]
        for name in ("rfc5424.log", "iso8601.log", "journal.json")
    }
    assert exact["iso8601.log"] == exact["rfc5424.log"] == exact["journal.json"]
    assert envelopes["rfc5424.log"].traces[0].first_seen == utc("2024-03-11T09:00:01.535456+01:00")
    deferred_at = utc("2024-03-11T09:01:31+01:00")
    for session in envelopes.values():
        queued = by_qid(session, "7C8D9E0F1A")
        assert [int(ts) for ts in _status_times(session, queued)] == [
            int(deferred_at),
            int(utc("2024-03-11T09:06:32+01:00")),
        ]


def _status_times(session: Session, trace: Trace) -> List[float]:
    """Epoch times of the status lines, re-parsed from each envelope's own time field."""
    times = []
    for text in session.read_lines(trace.lines):
        if "status=" not in text:
            continue
        if text.startswith("{"):
            times.append(int(json.loads(text)["__REALTIME_TIMESTAMP"]) / 1e6)
        else:
            stamp = text.split(" ", 2)[1] if text.startswith("<") else text.split(" ", 1)[0]
            times.append(datetime.fromisoformat(re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", stamp)).timestamp())
    return times


def test_envelope_warning_priority() -> None:
    lines = (SAMPLES / "syslog" / "rfc5424.log").read_text(encoding="utf-8").splitlines()
    warning = next(i for i, t in enumerate(lines) if "warning:" in t)
    assert lines[warning].startswith("<20>1 ") and "NOQUEUE: reject" in lines[warning + 2]
    journal = [
        json.loads(t) for t in (SAMPLES / "syslog" / "journal.json").read_text(encoding="utf-8").splitlines()
    ]
    assert journal[warning]["PRIORITY"] == "4"
    assert {e["PRIORITY"] for i, e in enumerate(journal) if i != warning} == {"6"}
    assert {e["_SYSTEMD_UNIT"] for e in journal} == {"postfix@-.service", "dovecot.service"}


# --- syslog/central.log -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def central() -> Session:
    return load_samples("syslog/central.log")


def test_central_file(central: Session) -> None:
    (loaded,) = central.files
    assert (loaded.lines, loaded.unrecognised) == (37, 0)
    assert [t.id for t in central.traces] == [
        "gw:1B2C3D4E5F",
        "sm1:42BD4eMx021040",
        "gw:NOQUEUE:1",
        "gw:2D3E4F5A6B",
        "gw:3E4F5A6B7C",
    ]
    assert central.traces[0].first_seen >= utc("2024-03-11T13:00:00")
    assert central.traces[-1].last_seen <= utc("2024-03-11T13:15:59")


def test_c1_postfix_to_sendmail(central: Session) -> None:
    trace = by_qid(central, "1B2C3D4E5F")
    assert [(h.server, h.mta, h.queue_id) for h in trace.hops] == [
        ("gw", "postfix", "1B2C3D4E5F"),
        ("sm1", "sendmail", "42BD07Ca021001"),
    ]
    assert link_set(trace) == {("accepted-for-delivery", "1B2C3D4E5F", "42BD07Ca021001")}
    assert proof(central, trace, "accepted-for-delivery") == ("syslog/central.log", 7)
    assert (trace.hops[1].client, trace.hops[1].client_ip) == ("gw.example.com", "10.1.0.5")
    assert {h.message_id for h in trace.hops} == {"CAF1cc01Zz9@mail.example.net"}
    assert trace.sender == "anna@example.net"
    assert statuses(trace) == {"bob@example.com": "sent"}
    assert (trace.recipients[0].mailer, trace.recipients[0].final_server) == ("local", "sm1")


def test_c2_sendmail_to_postfix(central: Session) -> None:
    trace = by_qid(central, "42BD4eMx021040")
    assert [(h.server, h.queue_id) for h in trace.hops] == [("sm1", "42BD4eMx021040"), ("out", "5E6F7A8B9C")]
    assert link_set(trace) == {("queued-as", "42BD4eMx021040", "5E6F7A8B9C")}
    assert proof(central, trace, "queued-as") == ("syslog/central.log", 15)
    assert (trace.hops[1].client, trace.hops[1].client_ip) == ("sm1.example.com", "10.1.0.7")
    assert (trace.sender, trace.client, trace.client_ip) == (
        "carol@example.com",
        "ws20.example.com",
        "10.1.0.20",
    )
    assert statuses(trace) == {"partner@example.org": "sent"}
    assert trace.recipients[0].response == "250 2.0.0 Ok: queued as 4TtbRw2mH7z6Jq0"
    assert hop_chain(trace) == "10.1.0.20 -> sm1 (42BD4eMx021040) -> out (5E6F7A8B9C) -> mx.example.org"


def test_c3_rbl_reject(central: Session) -> None:
    trace = central.trace("gw:NOQUEUE:1")
    assert (trace.status, trace.sender) == ("rejected", "noreply@promo.example")
    assert statuses(trace) == {"carol@example.com": "rejected"}
    assert "zen.spamhaus.org" in trace.recipients[0].response


def test_c4_split_recipients_and_ndr(central: Session) -> None:
    trace = by_qid(central, "2D3E4F5A6B")
    assert [(h.server, h.queue_id) for h in trace.hops] == [("gw", "2D3E4F5A6B"), ("sm1", "42BDFWDq021077")]
    assert ("accepted-for-delivery", "2D3E4F5A6B", "42BDFWDq021077") in link_set(trace)
    assert trace.hops[1].nrcpt == 1
    assert set(statuses(trace)) == {"carol@example.com", "nosuch@example.com"}
    carol = rcpt(trace, "carol@example.com")
    assert (carol.status, carol.mailer, carol.final_server) == ("sent", "local", "sm1")
    gw_nosuch = trace.hops[0].recipients["nosuch@example.com"]
    assert (gw_nosuch.status, gw_nosuch.dsn) == ("bounced", "5.1.1")
    assert "550 5.1.1 <nosuch@example.com>... User unknown" in gw_nosuch.response
    assert trace.status == "mixed"
    ndr = by_qid(central, "3E4F5A6B7C")
    assert trace.children == [ndr.id] and ndr.parent == trace.id
    assert proof(central, trace, "ndr") == ("syslog/central.log", 32)
    assert ndr.sender == ""
    assert statuses(ndr) == {"owner-staff@lists.example.net": "sent"}
    assert ndr.recipients[0].relay == "lists.example.net[198.51.100.9]:25"


def test_c4_nosuch_is_bounced_in_the_trace(central: Session) -> None:
    nosuch = rcpt(by_qid(central, "2D3E4F5A6B"), "nosuch@example.com")
    assert (nosuch.status, nosuch.dsn) == ("bounced", "5.1.1")


# --- exchange/ ----------------------------------------------------------------------------------------

EXCHANGE = (
    "exchange/MSGTRK20240311-1.LOG",
    "exchange/MSGTRKMD20240311-1.LOG",
    "exchange/MSGTRKMS20240311-1.LOG",
)


@pytest.fixture(scope="module")
def exchange() -> Session:
    return load_samples(*EXCHANGE)


def test_exchange_files(exchange: Session) -> None:
    for name in EXCHANGE:
        raw = (SAMPLES / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf#Software: Microsoft Exchange Server\r\n")
        assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert [(f.name.rsplit("/", 1)[1], f.format, f.lines, f.unrecognised) for f in exchange.files] == [
        ("MSGTRK20240311-1.LOG", "exchange", 28, 0),
        ("MSGTRKMD20240311-1.LOG", "exchange", 9, 0),
        ("MSGTRKMS20240311-1.LOG", "exchange", 8, 0),
    ]
    assert {t.id: t.status for t in exchange.traces} == {
        "EX01:12884901889": "sent",
        "EX02:3298534883330": "mixed",
        "EX01:12884901892": "sent",
        "EX01:12345678901234": "sent",
        "EX01:12884901893": "sent",
        "EX01:12884901897": "discarded",
    }


def test_exchange_inbound_to_two_mailboxes(exchange: Session) -> None:
    trace = exchange.trace("EX01:12884901889")
    assert [(h.server, h.instance, h.queue_id) for h in trace.hops] == [
        ("EX01", "MSGTRK", "12884901889"),
        ("EX02", "MSGTRKMD", "3298534883329"),
    ]
    assert link_set(trace) == {("exchange-internalid", "12884901889", "3298534883329")}
    assert (trace.client, trace.client_ip) == ("mail.partner.example", "203.0.113.25")
    assert (trace.sender, trace.subject) == ("carol@partner.example", "Quarterly figures Q1")
    assert statuses(trace) == {"alice@corp.example": "sent", "bob@corp.example": "sent"}
    assert {(r.relay, r.final_server) for r in trace.recipients} == {("mailbox", "EX02")}


def test_exchange_outbound_defer_fail_dsn(exchange: Session) -> None:
    trace = exchange.trace("EX02:3298534883330")
    assert [(h.server, h.instance, h.queue_id) for h in trace.hops] == [
        ("EX02", "MSGTRKMS", "3298534883330"),
        ("EX01", "MSGTRK", "12884901891"),
    ]
    assert ("same-message-id", "3298534883330", "12884901891") in link_set(trace)
    assert trace.sender == "frank@corp.example"
    assert trace.subject == 'Re: "Budget, v2" - final numbers, please review'
    assert statuses(trace) == {
        "dave@partner.example": "sent",
        "erin@partner.example": "sent",
        "ghost@corp.example": "bounced",
    }
    assert rcpt(trace, "dave@partner.example").ts == utc(
        "2024-03-11T11:40:09.301"
    )  # after the DEFER and the restart
    assert rcpt(trace, "ghost@corp.example").dsn == "5.1.1"
    dsn = exchange.trace("EX01:12884901892")
    assert trace.children == [dsn.id] and dsn.parent == trace.id
    assert dsn.sender == "" and dsn.subject.startswith("Undeliverable: ")
    assert [h.queue_id for h in dsn.hops] == ["12884901892", "3298534883335"]
    assert statuses(dsn) == {"frank@corp.example": "sent"}


def test_exchange_expand(exchange: Session) -> None:
    trace = exchange.trace("EX01:12884901893")
    assert [h.queue_id for h in trace.hops] == ["12884901893", "3298534883336"]
    assert trace.sender == "bounces+8812@smtp.vendor.example"  # return-path; the From is news@vendor.example
    assert statuses(trace) == {"gina@corp.example": "sent", "hank@corp.example": "sent"}
    assert {r.orig_address for r in trace.recipients} == {"sales@corp.example"}


def test_exchange_transport_rule_drop(exchange: Session) -> None:
    trace = exchange.trace("EX01:12884901897")
    assert len(trace.hops) == 1
    assert (trace.sender, trace.subject) == ("promo@bulk-sender.example", "You have won!!!")
    assert statuses(trace) == {"ivy@corp.example": "discarded"}
    assert trace.recipients[0].reason == "dropped without a DSN"


def test_exchange_r2_receive_alone(exchange: Session) -> None:
    trace = exchange.trace("EX01:12345678901234")
    assert [(h.server, h.instance, h.queue_id) for h in trace.hops] == [
        ("EX01", "MSGTRK", "12345678901234"),
        ("EX02", "MSGTRKMD", "3298534883337"),
    ]
    first = trace.hops[0]
    assert first.first_seen == utc("2024-03-11T10:15:05.210")
    assert (first.client, first.client_ip, first.size) == ("mail2.example.com", "10.0.0.2", 4567)
    assert (trace.sender, trace.subject) == ("carol@example.com", "Budget 2024 draft")
    assert trace.message_id == "20240311.relay-ex@mx1.example.com"
    assert statuses(trace) == {"dave@corp.example": "sent"}
    assert trace.recipients[0].ts == utc("2024-03-11T10:15:06.214")


# --- R2 across MTAs: postfix/relay/ + exchange/ -------------------------------------------------------


def test_r2_cross_mta_trace() -> None:
    session = load_samples("postfix/relay/mx1.log", "postfix/relay/mail2.log", *EXCHANGE)
    trace = by_qid(session, "2C3D4E5F6A")
    assert trace.id == "mx1:2C3D4E5F6A"
    assert [(h.server, h.queue_id) for h in trace.hops] == [
        ("mx1", "2C3D4E5F6A"),
        ("mail2", "8D9E0F1A2B"),
        ("EX01", "12345678901234"),
        ("EX02", "3298534883337"),
    ]
    assert link_set(trace) == {
        ("queued-as", "2C3D4E5F6A", "8D9E0F1A2B"),
        ("exchange-internalid", "8D9E0F1A2B", "12345678901234"),
        ("exchange-internalid", "12345678901234", "3298534883337"),
    }
    links = {(link.source.queue_id, link.target.queue_id): link for link in trace.links}
    assert proof(session, trace, "queued-as") == ("postfix/relay/mx1.log", 17)
    edge = links[("8D9E0F1A2B", "12345678901234")]
    assert (session.files[edge.proof.file_id].name.rsplit("/", 1)[1], edge.proof.line) == ("mail2.log", 14)
    assert {h.message_id for h in trace.hops} == {"20240311.relay-ex@mx1.example.com"}
    ex01 = trace.hops[2]
    assert (ex01.client, ex01.client_ip, ex01.size) == ("mail2.example.com", "10.0.0.2", 4567)
    assert ex01.first_seen == utc("2024-03-11T10:15:05.210")
    assert trace.sender == "carol@example.com"
    assert statuses(trace) == {"dave@corp.example": "sent"}
    dave = trace.recipients[0]
    assert (dave.final_server, dave.relay) == ("EX02", "mailbox")
    assert hop_chain(trace) == (
        "203.0.113.140 -> mx1 (2C3D4E5F6A) -> mail2 (8D9E0F1A2B) -> EX01 (12345678901234) -> EX02 (3298534883337) -> mailbox"
    )
    # every other relay and exchange message keeps its own trace
    assert len(session.traces) == 4 + 6 - 1

"""Postfix lines → transactions → traces: the correlation rules of DESIGN.md, one test each."""

from __future__ import annotations

from conftest import by_qid, load, statuses, texts

from mailtui.export import hop_chain, trace_json

SEED = """
Feb  3 01:01:12 util-ubuntu postfix/smtpd[16325]: connect from unknown[172.20.63.1]
Feb  3 01:01:12 util-ubuntu postfix/smtpd[16325]: 307DF802B3: client=unknown[172.20.63.1]
Feb  3 01:01:12 util-ubuntu postfix/cleanup[16328]: 307DF802B3: message-id=<>
Feb  3 01:01:12 util-ubuntu postfix/qmgr[1482]: 307DF802B3: from=<bob@example.com>, size=446, nrcpt=1 (queue active)
Feb  3 01:01:12 util-ubuntu postfix/smtpd[16325]: disconnect from unknown[172.20.63.1]
Feb  3 01:01:14 util-ubuntu postfix/smtp[16329]: 307DF802B3: to=<billy@evil.example>, relay=mail.evil.example[10.14.168.11]:587, delay=2, delays=0.06/0.07/0.77/1.1, dsn=2.0.0, status=sent (250 ok 1391410861 qp 14129 by xmail01.evil.example)
Feb  3 01:01:14 util-ubuntu postfix/qmgr[1482]: 307DF802B3: removed
"""


def test_seed_trace_has_hop_chain_and_all_seven_lines(logdir):
    session = load(logdir("mail.log", SEED))
    assert len(session.traces) == 1
    trace = session.traces[0]
    assert trace.id == "util-ubuntu:307DF802B3"
    assert trace.sender == "bob@example.com"
    assert trace.message_id is None  # message-id=<> is "none", not an empty string
    assert trace.size == 446
    assert trace.status == "sent"
    rcpt = trace.recipients[0]
    assert (rcpt.address, rcpt.status, rcpt.dsn) == ("billy@evil.example", "sent", "2.0.0")
    assert rcpt.relay == "mail.evil.example[10.14.168.11]:587"
    assert rcpt.delays == "0.06/0.07/0.77/1.1"
    assert hop_chain(trace) == "172.20.63.1 -> util-ubuntu (307DF802B3) -> mail.evil.example"
    assert [ref.line for ref in trace.lines] == [1, 2, 3, 4, 5, 6, 7]
    assert texts(session, trace)[5].endswith("by xmail01.evil.example)")
    assert session.files[0].unrecognised == 0
    data = trace_json(trace, session)
    assert data["first_seen"] == "2024-02-03T01:01:12+00:00"
    assert data["hops"][0]["client_ip"] == "172.20.63.1"


def test_noqueue_reject_is_a_rejected_message_with_its_session(logdir):
    session = load(
        logdir(
            "mail.log",
            """
            Mar 11 09:00:01 mx1 postfix/smtpd[2001]: connect from bad.example.net[203.0.113.9]
            Mar 11 09:00:02 mx1 postfix/smtpd[2001]: NOQUEUE: reject: RCPT from bad.example.net[203.0.113.9]: 554 5.7.1 <x@elsewhere.org>: Relay access denied; from=<spam@bad.example.net> to=<x@elsewhere.org> proto=ESMTP helo=<bad>
            Mar 11 09:00:03 mx1 postfix/smtpd[2001]: disconnect from bad.example.net[203.0.113.9] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4
            """,
        )
    )
    (trace,) = session.traces
    assert trace.status == "rejected"
    assert trace.sender == "spam@bad.example.net"
    assert trace.client_ip == "203.0.113.9"
    assert statuses(trace) == {"x@elsewhere.org": "rejected"}
    assert trace.recipients[0].dsn == "5.7.1"
    assert "Relay access denied" in (trace.recipients[0].response or "")
    assert [ref.line for ref in trace.lines] == [1, 2, 3]


def test_reused_short_queue_id_makes_two_messages(logdir):
    session = load(
        logdir(
            "mail.log",
            """
            Mar 11 09:00:00 mx1 postfix/pickup[100]: 3F2A1B2C3D: uid=1000 from=<alice@example.com>
            Mar 11 09:00:00 mx1 postfix/qmgr[50]: 3F2A1B2C3D: from=<alice@example.com>, size=500, nrcpt=1 (queue active)
            Mar 11 09:00:01 mx1 postfix/local[101]: 3F2A1B2C3D: to=<bob@example.com>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)
            Mar 11 09:00:01 mx1 postfix/qmgr[50]: 3F2A1B2C3D: removed
            Mar 11 15:30:00 mx1 postfix/pickup[100]: 3F2A1B2C3D: uid=1001 from=<carol@example.com>
            Mar 11 15:30:00 mx1 postfix/qmgr[50]: 3F2A1B2C3D: from=<carol@example.com>, size=700, nrcpt=1 (queue active)
            Mar 11 15:30:02 mx1 postfix/local[102]: 3F2A1B2C3D: to=<dave@example.com>, relay=local, delay=2, delays=0/0/0/2, dsn=2.0.0, status=sent (delivered to mailbox)
            Mar 11 15:30:02 mx1 postfix/qmgr[50]: 3F2A1B2C3D: removed
            """,
        )
    )
    first, second = session.traces
    assert (first.id, second.id) == ("mx1:3F2A1B2C3D", "mx1:3F2A1B2C3D:2")
    assert (first.sender, second.sender) == ("alice@example.com", "carol@example.com")
    assert statuses(second) == {"dave@example.com": "sent"}
    assert len(session.find("3F2A1B2C3D")) == 2


AMAVIS = """
Mar 11 10:00:00 mx1 postfix/smtpd[3001]: connect from mail.sender.org[198.51.100.7]
Mar 11 10:00:01 mx1 postfix/smtpd[3001]: 4A1B2C3D4E: client=mail.sender.org[198.51.100.7]
Mar 11 10:00:01 mx1 postfix/cleanup[3002]: 4A1B2C3D4E: message-id=<abc123@sender.org>
Mar 11 10:00:01 mx1 postfix/cleanup[3002]: 4A1B2C3D4E: info: header Subject: Quarterly report, final from mail.sender.org[198.51.100.7]; from=<ann@sender.org> to=<bob@example.com> proto=ESMTP helo=<mail.sender.org>
Mar 11 10:00:01 mx1 postfix/qmgr[50]: 4A1B2C3D4E: from=<ann@sender.org>, size=2048, nrcpt=1 (queue active)
Mar 11 10:00:02 mx1 postfix/smtpd[3001]: disconnect from mail.sender.org[198.51.100.7] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
Mar 11 10:00:03 mx1 postfix/smtpd[3005]: connect from localhost[127.0.0.1]
Mar 11 10:00:03 mx1 postfix/smtpd[3005]: 5B6C7D8E9F: client=localhost[127.0.0.1], orig_queue_id=4A1B2C3D4E, orig_client=mail.sender.org[198.51.100.7]
Mar 11 10:00:03 mx1 postfix/cleanup[3002]: 5B6C7D8E9F: message-id=<abc123@sender.org>
Mar 11 10:00:03 mx1 postfix/qmgr[50]: 5B6C7D8E9F: from=<ann@sender.org>, size=2500, nrcpt=1 (queue active)
Mar 11 10:00:03 mx1 amavis[4000]: (04000-01) Passed CLEAN {RelayedInbound}, [198.51.100.7]:41234 [198.51.100.7] <ann@sender.org> -> <bob@example.com>, Queue-ID: 4A1B2C3D4E, Message-ID: <abc123@sender.org>, mail_id: x1, Hits: -1.2, size: 2048, queued_as: 5B6C7D8E9F, 1500 ms
Mar 11 10:00:03 mx1 postfix/smtp[3006]: 4A1B2C3D4E: to=<bob@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=2.1, delays=0.1/0/0/2, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 5B6C7D8E9F)
Mar 11 10:00:03 mx1 postfix/qmgr[50]: 4A1B2C3D4E: removed
Mar 11 10:00:04 mx1 postfix/lmtp[3007]: 5B6C7D8E9F: to=<bob@example.com>, relay=mail.example.com[private/dovecot-lmtp], delay=0.3, delays=0/0/0/0.3, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.com> Xy12 Saved)
Mar 11 10:00:04 mx1 postfix/qmgr[50]: 5B6C7D8E9F: removed
"""


def test_content_filter_reinjection_is_one_trace_with_two_hops(logdir):
    session = load(logdir("mail.log", AMAVIS))
    trace = by_qid(session, "5B6C7D8E9F")
    assert [hop.queue_id for hop in trace.hops] == ["4A1B2C3D4E", "5B6C7D8E9F"]
    assert len(session.traces) == 1
    assert trace.subject == "Quarterly report, final"
    assert trace.client == "mail.sender.org"
    assert statuses(trace) == {"bob@example.com": "sent"}
    assert trace.recipients[0].relay == "mail.example.com[private/dovecot-lmtp]"  # the final hop's word
    assert {link.kind for link in trace.links} >= {"queued-as", "orig-queue-id", "amavis"}
    assert hop_chain(trace).startswith("198.51.100.7 -> mx1 (4A1B2C3D4E) -> mx1 (5B6C7D8E9F)")


def test_deferred_twice_then_sent_is_sent_and_deferred_alone_stays_deferred(logdir):
    session = load(
        logdir(
            "mail.log",
            """
            Mar 11 08:00:00 mx1 postfix/pickup[100]: 1A2B3C4D5E: uid=0 from=<root@mx1.example.com>
            Mar 11 08:00:00 mx1 postfix/qmgr[50]: 1A2B3C4D5E: from=<root@mx1.example.com>, size=900, nrcpt=1 (queue active)
            Mar 11 08:00:30 mx1 postfix/smtp[200]: 1A2B3C4D5E: to=<ops@far.example>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.far.example[192.0.2.50]:25: Connection timed out)
            Mar 11 08:10:30 mx1 postfix/smtp[201]: 1A2B3C4D5E: to=<ops@far.example>, relay=mx.far.example[192.0.2.50]:25, delay=630, delays=600/0/0.5/0, dsn=4.7.0, status=deferred (host mx.far.example[192.0.2.50] said: 451 4.7.0 Try again later (in reply to RCPT TO command))
            Mar 11 08:40:31 mx1 postfix/smtp[202]: 1A2B3C4D5E: to=<ops@far.example>, relay=mx.far.example[192.0.2.50]:25, delay=2431, delays=2430/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F8E7D6C5B)
            Mar 11 08:40:31 mx1 postfix/qmgr[50]: 1A2B3C4D5E: removed
            Mar 11 09:00:00 mx1 postfix/pickup[100]: 2B3C4D5E6F: uid=0 from=<root@mx1.example.com>
            Mar 11 09:00:00 mx1 postfix/qmgr[50]: 2B3C4D5E6F: from=<root@mx1.example.com>, size=900, nrcpt=1 (queue active)
            Mar 11 09:00:30 mx1 postfix/smtp[203]: 2B3C4D5E6F: to=<ops@down.example>, relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to mx.down.example[192.0.2.60]:25: Connection refused)
            """,
        )
    )
    assert by_qid(session, "1A2B3C4D5E").status == "sent"
    waiting = by_qid(session, "2B3C4D5E6F")
    assert waiting.status == "deferred"
    assert "Connection refused" in (waiting.recipients[0].response or "")


def test_bounce_notification_is_a_child_of_its_cause(logdir):
    session = load(
        logdir(
            "mail.log",
            """
            Mar 11 11:00:00 mx1 postfix/pickup[100]: 6A6B6C6D6E: uid=1000 from=<alice@example.com>
            Mar 11 11:00:00 mx1 postfix/cleanup[101]: 6A6B6C6D6E: message-id=<m1@example.com>
            Mar 11 11:00:00 mx1 postfix/qmgr[50]: 6A6B6C6D6E: from=<alice@example.com>, size=800, nrcpt=2 (queue active)
            Mar 11 11:00:02 mx1 postfix/smtp[300]: 6A6B6C6D6E: to=<nobody@far.example>, relay=mx.far.example[192.0.2.50]:25, delay=2, delays=0/0/1/1, dsn=5.1.1, status=bounced (host mx.far.example[192.0.2.50] said: 550 5.1.1 <nobody@far.example>: Recipient address rejected: User unknown (in reply to RCPT TO command))
            Mar 11 11:00:02 mx1 postfix/smtp[300]: 6A6B6C6D6E: to=<friend@far.example>, relay=mx.far.example[192.0.2.50]:25, delay=2, delays=0/0/1/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 7C7D7E7F70)
            Mar 11 11:00:02 mx1 postfix/cleanup[101]: 7A7B7C7D7E: message-id=<20240311110002.7A7B7C7D7E@mx1.example.com>
            Mar 11 11:00:02 mx1 postfix/bounce[301]: 6A6B6C6D6E: sender non-delivery notification: 7A7B7C7D7E
            Mar 11 11:00:02 mx1 postfix/qmgr[50]: 7A7B7C7D7E: from=<>, size=2400, nrcpt=1 (queue active)
            Mar 11 11:00:02 mx1 postfix/qmgr[50]: 6A6B6C6D6E: removed
            Mar 11 11:00:03 mx1 postfix/local[302]: 7A7B7C7D7E: to=<alice@example.com>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)
            Mar 11 11:00:03 mx1 postfix/qmgr[50]: 7A7B7C7D7E: removed
            """,
        )
    )
    cause = by_qid(session, "6A6B6C6D6E")
    ndr = by_qid(session, "7A7B7C7D7E")
    assert cause.status == "mixed"
    assert statuses(cause) == {"nobody@far.example": "bounced", "friend@far.example": "sent"}
    assert ndr.parent == cause.id and cause.children == [ndr.id]
    assert ndr.sender == ""
    assert ndr is not cause


def test_expired_and_discarded_and_milter_rejected(logdir):
    session = load(
        logdir(
            "mail.log",
            """
            Mar 11 12:00:00 mx1 postfix/qmgr[50]: 8A8B8C8D8E: from=<alice@example.com>, size=800, nrcpt=1 (queue active)
            Mar 11 12:00:00 mx1 postfix/smtp[400]: 8A8B8C8D8E: to=<x@gone.example>, relay=none, delay=432000, delays=431999/0/1/0, dsn=4.4.1, status=deferred (connect to gone.example[192.0.2.9]:25: Connection timed out)
            Mar 11 12:00:01 mx1 postfix/qmgr[50]: 8A8B8C8D8E: from=<alice@example.com>, status=expired, returned to sender
            Mar 11 12:00:01 mx1 postfix/qmgr[50]: 8A8B8C8D8E: removed
            Mar 11 12:01:00 mx1 postfix/smtpd[401]: 9A9B9C9D9E: client=spam.example[203.0.113.66]
            Mar 11 12:01:01 mx1 postfix/cleanup[402]: 9A9B9C9D9E: milter-reject: END-OF-MESSAGE from spam.example[203.0.113.66]: 5.7.1 Spam message rejected; from=<s@spam.example> to=<bob@example.com> proto=ESMTP helo=<spam.example>
            Mar 11 12:02:00 mx1 postfix/qmgr[50]: AAABACADAE: from=<s2@spam.example>, size=5000, nrcpt=1 (queue active)
            Mar 11 12:02:05 mx1 postfix/smtp[403]: AAABACADAE: to=<bob@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=5, delays=0/0/0/5, dsn=2.7.0, status=sent (250 2.7.0 Ok, discarded, id=04000-02 - spam)
            Mar 11 12:02:05 mx1 amavis[4000]: (04000-02) Blocked SPAM {DiscardedInbound,Quarantined}, [203.0.113.67]:5555 [203.0.113.67] <s2@spam.example> -> <bob@example.com>, quarantine: spam-xyz, Queue-ID: AAABACADAE, Message-ID: <z@spam.example>, mail_id: xyz, Hits: 13.8, size: 5000, 900 ms
            """,
        )
    )
    assert by_qid(session, "8A8B8C8D8E").status == "expired"
    milter = by_qid(session, "9A9B9C9D9E")
    assert milter.status == "rejected"
    assert statuses(milter) == {"bob@example.com": "rejected"}
    spam = by_qid(session, "AAABACADAE")
    assert spam.status == "discarded"
    assert spam.recipients[0].reason == "discarded by amavis as SPAM, hits 13.8"


def test_long_queue_ids_and_instances(logdir):
    session = load(
        logdir(
            "mail.log",
            """
            Mar 11 13:00:00 mx1 postfix-out/qmgr[60]: 4BknXY2FBwz9vf1j: from=<a@example.com>, size=100, nrcpt=1 (queue active)
            Mar 11 13:00:01 mx1 postfix-out/smtp[61]: 4BknXY2FBwz9vf1j: to=<b@example.org>, relay=mx.example.org[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)
            Mar 11 13:00:01 mx1 postfix-out/qmgr[60]: 4BknXY2FBwz9vf1j: removed
            """,
        )
    )
    (trace,) = session.traces
    assert trace.hops[0].queue_id == "4BknXY2FBwz9vf1j"
    assert trace.hops[0].instance == "postfix-out"
    assert trace.status == "sent"


MX1 = """
Mar 11 10:15:00 mx1 postfix/smtpd[500]: C1C2C3C4C5: client=ext.example.net[198.51.100.20]
Mar 11 10:15:00 mx1 postfix/cleanup[501]: C1C2C3C4C5: message-id=<relay1@ext.example.net>
Mar 11 10:15:00 mx1 postfix/qmgr[50]: C1C2C3C4C5: from=<erin@ext.example.net>, size=1200, nrcpt=1 (queue active)
Mar 11 10:15:01 mx1 postfix/smtp[502]: C1C2C3C4C5: to=<frank@example.com>, relay=mail2.example.com[10.0.0.2]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as D1D2D3D4D5)
Mar 11 10:15:01 mx1 postfix/qmgr[50]: C1C2C3C4C5: removed
"""
MAIL2 = """
Mar 11 10:15:01 mail2 postfix/smtpd[600]: D1D2D3D4D5: client=mx1.example.com[10.0.0.1]
Mar 11 10:15:01 mail2 postfix/cleanup[601]: D1D2D3D4D5: message-id=<relay1@ext.example.net>
Mar 11 10:15:01 mail2 postfix/qmgr[70]: D1D2D3D4D5: from=<erin@ext.example.net>, size=1500, nrcpt=1 (queue active)
Mar 11 10:15:02 mail2 postfix/local[602]: D1D2D3D4D5: to=<frank@example.com>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)
Mar 11 10:15:02 mail2 postfix/qmgr[70]: D1D2D3D4D5: removed
"""


def test_queued_as_links_two_servers_when_both_logs_are_loaded(logdir):
    session = load(logdir("mx1.log", MX1), logdir("mail2.log", MAIL2))
    (trace,) = session.traces
    assert [(hop.server, hop.queue_id) for hop in trace.hops] == [
        ("mx1", "C1C2C3C4C5"),
        ("mail2", "D1D2D3D4D5"),
    ]
    assert trace.recipients[0].final_server == "mail2"
    assert trace.recipients[0].relay == "local"
    assert trace.links[0].kind == "queued-as"
    assert trace.links[0].proof is not None and trace.links[0].proof.line == 4


def test_queued_as_alone_links_nothing_when_the_next_log_is_missing(logdir):
    session = load(logdir("mx1.log", MX1))
    (trace,) = session.traces
    assert len(trace.hops) == 1 and trace.status == "sent"


def test_same_queue_id_on_an_unrelated_server_is_not_linked(logdir):
    stranger = MAIL2.replace("mail2", "other").replace("mx1.example.com[10.0.0.1]", "x.example[192.0.2.99]")
    stranger = stranger.replace("relay1@ext.example.net", "unrelated@x.example")
    session = load(logdir("mx1.log", MX1), logdir("other.log", stranger))
    assert len(session.traces) == 2
    assert all(len(trace.hops) == 1 for trace in session.traces)


def test_search_json_object_has_contract_keys(logdir):
    session = load(logdir("mail.log", SEED))
    data = trace_json(session.traces[0], session, with_text=True)
    for key in ("id", "message_id", "sender", "subject", "first_seen", "last_seen", "status", "size",
                "recipients", "hops", "parent", "children", "lines"):  # fmt: skip
        assert key in data
    assert set(data["recipients"][0]) >= {
        "address",
        "orig_address",
        "status",
        "final_server",
        "relay",
        "dsn",
        "response",
    }
    assert set(data["hops"][0]) >= {
        "server",
        "mta",
        "instance",
        "queue_id",
        "received_at",
        "client",
        "client_ip",
    }
    assert data["lines"][0] == {
        "file": data["lines"][0]["file"],
        "line": 1,
        "text": SEED.strip().splitlines()[0],
    }


def test_dovecot_saved_lines_join_their_mail_by_message_id(logdir):
    dovecot = (
        "Mar 11 10:00:04 mx1 dovecot: lmtp(bob@example.com)<4021><Xy12>: msgid=<abc123@sender.org>: saved mail to INBOX\n"
        "Mar 11 10:00:05 mx1 dovecot: lmtp(bob@example.com)<4021><Xy13>: msgid=<unknown@x>: saved mail to INBOX\n"
    )
    session = load(logdir("mail.log", AMAVIS.lstrip() + dovecot))
    (trace,) = session.traces
    assert any("saved mail to INBOX" in text for text in texts(session, trace))
    assert session.files[0].unrecognised == 1  # the second one names a mail that is not in the log


def test_before_queue_proxy_gives_the_real_client_to_the_reinjected_mail(logdir):
    session = load(
        logdir(
            "mail.log",
            """
            Nov 16 11:00:10 server postfix/smtpd[28914]: connect from mx139.example.net[103.28.42.139]
            Nov 16 11:00:20 server postfix/smtpd[28944]: connect from localhost.localdomain[127.0.0.1]
            Nov 16 11:00:20 server postfix/smtpd[28944]: A0320E00C3: client=localhost.localdomain[127.0.0.1]
            Nov 16 11:00:20 server postfix/cleanup[28945]: A0320E00C3: message-id=<cm.1@cmail19.com>
            Nov 16 11:00:20 server postfix/qmgr[26163]: A0320E00C3: from=<news@cmail19.com>, size=142646, nrcpt=1 (queue active)
            Nov 16 11:00:20 server postfix/smtpd[28914]: proxy-accept: END-OF-MESSAGE: 250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as A0320E00C3; from=<news@cmail19.com> to=<user@test.com> proto=ESMTP helo=<mx139.example.net>
            Nov 16 11:00:20 server postfix/smtpd[28914]: disconnect from mx139.example.net[103.28.42.139] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5
            """,
        )
    )
    (trace,) = session.traces
    assert (trace.client, trace.client_ip) == ("mx139.example.net", "103.28.42.139")
    assert [ref.line for ref in trace.lines] == [1, 2, 3, 4, 5, 6, 7]
    assert session.files[0].unrecognised == 0


def test_trace_at_finds_the_mail_a_raw_line_belongs_to(logdir):
    session = load(
        logdir("mail.log", SEED.lstrip() + "Mar 11 10:00:00 mx1 kernel: noise\n" + AMAVIS.lstrip())
    )
    by_line = {ref.line: trace.id for trace in session.traces for ref in trace.lines}
    for ref in (r for trace in session.traces for r in trace.lines):
        assert session.trace_at(ref).id == by_line[ref.line]
    from mailtui.model import LineRef

    kernel_offset = len(SEED.lstrip().encode())
    assert session.trace_at(LineRef(0, 8, kernel_offset)) is None
    assert session.trace_at(LineRef(5, 1, 0)) is None


def test_trace_at_finds_a_line_by_the_ids_it_names_without_indexing_every_line(logdir):
    """Enter on a raw line of a 1 GB log must not sort millions of line references first: a line
    naming a queue id or Message-ID is found through the search index; only a line naming none
    (an smtpd `connect from`) needs the full line index."""
    session = load(logdir("mail.log", SEED.lstrip() + AMAVIS.lstrip()))
    texts = {}
    for trace in session.traces:
        for ref, text in zip(trace.lines, session.read_lines(trace.lines)):
            texts[ref] = (trace.id, text)
    named = [
        (ref, owner) for ref, (owner, text) in texts.items() if ": " in text and "connect from" not in text
    ]
    assert len(named) > 10
    for ref, owner in named:
        assert session.trace_at(ref).id == owner
    assert session._line_index is None
    connect = next(ref for ref, (_, text) in texts.items() if "]: connect from" in text)
    assert session.trace_at(connect).id == texts[connect][0]
    assert session._line_index is not None


_ONE_MAIL = [
    "Mar 11 10:00:0{n} {host} {instance}/smtpd[1{n}]: ABCDEF1234: client=c{n}.example[192.0.2.{n}]",
    "Mar 11 10:00:1{n} {host} {instance}/cleanup[2{n}]: ABCDEF1234: message-id=<m{n}@example>",
    "Mar 11 10:00:2{n} {host} {instance}/qmgr[3{n}]: ABCDEF1234: from=<s{n}@example>, size=1, nrcpt=1",
    "Mar 11 10:00:3{n} {host} {instance}/lmtp[4{n}]: ABCDEF1234: to=<r{n}@example.com>, "
    "relay={host}[private/dovecot-lmtp], delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 ok)",
    "Mar 11 10:00:4{n} {host} {instance}/qmgr[3{n}]: ABCDEF1234: removed",
]
_SAVED = (
    "Mar 11 10:00:5{n} {host} dovecot: lmtp(r2@example.com)<9><x>: msgid=<m2@example>: saved mail to INBOX"
)


def test_one_queue_id_on_three_hosts_and_instances_at_once_stays_three_mails(logdir):
    """Tables keyed by queue id (and Message-ID) keep each host's and instance's own transaction."""
    mails = {1: ("mx1", "postfix"), 2: ("mx2", "postfix"), 3: ("mx1", "postfix-out")}
    lines = [
        (n, line.format(n=n, host=host, instance=instance))
        for n, (host, instance) in mails.items()
        for line in _ONE_MAIL
    ]
    lines.append((2, _SAVED.format(n=1, host="mx2")))  # mx2's Dovecot saved mx2's mail
    lines.append((0, _SAVED.format(n=2, host="mx1")))  # mx1's names a Message-ID only mx2 has
    lines.sort(key=lambda numbered: numbered[1][:15])  # interleaved by time, as in a central log
    session = load(logdir("central.log", "\n".join(text for _, text in lines) + "\n"))
    assert len(session.traces) == 3
    for trace in session.traces:
        (hop,) = trace.hops
        n = next(n for n, where in mails.items() if where == (hop.server, hop.instance))
        assert (hop.sender, hop.client, [r.address for r in trace.recipients]) == (
            f"s{n}@example",
            f"c{n}.example",
            [f"r{n}@example.com"],
        )
        assert texts(session, trace) == [text for number, text in lines if number == n]
    assert session.files[0].unrecognised == 1

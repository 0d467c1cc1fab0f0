"""Sendmail lines → traces: the seeds' examples, DSN children, hop links, rejects."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, by_qid, load, statuses

from mailtui.export import hop_chain

BOOK = """
Feb 20 14:03:13 mail sendmail[14274]: s1KJ39AQ014274: from=<billy@evil.example>, size=7779, class=-30, nrcpts=1, msgid=<COL0-MC3-F3967350980D9E82EBFC23CF9A0@phx.gbl>, proto=ESMTP, daemon=MTA, relay=mail.evil.example [10.14.168.11]
 Feb 20 14:03:16 mail sendmail[14276]: s1KJ39AQ014274: to=<bob@example.com>, delay=00:00:04, xdelay=00:00:03, mailer=local, pri=91965, dsn=2.0.0, stat=Sent
"""
ANTON = """
Jan 11 11:45:49 ns1 sendmail[28022]: j0BGjkc28022: from=boss@example.com, size=376597, class=0, nrcpts=1, msgid=Pine.LNX.4.61.0501111145450.17081@boss.example.com, proto=SMTP, daemon=MTA, relay=esafe1.example.com[10.211.15.69] (may be forged)
Jan 11 11:46:00 ns1 sendmail[28025]: j0BGjkc28022: to=employee@example.com, delay=00:00:14, xdelay=00:00:11, mailer=local, pri=405901, dsn=2.0.0, stat=Sent
"""


def test_book_example_with_leading_space_as_printed(logdir):
    session = load(logdir("maillog", BOOK))
    (trace,) = session.traces
    assert trace.message_id == "COL0-MC3-F3967350980D9E82EBFC23CF9A0@phx.gbl"
    assert trace.sender == "billy@evil.example"
    assert trace.client == "mail.evil.example" and trace.client_ip == "10.14.168.11"
    assert statuses(trace) == {"bob@example.com": "sent"}
    assert trace.recipients[0].relay == "local"
    assert trace.recipients[0].delay == 4.0
    assert session.files[0].unrecognised == 0


def test_anton_boss_mail_without_angle_brackets(logdir):
    session = load(logdir("maillog", ANTON))
    (trace,) = session.search("from:boss@example.com")
    assert trace.hops[0].queue_id == "j0BGjkc28022"
    assert trace.client_ip == "10.211.15.69" and trace.client == "esafe1.example.com"
    assert statuses(trace) == {"employee@example.com": "sent"}
    assert trace.recipients[0].mailer == "local"
    assert trace.message_id == "Pine.LNX.4.61.0501111145450.17081@boss.example.com"
    assert hop_chain(trace) == "10.211.15.69 -> ns1 (j0BGjkc28022) -> local"


def test_msp_to_mta_accepted_for_delivery_is_one_trace(logdir):
    session = load(
        logdir(
            "maillog",
            """
            Mar 11 09:00:00 ns1 sendmail[1000]: p2B900a0001000: from=alice, size=300, class=0, nrcpts=1, msgid=<p2B900a0001000@ns1.example.com>, relay=alice@localhost
            Mar 11 09:00:00 ns1 sendmail[1000]: p2B900a0001000: to=bob@example.org, ctladdr=alice (1000/1000), delay=00:00:00, xdelay=00:00:00, mailer=relay, pri=30300, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent (p2B900b0001001 Message accepted for delivery)
            Mar 11 09:00:00 ns1 sm-mta[1001]: p2B900b0001001: from=<alice@ns1.example.com>, size=600, class=0, nrcpts=1, msgid=<p2B900a0001000@ns1.example.com>, proto=ESMTP, daemon=MTA-v4, relay=localhost [127.0.0.1]
            Mar 11 09:00:02 ns1 sm-mta[1002]: p2B900b0001001: to=<bob@example.org>, delay=00:00:02, xdelay=00:00:02, mailer=esmtp, pri=120600, relay=mx.example.org. [192.0.2.25], dsn=2.0.0, stat=Sent (OK id=1rABCD-0001)
            """,
        )
    )
    (trace,) = session.traces
    assert [hop.queue_id for hop in trace.hops] == ["p2B900a0001000", "p2B900b0001001"]
    assert trace.links[0].kind == "accepted-for-delivery"
    assert trace.recipients[0].relay == "mx.example.org[192.0.2.25]"
    assert trace.status == "sent"


def test_dsn_child_and_multi_recipient_and_deferred_then_sent(logdir):
    session = load(
        logdir(
            "maillog",
            """
            Apr  2 00:15:25 mta001 sendmail[32300]: u31FFPtp032300: from=<grandeur@example.net>, size=5938, class=0, nrcpts=3, msgid=<201604011515.u31FFIAj012911@example.net>, proto=ESMTP, daemon=MTA, relay=[64.233.187.27]
            Apr  2 00:15:25 mta001 sendmail[32302]: u31FFPtp032300: to=<sent1@example.com>,<sent2@example.com>, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=245938, relay=[93.184.216.34] [93.184.216.34], dsn=2.0.0, stat=Sent (ok:  Message 40279894 accepted)
            Apr  2 00:15:25 mta001 sendmail[12566]: u31FFPtp032300: to=<later@example.com>, delay=00:00:15, xdelay=00:00:15, mailer=esmtp, pri=34527, relay=[93.184.216.34] [93.184.216.34], dsn=4.3.5, stat=Deferred: 451 4.3.5 Server configuration problem
            Apr  3 00:15:40 mta001 sendmail[12570]: u31FFPtp032300: to=<later@example.com>, delay=1+00:00:15, xdelay=00:00:01, mailer=esmtp, pri=124527, relay=[93.184.216.34] [93.184.216.34], dsn=2.0.0, stat=Sent (ok)
            May 20 04:07:00 mta001 sendmail[28494]: j4K970hV028494: from=<x@example.com>, size=100, class=0, nrcpts=1, msgid=<q@example.com>, proto=ESMTP, daemon=MTA, relay=[192.0.2.1]
            May 20 04:07:05 mta001 sendmail[28499]: j4K970hV028494: to=<nobody@example.edu>, delay=00:00:05, xdelay=00:00:05, mailer=esmtp, pri=30100, relay=mx.example.edu. [192.0.2.2], dsn=5.1.1, stat=User unknown
            May 20 04:07:05 mta001 sendmail[28499]: j4K970hV028494: j4K975hV028499: DSN: User unknown
            May 20 04:07:05 mta001 sendmail[28499]: j4K975hV028499: to=<x@example.com>, delay=00:00:00, xdelay=00:00:00, mailer=local, pri=30000, dsn=2.0.0, stat=Sent
            """,
        )
    )
    multi = by_qid(session, "u31FFPtp032300")
    assert statuses(multi) == {
        "sent1@example.com": "sent",
        "sent2@example.com": "sent",
        "later@example.com": "sent",
    }
    assert multi.recipients[2].delay == 86415.0
    parent = by_qid(session, "j4K970hV028494")
    child = by_qid(session, "j4K975hV028499")
    assert parent.status == "bounced"
    assert child.parent == parent.id and parent.children == [child.id]


def test_ruleset_reject_without_queue_is_a_rejected_message(logdir):
    session = load(
        logdir(
            "maillog",
            """
            Mar 11 09:10:00 ns1 sm-mta[2000]: NOQUEUE: ruleset=check_rcpt, arg1=<victim@other.example>, relay=spam.example [203.0.113.5], reject=550 5.7.1 <victim@other.example>... Relaying denied
            Mar 11 09:11:00 ns1 sm-mta[2001]: p2B9B0xx002001: ruleset=check_rcpt, arg1=<v2@other.example>, relay=spam.example [203.0.113.5], reject=550 5.7.1 <v2@other.example>... Relaying denied
            Mar 11 09:11:01 ns1 sm-mta[2001]: p2B9B0xx002001: from=<s@spam.example>, size=0, class=0, nrcpts=0, proto=SMTP, daemon=MTA, relay=spam.example [203.0.113.5]
            """,
        )
    )
    first, second = session.traces
    assert first.status == "rejected" and first.client_ip == "203.0.113.5"
    assert statuses(first) == {"victim@other.example": "rejected"}
    assert second.status == "rejected" and second.sender == "s@spam.example"
    assert statuses(second) == {"v2@other.example": "rejected"}


def test_generated_sendmail_log_keeps_each_queue_file_in_one_hop(tmp_path):
    """Daemons logging as sm-mta and as sendmail (bench/generate.py writes both): a queue id's
    `from=`, `to=` and retry lines stay one hop, whatever tag wrote them."""
    out = tmp_path / "maillog"
    generate = [sys.executable, str(ROOT / "bench" / "generate.py"), "--size", "300K", "--out", str(out)]
    subprocess.run([*generate, "--format", "sendmail", "--seed", "8"], check=True, stdout=subprocess.DEVNULL)
    session = load(out)
    hops = [hop for trace in session.traces for hop in trace.hops]
    assert {hop.instance for hop in hops} >= {"sm-mta", "sendmail"}
    assert len({hop.queue_id for hop in hops}) == len(hops)  # no queue id split in two
    delivered = [
        hop for hop in hops if hop.sender is not None and hop.recipient_list() and hop.status != "rejected"
    ]
    assert len(delivered) > 100 and all(len(hop.lines) >= 2 for hop in delivered)

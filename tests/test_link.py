"""Linking: the lean records it makes, and incremental linking (follow mode) against full builds."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import timezone
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import pytest

from mailtui.follow import Follower, signature
from mailtui.link import build_traces, merge_recipients
from mailtui.model import LineList, LineRef, LinkClaim, Recipient, Trace, Transaction
from mailtui.session import Loader, open_logs

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


def full_state(traces: Sequence[Trace]) -> List[tuple]:
    """Everything a trace shows, by value (transactions by their seq)."""
    return [
        (
            t.id,
            t.status,
            t.reason,
            t.parent,
            list(t.children),
            [hop.seq for hop in t.hops],
            [(link.kind, link.source.seq, link.target.seq, link.proof) for link in t.links],
            [(rcpt.to_json(), rcpt.ts) for rcpt in t.recipients],
        )
        for t in traces
    ]


# ----------------------------------------------------------------------------------- records


def test_line_list_behaves_like_a_list_of_line_refs() -> None:
    refs = [LineRef(3, 7, 1 << 33), LineRef(0, 1, 0), LineRef(65535, 4_000_000_000, 12)]
    lines = LineList(refs[:2])
    lines.append(refs[2])
    assert list(lines) == refs and len(lines) == 3
    assert lines[0] == refs[0] and lines[-1] == refs[2] and lines[1:] == refs[1:]
    assert refs[1] in lines and LineRef(0, 1, 1) not in lines and "x" not in lines
    lines.prepend([LineRef(1, 2, 3)])
    assert lines[0] == LineRef(1, 2, 3) and len(lines) == 4
    copy = LineList()
    copy.extend(lines)
    assert list(copy) == list(lines)
    with pytest.raises(IndexError):
        lines[4]
    walk = iter(lines)
    next(walk)
    lines.append(LineRef(0, 9, 9))  # a suspended iterator does not pin the buffer


def test_a_match_across_two_packed_lines_is_not_a_line() -> None:
    # Bytes of one record's line number and the next record's offset can spell a third record.
    lines = LineList([LineRef(0, 0x01000000, 0), LineRef(0, 5, 0)])
    assert LineRef(0, 5, 0) in lines and LineRef(1, 0, 0) not in lines


def test_recipients_view_is_a_dict_of_the_transaction() -> None:
    tx = Transaction("postfix", "mx1", "postfix", "ABCDEF1234", 0.0, None, 0)
    assert tx.recipients == {} and not tx.recipients and len(tx.recipients) == 0
    first = tx.recipient("a@x.example")
    assert tx.recipient("a@x.example", "alias@x.example") is first and first.orig_address == "alias@x.example"
    assert list(tx.recipients) == ["a@x.example"] and tx.recipients["a@x.example"] is first
    second = tx.recipient("b@x.example")
    assert tx.recipients.values() == [first, second] and tx.recipient_list() == [first, second]
    del tx.recipients["a@x.example"]
    assert dict(tx.recipients) == {"b@x.example": second} and "a@x.example" not in tx.recipients
    other = Transaction("postfix", "mx1", "postfix", "ABCDEF1235", 0.0, None, 1)
    other.recipients.update(tx.recipients)
    other.recipients["c@x.example"] = Recipient("c@x.example")
    assert list(other.recipients) == ["b@x.example", "c@x.example"]
    assert other.recipients.get("nobody") is None


def test_claims_pack_and_unpack() -> None:
    tx = Transaction("postfix", "mx1", "postfix", "ABCDEF1234", 0.0, None, 0)
    mine = LineRef(0, 12, 5000)
    elsewhere = LineRef(2, 3, 40)  # a proof line that is not the transaction's own
    tx.touch(1.0, mine)
    claims = [
        LinkClaim("queued-as", "B1", "127.0.0.1", 1.0, mine),
        LinkClaim("dsn", "C2", "", 2.0, elsewhere),
    ]
    tx.claims.extend(claims)
    tx.seal()
    assert tx._claims.__class__ is tuple
    assert tx.claims == claims
    tx.claims.append(LinkClaim("ndr", "D3", "", 3.0, mine))  # unpacked again to take more
    assert [claim.target_id for claim in tx.claims] == ["B1", "C2", "D3"]


def test_a_lone_hop_shares_its_recipients_when_merging_changes_nothing() -> None:
    tx = Transaction("postfix", "mx1", "postfix", "ABCDEF1234", 0.0, None, 0)
    sent = tx.recipient("a@x.example")
    sent.status = "sent"
    waiting = tx.recipient("b@x.example")
    [trace] = build_traces([tx])
    assert trace.recipients[0] is sent and trace.recipients[1] is waiting
    tx.status, tx.reason = "rejected", "no"  # now the hop's fate is the waiting recipient's
    [trace] = build_traces([tx])
    assert trace.recipients[0] is sent
    assert trace.recipients[1] is not waiting and trace.recipients[1].status == "rejected"
    assert waiting.status == "in-queue" and waiting.reason is None  # the hop's record is untouched


def test_merging_copies_only_what_it_changes() -> None:
    first = Transaction("postfix", "mx1", "postfix", "AAAAAA0001", 0.0, None, 0)
    second = Transaction("postfix", "mx1", "postfix", "AAAAAA0002", 1.0, None, 1)
    a1 = first.recipient("a@x.example")
    a1.status, a1.relay = "sent", "127.0.0.1[127.0.0.1]:10024"
    a2 = second.recipient("A@x.example")
    a2.status, a2.relay = "sent", "mx.x.example[192.0.2.1]:25"
    b2 = second.recipient("b@x.example")
    b2.status = "deferred"
    merged = merge_recipients([first, second])
    assert merged[1] is b2  # named by the last hop only
    assert merged[0] is not a1 and merged[0] is not a2  # the first hop's address, the last hop's fate
    assert (merged[0].address, merged[0].relay) == ("a@x.example", "mx.x.example[192.0.2.1]:25")
    assert a1.relay == "127.0.0.1[127.0.0.1]:10024"
    a2.address = "a@x.example"
    assert merge_recipients([first, second])[0] is a2  # field for field the last hop's word


def test_links_and_children_read_as_before() -> None:
    session = open_logs([str(SAMPLES / "postfix" / "mail.log")])
    with_links = [t for t in session.traces if t.links]
    assert with_links and all(
        link.proof is None or link.proof.line > 0 for t in with_links for link in t.links
    )
    parents = [t for t in session.traces if t.children]
    assert parents and all(session.trace(child).parent == t.id for t in parents for child in t.children)
    assert all(
        t.children == () and t.links == () for t in session.traces if len(t.hops) == 1 and not t.children
    )


# ------------------------------------------------------------------------- following = full build


def generated(tmp_path: Path, fmt: str, seed: int) -> List[str]:
    out = tmp_path / f"generated-{fmt}-{seed}.log"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "generate.py"), "--size", "300K", "--out", str(out),
         "--seed", str(seed), "--format", fmt, "--rate", "3"],
        check=True, capture_output=True,
    )  # fmt: skip
    return out.read_text(encoding="utf-8").splitlines()


def _logs(tmp_path: Path, name: str) -> List[List[str]]:
    """The lines of each file to follow, by scenario."""
    if name == "relay":  # two hosts: claims name transactions of the other log
        return [
            (SAMPLES / "postfix" / "relay" / f).read_text().splitlines() for f in ("mx1.log", "mail2.log")
        ]
    if name == "samples":
        return [(SAMPLES / "postfix" / "mail.log").read_text().splitlines()]
    lines = generated(tmp_path, "mixed", 5)
    if name == "generated":
        return [lines]
    # One log dealt into two files read in any order: targets before claims, earlier lines later.
    return [lines[0::2], lines[1::2]]


@pytest.mark.parametrize("name", ["samples", "relay", "generated", "split"])
def test_following_links_what_a_full_build_would(tmp_path: Path, name: str) -> None:
    rng = random.Random(name)
    logs = _logs(tmp_path, name)
    paths = [tmp_path / f"log{number}.log" for number in range(len(logs))]
    cut = [min(len(lines), rng.randint(0, 40)) for lines in logs]
    for path, lines, at in zip(paths, logs, cut):
        path.write_text("".join(line + "\n" for line in lines[:at]))
    loader = Loader([str(p) for p in paths], year=2024, local_tz=timezone.utc)
    follower = Follower(loader, loader.run())
    polls = 0
    while any(at < len(lines) for at, lines in zip(cut, logs)):
        number = rng.choice([n for n in range(len(logs)) if cut[n] < len(logs[n])])
        step = rng.choice((1, 1, 2, 5, 20, 60))
        chunk = logs[number][cut[number] : cut[number] + step]
        cut[number] += len(chunk)
        before: Dict[str, tuple] = {t.id: signature(t) for t in follower.session.traces}
        known = dict(follower._ids)
        with open(paths[number], "a", encoding="utf-8") as handle:
            handle.write("".join(line + "\n" for line in chunk))
        follower._next_build = 0.0  # no throttling here: every poll relinks
        new = follower.poll()
        assert new is not None
        polls += 1
        expected = full_build(loader.correlator.transactions(), known)
        assert full_state(new.traces) == full_state(expected), f"poll {polls}"
        assert known == follower._ids
        after = {t.id: signature(t) for t in new.traces}
        assert follower.changed == {tid for tid, sig in after.items() if before.get(tid) != sig}
        assert follower.removed == set(before) - set(after)
    assert polls > 3
    if name != "split":  # (there, the correlator sees the lines in another order)
        everything = Loader([str(p) for p in paths], year=2024, local_tz=timezone.utc).run()
        assert full_state_no_ids(follower.session.traces) == full_state_no_ids(everything.traces)


def full_build(transactions: List[Transaction], known: Dict[int, str]) -> List[Trace]:
    """build_traces, leaving the transactions' marks as the follower's linker set them (a build
    between two polls would make the next poll relink everything: right, but not what is tested)."""
    marks = [tx._linked for tx in transactions]
    traces = build_traces(transactions, known)
    for tx, mark in zip(transactions, marks):
        tx._linked = mark
    return traces


def full_state_no_ids(traces: Sequence[Trace]) -> List[Tuple[object, ...]]:
    """What a one-shot load of the same files shows (ids aside: following keeps old ids)."""
    return sorted(
        (t.status, str(t.reason), len(t.hops), tuple((r.address, r.status) for r in t.recipients))
        for t in traces
    )


def test_a_full_build_between_two_polls_is_seen_as_a_change(tmp_path: Path) -> None:
    log = tmp_path / "mail.log"
    lines = [
        "Mar 11 10:00:01 mx1 postfix/smtpd[2001]: A1A1A1A1A1: client=mail.example.net[198.51.100.7]",
        "Mar 11 10:00:02 mx1 postfix/qmgr[812]: A1A1A1A1A1: from=<a@example.net>, size=10, nrcpt=1 (queue active)",
        "Mar 11 10:00:03 mx1 postfix/smtp[2003]: A1A1A1A1A1: to=<b@example.org>, relay=none, delay=1, "
        "delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.example.org: Connection timed out)",
    ]
    log.write_text(lines[0] + "\n")
    loader = Loader([str(log)], year=2024, local_tz=timezone.utc)
    follower = Follower(loader, loader.run())
    for line in lines[1:]:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        assert follower._poll_path(follower._paths[0]) == 1  # the line is read and correlated,
        loader.session()  # a full build marks every transaction linked as it is now,
        follower._build()  # and the follower's linker must still see the line
    [trace] = follower.session.traces
    assert trace.status == "deferred" and follower.changed == {"mx1:A1A1A1A1A1"}

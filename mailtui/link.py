"""Join transactions into traces: resolve each claimed link, then merge the hops of one mail.

A wrong link between two messages is worse than no link, so every claim must find exactly the
transaction it names: the same queue id, on the server the claim points at (this host for
loopback relays and bounces; the relay's host otherwise, or a host whose own log shows it received
the mail from us, or one that logged the same Message-ID), close in time. Message-ID alone joins
hops only across different servers (the same id twice on one server is two submissions).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from mailtui.model import CHILD_LINKS, HOP_LINKS, MIXED, Link, LinkClaim, Recipient, Trace, Transaction

#: How far (seconds) a claimed transaction's first line may be from the claiming line.
_WINDOWS: Dict[str, Tuple[float, float]] = {
    "queued-as": (-1800.0, 900.0),
    "accepted-for-delivery": (-1800.0, 900.0),
    "exchange-internalid": (-86400.0, 86400.0),
    "forwarded-as": (-600.0, 600.0),
    "clone": (-600.0, 600.0),
    "amavis": (-900.0, 900.0),
    "ndr": (-600.0, 600.0),
    "dsn": (-600.0, 600.0),
    "orig-queue-id": (-86400.0 * 5, 60.0),
}
#: Hops sharing a Message-ID across servers must be this close.
SAME_MESSAGE_ID_SECONDS = 2 * 86400.0
#: A Message-ID on more transactions than this is not trusted as a key (broken clients reuse one).
_MESSAGE_ID_GROUP_LIMIT = 50
_LOOPBACK = ("", "localhost", "localhost.localdomain", "::1")


def is_loopback(host: str) -> bool:
    """True when a relay points back at the same machine (content filters, MSP → MTA)."""
    host = host.lower()
    return host in _LOOPBACK or host.startswith("127.")


def same_host(a: Optional[str], b: Optional[str]) -> bool:
    """Do two host names name the same machine? `mx1` ~ `mx1.example.com`; two FQDNs must be equal."""
    if not a or not b:
        return False
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if a == b:
        return True
    if "." in a and "." in b:
        return False
    return a.split(".", 1)[0] == b.split(".", 1)[0]


class _Index:
    """Transactions by (server, queue id), by queue id, and by Message-ID."""

    def __init__(self, transactions: Sequence[Transaction]) -> None:
        self.by_server_qid: Dict[Tuple[str, str], List[Transaction]] = defaultdict(list)
        self.by_qid: Dict[str, List[Transaction]] = defaultdict(list)
        for tx in transactions:
            if tx.queue_id != "NOQUEUE":
                self.by_server_qid[(tx.server, tx.queue_id)].append(tx)
                self.by_qid[tx.queue_id].append(tx)


def _plausible_remote(source: Transaction, claim: LinkClaim, target: Transaction) -> bool:
    """Evidence that `target`, on another log, is where `source` handed this mail."""
    if claim.kind == "exchange-internalid":
        return target.mta == "exchange" and same_host(target.server, claim.target_host)
    if same_host(target.server, claim.target_host):
        return True
    if target.client and same_host(target.client, source.server):
        return True
    if source.message_id and target.message_id == source.message_id:
        return True
    return target.orig_queue_id == source.queue_id and target.server == source.server


def _resolve(source: Transaction, claim: LinkClaim, index: _Index) -> Optional[Transaction]:
    """The one transaction a claim names, or None when none (or no trustworthy one) is loaded."""
    low, high = _WINDOWS.get(claim.kind, (-600.0, 600.0))
    if claim.kind == "orig-queue-id":
        anchor = source.first_seen
    else:
        anchor = claim.ts
    if is_loopback(claim.target_host) and claim.kind != "exchange-internalid":
        candidates: Iterable[Transaction] = index.by_server_qid.get((source.server, claim.target_id), [])
        check: Callable[[Transaction], bool] = lambda tx: True  # noqa: E731 - same host, same id
    else:
        candidates = index.by_qid.get(claim.target_id, [])
        check = lambda tx: _plausible_remote(source, claim, tx)  # noqa: E731
    best: Optional[Transaction] = None
    best_gap = 0.0
    for tx in candidates:
        if tx is source:
            continue
        gap = tx.first_seen - anchor
        if not low <= gap <= high or not check(tx):
            continue
        if best is None or abs(gap) < best_gap:
            best, best_gap = tx, abs(gap)
    return best


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True


def _message_id_links(transactions: Sequence[Transaction], uf: _UnionFind, pos: Dict[int, int]) -> List[Link]:
    """Hops of one mail on different servers whose only common word is the Message-ID."""
    links: List[Link] = []
    for attr, kind in (("message_id", "same-message-id"), ("network_message_id", "same-network-message-id")):
        groups: Dict[str, List[Transaction]] = defaultdict(list)
        for tx in transactions:
            key = getattr(tx, attr)
            if key:
                groups[key].append(tx)
        for group in groups.values():
            if len(group) < 2 or len(group) > _MESSAGE_ID_GROUP_LIMIT:
                continue
            group.sort(key=lambda tx: (tx.first_seen, tx.seq))
            for earlier, later in zip(group, group[1:]):
                if earlier.server == later.server:
                    continue
                if later.first_seen - earlier.last_seen > SAME_MESSAGE_ID_SECONDS:
                    continue
                if uf.union(pos[id(earlier)], pos[id(later)]):
                    links.append(Link(kind, earlier, later, None))
    return links


def _order_hops(hops: List[Transaction], links: List[Link]) -> List[Transaction]:
    """Hop order: follow the links (sender before receiver), time breaking ties."""
    if len(hops) == 1:
        return hops
    edges: Dict[int, List[Transaction]] = defaultdict(list)
    indegree: Dict[int, int] = {id(tx): 0 for tx in hops}
    for link in links:
        first, then = link.source, link.target
        if link.kind == "orig-queue-id":
            first, then = then, first
        edges[id(first)].append(then)
        indegree[id(then)] += 1
    heap = [(tx.first_seen, tx.seq, tx) for tx in hops if indegree[id(tx)] == 0]
    heapq.heapify(heap)
    ordered: List[Transaction] = []
    seen = set()
    while heap:
        _, _, tx = heapq.heappop(heap)
        if id(tx) in seen:
            continue
        seen.add(id(tx))
        ordered.append(tx)
        for nxt in edges[id(tx)]:
            indegree[id(nxt)] -= 1
            if indegree[id(nxt)] <= 0:
                heapq.heappush(heap, (nxt.first_seen, nxt.seq, nxt))
    rest = sorted((tx for tx in hops if id(tx) not in seen), key=lambda tx: (tx.first_seen, tx.seq))
    return ordered + rest


def merge_recipients(hops: Sequence[Transaction]) -> List[Recipient]:
    """Each recipient's fate across the hops: a later hop's word overrides an earlier one."""
    merged: Dict[str, Recipient] = {}
    order: List[Recipient] = []
    for hop in hops:
        for rcpt in hop.recipients.values():
            status = rcpt.status
            if status == "in-queue" and hop.status in ("rejected", "discarded", "expired", "bounced"):
                status = hop.status
            existing = merged.get(rcpt.address.lower())
            if existing is None and rcpt.orig_address:
                existing = merged.get(rcpt.orig_address.lower())
            if existing is None:
                copy = rcpt.copy()
                copy.status = status
                if copy.status == hop.status and not copy.reason:
                    copy.reason = hop.reason
                merged[rcpt.address.lower()] = copy
                order.append(copy)
                continue
            if existing.status not in ("sent", "in-queue"):
                # The earlier hop never handed this recipient over (bounced, expired...): what the
                # next hop logged is the other side of that refusal, not a later fate.
                continue
            for name in ("dsn", "response", "relay", "final_server", "ts", "delay", "delays", "mailer"):
                setattr(existing, name, getattr(rcpt, name))
            existing.status = status
            existing.reason = rcpt.reason or existing.reason
            merged.setdefault(rcpt.address.lower(), existing)
    return order


def _trace_status(trace: Trace) -> str:
    statuses = {rcpt.status for rcpt in trace.recipients}
    if not statuses:
        return next((hop.status for hop in reversed(trace.hops) if hop.status), "in-queue")
    return statuses.pop() if len(statuses) == 1 else MIXED


def build_traces(
    transactions: Sequence[Transaction], known_ids: Optional[Dict[int, str]] = None
) -> List[Trace]:
    """Resolve every claim, join hops into traces, and set each trace's recipients, status and family.

    Trace ids number NOQUEUE rows and reused queue ids in time order, so a line that arrives
    later with an earlier time would renumber them. ``known_ids`` (first hop's ``seq`` -> id, kept
    by the caller across builds, as :class:`mailtui.follow.Follower` does) keeps every id once
    given: a trace whose first hop had an id keeps it, new traces get ids never given before.
    """
    index = _Index(transactions)
    pos = {id(tx): i for i, tx in enumerate(transactions)}
    uf = _UnionFind(len(transactions))
    hop_links: List[Link] = []
    child_links: List[Link] = []
    seen_links = set()
    for tx in transactions:
        for claim in tx.claims:
            target = _resolve(tx, claim, index)
            if target is None:
                continue
            if (claim.kind, id(tx), id(target)) in seen_links:
                continue  # one line per recipient often names the same next hop
            seen_links.add((claim.kind, id(tx), id(target)))
            link = Link(claim.kind, tx, target, claim.proof)
            if claim.kind in HOP_LINKS:
                uf.union(pos[id(tx)], pos[id(target)])
                hop_links.append(link)
            elif claim.kind in CHILD_LINKS:
                child_links.append(link)
    hop_links.extend(_message_id_links(transactions, uf, pos))

    members: Dict[int, List[Transaction]] = defaultdict(list)
    for tx in transactions:
        members[uf.find(pos[id(tx)])].append(tx)
    links_of: Dict[int, List[Link]] = defaultdict(list)
    for link in hop_links:
        links_of[uf.find(pos[id(link.source)])].append(link)

    traces: List[Trace] = []
    trace_of: Dict[int, Trace] = {}
    used_ids: Dict[str, int] = {}
    groups = sorted(members.items(), key=lambda item: min((t.first_seen, t.seq) for t in item[1]))
    ordered_groups = [(root, _order_hops(hops, links_of[root])) for root, hops in groups]
    ids = _stable_ids([ordered[0] for _root, ordered in ordered_groups], known_ids)
    for (root, ordered), trace_id in zip(ordered_groups, ids):
        trace = Trace(trace_id or _trace_id(ordered[0], used_ids), ordered, links_of[root])
        trace.recipients = merge_recipients(ordered)
        trace.status = _trace_status(trace)
        trace.reason = next((hop.reason for hop in reversed(ordered) if hop.reason), None)
        traces.append(trace)
        trace_of[root] = trace
    for link in child_links:
        parent = trace_of[uf.find(pos[id(link.source)])]
        child = trace_of[uf.find(pos[id(link.target)])]
        if parent is child or child.parent is not None:
            continue
        child.parent = parent.id
        parent.children.append(child.id)
        parent.links.append(link)
    return traces


def _stable_ids(firsts: Sequence[Transaction], known: Optional[Dict[int, str]]) -> List[Optional[str]]:
    """Ids for traces with these first hops (None everywhere without ``known``: number afresh)."""
    if known is None:
        return [None] * len(firsts)
    result: List[Optional[str]] = []
    taken = set()
    for first in firsts:
        old = known.get(first.seq)
        if old is not None and old not in taken:
            taken.add(old)
            result.append(old)
        else:
            result.append(None)
    given = set(known.values())
    used: Dict[str, int] = {}
    for i, first in enumerate(firsts):
        if result[i] is not None:
            continue
        new = _trace_id(first, used)
        while new in given:  # never hand out an id that named another trace before
            new = _trace_id(first, used)
        given.add(new)
        known[first.seq] = new
        result[i] = new
    return result


def _trace_id(first: Transaction, used: Dict[str, int]) -> str:
    """`server:queue_id`, numbered `:2`, `:3` when a short queue id was reused; NOQUEUE rows numbered."""
    base = f"{first.server}:{first.queue_id}" if first.server else first.queue_id
    count = used.get(base, 0) + 1
    used[base] = count
    if first.queue_id == "NOQUEUE" or count > 1:
        return f"{base}:{count}"
    return base

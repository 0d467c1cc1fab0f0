"""Join transactions into traces: resolve each claimed link, then merge the hops of one mail.

A wrong link between two messages is worse than no link, so every claim must find exactly the
transaction it names: the same queue id, on the server the claim points at (this host for
loopback relays and bounces; the relay's host otherwise, or a host whose own log shows it received
the mail from us, or one that logged the same Message-ID), close in time. Message-ID alone joins
hops only across different servers (the same id twice on one server is two submissions).

A 1 GB log has about a million transactions, so this module counts its Python operations per
transaction: one pass indexes them, one resolves the claims of those that have any, one makes
the traces in time order. Most transactions are a trace of their own and cost no more than that.
"""

from __future__ import annotations

import gc
import heapq
from collections import defaultdict
from itertools import compress
from operator import attrgetter, ne
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

from mailtui.model import (
    CHILD_LINKS,
    CLAIM_FIELDS,
    HOP_LINKS,
    LINK_FIELDS,
    MIXED,
    Recipient,
    Trace,
    Transaction,
    pack_claims,
)

_bytes_len = bytearray.__len__
_lines_of = attrgetter("lines")
_linked_of = attrgetter("_linked")
_trace_of = attrgetter("_trace")
_plus_one = (1).__add__

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
_DEFAULT_WINDOW = (-600.0, 600.0)
#: Hops sharing a Message-ID across servers must be this close.
SAME_MESSAGE_ID_SECONDS = 2 * 86400.0
#: A Message-ID on more transactions than this is not trusted as a key (broken clients reuse one).
_MESSAGE_ID_GROUP_LIMIT = 50
_LOOPBACK = frozenset(("", "localhost", "localhost.localdomain", "::1"))
#: Transaction statuses that are a recipient's fate when its own lines never gave one.
_HOP_FATES = frozenset(("rejected", "discarded", "expired", "bounced"))
#: Trace order, and hop order among hops no link orders: time, then creation.
_time_order = attrgetter("first_seen", "seq")
_new_trace = object.__new__


def is_loopback(host: str) -> bool:
    """True when a relay points back at the same machine (content filters, MSP → MTA)."""
    if host in _LOOPBACK:  # the usual answers ("" for this server) without lower()
        return True
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


class _Scan:
    """What one pass over the transactions collects.

    * ``one`` / ``many``: transactions by queue id (NOQUEUE rows are never claimed). Nearly every
      id names one transaction: ``one`` maps it to it, and only ids seen more than once (reused
      short ids, the same id on two hosts) get a list in ``many``, in the order given.
    * ``claimers``: the transactions with claims, in the order given.
    * ``shared_ids``: for Message-ID and network-message-id, the ids on more than one
      transaction with those transactions, in order of each id's first appearance.

    Every transaction not sealed since its last line is sealed on the way (packed claims,
    interned strings: :meth:`mailtui.model.Transaction.seal`), and marked linked.
    """

    __slots__ = ("claimers", "many", "one", "shared_ids")

    def __init__(self, transactions: Sequence[Transaction]) -> None:
        one: Dict[str, Transaction] = {}
        many: Dict[str, List[Transaction]] = {}
        put = one.setdefault
        claimers: List[Transaction] = []
        first_mid: Dict[str, int] = {}
        put_mid = first_mid.setdefault
        mids: Dict[str, List[Transaction]] = {}
        first_nmid: Dict[str, int] = {}
        nmids: Dict[str, List[Transaction]] = {}
        for position, tx in enumerate(transactions):
            qid = tx.queue_id
            if qid != "NOQUEUE":
                first = put(qid, tx)
                if first is not tx:
                    group = many.get(qid)
                    if group is None:
                        many[qid] = [first, tx]
                    else:
                        group.append(tx)
            size = _bytes_len(tx.lines)
            if size != tx._sealed:
                tx.seal()  # Transaction.seal, unless done since its last line
            tx._linked = size
            if tx._claims is not None:
                claimers.append(tx)
            key = tx.message_id
            if key:
                at = put_mid(key, position)
                if at != position:
                    group = mids.get(key)
                    if group is None:
                        mids[key] = [transactions[at], tx]
                    else:
                        group.append(tx)
            key = tx.network_message_id
            if key:
                at = first_nmid.setdefault(key, position)
                if at != position:
                    group = nmids.get(key)
                    if group is None:
                        nmids[key] = [transactions[at], tx]
                    else:
                        group.append(tx)
        self.one = one
        self.many = many
        self.claimers = claimers
        self.shared_ids = (
            ("same-message-id", [mids[key] for key in sorted(mids, key=first_mid.__getitem__)]),
            ("same-network-message-id", [nmids[key] for key in sorted(nmids, key=first_nmid.__getitem__)]),
        )


def _plausible_remote(source: Transaction, kind: str, host: str, target: Transaction) -> bool:
    """Evidence that `target`, on another log, is where `source` handed this mail."""
    if kind == "exchange-internalid":
        return target.mta == "exchange" and same_host(target.server, host)
    if same_host(target.server, host):
        return True
    if target.client and same_host(target.client, source.server):
        return True
    if source.message_id and target.message_id == source.message_id:
        return True
    return target.orig_queue_id == source.queue_id and target.server == source.server


def _resolve(
    source: Transaction,
    kind: str,
    host: str,
    ts: float,
    candidates: Sequence[Transaction],
    local: bool,
) -> Optional[Transaction]:
    """The one transaction a claim names, or None when none (or no trustworthy one) is loaded.

    ``candidates`` are the transactions with the claimed id; ``local``: the claim points at this
    host (a loopback relay, a bounce), so only this server's transaction with that id will do.
    """
    low, high = _WINDOWS.get(kind, _DEFAULT_WINDOW)
    anchor = source.first_seen if kind == "orig-queue-id" else ts
    server = source.server
    best: Optional[Transaction] = None
    best_gap = 0.0
    for tx in candidates:
        if tx is source:
            continue
        gap = tx.first_seen - anchor
        if not low <= gap <= high:
            continue
        if local:
            if tx.server != server:
                continue
        elif not _plausible_remote(source, kind, host, tx):
            continue
        if gap < 0:
            gap = -gap
        if best is None or gap < best_gap:
            best, best_gap = tx, gap
    return best


def _union(group_of: Dict[int, List[Transaction]], a: Transaction, b: Transaction) -> bool:
    """Put `a` and `b` in one group; False when they already were.

    ``group_of`` maps id() of each linked transaction to its group's member list: most groups
    are two or three hops, and merging lists costs less than a union-find over every transaction.
    """
    ga = group_of.get(id(a))
    gb = group_of.get(id(b))
    if ga is None:
        if gb is None:
            group_of[id(a)] = group_of[id(b)] = [a, b]
        else:
            gb.append(a)
            group_of[id(a)] = gb
        return True
    if gb is None:
        ga.append(b)
        group_of[id(b)] = ga
        return True
    if ga is gb:
        return False
    if len(ga) < len(gb):
        ga, gb = gb, ga
    ga.extend(gb)
    for tx in gb:
        group_of[id(tx)] = ga
    return True


def _link_claims(
    scan: Union[_Scan, _Region],
    group_of: Dict[int, List[Transaction]],
    hop_links: List[object],
    child_links: List[object],
) -> None:
    """Resolve every claim: hop links join groups, child links are kept apart (both packed, as
    :data:`mailtui.model.LINK_FIELDS` fields a link, into the lists given).

    This runs once per claim (about one per transaction): :func:`_resolve` and :func:`_union`
    are inlined for the usual case, a queue id that names one transaction.
    """
    one, many = scan.one, scan.many
    windows = _WINDOWS
    loopback: Dict[str, bool] = {}  # is_loopback by host: a few relays, asked again and again
    for tx in scan.claimers:
        claims = tx._claims
        if claims.__class__ is not tuple:
            claims = tx._claims = pack_claims(claims, tx.lines) or None  # type: ignore[arg-type]
            if claims is None:
                continue
        made: Optional[List[Tuple[str, Transaction]]] = None  # (kind, target) linked so far
        shared = True  # every claimed id loaded is the string of a transaction's queue_id
        count = len(claims)  # type: ignore[arg-type]
        for at in range(0, count, CLAIM_FIELDS):
            kind, target_id, host, ts, proof = (  # type: ignore[misc]
                claims if count == CLAIM_FIELDS else claims[at : at + CLAIM_FIELDS]  # type: ignore[index]
            )
            target = one.get(target_id)
            if target is None:
                continue  # no transaction loaded has that id (a next hop whose log is not read)
            if target_id is not target.queue_id:
                shared = False
            local = loopback.get(host)
            if local is None:
                local = loopback[host] = is_loopback(host)
            if local and kind == "exchange-internalid":
                local = False
            candidates = many.get(target_id) if many else None
            if candidates is None:
                if target is tx:
                    continue
                low, high = windows.get(kind, _DEFAULT_WINDOW)
                gap = target.first_seen - (tx.first_seen if kind == "orig-queue-id" else ts)
                if not low <= gap <= high:
                    continue
                if local:
                    if target.server != tx.server:
                        continue
                elif not _plausible_remote(tx, kind, host, target):
                    continue
            else:
                target = _resolve(tx, kind, host, ts, candidates, local)
                if target is None:
                    continue
            # One line per recipient often names the same next hop: one link.
            if made is None:
                made = [(kind, target)]
            elif (kind, target) in made:
                continue
            else:
                made.append((kind, target))
            if kind in HOP_LINKS:
                mine = group_of.get(id(tx))
                if mine is None and id(target) not in group_of:
                    group_of[id(tx)] = group_of[id(target)] = [tx, target]
                elif mine is None or mine is not group_of.get(id(target)):
                    _union(group_of, tx, target)
                hop_links += (kind, tx, target, proof)
            elif kind in CHILD_LINKS:
                child_links += (kind, tx, target, proof)
        if not shared:
            # The parser made a string for each claimed id: the claimed transaction's own will do.
            flat = list(claims)  # type: ignore[arg-type]
            for at in range(1, count, CLAIM_FIELDS):
                target = one.get(flat[at])  # type: ignore[arg-type]
                if target is not None:
                    if tx.orig_queue_id is flat[at]:  # (the `orig_queue_id=` claim's own string)
                        tx.orig_queue_id = target.queue_id
                    flat[at] = target.queue_id
            tx._claims = tuple(flat)


def _message_id_links(
    scan: Union[_Scan, _Region], group_of: Dict[int, List[Transaction]], hop_links: List[object]
) -> None:
    """Hops of one mail on different servers whose only common word is the Message-ID."""
    for kind, groups in scan.shared_ids:
        for group in groups:
            if len(group) > _MESSAGE_ID_GROUP_LIMIT:
                continue
            group.sort(key=_time_order)
            for earlier, later in zip(group, group[1:]):
                if earlier.server == later.server:
                    continue
                if later.first_seen - earlier.last_seen > SAME_MESSAGE_ID_SECONDS:
                    continue
                if _union(group_of, earlier, later):
                    hop_links += (kind, earlier, later, None)


def _order_hops(hops: List[Transaction], links: Sequence[object]) -> List[Transaction]:
    """Hop order: follow the links (packed, sender before receiver), time breaking ties."""
    if len(hops) == 1:
        return hops
    if len(hops) == 2:
        # Most groups (a content filter's two queue ids): the one nothing leads to goes first;
        # when both or neither are led to, time decides (what the general walk below gives).
        a, b = hops
        into_a = into_b = 0
        for at in range(0, len(links), LINK_FIELDS):
            then = links[at + 1] if links[at] == "orig-queue-id" else links[at + 2]
            if then is a:
                into_a += 1
            elif then is b:
                into_b += 1
        if into_a and not into_b:
            return [b, a]
        if into_b and not into_a:
            return [a, b]
        return sorted(hops, key=_time_order)
    edges: Dict[int, List[Transaction]] = defaultdict(list)
    indegree: Dict[int, int] = {id(tx): 0 for tx in hops}
    for at in range(0, len(links), LINK_FIELDS):
        kind, first, then = links[at : at + 3]
        if kind == "orig-queue-id":
            first, then = then, first
        edges[id(first)].append(then)  # type: ignore[arg-type]
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
    rest = sorted((tx for tx in hops if id(tx) not in seen), key=_time_order)
    return ordered + rest


def merge_recipients(hops: Sequence[Transaction]) -> List[Recipient]:
    """Each recipient's fate across the hops: a later hop's word overrides an earlier one.

    A hop's own Recipient object stands for the trace's word about it whenever it holds exactly
    that word (one hop; or the last hop's record, which the earlier ones' merge into): a copy is
    made only where merging gives something no hop logged. So merging never edits a hop's record,
    and most traces cost no second set of recipients.
    """
    merged: Dict[str, int] = {}  # lower-cased address (or original address) -> position in order
    order: List[Recipient] = []
    copied: List[bool] = []  # order[i] is this trace's own copy (free to edit)
    for hop in hops:
        held = hop._rcpts
        if held is None:
            continue
        hop_status = hop.status
        for rcpt in held.values() if isinstance(held, dict) else (held,):
            status = rcpt.status
            if status == "in-queue" and hop_status in _HOP_FATES:
                status = hop_status
            key = rcpt.address.lower()
            at = merged.get(key)
            if at is None and rcpt.orig_address:
                at = merged.get(rcpt.orig_address.lower())
            if at is None:
                reason = rcpt.reason
                if status == hop_status and not reason:
                    reason = hop.reason
                if status == rcpt.status and reason == rcpt.reason:
                    order.append(rcpt)
                    copied.append(False)
                else:
                    twin = rcpt.copy()
                    twin.status = status
                    twin.reason = reason
                    order.append(twin)
                    copied.append(True)
                merged[key] = len(order) - 1
                continue
            existing = order[at]
            if existing.status not in ("sent", "in-queue"):
                # The earlier hop never handed this recipient over (bounced, expired...): what the
                # next hop logged is the other side of that refusal, not a later fate.
                continue
            reason = rcpt.reason or existing.reason
            if copied[at]:
                pass
            elif (
                status == rcpt.status
                and reason == rcpt.reason
                and existing.address == rcpt.address
                and existing.orig_address == rcpt.orig_address
            ):
                # The merged word is this hop's record, field for field.
                order[at] = rcpt
                merged.setdefault(key, at)
                continue
            else:
                existing = order[at] = existing.copy()
                copied[at] = True
            existing.dsn = rcpt.dsn  # every field but the addresses: the later hop's word
            existing.response = rcpt.response
            existing.relay = rcpt.relay
            existing.final_server = rcpt.final_server
            existing.ts = rcpt.ts
            existing.delay = rcpt.delay
            existing.delays = rcpt.delays
            existing.mailer = rcpt.mailer
            existing.status = status
            existing.reason = reason
            merged.setdefault(key, at)
    return order[:] if len(order) < 5 else order  # exact size: built by appending, kept long


def _kept(rcpt: Recipient, hop: Transaction) -> bool:
    """Is a lone hop's only recipient already the trace's word about it (nothing to merge)?"""
    status = rcpt.status
    hop_status = hop.status
    if status == "in-queue" and hop_status in _HOP_FATES:
        return False
    return not (status == hop_status and not rcpt.reason and rcpt.reason != hop.reason)


def _trace_status(trace: Trace) -> str:
    statuses = {rcpt.status for rcpt in trace.recipients}
    if not statuses:
        return next((hop.status for hop in reversed(trace.hops) if hop.status), "in-queue")
    return statuses.pop() if len(statuses) == 1 else MIXED


class _Ids:
    """Trace ids, handed out in trace order (see :func:`build_traces` on ``known_ids``)."""

    __slots__ = ("given", "known", "taken", "used")

    def __init__(self, known: Dict[int, str]) -> None:
        self.known = known
        self.used: Dict[str, int] = {}
        self.taken: Set[str] = set()
        self.given: Optional[Set[str]] = None  # every id known, once a new one is wanted

    def __call__(self, first: Transaction) -> str:
        known = self.known
        old = known.get(first.seq)
        if old is not None and old not in self.taken:
            self.taken.add(old)
            return old
        given = self.given
        if given is None:
            given = self.given = set(known.values())
        new = _trace_id(first, self.used)
        while new in given:  # never hand out an id that named another trace before
            new = _trace_id(first, self.used)
        given.add(new)
        known[first.seq] = new
        return new


def build_traces(
    transactions: Sequence[Transaction], known_ids: Optional[Dict[int, str]] = None
) -> List[Trace]:
    """Resolve every claim, join hops into traces, and set each trace's recipients, status and family.

    Traces come in time order (of their first line; then of creation: transactions' ``seq``
    numbers, unique, as the correlator gives them). Trace ids number NOQUEUE rows and reused
    queue ids in that order, so a line that arrives later with an earlier time would renumber
    them. ``known_ids`` (first hop's ``seq`` -> id, kept by the caller across builds) keeps every
    id once given: a trace whose first hop had an id keeps it, new traces get ids never given
    before. (:class:`Linker` does the same for a growing log, redoing only what changed.)

    Claims are left packed (:func:`mailtui.model.pack_claims`); ``tx.claims`` unpacks them on use.
    """
    # Linking allocates a few objects per transaction and frees none: the cyclic collector would
    # walk the whole heap (every transaction, recipient, string) again and again for nothing,
    # which was half the time. Nothing made here forms a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        scan = _Scan(transactions)
        group_of: Dict[int, List[Transaction]] = {}
        hop_links: List[object] = []
        child_links: List[object] = []
        _link_claims(scan, group_of, hop_links, child_links)
        _message_id_links(scan, group_of, hop_links)
        name = _Ids(known_ids) if known_ids is not None else None
        traces = _make_traces(sorted(transactions, key=_time_order), group_of, hop_links, name, scan.many)
        if child_links:
            ends = {id(child_links[at + i]) for at in range(0, len(child_links), LINK_FIELDS) for i in (1, 2)}
            trace_of = {id(hop): trace for trace in traces for hop in trace.hops if id(hop) in ends}
            owner = lambda tx: trace_of[id(tx)]  # noqa: E731
            for trace, (parent, children, links) in _families(child_links, owner).items():
                trace.parent = parent
                trace._children = children
                trace._links += links
        return traces
    finally:
        if collecting:
            gc.enable()


def _make_traces(
    ordered: Sequence[Transaction],
    group_of: Dict[int, List[Transaction]],
    hop_links: List[object],
    name: Optional[_Ids],
    many: Dict[str, List[Transaction]],
) -> List[Trace]:
    """The traces of these transactions (in time order), without their families.

    ``group_of`` and ``hop_links``: the groups and links :func:`_link_claims` and
    :func:`_message_id_links` made; ``name``: the ids to keep (None: number afresh, and then
    ``many``, the queue ids on more than one transaction, are the ids that need numbering).
    """
    # Each group's links, packed, in the order made (keyed by id() of the group's member list).
    links_of: Dict[int, List[object]] = {}
    for at in range(0, len(hop_links), LINK_FIELDS):
        key = id(group_of[id(hop_links[at + 1])])
        found = links_of.get(key)
        if found is None:
            links_of[key] = hop_links[at : at + LINK_FIELDS]
        else:
            found += hop_links[at : at + LINK_FIELDS]
    used: Dict[str, int] = {}
    traces: List[Trace] = []
    for tx in ordered:  # a group's trace comes at its earliest member
        group = group_of.get(id(tx))
        if group is not None and group[0] is None:
            continue  # its group's trace was made at an earlier member
        trace = _new_trace(Trace)
        trace.parent = None
        trace._children = ()
        if group is None:
            trace.hops = hops = [tx]
            trace._links = ()
            held = tx._rcpts
            if held is None:
                recipients: List[Recipient] = []
            elif isinstance(held, dict) or not _kept(held, tx):
                recipients = merge_recipients(hops)
            else:
                recipients = [held]
            trace.reason = tx.reason or None
        else:
            links = links_of.get(id(group), ())
            trace.hops = hops = _order_hops(group, links)
            message_id = hops[0].message_id
            if message_id:
                for hop in hops:  # one string for the hops' equal Message-IDs (content filters)
                    if hop.message_id == message_id:
                        hop.message_id = message_id
            trace._links = tuple(links)
            group[:] = [None]  # type: ignore[list-item]  # made: its later members skip it
            recipients = merge_recipients(hops)
            reason = None
            for hop in reversed(hops):
                if hop.reason:
                    reason = hop.reason
                    break
            trace.reason = reason
        first = hops[0]
        if name is not None:
            trace.id = name(first)
        else:
            qid = first.queue_id
            if qid == "NOQUEUE" or qid in many:
                trace.id = _trace_id(first, used)
            else:  # the only transaction with this queue id: `server:queue_id` is no other's
                trace.id = f"{first.server}:{qid}" if first.server else qid
        trace.recipients = recipients
        trace.status = recipients[0].status if len(recipients) == 1 else _trace_status(trace)
        traces.append(trace)
    return traces


#: A trace's family: parent id, children ids, links to its children (packed).
_Family = Tuple[Optional[str], Sequence[str], Tuple[object, ...]]


def _families(
    child_links: Sequence[object], trace_of: Callable[[Transaction], Trace]
) -> Dict[Trace, _Family]:
    """Who is whose bounce: each child link (packed, in the order made) makes its target's trace
    a child of its source's, unless it already has a parent (the first link wins)."""
    families: Dict[Trace, List[object]] = {}
    for at in range(0, len(child_links), LINK_FIELDS):
        parent = trace_of(child_links[at + 1])  # type: ignore[arg-type]
        child = trace_of(child_links[at + 2])  # type: ignore[arg-type]
        if parent is child:
            continue
        child_family = families.get(child)
        if child_family is None:
            child_family = families[child] = [None, [], []]
        elif child_family[0] is not None:
            continue
        child_family[0] = parent.id
        parent_family = families.get(parent)
        if parent_family is None:
            parent_family = families[parent] = [None, [], []]
        parent_family[1].append(child.id)  # type: ignore[attr-defined]
        parent_family[2] += child_links[at : at + LINK_FIELDS]  # type: ignore[operator]
    return {
        trace: (parent, children or (), tuple(links))  # type: ignore[misc]
        for trace, (parent, children, links) in families.items()
    }


class _Region:
    """What :func:`_link_claims` and :func:`_message_id_links` read, for a :class:`Linker`'s
    region: the linker's own queue-id index, the region's claimers and Message-ID groups."""

    __slots__ = ("claimers", "many", "one", "shared_ids")

    def __init__(
        self,
        one: Dict[str, Transaction],
        many: Dict[str, List[Transaction]],
        claimers: List[Transaction],
        shared_ids: Tuple[Tuple[str, List[List[Transaction]]], ...],
    ) -> None:
        self.one = one
        self.many = many
        self.claimers = claimers
        self.shared_ids = shared_ids


_by_seq = attrgetter("seq")


def _add(index: Dict[str, object], key: str, tx: Transaction) -> None:
    """File `tx` under `key`: the transaction itself, or a list (in ``seq`` order) once several."""
    held = index.get(key)
    if held is None:
        index[key] = tx
    elif held.__class__ is list:
        if tx not in held:  # type: ignore[operator]
            held.append(tx)  # type: ignore[attr-defined]
            if held[-2].seq > tx.seq:  # type: ignore[index]
                held.sort(key=_by_seq)  # type: ignore[attr-defined]
    elif held is not tx:
        index[key] = sorted((held, tx), key=_by_seq)  # type: ignore[arg-type]


def _filed(index: Dict[str, object], key: Optional[str]) -> Sequence[Transaction]:
    held = index.get(key) if key else None  # type: ignore[arg-type]
    if held is None:
        return ()
    return held if held.__class__ is list else (held,)  # type: ignore[return-value]


class Linker:
    """Traces of a growing set of transactions, relinked only where something changed (follow mode).

    :meth:`update` takes the transactions as they are now and makes :attr:`traces` what
    :func:`build_traces` would make of them with the same ``known_ids``: the same ids, hops,
    links, recipients and families. A transaction has changed when lines were added to it since
    it was last linked (every change comes with a line). Only the traces of changed transactions
    are made anew, with every trace a claim or a shared Message-ID ties them to (so that each
    claim still picks the one transaction it names); the others are kept (the same objects:
    traces handed out are never edited).

    It keeps indexes of the transactions (queue ids, claimed ids, Message-IDs): about a hundred
    bytes a transaction, the price of not relinking a whole log at every poll.
    """

    def __init__(self, known_ids: Dict[int, str], traces: Sequence[Trace] = ()) -> None:
        """``traces``: what the transactions made so far were linked into (by
        :func:`build_traces`, with these ``known_ids``): the first update says what changed
        since."""
        self.known_ids = known_ids
        #: The current traces, in time order.
        self.traces: List[Trace] = list(traces)
        #: Ids of the traces new or changed in the latest update, and of those gone.
        self.changed: Set[str] = set()
        self.removed: Set[str] = set()
        self._one: Dict[str, Transaction] = {}  # queue id -> a transaction with it
        self._many: Dict[str, List[Transaction]] = {}  # queue id -> all, in seq order, when several
        self._claimed: Dict[str, object] = {}  # claimed id -> claimer(s)
        self._message_ids: Dict[str, object] = {}
        self._network_ids: Dict[str, object] = {}
        self._child_links: Dict[int, List[object]] = {}  # claimer's seq -> its child links, packed
        self._families: Dict[Trace, _Family] = {}  # the families given, by trace
        self._started = False  # the first update links everything (and builds the indexes)
        self._ends: Set[int] = set()  # id() of the transactions child links join

    def update(self, transactions: Sequence[Transaction]) -> bool:
        """Take the transactions as they are now (all that describe mail, in creation order, as
        for :func:`build_traces`); False when none is new or changed (nothing was done)."""
        collecting = gc.isenabled()
        gc.disable()  # as in build_traces
        try:
            return self._update(transactions)
        finally:
            if collecting:
                gc.enable()

    def _update(self, transactions: Sequence[Transaction]) -> bool:
        self.changed = set()
        self.removed = set()
        if not self._started:
            self._started = True
            self._adopt(transactions)
        # The transactions with lines since the last update (or new): one pass in C (a Python
        # loop over every transaction was most of a poll). This linker marks what it linked with
        # its size + 1, build_traces with its size: a build in between is a change, not missed.
        sizes = map(_plus_one, map(_bytes_len, map(_lines_of, transactions)))
        touched = list(compress(transactions, map(ne, sizes, map(_linked_of, transactions))))
        if not touched:
            return False
        for tx in touched:
            size = _bytes_len(tx.lines)
            if size != tx._sealed:
                tx.seal()
            tx._linked = size + 1
        grew = set(map(id, touched))
        for tx in touched:
            self._index(tx)

        old_traces: Dict[int, Trace] = {}  # the traces made anew, by id()
        members = self._region(touched, old_traces)
        scan = _Region(
            self._one, self._many, [tx for tx in members if tx._claims is not None], self._shared(members)
        )
        group_of: Dict[int, List[Transaction]] = {}
        hop_links: List[object] = []
        child_links: List[object] = []
        _link_claims(scan, group_of, hop_links, child_links)
        _message_id_links(scan, group_of, hop_links)
        ordered = sorted(members, key=_time_order)
        made = _make_traces(ordered, group_of, hop_links, _Ids(self.known_ids), self._many)
        for trace in made:
            for hop in trace.hops:
                hop._trace = trace
        ends = self._ends
        if child_links or any(id(tx) in ends for tx in members):  # else no family can change
            for tx in members:
                self._child_links.pop(tx.seq, None)
            for at in range(0, len(child_links), LINK_FIELDS):
                self._child_links.setdefault(child_links[at + 1].seq, []).extend(  # type: ignore[attr-defined]
                    child_links[at : at + LINK_FIELDS]
                )
            self._set_families(made, old_traces)

        # Changed: new ids, and ids whose trace differs (what mailtui.follow.signature tells).
        before = {trace.id: trace for trace in old_traces.values()}
        after = {trace.id for trace in made}
        self.removed = set(before) - after
        for trace in made:
            old = before.get(trace.id)
            if old is None or _differs(old, trace, grew):
                self.changed.add(trace.id)
        self.traces = _merge_in(self.traces, old_traces, made)
        return True

    def _adopt(self, transactions: Sequence[Transaction]) -> None:
        """Take the traces given to the constructor as what the transactions were linked into
        (build_traces marked each transaction linked with its size then): index everything,
        and find the child links (few), rather than link it all again."""
        for tx in transactions:
            self._index(tx)
        given = set()
        for trace in self.traces:
            for hop in trace.hops:
                hop._trace = trace
                given.add(id(hop))
            if trace.parent is not None or trace._children:
                self._families[trace] = (trace.parent, trace._children, _child_links_of(trace))
        for tx in transactions:
            if id(tx) not in given:
                tx._trace = None  # (put in a trace by another linker, or never)
            elif tx._linked == _bytes_len(tx.lines):
                tx._linked += 1  # linked into the given traces, unchanged since: see _update
        claimers = [tx for tx in transactions if tx._claims is not None and _claims_child(tx._claims)]
        child_links: List[object] = []
        _link_claims(_Region(self._one, self._many, claimers, ((), ())), {}, [], child_links)
        for at in range(0, len(child_links), LINK_FIELDS):
            self._child_links.setdefault(child_links[at + 1].seq, []).extend(  # type: ignore[attr-defined]
                child_links[at : at + LINK_FIELDS]
            )
        self._ends = {
            id(child_links[at + i]) for at in range(0, len(child_links), LINK_FIELDS) for i in (1, 2)
        }

    def _region(self, touched: List[Transaction], old_traces: Dict[int, Trace]) -> List[Transaction]:
        """The transactions to link again, in seq order: the touched ones, those whose claims
        name one of them, and, closed over, everything in the same trace, everything a claim of
        theirs may name and everything with their Message-ID; their old traces into `old_traces`."""
        region: Dict[int, Transaction] = {}
        work: List[Transaction] = []

        def take(tx: Transaction) -> None:
            if id(tx) in region:
                return
            trace = tx._trace
            if trace is None:
                region[id(tx)] = tx
                work.append(tx)
                return
            old_traces[id(trace)] = trace
            for member in trace.hops:
                region[id(member)] = member
                work.append(member)

        for tx in touched:
            take(tx)
            for claimer in _filed(self._claimed, tx.queue_id):
                take(claimer)
        one, many = self._one, self._many
        while work:
            tx = work.pop()
            for other in self._sharing(tx):
                take(other)
            claims = tx._claims
            if claims is None:
                continue
            for at in range(0, len(claims), CLAIM_FIELDS):  # type: ignore[arg-type]
                target_id = claims[at + 1]  # type: ignore[index]
                targets = many.get(target_id)  # type: ignore[arg-type]
                if targets is None:
                    target = one.get(target_id)  # type: ignore[arg-type]
                    if target is not None:
                        take(target)
                else:
                    for target in targets:
                        take(target)
        return sorted(region.values(), key=_by_seq)

    def _index(self, tx: Transaction) -> None:
        qid = tx.queue_id
        if qid != "NOQUEUE":
            first = self._one.setdefault(qid, tx)
            if first is not tx:
                group = self._many.get(qid)
                if group is None:
                    self._many[qid] = sorted((first, tx), key=_by_seq)
                elif tx not in group:
                    group.append(tx)
                    group.sort(key=_by_seq)
        if tx.message_id:
            _add(self._message_ids, tx.message_id, tx)
        if tx.network_message_id:
            _add(self._network_ids, tx.network_message_id, tx)
        claims = tx._claims
        if claims is None:
            return
        if claims.__class__ is not tuple:  # claims added since it was linked: not packed yet
            for claim in claims:
                _add(self._claimed, claim.target_id, tx)  # type: ignore[union-attr]
            return
        for at in range(0, len(claims), CLAIM_FIELDS):
            _add(self._claimed, claims[at + 1], tx)  # type: ignore[arg-type]

    def _sharing(self, tx: Transaction) -> List[Transaction]:
        """What a change to tx may relink through its Message-ID or network-message-id: all the
        transactions with it, or, for an id too common to link by, those already linked."""
        found: List[Transaction] = []
        for key, attr, index in (
            (tx.message_id, "message_id", self._message_ids),
            (tx.network_message_id, "network_message_id", self._network_ids),
        ):
            if not key:
                continue
            group = [other for other in _filed(index, key) if getattr(other, attr) == key]
            if len(group) > _MESSAGE_ID_GROUP_LIMIT:
                # No link by this id now; links it made while fewer join traces of several hops.
                group = [other for other in group if other._trace is not None and len(other._trace.hops) > 1]
            found += group
        return found

    def _shared(self, members: List[Transaction]) -> Tuple[Tuple[str, List[List[Transaction]]], ...]:
        """The region's Message-ID (and network-message-id) groups, as :class:`_Scan` has them."""
        result = []
        for kind, attr, index in (
            ("same-message-id", "message_id", self._message_ids),
            ("same-network-message-id", "network_message_id", self._network_ids),
        ):
            groups: Dict[str, List[Transaction]] = {}
            for tx in members:
                key = getattr(tx, attr)
                if not key or key in groups:
                    continue
                held = index.get(key)
                if held.__class__ is list:  # (else: only tx has it)
                    # In seq order, as _add keeps them; without those whose id changed since.
                    groups[key] = [other for other in held if getattr(other, attr) == key]  # type: ignore[union-attr]
            result.append((kind, [group for group in groups.values() if len(group) > 1]))
        return tuple(result)  # type: ignore[return-value]

    def _set_families(self, made: List[Trace], old_traces: Dict[int, Trace]) -> None:
        """Families (few) are worked out again over every child link, in the order a full build
        makes them; a kept trace whose family changed is replaced by a copy in `made`."""
        every: List[object] = []
        for seq in sorted(self._child_links):
            every += self._child_links[seq]
        self._ends = {id(every[at + i]) for at in range(0, len(every), LINK_FIELDS) for i in (1, 2)}
        families = _families(every, _trace_of)
        fresh = {id(trace) for trace in made}
        stale = [
            trace
            for trace in set(families) | set(self._families)
            if id(trace) not in fresh
            and id(trace) not in old_traces
            and families.get(trace) != self._families.get(trace)
        ]
        for old in stale:
            twin = _copy_trace(old)
            twin.parent, twin._children, twin._links = None, (), _hop_links_of(old)
            for hop in twin.hops:
                hop._trace = twin
            old_traces[id(old)] = old
            made.append(twin)
            fresh.add(id(twin))
            if old in families:
                families[twin] = families.pop(old)
        for trace, (parent, children, links) in families.items():
            if id(trace) in fresh:
                trace.parent = parent
                trace._children = children
                trace._links += links
        self._families = families


def _claims_child(claims: Sequence[object]) -> bool:
    """Whether packed claims include a bounce/notification claim."""
    return any(claims[at] in CHILD_LINKS for at in range(0, len(claims), CLAIM_FIELDS))


def _child_links_of(trace: Trace) -> Tuple[object, ...]:
    """A trace's links to its children (packed), without those between its hops."""
    links = trace._links
    hops = {id(hop) for hop in trace.hops}
    found: List[object] = []
    for at in range(0, len(links), LINK_FIELDS):
        if id(links[at + 2]) not in hops:
            found += links[at : at + LINK_FIELDS]
    return tuple(found)


def _hop_links_of(trace: Trace) -> Tuple[object, ...]:
    """A trace's own links (between its hops), without those to its children."""
    links = trace._links
    hops = {id(hop) for hop in trace.hops}
    kept: List[object] = []
    for at in range(0, len(links), LINK_FIELDS):
        if id(links[at + 2]) in hops:
            kept += links[at : at + LINK_FIELDS]
    return tuple(kept)


def _copy_trace(trace: Trace) -> Trace:
    twin = _new_trace(Trace)
    twin.id = trace.id
    twin.hops = trace.hops
    twin._links = trace._links
    twin.recipients = trace.recipients
    twin.status = trace.status
    twin.parent = trace.parent
    twin._children = trace._children
    twin.reason = trace.reason
    return twin


def _differs(old: Trace, new: Trace, touched: Set[int]) -> bool:
    """Whether :func:`mailtui.follow.signature` of a trace changed: its hops, a new line in one,
    its bounce relations."""
    if len(old.hops) != len(new.hops) or old.parent != new.parent or len(old.children) != len(new.children):
        return True
    return any(a.seq != b.seq or id(b) in touched for a, b in zip(old.hops, new.hops))


def _trace_key(trace: Trace) -> Tuple[float, int]:
    hops = trace.hops
    if len(hops) == 1:
        return (hops[0].first_seen, hops[0].seq)
    return min((hop.first_seen, hop.seq) for hop in hops)


def _merge_in(traces: List[Trace], gone: Dict[int, Trace], made: List[Trace]) -> List[Trace]:
    """`traces` without the `gone` ones, with the `made` ones in time order."""
    kept = [trace for trace in traces if id(trace) not in gone] if gone else list(traces)
    made = sorted(made, key=_trace_key)
    if not kept:
        return made
    result: List[Trace] = []
    start = 0
    for trace in made:
        key = _trace_key(trace)
        low, high = start, len(kept)
        while low < high:  # the first kept trace after this one
            middle = (low + high) // 2
            if _trace_key(kept[middle]) < key:
                low = middle + 1
            else:
                high = middle
        result += kept[start:low]
        result.append(trace)
        start = low
    result += kept[start:]
    return result


def _trace_id(first: Transaction, used: Dict[str, int]) -> str:
    """`server:queue_id`, numbered `:2`, `:3` when a short queue id was reused; NOQUEUE rows numbered."""
    base = f"{first.server}:{first.queue_id}" if first.server else first.queue_id
    count = used.get(base, 0) + 1
    used[base] = count
    if first.queue_id == "NOQUEUE" or count > 1:
        return f"{base}:{count}"
    return base

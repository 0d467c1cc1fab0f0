"""Find the traces a query matches without testing every trace: value columns with posting lists,
and time arrays.

A :class:`TraceIndex` serves one list of traces (a :class:`mailtui.session.Session`'s, in its order)
and fills itself lazily: a column is built, in one pass over the traces, the first time a query
needs it. A session searched once for `from:` pays for the sender column only; a session never
searched pays nothing. Nothing is copied: the index holds the very string objects the traces hold.

* A *grouped* column (sender, recipients, client host, client IP, relay, server, subject, status)
  keeps each distinct value once (``values``) and the ascending positions of the traces holding it
  as one slice of ``positions`` (``starts[v]:starts[v + 1]``, ``array('I')``): 4 bytes a posting
  and about 20 a distinct value.
* A *direct* column (trace id, queue id, Message-ID: about one distinct value per occurrence)
  keeps every occurrence in trace order (a reference to the string and the trace's position):
  about 18 bytes an occurrence, and no grouping to build.
* Both find a normalised value through hash chains (``array('i')``) that store no keys: a lookup
  compares the values themselves, so a hash collision costs a comparison, never a wrong answer.
  Other lookups (a substring, a test such as a CIDR or a domain) go over the distinct values: a
  substring is looked for at C speed in blobs of lower-cased values joined by line breaks.
* Times: ``first_seen``/``last_seen`` of every trace (``array('d')``, 16 bytes a trace) and the few
  long-lived traces sorted by ``last_seen``; the traces come in ``first_seen`` order, so a time
  range is two binary searches and a short look at its start.

:meth:`TraceIndex.search` returns exactly what testing every trace with ``query.matches`` returns,
in the same order. Each :class:`mailtui.query.IndexTerm` is answered exactly by its lookups (a
lookup mirrors its predicate, see :mod:`mailtui.query`), the positive time terms exactly by the
time arrays. The smallest answer gives the candidates, the others narrow them (marks or a set, or
the term's own predicate when testing the few candidates is cheaper than the lookup), and the
predicates no index answers (negations, ``reason:``, a word with a line break) are tested on what
is left.

The index describes the traces as they were when each part was built: a session whose
transactions are still being filled (a provisional one while loading, a followed one) is searched
as of then, until the next session replaces it.
"""

from __future__ import annotations

import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import deque
from itertools import accumulate, compress, repeat
from operator import contains
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from mailtui.model import Recipient, Trace, Transaction
from mailtui.query import COLUMNS, IndexTerm, Lookup, Predicate, Query

__all__ = ["SearchCancelled", "TraceIndex", "scan"]

#: A zero-argument callable that says whether the caller lost interest (checked now and then).
Cancelled = Optional[Callable[[], bool]]
Positions = Sequence[int]

#: Traces (or values) handled between two looks at ``cancelled``.
CHECK_EVERY = 4096
#: Values joined into one lower-cased text, so a substring is looked for at C speed first.
_BLOB = 1024
#: Seconds a trace may live (first to last line) and still be found by its first_seen alone.
_SHORT = 600.0
#: Rough costs, in microseconds, that the planner compares.
_TEST_COST = 0.3  # one test on one distinct value
_NEEDLE_COST = 0.03  # one value of a substring search (most values are passed over in a blob)
_BUILD_COST = 0.5  # one trace read to build a column
_VERIFY_COST = 3.0  # one predicate on one trace
_MARK_COST = 0.1  # one position marked


class SearchCancelled(Exception):
    """Raised by a search whose ``cancelled`` callable returned True."""


def _check(cancelled: Cancelled) -> None:
    if cancelled is not None and cancelled():
        raise SearchCancelled()


# ------------------------------------------------------------------------------ trace values
# What each column holds for one trace: exactly the fields the predicate of mailtui.query that
# reads this column reads (see COLUMNS there).


#: A hop's recipients as a list (through the model's own accessor when it has one).
_hop_recipients: Callable[[Transaction], List[Recipient]] = getattr(
    Transaction, "recipient_list", lambda hop: list(hop.recipients.values())
)


def _all_recipients(trace: Trace) -> List[Recipient]:
    found = list(trace.recipients)
    for hop in trace.hops:
        found.extend(_hop_recipients(hop))
    return found


def _ids(trace: Trace) -> List[str]:
    return [trace.id]


def _queue_ids(trace: Trace) -> List[str]:
    return [hop.queue_id for hop in trace.hops if hop.queue_id]


def _message_ids(trace: Trace) -> List[str]:
    found = []
    for hop in trace.hops:
        if hop.message_id:
            found.append(hop.message_id)
        if hop.network_message_id:
            found.append(hop.network_message_id)
    return found


def _senders(trace: Trace) -> List[str]:
    return [hop.sender for hop in trace.hops if hop.sender is not None]


def _addresses(trace: Trace) -> List[str]:
    found = []
    for rcpt in _all_recipients(trace):
        found.append(rcpt.address)
        if rcpt.orig_address:
            found.append(rcpt.orig_address)
    return found


def _client_hosts(trace: Trace) -> List[str]:
    return [hop.client for hop in trace.hops if hop.client]


def _client_ips(trace: Trace) -> List[str]:
    return [hop.client_ip for hop in trace.hops if hop.client_ip]


def _relays(trace: Trace) -> List[str]:
    return [rcpt.relay for rcpt in _all_recipients(trace) if rcpt.relay]


def _servers(trace: Trace) -> List[str]:
    return [hop.server for hop in trace.hops if hop.server]


def _subjects(trace: Trace) -> List[str]:
    return [hop.subject for hop in trace.hops if hop.subject]


def _statuses(trace: Trace) -> List[str]:
    found = [trace.status]
    found.extend(rcpt.status for rcpt in trace.recipients)
    return found


Extract = Callable[[Trace], List[str]]
_EXTRACT: Dict[str, Extract] = {
    "id": _ids,
    "qid": _queue_ids,
    "msgid": _message_ids,
    "sender": _senders,
    "rcpt": _addresses,
    "client_host": _client_hosts,
    "client_ip": _client_ips,
    "relay": _relays,
    "server": _servers,
    "subject": _subjects,
    "status": _statuses,
}
#: Columns with about one distinct value per occurrence: not grouped.
_DIRECT = frozenset({"id", "qid", "msgid"})
assert set(_EXTRACT) == set(COLUMNS), "mailtui.query.COLUMNS and the extractors must agree"


# ----------------------------------------------------------------------------------- columns


class _Chains:
    """A hash table that stores no keys: per bucket of hashes, a chain of item numbers (``head``
    of the bucket, then ``next``); the caller checks each item against the key it looks up."""

    __slots__ = ("head", "mask", "next")

    def __init__(self, expected: int) -> None:
        size = 1  # about four items a bucket: 1 byte an item for the heads, short chains to walk
        while size * 4 < expected:
            size *= 2
        self.mask = size - 1
        self.head = array("i", [-1]) * size
        self.next = array("i")

    def get(self, key: str) -> List[int]:
        """Item numbers that may be `key`'s (every item added with its hash)."""
        found = []
        item = self.head[hash(key) & self.mask]
        following = self.next
        while item >= 0:
            found.append(item)
            item = following[item]
        return found


def _contains_any(values: Sequence[str], needles: Tuple[str, ...], cancelled: Cancelled) -> List[int]:
    """Indexes of the values whose lower-case form contains one of `needles` (lower-case).

    Values are joined in blobs of :data:`_BLOB`, lower-cased and searched at C speed first; only a
    blob that holds a needle is looked at value by value. (A value's lower-case form is a piece of
    its blob's: the line breaks between values are neither cased nor case-ignorable.)
    """
    found: List[int] = []
    for start in range(0, len(values), _BLOB):
        if start % CHECK_EVERY == 0:
            _check(cancelled)
        chunk = values[start : start + _BLOB]
        blob = "\n".join(chunk).lower()
        if not any(needle in blob for needle in needles):
            continue
        texts = blob.split("\n")
        if len(texts) != len(chunk):  # a value with a line break of its own
            texts = [value.lower() for value in chunk]
        numbers = range(start, start + len(chunk))
        if len(needles) == 1:
            found.extend(compress(numbers, map(contains, texts, repeat(needles[0]))))
        else:
            found.extend(n for n, text in zip(numbers, texts) if any(needle in text for needle in needles))
    return found


def _tested(
    values: Sequence[str], norm: Callable[[str], str], test: Callable[[str], bool], cancelled: Cancelled
) -> List[int]:
    """Indexes of the values whose normalised form passes `test`."""
    found: List[int] = []
    for start in range(0, len(values), CHECK_EVERY):
        _check(cancelled)
        chunk = values[start : start + CHECK_EVERY]
        found.extend(number for number, value in enumerate(chunk, start) if test(norm(value)))
    return found


class _Values:
    """What both kinds of column share: their values, normalised, found by key through hash
    chains, by substring (free text) or by a test (wildcards, networks)."""

    __slots__ = ()
    values: List[str]
    norm: Callable[[str], str]
    chains: _Chains

    def cost(self, lookup: Lookup) -> float:
        if lookup.test is not None:
            return len(self.values) * _TEST_COST
        if lookup.needles:
            return len(self.values) * _NEEDLE_COST
        return 0.0

    def _matching(self, lookup: Lookup, cancelled: Cancelled) -> List[int]:
        """Numbers of the values that match `lookup` (maybe twice, in no order)."""
        values, norm = self.values, self.norm
        numbers = [
            number for key in lookup.keys for number in self.chains.get(key) if norm(values[number]) == key
        ]
        if lookup.needles:
            numbers.extend(_contains_any(values, lookup.needles, cancelled))
        if lookup.test is not None:
            numbers.extend(_tested(values, norm, lookup.test, cancelled))
        return numbers


class _Grouped(_Values):
    """A column of distinct values, each with the ascending positions of the traces holding it."""

    __slots__ = ("chains", "norm", "positions", "starts", "values")

    def __init__(self, held: Dict[str, array], norm: Callable[[str], str]) -> None:
        #: The distinct values (the traces' own strings), in order of first appearance.
        self.values = list(held)
        runs = list(held.values())
        self.starts = array("I", accumulate(map(len, runs), initial=0))
        self.positions = array("I")
        for run in runs:
            self.positions.extend(run)
        self.norm = norm
        self.chains = chains = _Chains(len(self.values))
        head, following, mask = chains.head, chains.next, chains.mask
        for number, value in enumerate(self.values):
            bucket = hash(norm(value)) & mask
            following.append(head[bucket])
            head[bucket] = number

    def hits(self, lookup: Lookup, cancelled: Cancelled) -> List[Positions]:
        """The posting lists (ascending positions) of the values that match `lookup`."""
        numbers = self._matching(lookup, cancelled)
        view = memoryview(self.positions)
        starts = self.starts
        return [view[starts[number] : starts[number + 1]] for number in sorted(set(numbers))]

    def memory(self) -> int:
        return (
            _list_bytes(self.values)
            + _array_bytes(self.starts)
            + _array_bytes(self.positions)
            + _array_bytes(self.chains.head)
            + _array_bytes(self.chains.next)
        )


class _Direct(_Values):
    """A column of (nearly) unique values: every occurrence in order (the traces' own strings) with
    its trace's position, and hash chains from normalised value to occurrences. In the trace id
    column the occurrences are the traces themselves (no positions kept)."""

    __slots__ = ("chains", "norm", "positions", "values")

    def __init__(self, name: str, chains: _Chains, values: List[str], positions: Optional[array]) -> None:
        self.chains = chains
        self.norm = COLUMNS[name]
        self.values = values
        self.positions = positions

    def hits(self, lookup: Lookup, cancelled: Cancelled) -> List[Positions]:
        numbers = self._matching(lookup, cancelled)
        if not numbers:
            return []
        if self.positions is not None:
            return [array("I", map(self.positions.__getitem__, numbers))]  # in no order, maybe twice
        return [array("I", numbers)]

    def memory(self) -> int:
        total = _list_bytes(self.values) + _array_bytes(self.chains.head) + _array_bytes(self.chains.next)
        return total + (0 if self.positions is None else _array_bytes(self.positions))


Column = Union[_Grouped, _Direct]


def _addresses_of(records: List[Recipient]) -> Set[str]:
    """Every address and original address of these recipients (as :func:`_addresses`, once each)."""
    found = {record.address for record in records}
    found.update(record.orig_address for record in records if record.orig_address)
    return found


def _fill(traces: Sequence[Trace], names: Iterable[str]) -> Dict[str, Column]:
    """Build these columns in one pass over the traces.

    Each reads the trace fields its extractor (``_EXTRACT``) names, inlined here for speed (the
    tests check that both agree). A grouped column collects, per distinct value, the positions of
    the traces holding it (a trace's positions come in order, so a repeat is the last one).
    """
    wanted = set(names)
    held: Dict[str, Dict[str, array]] = {name: {} for name in wanted - _DIRECT}
    status, sender, rcpt, relay = (held.get(name) for name in ("status", "sender", "rcpt", "relay"))
    client_host, client_ip, server, subject = (
        held.get(name) for name in ("client_host", "client_ip", "server", "subject")
    )
    hop_groups = tuple(
        (attribute, group)
        for attribute, group in (
            ("sender", sender),
            ("client", client_host),
            ("client_ip", client_ip),
            ("server", server),
            ("subject", subject),
        )
        if group is not None
    )
    chains = {name: _Chains(len(traces)) for name in wanted & _DIRECT}
    ids = chains.get("id")
    id_values: List[str] = []
    qids, msgids = chains.get("qid"), chains.get("msgid")
    qid_values: List[str] = []
    qid_positions = array("I")
    msgid_values: List[str] = []
    msgid_positions = array("I")
    strip_angles = COLUMNS["msgid"]
    by_hop = bool(hop_groups) or qids is not None or msgids is not None
    by_recipient = rcpt is not None or relay is not None
    new_run = array
    for position, trace in enumerate(traces):
        if ids is not None:
            bucket = hash(trace.id.lower()) & ids.mask
            ids.next.append(ids.head[bucket])
            ids.head[bucket] = position
            id_values.append(trace.id)
        if status is not None:
            for value in {trace.status, *[record.status for record in trace.recipients]}:  # once each
                run = status.get(value)
                if run is None:
                    status[value] = new_run("I", (position,))
                else:
                    run.append(position)
        if by_hop:
            for hop in trace.hops:
                if qids is not None and hop.queue_id:
                    bucket = hash(hop.queue_id.lower()) & qids.mask
                    qids.next.append(qids.head[bucket])
                    qids.head[bucket] = len(qid_values)
                    qid_values.append(hop.queue_id)
                    qid_positions.append(position)
                if msgids is not None:
                    for value in (hop.message_id, hop.network_message_id):
                        if value:
                            bucket = hash(strip_angles(value)) & msgids.mask
                            msgids.next.append(msgids.head[bucket])
                            msgids.head[bucket] = len(msgid_values)
                            msgid_values.append(value)
                            msgid_positions.append(position)
                for attribute, group in hop_groups:
                    value = getattr(hop, attribute)
                    if value or (value is not None and group is sender):  # "" is the null sender
                        run = group.get(value)
                        if run is None:
                            group[value] = new_run("I", (position,))
                        elif run[-1] != position:
                            run.append(position)
        if by_recipient:
            records = _all_recipients(trace)
            for group, values in (
                (rcpt, _addresses_of(records) if rcpt is not None else ()),
                (relay, {record.relay for record in records if record.relay} if relay is not None else ()),
            ):
                for value in values:  # each value once per trace
                    run = group.get(value)  # type: ignore[union-attr]
                    if run is None:
                        group[value] = new_run("I", (position,))  # type: ignore[index]
                    else:
                        run.append(position)
    columns: Dict[str, Column] = {name: _Grouped(group, COLUMNS[name]) for name, group in held.items()}
    if ids is not None:
        columns["id"] = _Direct("id", ids, id_values, None)
    if qids is not None:
        columns["qid"] = _Direct("qid", qids, qid_values, qid_positions)
    if msgids is not None:
        columns["msgid"] = _Direct("msgid", msgids, msgid_values, msgid_positions)
    return columns


class _Times:
    """first_seen and last_seen of every trace, and the long-lived traces by last_seen."""

    __slots__ = ("by_first", "first", "first_sorted", "last", "long_last", "long_positions")

    def __init__(self, traces: Sequence[Trace]) -> None:
        # Trace.first_seen / last_seen (the earliest / latest of its hops'), read from the hops.
        self.first = first = array("d")
        self.last = last = array("d")
        add_first, add_last = first.append, last.append
        for trace in traces:
            hops = trace.hops
            if len(hops) == 1:
                hop = hops[0]
                add_first(hop.first_seen)
                add_last(hop.last_seen)
            else:
                add_first(min([hop.first_seen for hop in hops]))
                add_last(max([hop.last_seen for hop in hops]))
        #: Positions in first_seen order, None when the traces already are (a loaded session).
        self.by_first: Optional[array] = None
        self.first_sorted = first
        if any(a > b for a, b in zip(first, first[1:])):
            self.by_first = array("I", sorted(range(len(first)), key=first.__getitem__))
            self.first_sorted = array("d", [first[p] for p in self.by_first])
        longs = [p for p, (a, b) in enumerate(zip(first, last)) if not b - a <= _SHORT]
        longs.sort(key=last.__getitem__)
        self.long_positions = array("I", longs)
        self.long_last = array("d", [last[p] for p in longs])

    def _bounds(self, since: Optional[float], until: Optional[float]) -> Tuple[int, int, int]:
        """Ranks in first_seen order: [lo, mid) must be checked for since, [mid, hi) all match;
        traces with rank < lo can match only if they are long-lived."""
        first = self.first_sorted
        hi = len(first) if until is None else bisect_right(first, until)
        if since is None:
            return 0, 0, hi
        lo = min(bisect_left(first, since - _SHORT - 1.0), hi)
        mid = min(max(bisect_left(first, since), lo), hi)
        return lo, mid, hi

    def estimate(self, since: Optional[float], until: Optional[float]) -> int:
        """At least the number of traces active in the range (and not many more)."""
        lo, _, hi = self._bounds(since, until)
        longs = 0 if since is None else len(self.long_last) - bisect_left(self.long_last, since)
        return hi - lo + longs

    def positions(self, since: Optional[float], until: Optional[float]) -> List[int]:
        """Ascending positions of the traces active in the range: last_seen >= since and
        first_seen <= until (a bound that is None does not limit)."""
        lo, mid, hi = self._bounds(since, until)
        by_first, first, last = self.by_first, self.first, self.last
        if since is None:
            return list(range(hi)) if by_first is None else sorted(by_first[:hi])
        # Long-lived traces still active at `since`; those below rank `lo` are found nowhere else.
        longs = self.long_positions[bisect_left(self.long_last, since) :]
        if by_first is None:
            early = sorted(p for p in longs if p < lo)  # first_seen <= until: they rank below hi
            edge = [p for p in range(lo, mid) if last[p] >= since]
            return early + edge + list(range(mid, hi))
        found = {by_first[r] for r in range(lo, mid) if last[by_first[r]] >= since}
        found.update(by_first[mid:hi])
        found.update(p for p in longs if until is None or first[p] <= until)
        return sorted(found)

    def holds(self, positions: Iterable[int], since: Optional[float], until: Optional[float]) -> List[int]:
        first, last = self.first, self.last
        if since is not None and until is not None:
            return [p for p in positions if last[p] >= since and first[p] <= until]
        if since is not None:
            return [p for p in positions if last[p] >= since]
        if until is not None:
            return [p for p in positions if first[p] <= until]
        return list(positions)

    def memory(self) -> int:
        total = _array_bytes(self.first) + _array_bytes(self.last)
        total += _array_bytes(self.long_positions) + _array_bytes(self.long_last)
        if self.by_first is not None:
            total += _array_bytes(self.by_first) + _array_bytes(self.first_sorted)
        return total


def _array_bytes(data: array) -> int:
    return data.buffer_info()[1] * data.itemsize


def _list_bytes(data: list) -> int:
    return 8 * len(data)


# ------------------------------------------------------------------------------------ search


def scan(
    traces: Sequence[Trace], predicates: Sequence[Predicate], cancelled: Cancelled = None
) -> List[Trace]:
    """The traces for which every predicate holds, in order, testing each trace (no index)."""
    if not predicates:
        return list(traces)
    if len(predicates) == 1:
        test = predicates[0]
    else:

        def test(trace: Trace) -> bool:
            return all(predicate(trace) for predicate in predicates)

    if cancelled is None:
        return list(filter(test, traces))
    found: List[Trace] = []
    for start in range(0, len(traces), CHECK_EVERY):
        _check(cancelled)
        found.extend(filter(test, traces[start : start + CHECK_EVERY]))
    return found


def _mark(marks: bytearray, runs: Iterable[Positions]) -> None:
    """Set the byte of every position in `runs` to 1."""
    mark = marks.__setitem__
    for run in runs:
        deque(map(mark, run, repeat(1)), maxlen=0)


class _Answer:
    """One term's traces: runs of positions while they are few, else one mark per trace.

    A memoryview run is ascending without repeats (a grouped column's posting list); an array run
    is in no order and may repeat (a direct column's). Marks (a bytearray, 1 for a trace found)
    cost about a quarter of a set per position, plus one look at every trace.
    """

    __slots__ = ("count", "marks", "predicate", "runs", "size")

    def __init__(self, predicate: Predicate, count: int) -> None:
        self.predicate = predicate
        #: How many traces there are (positions are below this).
        self.count = count
        self.runs: List[Positions] = []
        self.marks: Optional[bytearray] = None
        #: Positions in the runs (at least the traces found, not many more), or the traces marked.
        self.size = 0

    def add(self, runs: List[Positions]) -> None:
        if self.marks is None:
            self.runs.extend(runs)
            self.size += sum(len(run) for run in runs)
            if self.size * 4 > self.count:
                self.marks = bytearray(self.count)
                _mark(self.marks, self.runs)
                self.runs = []
        else:
            _mark(self.marks, runs)
        if self.marks is not None:
            self.size = self.marks.count(1)

    def complete(self) -> bool:
        """Whether every trace is found already (no more lookups can add one)."""
        return self.size == self.count and self.marks is not None

    def sorted(self) -> List[int]:
        """The positions, ascending, once each."""
        if self.marks is not None:
            return list(compress(range(self.count), self.marks))
        if len(self.runs) == 1 and isinstance(self.runs[0], memoryview):
            return list(self.runs[0])
        found: Set[int] = set()
        for run in self.runs:
            found.update(run)
        return sorted(found)

    def keep(self, candidates: List[int]) -> List[int]:
        """The candidates that are found, in their order."""
        marks = self.marks
        if marks is None:
            marks = bytearray(self.count)
            _mark(marks, self.runs)
        return list(compress(candidates, map(marks.__getitem__, candidates)))


class TraceIndex:
    """The index of one list of traces (see the module doc). Thread-safe: several searches may run
    at once; a column is built by the first search that needs it while the others wait."""

    def __init__(self, traces: Sequence[Trace]) -> None:
        self.traces = traces
        self._columns: Dict[str, Column] = {}
        self._times: Optional[_Times] = None
        self._lock = threading.Lock()
        #: Seconds spent building, per column ("times" for the time arrays).
        self.build_seconds: Dict[str, float] = {}

    def __reduce__(self) -> Tuple[type, Tuple[Sequence[Trace]]]:
        return (TraceIndex, (self.traces,))  # pickled empty: it is rebuilt as searches need it

    # -- building -------------------------------------------------------------------------------

    def ensure(
        self, columns: Iterable[str] = COLUMNS, times: bool = True, cancelled: Cancelled = None
    ) -> None:
        """Build these columns (and the time arrays) if they are not built yet, in one pass.

        A build is not abandoned when `cancelled` says so (the next search would need it too);
        a search that waits for another's build gives up waiting.
        """
        missing = [name for name in columns if name not in self._columns]
        if not missing and (not times or self._times is not None):
            return
        while not self._lock.acquire(timeout=0.05):
            _check(cancelled)
        try:
            self._build([name for name in missing if name not in self._columns], times)
        finally:
            self._lock.release()

    def _build(self, names: List[str], times: bool) -> None:
        traces = self.traces
        if names:
            started = time.perf_counter()
            self._columns.update(_fill(traces, names))
            elapsed = time.perf_counter() - started
            for name in names:
                self.build_seconds[name] = elapsed / len(names)
        if times and self._times is None:
            started = time.perf_counter()
            self._times = _Times(traces)
            self.build_seconds["times"] = time.perf_counter() - started

    def memory(self) -> Dict[str, int]:
        """Bytes of arrays and value lists per built part (object headers not counted)."""
        sizes = {name: column.memory() for name, column in self._columns.items()}
        if self._times is not None:
            sizes["times"] = self._times.memory()
        return sizes

    # -- searching ------------------------------------------------------------------------------

    def search(self, query: Query, cancelled: Cancelled = None) -> List[Trace]:
        """Exactly ``[t for t in traces if query.matches(t)]``, usually without testing each trace."""
        traces = self.traces
        since, until = query.since, query.until
        timed = since is not None or until is not None
        residual: List[Predicate] = list(query.residual)
        if not query.terms and not timed:
            return scan(traces, residual, cancelled)
        if timed:
            self.ensure((), True, cancelled)
        times = self._times
        best = times.estimate(since, until) if times is not None and timed else len(traces)
        answers: List[_Answer] = []
        for term, cost in sorted(
            ((term, self._cost(term)) for term in query.terms), key=lambda item: item[1]
        ):
            if cost > best * _VERIFY_COST:
                residual.append(term.predicate)  # cheaper to test the few candidates
                continue
            answer = self._answer(term, cancelled)
            answers.append(answer)
            best = min(best, answer.size)
        _check(cancelled)
        answers.sort(key=lambda answer: answer.size)
        if times is not None and timed and (not answers or times.estimate(since, until) < answers[0].size):
            candidates = times.positions(since, until)
            timed = False
        elif answers:
            candidates = answers.pop(0).sorted()
        else:  # every term left to its predicate, no time bound: nothing narrows
            return scan(traces, residual, cancelled)
        for answer in answers:
            if not candidates:
                break
            _check(cancelled)
            if answer.size * _MARK_COST < len(candidates) * _VERIFY_COST:
                candidates = answer.keep(candidates)
            else:
                residual.append(answer.predicate)
        if timed and times is not None:
            candidates = times.holds(candidates, since, until)
        found = list(map(traces.__getitem__, candidates))
        return scan(found, residual, cancelled) if residual else found

    def _column(self, name: str, cancelled: Cancelled) -> Column:
        column = self._columns.get(name)
        if column is None:
            self.ensure((name,), False, cancelled)
            column = self._columns[name]
        return column

    def _cost(self, term: IndexTerm) -> float:
        """Microseconds the lookups of `term` take, roughly (a column not built yet: its build)."""
        total = 0.0
        for lookup in term.lookups:
            column = self._columns.get(lookup.column)
            if column is None:
                total += len(self.traces) * _BUILD_COST
            else:
                total += column.cost(lookup)
        return total

    def _answer(self, term: IndexTerm, cancelled: Cancelled) -> _Answer:
        missing = {lookup.column for lookup in term.lookups} - set(self._columns)
        if missing:
            self.ensure(sorted(missing), False, cancelled)
        answer = _Answer(term.predicate, len(self.traces))
        columns = [(self._column(lookup.column, cancelled), lookup) for lookup in term.lookups]
        for column, lookup in sorted(columns, key=lambda item: item[0].cost(item[1])):
            answer.add(column.hits(lookup, cancelled))
            if answer.complete():
                break
        return answer

    def find(self, ident: str, bare: str) -> List[Trace]:
        """Traces with a hop whose queue id is `ident` or whose Message-ID is `bare` (exact case),
        in order; both must be non-empty."""
        self.ensure(("qid", "msgid"), False)
        positions: Set[int] = set()
        for name, key in (("qid", ident.lower()), ("msgid", COLUMNS["msgid"](bare))):
            for run in self._columns[name].hits(Lookup(name, keys=frozenset({key})), None):
                positions.update(run)
        traces = self.traces
        return [
            traces[p]
            for p in sorted(positions)
            if any(hop.queue_id == ident or hop.message_id == bare for hop in traces[p].hops)
        ]

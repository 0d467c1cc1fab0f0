"""Domain records: where a line came from, what one queue file's life says, and the mail it adds up to.

Nothing here knows about files, parsing or the terminal. The pipeline fills these records:

* a :class:`LineRef` names one raw line (file, line number, byte offset) so it can be re-read on demand;
* a :class:`Transaction` is one queue id's life on one server (Postfix/Sendmail queue file, Exchange
  internal-message-id), with its :class:`Recipient` s;
* a :class:`Link` joins two transactions and records the line that proved it;
* a :class:`Trace` is what a user calls "this mail": its hops in order, its recipients' fate and
  every raw line.
"""

from __future__ import annotations

import struct
import sys
from collections import abc
from datetime import datetime, timedelta, timezone
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

#: Every status word mailtui uses, in the order they are shown.
STATUSES = ("sent", "deferred", "bounced", "expired", "rejected", "discarded", "in-queue")
#: A trace whose recipients ended differently.
MIXED = "mixed"
#: Statuses that mean "something went wrong" (the `e`/`E` keys, stats' problems).
PROBLEM_STATUSES = frozenset({"deferred", "bounced", "expired", "rejected", "discarded"})

#: Link kinds that join two transactions into one trace (hops of the same mail).
HOP_LINKS = frozenset(
    {
        "queued-as",
        "accepted-for-delivery",
        "exchange-internalid",
        "forwarded-as",
        "orig-queue-id",
        "amavis",
        "requeue",
        "same-message-id",
        "same-network-message-id",
        "clone",
    }
)
#: Link kinds that make the target a child (a bounce or notification) of the source's trace.
CHILD_LINKS = frozenset({"ndr", "dsn"})


class MailtuiError(Exception):
    """A problem the user must see as one clear line (bad path, unknown format, bad query)."""


class Envelope(NamedTuple):
    """A log line's wrapper, split off its body: when, which host, which program said it.

    ``ts`` is epoch seconds (UTC); ``tz`` the zone the line was written in, in minutes east of UTC
    (None when unknown, shown as UTC); ``program`` the syslog tag without the pid
    (`postfix/smtpd`, `postfix-out/smtp`, `sendmail`, `sm-mta`, `amavis`); ``body`` the rest.
    """

    ts: float
    tz: Optional[int]
    host: str
    program: str
    pid: Optional[int]
    body: str


class LineRef(NamedTuple):
    """Where one raw line lives: index into the session's files, 1-based line number, byte offset."""

    file_id: int
    line: int
    offset: int


def iso_time(ts: float, tz_minutes: Optional[int]) -> str:
    """Format epoch seconds as ISO 8601 in the zone the log was written in (UTC when unknown)."""
    zone = timezone.utc if not tz_minutes else timezone(timedelta(minutes=tz_minutes))
    moment = datetime.fromtimestamp(ts, zone)
    spec = "milliseconds" if moment.microsecond % 1000 == 0 and moment.microsecond else "auto"
    if moment.microsecond == 0:
        spec = "seconds"
    return moment.isoformat(timespec=spec)


#: One raw-line reference packed: byte offset << 16 | file id (8 bytes), line number (4 bytes).
_LINE = struct.Struct("<QI")
_LINE_SIZE = _LINE.size
_pack_line = _LINE.pack
_bytes_extend = bytearray.extend
_bytes_len = bytearray.__len__


class LineList(bytearray):
    """A transaction's raw-line references, packed 12 bytes a line into ONE growable buffer.

    A list of LineRef tuples costs ~150 bytes a line; two arrays (offsets, line numbers) cost two
    ~64-byte headers plus over-allocation each, per transaction, which for the typical 5-10 lines
    was more than the lines themselves. Subclassing bytearray (no instance dict) makes the list
    itself the buffer: one header, ~12% slack. A 1 GB log has millions of lines; this is a large
    part of the memory.

    Behaves like a list of :class:`LineRef`: append, extend, prepend, len, iteration, indexing, ``in``.
    """

    __slots__ = ()

    def __init__(self, refs: Iterable[LineRef] = ()) -> None:
        super().__init__()
        self.extend(refs)

    def append(self, ref: LineRef) -> None:  # type: ignore[override]
        _bytes_extend(self, _pack_line(ref.offset << 16 | ref.file_id, ref.line))

    def extend(self, refs: Iterable[LineRef]) -> None:  # type: ignore[override]
        if isinstance(refs, LineList):
            _bytes_extend(self, refs)
            return
        for ref in refs:
            _bytes_extend(self, _pack_line(ref.offset << 16 | ref.file_id, ref.line))

    def prepend(self, refs: Iterable[LineRef]) -> None:
        """Put lines read earlier (a session's connect line) before this transaction's own."""
        self[0:0] = LineList(refs)

    def __len__(self) -> int:
        return _bytes_len(self) // _LINE_SIZE

    def __getitem__(self, index: int) -> LineRef:  # type: ignore[override]
        count = _bytes_len(self) // _LINE_SIZE
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(count))]  # type: ignore[return-value]
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError("LineList index out of range")
        where, number = _LINE.unpack_from(self, index * _LINE_SIZE)
        return LineRef(where & 0xFFFF, number, where >> 16)

    def __iter__(self) -> Iterator[LineRef]:
        # Unpack a copy: an iterator left suspended must not pin the buffer (a bytearray with a
        # live export cannot grow, and the correlator appends to live transactions).
        for where, number in _LINE.iter_unpack(bytes(self)):
            yield LineRef(where & 0xFFFF, number, where >> 16)

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, LineRef):
            return False
        data = bytes(self)
        key = _pack_line(ref.offset << 16 | ref.file_id, ref.line)
        found = data.find(key)
        while found >= 0 and found % _LINE_SIZE:  # a match across two records is no match
            found = data.find(key, found + 1)
        return found >= 0

    def __reduce__(self) -> Tuple[object, Tuple[bytes]]:
        # bytearray's own reduce would call LineList(text, "latin-1").
        return (_line_list_from_bytes, (bytes(self),))

    def __repr__(self) -> str:
        return f"LineList({list(self)!r})"


def _line_list_from_bytes(data: bytes) -> LineList:
    lines = LineList()
    _bytes_extend(lines, data)
    return lines


class Recipient:
    """One envelope recipient of a transaction (or, in a trace, its fate across all hops)."""

    __slots__ = (
        "address",
        "delay",
        "delays",
        "dsn",
        "final_server",
        "mailer",
        "orig_address",
        "reason",
        "relay",
        "response",
        "status",
        "ts",
    )

    def __init__(self, address: str, orig_address: Optional[str] = None) -> None:
        # Interned: a few hundred addresses get most of the mail (see Transaction.seal).
        self.address = _intern(address) if type(address) is str else address
        #: The address before alias/virtual rewriting (Postfix `orig_to=`), if logged.
        self.orig_address = _intern(orig_address) if type(orig_address) is str else orig_address
        #: One of :data:`STATUSES`.
        self.status = "in-queue"
        #: Enhanced status code, e.g. "2.0.0".
        self.dsn: Optional[str] = None
        #: The reply text in parentheses (`status=sent (250 ok ...)`), or the reject text.
        self.response: Optional[str] = None
        #: Where it was handed to: `host[ip]:port`, `local`, `dovecot`, a Sendmail mailer's relay.
        self.relay: Optional[str] = None
        #: The server whose log gave the final word for this recipient.
        self.final_server: Optional[str] = None
        #: Time of the last status line for this recipient.
        self.ts: Optional[float] = None
        #: Total delay in seconds, when logged.
        self.delay: Optional[float] = None
        #: Postfix `delays=a/b/c/d` as logged.
        self.delays: Optional[str] = None
        #: Sendmail `mailer=` / Postfix delivery agent (smtp, local, lmtp, ...).
        self.mailer: Optional[str] = None
        #: A short human reason when the status alone does not say why (amavis verdict, reject stage).
        self.reason: Optional[str] = None

    def copy(self) -> Recipient:
        """A detached copy, so trace-level merging never edits a hop's own record."""
        twin = _new_recipient(Recipient)
        twin.address = self.address
        twin.orig_address = self.orig_address
        twin.status = self.status
        twin.dsn = self.dsn
        twin.response = self.response
        twin.relay = self.relay
        twin.final_server = self.final_server
        twin.ts = self.ts
        twin.delay = self.delay
        twin.delays = self.delays
        twin.mailer = self.mailer
        twin.reason = self.reason
        return twin

    def intern_strings(self) -> None:
        """Share the strings that repeat across recipients (see :meth:`Transaction.seal`)."""
        # Spelled out, not a loop over names: a million calls per GB of log, 4x cheaper so.
        value = self.status
        if value.__class__ is str:
            self.status = _intern(value)
        value = self.dsn
        if value.__class__ is str:
            self.dsn = _intern(value)
        value = self.relay
        if value.__class__ is str:
            self.relay = _intern(value)
        value = self.final_server
        if value.__class__ is str:
            self.final_server = _intern(value)
        value = self.delays
        if value.__class__ is str:
            self.delays = _intern(value)
        value = self.mailer
        if value.__class__ is str:
            self.mailer = _intern(value)

    def to_json(self) -> Dict[str, object]:
        """The contract's recipient object."""
        return {
            "address": self.address,
            "orig_address": self.orig_address,
            "status": self.status,
            "final_server": self.final_server,
            "relay": self.relay,
            "dsn": self.dsn,
            "response": self.response,
            "reason": self.reason,
            "delay": self.delay,
            "delays": self.delays,
            "mailer": self.mailer,
        }


_new_recipient = object.__new__
_intern = sys.intern


class RecipientMap(abc.MutableMapping):  # type: ignore[type-arg]
    """``Transaction.recipients``: a dict-like view of a transaction's recipients by address.

    Most transactions have one recipient; a dict for it costs ~200 bytes, more than the recipient.
    The transaction holds None, the one :class:`Recipient` (keyed by its own address), or a dict
    for two or more; this view, made on each access, gives them the dict interface (``values()``
    returns a list, a snapshot).
    """

    __slots__ = ("_tx",)

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def __getitem__(self, address: str) -> Recipient:
        held = self._tx._rcpts
        if held is None:
            raise KeyError(address)
        if isinstance(held, dict):
            return held[address]
        if held.address == address:
            return held
        raise KeyError(address)

    def get(self, address: str, default: Optional[Recipient] = None) -> Optional[Recipient]:  # type: ignore[override]
        held = self._tx._rcpts
        if held is None:
            return default
        if isinstance(held, dict):
            return held.get(address, default)
        return held if held.address == address else default

    def __contains__(self, address: object) -> bool:
        held = self._tx._rcpts
        if held is None:
            return False
        if isinstance(held, dict):
            return address in held
        return held.address == address

    def __setitem__(self, address: str, rcpt: Recipient) -> None:
        tx = self._tx
        held = tx._rcpts
        if isinstance(held, dict):
            held[address] = rcpt
        elif held is None or held.address == address:
            tx._rcpts = rcpt if rcpt.address == address else {address: rcpt}
        else:
            tx._rcpts = {held.address: held, address: rcpt}

    def __delitem__(self, address: str) -> None:
        tx = self._tx
        held = tx._rcpts
        if isinstance(held, dict):
            del held[address]
        elif held is not None and held.address == address:
            tx._rcpts = None
        else:
            raise KeyError(address)

    def __iter__(self) -> Iterator[str]:
        held = self._tx._rcpts
        if held is None:
            return iter(())
        if isinstance(held, dict):
            return iter(list(held))
        return iter((held.address,))

    def __len__(self) -> int:
        held = self._tx._rcpts
        if held is None:
            return 0
        return len(held) if isinstance(held, dict) else 1

    def __bool__(self) -> bool:
        held = self._tx._rcpts
        return bool(held) if isinstance(held, dict) else held is not None

    def values(self) -> List[Recipient]:  # type: ignore[override]
        held = self._tx._rcpts
        if held is None:
            return []
        return list(held.values()) if isinstance(held, dict) else [held]

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class LinkClaim(NamedTuple):
    """A line's statement that another transaction exists ("queued as X"), resolved by the linker.

    ``kind`` is one of :data:`HOP_LINKS` or :data:`CHILD_LINKS`; ``target_id`` the queue id /
    internal id named; ``target_host`` the relay it was handed to (host name or IP, "" for this
    server), ``ts`` when the claim was logged, ``proof`` the line that says it.
    """

    kind: str
    target_id: str
    target_host: str
    ts: float
    proof: LineRef


#: Fields per claim in a packed claims tuple: kind, target id, target host, ts, proof (packed:
#: see :func:`pack_proof`).
CLAIM_FIELDS = 5
_pack_where = struct.Struct("<Q").pack
_unpack_number = struct.Struct("<I").unpack_from


def _line_number(lines: LineList, where: int) -> Optional[int]:
    """The line number of the line at `where` (offset << 16 | file id) in `lines`, or None."""
    key = _pack_where(where)
    found = lines.rfind(key)  # a claim's line is usually among the last
    while found >= 0:
        if found % _LINE_SIZE == 0:
            return _unpack_number(lines, found + 8)[0]  # type: ignore[no-any-return]
        found = lines.rfind(key, 0, found + 7)  # a match across two records: look further back
    return None


def pack_proof(proof: Optional[LineRef], lines: LineList) -> object:
    """A proof line as kept in packed claims and links: when it is one of `lines` (the claiming
    transaction's: nearly always), only ``offset << 16 | file_id`` (its line number is found
    there again); else the LineRef itself."""
    if proof is None:
        return None
    where = proof[2] << 16 | proof[0]
    return where if _line_number(lines, where) == proof[1] else proof


def unpack_proof(packed: object, lines: LineList) -> Optional[LineRef]:
    """The LineRef :func:`pack_proof` packed (`lines`: the same transaction's)."""
    if packed is None or packed.__class__ is LineRef:
        return packed  # type: ignore[return-value]
    line = _line_number(lines, packed)  # type: ignore[arg-type]
    return LineRef(packed & 0xFFFF, line, packed >> 16)  # type: ignore[operator,arg-type]


def pack_claims(claims: List[LinkClaim], lines: LineList) -> Tuple[object, ...]:
    """Claims as one flat tuple, about a third of their memory: no tuple per claim, the proof
    packed (:func:`pack_proof`), the relay host interned (`lines`: the claiming transaction's)."""
    flat: List[object] = []
    add = flat.extend
    for kind, target_id, target_host, ts, proof in claims:
        if type(target_host) is str:
            target_host = _intern(target_host)
        add((kind, target_id, target_host, ts, pack_proof(proof, lines)))
    return tuple(flat)


def unpack_claims(flat: Tuple[object, ...], lines: LineList) -> List[LinkClaim]:
    """The claims :func:`pack_claims` packed, as LinkClaim tuples again."""
    claims = []
    for i in range(0, len(flat), CLAIM_FIELDS):
        kind, target_id, target_host, ts, proof = flat[i : i + CLAIM_FIELDS]
        claims.append(LinkClaim(kind, target_id, target_host, ts, unpack_proof(proof, lines)))  # type: ignore[arg-type]
    return claims


class Transaction:
    """One queue id's life on one server: from its first line to `removed` (or the end of the log)."""

    __slots__ = (
        "_claims",
        "_linked",
        "_rcpts",
        "_sealed",
        "_trace",
        "client",
        "client_ip",
        "first_seen",
        "helo",
        "instance",
        "last_seen",
        "lines",
        "message_id",
        "mta",
        "network_message_id",
        "nrcpt",
        "orig_queue_id",
        "queue_id",
        "reason",
        "removed",
        "sasl_username",
        "sender",
        "seq",
        "server",
        "size",
        "status",
        "subject",
        "tz",
    )

    def __init__(
        self,
        mta: str,
        server: str,
        instance: str,
        queue_id: str,
        ts: float,
        tz: Optional[int],
        seq: int,
    ) -> None:
        #: "postfix", "sendmail" or "exchange".
        self.mta = mta
        #: The host whose log this is (syslog host name, Exchange server name). Interned, like
        #: the instance: a handful of values, repeated by every transaction.
        self.server = _intern(server) if type(server) is str else server
        #: Postfix syslog name (`postfix`, `postfix-out`), Sendmail program, Exchange log kind.
        self.instance = _intern(instance) if type(instance) is str else instance
        #: Queue id (`NOQUEUE` for rejects that never got one); Exchange internal-message-id.
        self.queue_id = queue_id
        #: Client host name and IP this server received the mail from.
        self.client: Optional[str] = None
        self.client_ip: Optional[str] = None
        #: Envelope sender; "" for the null sender `<>`, None when not logged.
        self.sender: Optional[str] = None
        self.size: Optional[int] = None
        self.nrcpt: Optional[int] = None
        #: Message-ID without angle brackets; None when not logged or empty.
        self.message_id: Optional[str] = None
        self.network_message_id: Optional[str] = None
        self.subject: Optional[str] = None
        self.first_seen = ts
        self.last_seen = ts
        #: Time zone of the log's timestamps in minutes east of UTC (None: UTC).
        self.tz = tz
        # Recipients (see the `recipients` property): None, the only one, or a dict by address.
        self._rcpts: Union[Recipient, Dict[str, Recipient], None] = None
        #: Every raw line that belongs to this transaction, in the order read.
        self.lines = LineList()
        # Claims (see the `claims` property): None, a list, or packed by `pack_claims`.
        self._claims: Union[List[LinkClaim], Tuple[object, ...], None] = None
        #: True once the MTA said the queue file is gone (`removed`).
        self.removed = False
        #: Transaction-level outcome when no recipient says it (rejected before queueing, discarded).
        self.status: Optional[str] = None
        #: Why, in words ("discarded by amavis as SPAM", "Relay access denied").
        self.reason: Optional[str] = None
        #: Postfix `orig_queue_id=` from XFORWARD (the previous hop's queue id).
        self.orig_queue_id: Optional[str] = None
        self.helo: Optional[str] = None
        self.sasl_username: Optional[str] = None
        #: Creation order, for stable sorting.
        self.seq = seq
        # Bytes of `lines` when last sealed (-1: never): lines since then may bring new strings.
        self._sealed = -1
        # Bytes of `lines` when last linked (-1: never; + 1 when by a mailtui.link.Linker), and
        # the trace a Linker (following) last put it in: how it tells what changed.
        self._linked = -1
        self._trace: Optional[Trace] = None

    @property
    def key(self) -> str:
        """A readable identity: `server/instance:queue_id`."""
        return f"{self.server}/{self.instance}:{self.queue_id}"

    @property
    def recipients(self) -> RecipientMap:
        """Recipients in the order first logged, keyed by address (a dict-like view)."""
        return RecipientMap(self)

    @property
    def claims(self) -> List[LinkClaim]:
        """Links this transaction's lines claim, resolved by :mod:`mailtui.link` (append to it)."""
        held = self._claims
        if held is None:
            held = self._claims = []
        elif held.__class__ is tuple:
            held = self._claims = unpack_claims(held, self.lines)  # type: ignore[arg-type]
        return held  # type: ignore[return-value]

    @claims.setter
    def claims(self, claims: List[LinkClaim]) -> None:
        self._claims = claims

    def touch(self, ts: float, ref: LineRef) -> None:
        """Record one more line of this transaction."""
        _bytes_extend(self.lines, _pack_line(ref[2] << 16 | ref[0], ref[1]))  # LineList.append, inlined
        if ts < self.first_seen:
            self.first_seen = ts
        if ts > self.last_seen:
            self.last_seen = ts

    def recipient(self, address: str, orig_address: Optional[str] = None) -> Recipient:
        """The recipient record for `address`, created on first mention."""
        held = self._rcpts
        if held is None:
            rcpt = self._rcpts = Recipient(address, orig_address)
            return rcpt
        if isinstance(held, dict):
            found = held.get(address)
            if found is None:
                rcpt = held[address] = Recipient(address, orig_address)
                return rcpt
            rcpt = found
        elif held.address == address:
            rcpt = held
        else:
            rcpt = Recipient(address, orig_address)
            self._rcpts = {held.address: held, address: rcpt}
            return rcpt
        if orig_address and not rcpt.orig_address:
            rcpt.orig_address = orig_address
        return rcpt

    def seal(self) -> None:
        """Make this transaction lean, for now: its claims packed, its repeated strings interned.

        A parser makes a new string for every field of every line, so a log holds thousands of
        copies of a few hundred values (client names and IPs, senders, relays, status words,
        DSN codes, `delays=`): interned, they are ~1 KB a mail less. Cheap (~1 µs) and safe to
        call again; the linker seals every transaction whose lines changed since (see
        :attr:`needs_seal`). Calling it when a queue file is removed makes a load's peak lower.
        """
        self._sealed = _bytes_len(self.lines)
        claims = self._claims
        if claims is not None and claims.__class__ is not tuple:
            self._claims = pack_claims(claims, self.lines) or None  # type: ignore[arg-type]
        value = self.client  # spelled out, as in Recipient.intern_strings
        if value.__class__ is str:
            self.client = _intern(value)
        value = self.client_ip
        if value.__class__ is str:
            self.client_ip = _intern(value)
        value = self.sender
        if value.__class__ is str:
            self.sender = _intern(value)
        value = self.helo
        if value.__class__ is str:
            self.helo = _intern(value)
        held = self._rcpts
        if held is None:
            return
        if isinstance(held, dict):
            for rcpt in held.values():
                rcpt.intern_strings()
        else:
            held.intern_strings()

    @property
    def needs_seal(self) -> bool:
        """True when lines came since the last :meth:`seal` (or it never was)."""
        return _bytes_len(self.lines) != self._sealed

    def recipient_list(self) -> List[Recipient]:
        """The recipients in order (``recipients.values()`` without making the view)."""
        held = self._rcpts
        if held is None:
            return []
        return list(held.values()) if isinstance(held, dict) else [held]

    def hop_json(self) -> Dict[str, object]:
        """The contract's hop object."""
        return {
            "server": self.server,
            "mta": self.mta,
            "instance": self.instance,
            "queue_id": self.queue_id,
            "received_at": iso_time(self.first_seen, self.tz),
            "client": self.client,
            "client_ip": self.client_ip,
            "sender": self.sender,
            "message_id": self.message_id,
            "size": self.size,
            "last_seen": iso_time(self.last_seen, self.tz),
        }


class Link(NamedTuple):
    """A resolved edge between two transactions, with the line that proves it.

    Traces keep their links packed (see :attr:`Trace.links`); Link tuples are made on access.
    """

    kind: str
    source: Transaction
    target: Transaction
    proof: Optional[LineRef]

    def to_json(self) -> Dict[str, object]:
        return {
            "kind": self.kind,
            "from": self.source.key,
            "to": self.target.key,
            "proof": None if self.proof is None else {"file_id": self.proof.file_id, "line": self.proof.line},
        }


#: Fields per link in a trace's packed links: kind, source, target, proof (packed with the
#: source's lines: see :func:`pack_proof`; None for links no line proves).
LINK_FIELDS = 4


def pack_links(links: Iterable[Link]) -> Tuple[object, ...]:
    """Links as one flat tuple (what a trace keeps): no tuple per link, no LineRef per proof."""
    flat: List[object] = []
    for kind, source, target, proof in links:
        flat.extend((kind, source, target, pack_proof(proof, source.lines)))
    return tuple(flat)


def unpack_links(flat: Sequence[object]) -> Tuple[Link, ...]:
    """The links :func:`pack_links` (or the linker) packed, as Link tuples."""
    links = []
    for i in range(0, len(flat), LINK_FIELDS):
        kind, source, target, proof = flat[i : i + LINK_FIELDS]
        links.append(Link(kind, source, target, unpack_proof(proof, source.lines)))  # type: ignore[arg-type,attr-defined]
    return tuple(links)


_NO_CHILDREN: Tuple[str, ...] = ()


class Trace:
    """One mail as the user means it: hops in order, recipients' final fate, bounces, raw lines.

    Kept lean (a 1 GB log makes half a million): links are packed into one tuple and made Link
    tuples on access, ``links`` and ``children`` are empty tuples when there is nothing (most
    traces; an empty list costs 72 bytes).
    """

    __slots__ = ("_children", "_links", "hops", "id", "parent", "reason", "recipients", "status")

    def __init__(self, trace_id: str, hops: List[Transaction], links: Iterable[Link]) -> None:
        self.id = trace_id
        #: Transactions in hop order (receiving server first).
        self.hops = hops
        self._links = pack_links(links)
        #: Final fate per recipient, merged across hops (later hops override earlier ones). A
        #: single hop's recipients are shared with it when merging changes nothing.
        self.recipients: List[Recipient] = []
        #: One of :data:`STATUSES` or :data:`MIXED`.
        self.status = "in-queue"
        #: Trace id of the mail this one is a bounce/notification of.
        self.parent: Optional[str] = None
        self._children: Sequence[str] = _NO_CHILDREN
        #: Why it ended as it did, when the status alone does not say.
        self.reason: Optional[str] = None

    @property
    def links(self) -> Tuple[Link, ...]:
        """The links that joined the hops, then those to its bounces/notifications (made anew on
        each access: set the property to change them)."""
        return unpack_links(self._links) if self._links else ()

    @links.setter
    def links(self, links: Iterable[Link]) -> None:
        self._links = pack_links(links)

    @property
    def children(self) -> Sequence[str]:
        """Trace ids of bounces/notifications this mail caused."""
        return self._children

    @children.setter
    def children(self, children: Sequence[str]) -> None:
        self._children = children or _NO_CHILDREN

    @property
    def first(self) -> Transaction:
        return self.hops[0]

    # The properties below are read for every trace by sorting, filtering and the list view:
    # a single hop (most traces) answers without a generator.

    @property
    def first_seen(self) -> float:
        hops = self.hops
        if len(hops) == 1:
            return hops[0].first_seen
        return min(hop.first_seen for hop in hops)

    @property
    def last_seen(self) -> float:
        hops = self.hops
        if len(hops) == 1:
            return hops[0].last_seen
        return max(hop.last_seen for hop in hops)

    @property
    def message_id(self) -> Optional[str]:
        hops = self.hops
        if len(hops) == 1:
            return hops[0].message_id or None
        return next((hop.message_id for hop in hops if hop.message_id), None)

    @property
    def sender(self) -> Optional[str]:
        """The envelope sender; a qualified address (`alice@host`) over a bare local name (`alice`)."""
        hops = self.hops
        if len(hops) == 1:
            return hops[0].sender
        senders = [hop.sender for hop in hops if hop.sender is not None]
        return next((s for s in senders if "@" in s), senders[0] if senders else None)

    @property
    def subject(self) -> Optional[str]:
        hops = self.hops
        if len(hops) == 1:
            return hops[0].subject or None
        return next((hop.subject for hop in hops if hop.subject), None)

    @property
    def size(self) -> Optional[int]:
        hops = self.hops
        if len(hops) == 1:
            return hops[0].size
        return next((hop.size for hop in hops if hop.size is not None), None)

    @property
    def client(self) -> Optional[str]:
        return self.hops[0].client

    @property
    def client_ip(self) -> Optional[str]:
        return self.hops[0].client_ip

    @property
    def servers(self) -> List[str]:
        seen: List[str] = []
        for hop in self.hops:
            if hop.server not in seen:
                seen.append(hop.server)
        return seen

    @property
    def lines(self) -> List[LineRef]:
        """Every raw line of every hop, in file order."""
        return sorted({ref for hop in self.hops for ref in hop.lines})

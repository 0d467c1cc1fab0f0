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

from array import array
from datetime import datetime, timedelta, timezone
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional

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


class LineList:
    """A transaction's raw-line references, packed into arrays: 12 bytes a line instead of the ~150
    a list of LineRef tuples costs (a 1 GB log has millions of lines; this is most of the memory).

    Behaves like a list of :class:`LineRef`: append, extend, prepend, len, iteration, indexing, ``in``.
    """

    __slots__ = ("_numbers", "_where")

    def __init__(self, refs: Iterable[LineRef] = ()) -> None:
        self._where = array("q")  # byte offset << 16 | file id
        self._numbers = array("I")  # line number
        self.extend(refs)

    def append(self, ref: LineRef) -> None:
        self._where.append(ref.offset << 16 | ref.file_id)
        self._numbers.append(ref.line)

    def extend(self, refs: Iterable[LineRef]) -> None:
        if isinstance(refs, LineList):
            self._where.extend(refs._where)
            self._numbers.extend(refs._numbers)
            return
        for ref in refs:
            self.append(ref)

    def prepend(self, refs: Iterable[LineRef]) -> None:
        """Put lines read earlier (a session's connect line) before this transaction's own."""
        before = LineList(refs)
        before.extend(self)
        self._where, self._numbers = before._where, before._numbers

    def __len__(self) -> int:
        return len(self._numbers)

    def __getitem__(self, index: int) -> LineRef:
        where = self._where[index]
        return LineRef(where & 0xFFFF, self._numbers[index], where >> 16)

    def __iter__(self) -> Iterator[LineRef]:
        for where, number in zip(self._where, self._numbers):
            yield LineRef(where & 0xFFFF, number, where >> 16)

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, LineRef):
            return False
        where = ref.offset << 16 | ref.file_id
        return any(w == where and n == ref.line for w, n in zip(self._where, self._numbers))

    def __repr__(self) -> str:
        return f"LineList({list(self)!r})"


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
        self.address = address
        #: The address before alias/virtual rewriting (Postfix `orig_to=`), if logged.
        self.orig_address = orig_address
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
        twin = Recipient(self.address, self.orig_address)
        for name in self.__slots__:
            setattr(twin, name, getattr(self, name))
        return twin

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


class Transaction:
    """One queue id's life on one server: from its first line to `removed` (or the end of the log)."""

    __slots__ = (
        "claims",
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
        "recipients",
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
        #: The host whose log this is (syslog host name, Exchange server name).
        self.server = server
        #: Postfix syslog name (`postfix`, `postfix-out`), Sendmail program, Exchange log kind.
        self.instance = instance
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
        #: Recipients in the order first logged, keyed by address.
        self.recipients: Dict[str, Recipient] = {}
        #: Every raw line that belongs to this transaction, in the order read.
        self.lines = LineList()
        #: Links this transaction's lines claim, resolved by :mod:`mailtui.link`.
        self.claims: List[LinkClaim] = []
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

    @property
    def key(self) -> str:
        """A readable identity: `server/instance:queue_id`."""
        return f"{self.server}/{self.instance}:{self.queue_id}"

    def touch(self, ts: float, ref: LineRef) -> None:
        """Record one more line of this transaction."""
        self.lines.append(ref)
        if ts < self.first_seen:
            self.first_seen = ts
        if ts > self.last_seen:
            self.last_seen = ts

    def recipient(self, address: str, orig_address: Optional[str] = None) -> Recipient:
        """The recipient record for `address`, created on first mention."""
        rcpt = self.recipients.get(address)
        if rcpt is None:
            rcpt = self.recipients[address] = Recipient(address, orig_address)
        elif orig_address and not rcpt.orig_address:
            rcpt.orig_address = orig_address
        return rcpt

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
    """A resolved edge between two transactions, with the line that proves it."""

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


class Trace:
    """One mail as the user means it: hops in order, recipients' final fate, bounces, raw lines."""

    __slots__ = ("children", "hops", "id", "links", "parent", "reason", "recipients", "status")

    def __init__(self, trace_id: str, hops: List[Transaction], links: List[Link]) -> None:
        self.id = trace_id
        #: Transactions in hop order (receiving server first).
        self.hops = hops
        #: The links that joined the hops.
        self.links = links
        #: Final fate per recipient, merged across hops (later hops override earlier ones).
        self.recipients: List[Recipient] = []
        #: One of :data:`STATUSES` or :data:`MIXED`.
        self.status = "in-queue"
        #: Trace id of the mail this one is a bounce/notification of.
        self.parent: Optional[str] = None
        #: Trace ids of bounces/notifications this mail caused.
        self.children: List[str] = []
        #: Why it ended as it did, when the status alone does not say.
        self.reason: Optional[str] = None

    @property
    def first(self) -> Transaction:
        return self.hops[0]

    @property
    def first_seen(self) -> float:
        return min(hop.first_seen for hop in self.hops)

    @property
    def last_seen(self) -> float:
        return max(hop.last_seen for hop in self.hops)

    @property
    def message_id(self) -> Optional[str]:
        return next((hop.message_id for hop in self.hops if hop.message_id), None)

    @property
    def sender(self) -> Optional[str]:
        """The envelope sender; a qualified address (`alice@host`) over a bare local name (`alice`)."""
        senders = [hop.sender for hop in self.hops if hop.sender is not None]
        return next((s for s in senders if "@" in s), senders[0] if senders else None)

    @property
    def subject(self) -> Optional[str]:
        return next((hop.subject for hop in self.hops if hop.subject), None)

    @property
    def size(self) -> Optional[int]:
        return next((hop.size for hop in self.hops if hop.size is not None), None)

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

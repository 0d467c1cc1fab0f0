"""Microsoft Exchange message-tracking logs (`MSGTRK*.LOG`, EXO CSV) turned into Transactions.

One :class:`ExchangeReader` reads the lines of ONE file and groups its rows by internal-message-id
(per server) into :class:`~mailtui.model.Transaction` s. Columns always come from the file's own
`#Fields:` header (it may repeat mid-file, with another field list, after a service restart);
headerless rows (Elastic strips the header) fall back to the documented layouts by column count.
Quoting is CSV (`"a, b"`, doubled `""`); list fields (`recipient-address`, `recipient-status`) are
`;`-separated and positionally aligned. Times are UTC (`tz = 0`).

Which column names the local server (checked on the seed, the corpus and the docs):

* RECEIVE / DELIVER / DEFER / FAIL / HAREDIRECT / DSN ...: `server-hostname` is the logging server
  (seed: RECEIVE client `WIN-13C1F1N1KA5.test.org`, server `WIN-13C1F1N1KA5`; Elastic: RECEIVE
  server `exchange-mail`; KinesisTap: HAREDIRECT server `EX13D13UWA001`).
* SEND / SENDEXTERNAL / SUBMIT: the logging server is the *client* of the hop, so it is
  `client-hostname`; `server-hostname`/`server-ip` is the next hop (Elastic: SENDEXTERNAL client
  `HELLOWORLD`, server `...mail.protection.outlook.com`, SEND client `exchange`; docs: "SEND:
  ServerIP and ServerHostName have the IP address and hostname of the SMTP server", "SUBMIT: the
  Mail Submission service on a Mailbox server notified a Hub Transport server").
* Rows with an empty `server-hostname` (AGENTINFO, NOTIFYMAPI) name it in `client-hostname`
  (KinesisTap AGENTINFO `EX13D13UWA001`, MSGTRKMS NOTIFYMAPI `SERVER-HOSTNAME`), except RECEIVE
  rows, whose client is the remote side; rows naming no host at all use the file's last known server.

Names are shortened to their first label, case kept (`EX01.corp.example` → `EX01`); IPs stay whole.
A transaction's server is fixed by its first row that names one: a file is one server's log, so
its rows are grouped by internal-message-id alone (Exchange 2007 logs DELIVER with the mailbox
server in `server-hostname`; keying on the per-row name would split such a transaction).
"""

from __future__ import annotations

import calendar
import csv
import re
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from mailtui.model import LineRef, LinkClaim, Recipient, Transaction
from mailtui.parsers import replies

# ---------------------------------------------------------------------------------------------------
# Layouts

#: Exchange 2007 (8.x): 21 fields.
FIELDS_2007: Tuple[str, ...] = (
    "date-time", "client-ip", "client-hostname", "server-ip", "server-hostname", "source-context",
    "connector-id", "source", "event-id", "internal-message-id", "message-id", "recipient-address",
    "recipient-status", "total-bytes", "recipient-count", "related-recipient-address", "reference",
    "message-subject", "sender-address", "return-path", "message-info",
)  # fmt: skip
#: Exchange 2010 (14.x): 26 fields.
FIELDS_2010: Tuple[str, ...] = (
    *FIELDS_2007,
    "directionality",
    "tenant-id",
    "original-client-ip",
    "original-server-ip",
    "custom-data",
)
#: Exchange 2013 (15.00): 27 fields, network-message-id after message-id.
FIELDS_2013: Tuple[str, ...] = (
    *FIELDS_2010[:11],
    "network-message-id",
    *FIELDS_2010[11:],
)
#: Exchange 2016 (15.01) / 2019 (15.02): 30 fields.
FIELDS_2016: Tuple[str, ...] = (*FIELDS_2013, "transport-traffic-type", "log-id", "schema-version")
#: Layouts for headerless rows, by column count.
LAYOUTS_BY_COUNT: Dict[int, Tuple[str, ...]] = {
    len(layout): layout for layout in (FIELDS_2007, FIELDS_2010, FIELDS_2013, FIELDS_2016)
}

#: Event ids of Exchange 2007 … 2019 and EXO (SENDEXTERNAL).
EVENT_IDS = frozenset(
    {
        "AGENTINFO", "BADMAIL", "CLIENTSUBMISSION", "DEFER", "DELIVER", "DELIVERFAIL", "DROP", "DSN",
        "DUPLICATEDELIVER", "DUPLICATEEXPAND", "DUPLICATEREDIRECT", "EXPAND", "FAIL", "HADISCARD",
        "HARECEIVE", "HAREDIRECT", "HAREDIRECTFAIL", "INITMESSAGECREATED", "LOAD", "MODERATIONEXPIRE",
        "MODERATORAPPROVE", "MODERATORREJECT", "MODERATORSALLNDR", "NOTIFYMAPI", "NOTIFYSHADOW",
        "POISONMESSAGE", "PROCESS", "PROCESSMEETINGMESSAGE", "RECEIVE", "REDIRECT", "RESOLVE",
        "RESUBMIT", "RESUBMITDEFER", "RESUBMITFAIL", "SEND", "SENDEXTERNAL", "SUBMIT", "SUBMITDEFER",
        "SUBMITFAIL", "SUPPRESSED", "THROTTLE", "TRANSFER",
    }
)  # fmt: skip

#: Shadow-redundancy events: their lines join the transaction, but they say nothing final.
SHADOW_EVENTS = frozenset({"HARECEIVE", "HAREDIRECT", "HAREDIRECTFAIL", "HADISCARD", "NOTIFYSHADOW"})
#: Events where the logging server is the SMTP client (see the module docstring).
_CLIENT_SIDE_EVENTS = frozenset({"SEND", "SENDEXTERNAL", "SUBMIT"})
#: Events whose client-hostname is the remote side (never the local server).
_RECEIVE_EVENTS = frozenset({"RECEIVE", "HARECEIVE"})
#: Events that end a recipient's life on this server as discarded, with a reason.
_DISCARD_REASONS = {
    "DROP": "dropped without a DSN",
    "BADMAIL": "badmail: cannot be delivered or returned",
    "POISONMESSAGE": "put in the poison message queue",
}
#: Moderation outcomes: event → (status, reason).
_MODERATION = {
    "MODERATORREJECT": ("rejected", "rejected by a moderator"),
    "MODERATIONEXPIRE": ("expired", "moderation request expired"),
    "MODERATORSALLNDR": ("bounced", "all moderators returned an NDR"),
}
#: Events that rewrite recipients: `related-recipient-address` ↔ `recipient-address`.
_REWRITE_EVENTS = frozenset({"EXPAND", "REDIRECT", "RESOLVE"})

#: Exchange Online historical-search CSV names (underscores) → the dashed on-premises names.
_EXO_NAMES = {"date_time_utc": "date-time", "date_time": "date-time", "datetime": "date-time"}

#: File-name prefixes → log kinds, longest first.
LOG_KINDS = ("MSGTRKMA", "MSGTRKMD", "MSGTRKMS", "MSGTRK")

_DATE = re.compile(
    r"\s*(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?\s*(Z|[+-]\d\d:?\d\d)?\s*\Z"
)
_LED = re.compile(r"\{LED=([^}]*)\}")
#: A `;`-separated piece that starts a new recipient's status (anything else continues the previous
#: one, e.g. `550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found ...`).
_STATUS_START = re.compile(r"\s*(?:\d{3}\b|\{LED=|\[|(?:To|Cc|Bcc)\s*\Z|\Z)", re.IGNORECASE)
_IP = re.compile(r"[\d.]+\Z|.*:")
_PROXIED_HOST = re.compile(r"(?:^|;)S:ProxiedClientHostname=([^;]*)")


#: Reads one column of the current row by its dashed name ("" when absent).
_Getter = Callable[[str], str]


class _Layout(NamedTuple):
    """Column positions of one field list (-1: not present)."""

    width: int
    index: Dict[str, int]


def _layout(names: Iterable[str]) -> _Layout:
    """Column positions for a field list, EXO underscore names mapped to the dashed ones."""
    index: Dict[str, int] = {}
    width = 0
    for pos, raw in enumerate(names):
        name = raw.strip().strip('"').strip().lower()
        name = _EXO_NAMES.get(name, name.replace("_", "-"))
        index.setdefault(name, pos)
        width = pos + 1
    return _Layout(width, index)


_DEFAULT_LAYOUTS = {count: _layout(names) for count, names in LAYOUTS_BY_COUNT.items()}


def log_kind(filename: str) -> str:
    """The log kind a file name says (`MSGTRKMD20240311-1.LOG` → `MSGTRKMD`); `MSGTRK` otherwise."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].upper()
    for kind in LOG_KINDS:
        if base.startswith(kind):
            return kind
    return "MSGTRK"


def short_host(name: str) -> str:
    """A host name's first label, case kept; IP addresses (v4/v6) stay whole."""
    name = name.strip()
    if not name or _IP.match(name):
        return name
    return name.split(".", 1)[0]


def split_row(text: str) -> Optional[List[str]]:
    """Split one CSV row (quoted commas, doubled quotes); None if the csv module refuses it."""
    if '"' not in text:
        return text.split(",")
    try:
        return next(csv.reader([text]))
    except (csv.Error, StopIteration):
        return None


def split_addresses(value: str) -> List[str]:
    """Split a `;`-separated address list; members containing `;` or `'` are single-quoted (`''` = `'`)."""
    if "'" not in value:
        return [part.strip() for part in value.split(";") if part.strip()]
    out: List[str] = []
    pos, end = 0, len(value)
    while pos < end:
        while pos < end and value[pos] == " ":
            pos += 1
        if pos < end and value[pos] == "'":
            buf: List[str] = []
            j = pos + 1
            while j < end:
                if value[j] == "'":
                    if j + 1 < end and value[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(value[j])
                j += 1
            nxt = value.find(";", j + 1)
            member = "".join(buf) + (value[j + 1 :] if nxt < 0 else value[j + 1 : nxt])
        else:
            nxt = value.find(";", pos)
            member = value[pos:] if nxt < 0 else value[pos:nxt]
        member = member.strip()
        if member:
            out.append(member)
        pos = end if nxt < 0 else nxt + 1
    return out


def _split_top(value: str) -> List[str]:
    """Split on `;` outside `[...]` and `{...}`."""
    pieces: List[str] = []
    depth = 0
    start = 0
    for pos, char in enumerate(value):
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        elif char == ";" and depth == 0:
            pieces.append(value[start:pos])
            start = pos + 1
    pieces.append(value[start:])
    return pieces


def split_statuses(value: str, count: int) -> List[Optional[str]]:
    """`recipient-status` aligned with `count` recipients (None where nothing was logged).

    One recipient takes the whole text. With several, the text is split on top-level `;` and pieces
    that do not start like a status (`NNN`, `{LED=`, `[`, `To`/`Cc`/`Bcc`, empty) are glued back to
    the previous one; a single status left over applies to every recipient.
    """
    if count <= 0:
        return []
    text = value.strip()
    if not text:
        return [None] * count
    if count == 1:
        return [text]
    merged: List[str] = []
    for piece in _split_top(text):
        if merged and not _STATUS_START.match(piece):
            merged[-1] = merged[-1] + ";" + piece
        else:
            merged.append(piece)
    if len(merged) == 1:
        return [merged[0].strip()] * count
    out: List[Optional[str]] = [piece.strip() or None for piece in merged[:count]]
    out.extend([None] * (count - len(out)))
    return out


def _response(status: Optional[str]) -> Optional[str]:
    """The reply text of one recipient status (`{LED=...}` unwrapped)."""
    if not status:
        return None
    led = _LED.search(status)
    text = led.group(1).strip() if led else status.strip()
    return text or None


_DAY_CACHE: Dict[Tuple[int, int, int], int] = {}


def parse_time(value: str) -> Optional[float]:
    """Epoch seconds of an Exchange ISO 8601 time (`2014-02-21T01:38:46.806Z`); None if malformed."""
    match = _DATE.match(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    key = (year, month, day)
    base = _DAY_CACHE.get(key)
    if base is None:
        if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]) or year < 1970:
            return None
        base = _DAY_CACHE[key] = calendar.timegm((year, month, day, 0, 0, 0))
    if hour > 23 or minute > 59 or second > 60:
        return None
    ts = float(base + hour * 3600 + minute * 60 + second)
    frac = match.group(7)
    if frac:
        ts += int(frac) / (10 ** len(frac))
    zone = match.group(8)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return ts


def _strip_brackets(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def _header_fields(text: str) -> Optional[List[str]]:
    """The field names of a `#Fields:` line or an EXO CSV header row; None for anything else."""
    if text.startswith("#"):
        if text[1:8].lower() != "fields:":
            return None
        body = text[8:]
        row = split_row(body) if '"' in body else body.split(",")
        return [name.strip() for name in row] if row else None
    head = text[:40].lower().lstrip('"')
    if head.startswith(("date_time", "date-time", "datetime")) and (
        "event_id" in text.lower() or "event-id" in text.lower()
    ):
        return split_row(text)
    return None


def _is_tracking_layout(layout: _Layout) -> bool:
    return "event-id" in layout.index and "date-time" in layout.index


def _row_layout(row: List[str], current: Optional[_Layout]) -> Optional[_Layout]:
    """The layout that maps this row: the header's when the width matches, else a default by count."""
    if current is not None and len(row) == current.width:
        return current
    fallback = _DEFAULT_LAYOUTS.get(len(row))
    if fallback is None:
        return None
    if current is not None:
        # A width that differs from the header's: only accept a default layout if it clearly fits.
        event = row[fallback.index["event-id"]].strip().upper()
        if event not in EVENT_IDS:
            return None
    return fallback


def _looks_like_row(text: str) -> bool:
    """A headerless message-tracking row: ISO date first, a known event id where the layout says."""
    row = split_row(text.strip())
    if not row:
        return False
    layout = _DEFAULT_LAYOUTS.get(len(row))
    if layout is None or parse_time(row[0]) is None:
        return False
    return row[layout.index["event-id"]].strip().upper() in EVENT_IDS


def looks_like_exchange(lines: Sequence[str]) -> bool:
    """True for message-tracking text.

    A `#Log-type: Message Tracking Log` or a `#Fields:` line with event-id/event_id (or an EXO CSV
    header) decides; a `#Software: Microsoft Exchange` header counts unless a Log-type/Fields line
    says otherwise; headerless files need most of their non-empty lines to parse as tracking rows
    (ISO date-time first, a known event id in the event-id column of a known layout). SMTP protocol
    logs (`SMTP Receive Protocol Log`, headerless `...,>,535 ...` rows) and syslog are False.
    """
    software = False
    rows = hits = 0
    for raw in lines:
        text = raw.lstrip("\ufeff").strip()
        if not text:
            continue
        if text.startswith("#"):
            lower = text.lower()
            if lower.startswith("#log-type:"):
                return "message tracking" in lower
            if lower.startswith("#fields:"):
                fields = _header_fields(text)
                return bool(fields) and _is_tracking_layout(_layout(fields or ()))
            if lower.startswith("#software:") and "microsoft exchange" in lower:
                software = True
            continue
        fields = _header_fields(text)
        if fields is not None and _is_tracking_layout(_layout(fields)):
            return True
        rows += 1
        if _looks_like_row(text):
            hits += 1
    if software and rows == 0:
        return True
    return hits > 0 and hits * 2 >= rows


# ---------------------------------------------------------------------------------------------------
# The reader


class _PendingDsn(NamedTuple):
    """A DSN row whose original message is not (yet) in this file."""

    dsn: Transaction
    reference: str
    ts: float
    proof: LineRef


class ExchangeReader:
    """Turns the lines of ONE message-tracking file into Transactions.

    Columns come from each `#Fields:` header (a header may repeat mid-file with a different field
    list); headerless files fall back to the 2016/2019 30-field layout (or 2013/2010/2007 by column
    count). Handles a UTF-8 BOM, CSV quoting and EXO underscore names. Only per-transaction state is
    kept, never the rows themselves.

    DSN and `reference` (CORRELATION.md: on a DSN message `reference` is the Message-Id of the
    original, some versions log the original's internal-message-id instead): a DSN row belongs to
    the DSN message's own transaction (its own internal id and message-id). ``dsn`` is a child link,
    which the linker reads as "the claim's owner is the parent, the target its bounce", so the claim
    is put on the ORIGINAL transaction: ``LinkClaim("dsn", <DSN's internal id>, "", ts, dsn row)``,
    target on this server. The original is looked up in this file by message-id (or internal id);
    when it is not here, the DSN waits in :meth:`pending_dsn` for :func:`attach_dsn_claims` to be
    run over other files' transactions. A FAIL/DEFER/DELIVER row of the original that itself names
    the DSN in `reference` claims it directly (``LinkClaim("dsn", <DSN message-id>, "", ...)``).
    """

    def __init__(self, file_id: int, seq_start: int = 0, kind: str = "MSGTRK") -> None:
        self.file_id = file_id
        self.kind = kind or "MSGTRK"
        #: Sequence number the next new transaction gets.
        self.next_seq = seq_start
        #: The last server a row of this file named (for rows that name none).
        self.server = ""
        self._layout: Optional[_Layout] = None
        self._foreign = False
        self._txs: Dict[str, Transaction] = {}
        self._shadow_only: Dict[str, bool] = {}
        self._by_message_id: Dict[str, List[Transaction]] = {}
        self._pending: List[_PendingDsn] = []

    # -- public ------------------------------------------------------------------------------------

    def feed(self, line_no: int, offset: int, text: str) -> bool:
        """Consume one line; True if understood (headers, comments, blank lines, parsed rows).

        A malformed row (a column count no layout maps, a bad date, no event id) or a `#Fields:` header
        of another log type is False. Never raises.
        """
        try:
            return self._feed(line_no, offset, text)
        except Exception:  # a log line must never stop the pipeline; the line counts as not understood
            return False

    def transactions(self) -> List[Transaction]:
        """All transactions of this file so far: one per (server, internal-message-id), first seen first."""
        if self._pending:
            still: List[_PendingDsn] = []
            for item in self._pending:
                if not self._claim_dsn(item):
                    still.append(item)
            self._pending = still
        out = list(self._txs.values())
        for tx in out:
            if not tx.server:
                tx.server = self.server or "unknown"
            if self._shadow_only.get(tx.queue_id) and tx.reason is None:
                tx.reason = "shadow redundancy copy"
            for rcpt in tx.recipients.values():
                if rcpt.status != "in-queue" and rcpt.final_server is None:
                    rcpt.final_server = tx.server
        return out

    def pending_dsn(self) -> List[Tuple[Transaction, str, float, LineRef]]:
        """DSNs whose original (named by `reference`) is not in this file: (dsn, reference, ts, proof)."""
        return [(item.dsn, item.reference, item.ts, item.proof) for item in self._pending]

    # -- rows --------------------------------------------------------------------------------------

    def _feed(self, line_no: int, offset: int, text: str) -> bool:
        text = text.lstrip("\ufeff").rstrip("\r\n")
        if not text.strip():
            return True
        fields = _header_fields(text)
        if fields is not None:
            layout = _layout(fields)
            if _is_tracking_layout(layout):
                self._layout, self._foreign = layout, False
                return True
            self._layout, self._foreign = None, True
            return False
        if text.startswith("#"):
            return True
        if self._foreign:
            return False
        row = split_row(text)
        if not row:
            return False
        layout = _row_layout(row, self._layout)
        if layout is None:
            return False
        index = layout.index

        def get(name: str) -> str:
            pos = index.get(name, -1)
            return row[pos].strip() if 0 <= pos < len(row) else ""

        ts = parse_time(get("date-time"))
        event = get("event-id").upper()
        if ts is None or not event or " " in event:
            return False
        iid = get("internal-message-id")
        if not iid:
            return True  # NOTIFYMAPI and other rows before a message exists: understood, no transaction
        server = self._local_server(event, get("client-hostname"), get("server-hostname"))
        tx = self._txs.get(iid)
        if tx is None:
            tx = self._txs[iid] = Transaction("exchange", server, self.kind, iid, ts, 0, self.next_seq)
            self.next_seq += 1
            self._shadow_only[iid] = True
        elif not tx.server and server:
            tx.server = server
        ref = LineRef(self.file_id, line_no, offset)
        tx.touch(ts, ref)
        self._apply(tx, event, get, ts, ref)
        return True

    def _local_server(self, event: str, client: str, server: str) -> str:
        """The logging server's short name for one row (rule in the module docstring)."""
        if event in _CLIENT_SIDE_EVENTS:
            name = client or ""
        elif server:
            name = server
        elif event not in _RECEIVE_EVENTS:
            name = client
        else:
            name = ""
        name = short_host(name)
        if name:
            self.server = name
            return name
        return self.server

    def _describe(self, tx: Transaction, get: _Getter) -> None:
        """Fill the message's descriptive fields from any row that has them (first value wins)."""
        if tx.message_id is None:
            message_id = _strip_brackets(get("message-id"))
            if message_id:
                tx.message_id = message_id
                self._by_message_id.setdefault(message_id, []).append(tx)
        if tx.network_message_id is None:
            tx.network_message_id = get("network-message-id") or None
        if tx.subject is None:
            tx.subject = get("message-subject") or None
        if tx.sender is None:
            # The envelope sender is `return-path` (SMTP MAIL FROM, `<>` for bounces); `sender-address`
            # is the Sender:/From: header, used when no return-path is logged.
            return_path = get("return-path")
            if return_path:
                tx.sender = _strip_brackets(return_path)
            else:
                tx.sender = get("sender-address") or None
        if tx.size is None:
            size = get("total-bytes")
            if size.isdigit():
                tx.size = int(size)

    def _apply(self, tx: Transaction, event: str, get: _Getter, ts: float, ref: LineRef) -> None:
        """What one event says about the transaction and its recipients."""
        self._describe(tx, get)
        if event in SHADOW_EVENTS:
            return  # shadow copies: lines kept, no recipients, no final status
        self._shadow_only[tx.queue_id] = False
        addresses = split_addresses(get("recipient-address"))
        statuses = split_statuses(get("recipient-status"), len(addresses))

        if event == "RECEIVE":
            self._receive(tx, get, addresses)
        elif event in ("SEND", "SENDEXTERNAL"):
            host, ip = get("server-hostname"), get("server-ip")
            relay = f"{host}[{ip}]" if ip else host or None
            for address, status in zip(addresses, statuses):
                self._final(tx, address, "sent", status, ts, relay=relay, mailer=get("source") or "SMTP")
            texts = (get("recipient-status"), get("source-context"))
            self._claim_next_hops(tx, texts, host or get("server-ip"), ts, ref)
        elif event in ("DELIVER", "DUPLICATEDELIVER"):
            for address, status in zip(addresses, statuses):
                self._final(tx, address, "sent", status, ts, relay="mailbox", mailer="STOREDRIVER")
        elif event == "SUBMIT":
            # Mailbox Transport Submission handed the message to the Transport service.
            host = get("server-hostname")
            for address, status in zip(addresses, statuses):
                self._final(tx, address, "sent", status, ts, relay=host or "transport", mailer="STOREDRIVER")
        elif event == "FAIL":
            for address, status in zip(addresses, statuses):
                self._final(tx, address, "bounced", status, ts)
        elif event in ("DEFER", "SUBMITDEFER", "RESUBMITDEFER"):
            for address, status in zip(addresses, statuses):
                self._final(tx, address, "deferred", status, ts)
        elif event in _DISCARD_REASONS or event in _MODERATION:
            word, reason = _MODERATION.get(event, ("discarded", _DISCARD_REASONS.get(event, "")))
            for address, status in zip(addresses, statuses):
                self._final(tx, address, word, status, ts, reason=reason)
            if not addresses:
                tx.status, tx.reason = word, reason
        elif event in _REWRITE_EVENTS:
            self._rewrite(tx, addresses, split_addresses(get("related-recipient-address")))
        else:
            # DSN, TRANSFER, RESUBMIT, AGENTINFO, ...: recipients named here are still on their way.
            for address in addresses:
                tx.recipient(address)
        reference = get("reference")
        if reference and event == "DSN":
            self._dsn(tx, reference, ts, ref)
        elif reference and event in ("FAIL", "DEFER", "DELIVER", "SEND", "SENDEXTERNAL", "DROP"):
            target = _strip_brackets(reference)
            if "@" in target:  # the Message-Id of a DSN this event caused
                tx.claims.append(LinkClaim("dsn", target, "", ts, ref))

    def _receive(self, tx: Transaction, get: _Getter, addresses: List[str]) -> None:
        """RECEIVE: who handed the message over, and to whom it is addressed."""
        original_ip = get("original-client-ip")
        if tx.client_ip is None:
            tx.client_ip = original_ip or get("client-ip") or None
        if tx.client is None:
            proxied = _PROXIED_HOST.search(get("custom-data")) if original_ip else None
            tx.client = (proxied.group(1).strip() if proxied else "") or get("client-hostname") or None
        count = get("recipient-count")
        if tx.nrcpt is None and count.isdigit():
            tx.nrcpt = int(count)
        for address in addresses:
            tx.recipient(address)

    def _final(
        self,
        tx: Transaction,
        address: str,
        status: str,
        text: Optional[str],
        ts: float,
        relay: Optional[str] = None,
        mailer: Optional[str] = None,
        reason: Optional[str] = None,
    ) -> Recipient:
        """Record one recipient's latest word on this server (a later event overrides an earlier one)."""
        rcpt = tx.recipient(address)
        rcpt.status = status
        response = _response(text)
        rcpt.response = response
        match = replies.DSN_CODE.search(response) if response else None
        rcpt.dsn = match.group(1) if match else None
        rcpt.relay = relay
        if mailer is not None:
            rcpt.mailer = mailer
        rcpt.reason = reason
        rcpt.final_server = tx.server or self.server or None
        rcpt.ts = ts
        return rcpt

    def _rewrite(self, tx: Transaction, addresses: List[str], related: List[str]) -> None:
        """EXPAND/REDIRECT/RESOLVE: one list is the original address(es), the other the new ones.

        Docs disagree on which column holds the group/original; the side already known as a
        recipient of this transaction is the original, else `related-recipient-address` is.
        """
        known = tx.recipients
        if related and all(a in known for a in addresses) and not any(r in known for r in related):
            originals, new = addresses, related
        else:
            originals, new = related, addresses
        origin = originals[0] if len(originals) == 1 else None
        for address in new:
            tx.recipient(address, origin)
        for address in originals:
            rcpt = known.get(address)
            if rcpt is not None and rcpt.status == "in-queue" and address not in new:
                del known[address]  # replaced by its members / its new address

    # -- links -------------------------------------------------------------------------------------

    def _claim_next_hops(
        self, tx: Transaction, texts: Sequence[str], host: str, ts: float, ref: LineRef
    ) -> None:
        """A SEND's reply names the next server's id: `[InternalId=N, Hostname=H]`, `queued as QID`."""
        seen = {(claim.kind, claim.target_id, claim.target_host) for claim in tx.claims}
        for text in texts:
            for claim in replies.next_hop_claims(text, host, ts, ref) if text else ():
                if (claim.kind, claim.target_id, claim.target_host) not in seen:
                    seen.add((claim.kind, claim.target_id, claim.target_host))
                    tx.claims.append(claim)

    def _dsn(self, tx: Transaction, reference: str, ts: float, ref: LineRef) -> None:
        item = _PendingDsn(tx, _strip_brackets(reference), ts, ref)
        if item.reference and not self._claim_dsn(item):
            self._pending.append(item)

    def _claim_dsn(self, item: _PendingDsn) -> bool:
        """Put the DSN's claim on its original in this file; False when the original is not here."""
        originals = [t for t in self._by_message_id.get(item.reference, ()) if t is not item.dsn]
        if not originals:
            original = self._txs.get(item.reference)
            originals = [original] if original is not None and original is not item.dsn else []
        for original in originals:
            original.claims.append(LinkClaim("dsn", item.dsn.queue_id, "", item.ts, item.proof))
        return bool(originals)


def attach_dsn_claims(
    pending: Iterable[Tuple[Transaction, str, float, LineRef]], transactions: Iterable[Transaction]
) -> int:
    """Resolve DSNs whose original is in another file: claim each on the originals found. Returns how many."""
    by_id: Dict[str, List[Transaction]] = {}
    for tx in transactions:
        if tx.message_id:
            by_id.setdefault(tx.message_id, []).append(tx)
    done = 0
    for dsn, reference, ts, proof in pending:
        for original in by_id.get(reference, ()):
            if original is not dsn:
                target_host = "" if original.server == dsn.server else dsn.server
                original.claims.append(LinkClaim("dsn", dsn.queue_id, target_host, ts, proof))
                done += 1
    return done

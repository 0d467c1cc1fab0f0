"""The query language shared by the command line and the TUI: compile once, match many traces fast.

A query is a list of terms separated by white space; every term must hold (AND)::

    from:boss@example.com to:@example.org status:bounced,deferred since:"2024-01-11 09:00"
    until:today subject:invoice client:10.14.168.0/24 relay:mail.evil.example server:mx1
    msgid:<abc@example.com> qid:307DF802B3 reason:"Relay access denied" invoice -spam

* ``field:value`` restricts one field; ``value`` may be a comma list, any of which may match (OR).
* A bare word is a case-insensitive substring of any address, subject, id, host, relay or server.
* A leading ``-`` negates a term (``-from:x``, ``-word``).
* Double quotes make text literal: spaces, commas and colons inside them do not split or start a
  field (``subject:"quarterly report, Q3"``, ``"re:hello"``); ``\\"`` and ``\\\\`` escape inside quotes.
* ``reason:`` is a substring of a recipient's reply or reason, or of the message's reason (a reject,
  a discard); a value with the placeholders of :func:`mailtui.reasons.fold_reason` (``<…>``, ``[…]``,
  ``N``) also matches the folded reply, so the overview's reason rows read back as queries.
* Aliases: ``sender:`` = ``from:``, ``rcpt:`` = ``to:``, ``ip:``/``host:`` = ``client:`` OR
  ``relay:``, ``id:`` = ``qid:`` OR ``msgid:`` OR the trace id.

Everything is case-insensitive, Message-IDs included. A bad query raises :class:`QueryError` with one
line that names the offending word.
"""

from __future__ import annotations

import ipaddress
import re
import time
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Callable, Dict, FrozenSet, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from dateutil import parser as date_parser

from .model import MIXED, PROBLEM_STATUSES, STATUSES, MailtuiError, Trace
from .reasons import is_folded, reason_matches

__all__ = [
    "COLUMNS",
    "FIELDS",
    "TEXT_COLUMNS",
    "IndexTerm",
    "Lookup",
    "Query",
    "QueryError",
    "parse_query",
    "quote_value",
]

Predicate = Callable[[Trace], bool]
#: Tests one (host, ip) pair, both lower-case ("" when unknown).
HostTest = Callable[[str, str], bool]
AddressTest = Callable[[str], bool]
_IP = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

#: Every field name the language knows, canonical names first, then aliases.
FIELDS = (
    "from",
    "to",
    "status",
    "since",
    "until",
    "subject",
    "client",
    "relay",
    "server",
    "msgid",
    "qid",
    "reason",
    "id",
    "ip",
    "host",
    "sender",
    "rcpt",
)
_ALIASES = {"sender": "from", "rcpt": "to", "host": "ip"}
#: Fields whose value is one literal text: a comma there is part of the value, not an OR.
_NO_LIST = frozenset({"since", "until"})
#: Words `status:` accepts besides :data:`STATUSES`.
_STATUS_WORDS = (*STATUSES, MIXED, "problem")

_FIELD_RE = re.compile(r"([A-Za-z][A-Za-z_-]*):")
_RELATIVE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)(?:\s+ago)?")
_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "wk", "week", "weeks"), 7 * 86400),
}
#: `host[ip]:port`, Sendmail's `host. [ip]`, bare `[ip]`, `local`, `host:port`.
_RELAY_RE = re.compile(r"\s*([^\s\[\]]*?)\.?\s*(?:\[([^\]]*)\])?(?::(\d+))?\s*")


class QueryError(MailtuiError):
    """One-line message naming the bad word."""


class Lookup(NamedTuple):
    """One way an index (:mod:`mailtui.index`) finds the traces of a term, in one of its columns.

    A stored value (a string a trace holds, see :data:`COLUMNS`) matches when its normalised form
    is one of ``keys``, or when its lower-cased form contains one of ``needles``, or when ``test``
    holds for its normalised form. Only ``keys`` can be looked up without looking at every
    distinct value of the column.
    """

    column: str
    keys: FrozenSet[str] = frozenset()
    needles: Tuple[str, ...] = ()
    test: Optional[Callable[[str], bool]] = None


class IndexTerm(NamedTuple):
    """A positive term an index answers exactly: ``predicate`` holds for a trace if and only if one
    of the trace's values in a lookup's column matches that lookup."""

    predicate: Predicate
    lookups: Tuple[Lookup, ...]


class Query:
    """A compiled query: :meth:`matches` tests one trace against every term.

    ``since``/``until`` are the tightest epoch bounds of the positive time terms (None when absent),
    so a caller that indexes traces by time can pre-filter; :meth:`matches` checks them anyway.

    For an index (:mod:`mailtui.index`): ``terms`` are the positive terms it can answer exactly,
    and ``residual`` the predicates that neither they nor ``since``/``until`` cover, which must
    still be tested on the traces the index finds. A query built without them leaves every
    predicate residual.
    """

    __slots__ = ("_predicates", "residual", "since", "terms", "text", "until")

    def __init__(
        self,
        text: str,
        predicates: Sequence[Predicate] = (),
        since: Optional[float] = None,
        until: Optional[float] = None,
        terms: Sequence[IndexTerm] = (),
        residual: Optional[Sequence[Predicate]] = None,
    ) -> None:
        self.text = text
        self.since = since
        self.until = until
        self._predicates: Tuple[Predicate, ...] = tuple(predicates)
        self.terms: Tuple[IndexTerm, ...] = tuple(terms)
        self.residual: Tuple[Predicate, ...] = self._predicates if residual is None else tuple(residual)

    def matches(self, trace: Trace) -> bool:
        """True when every term holds for `trace`."""
        return all(predicate(trace) for predicate in self._predicates)

    def is_empty(self) -> bool:
        """True for a query without terms (it matches everything)."""
        return not self._predicates

    def __repr__(self) -> str:
        return f"Query({self.text!r})"


# --------------------------------------------------------------------------------------- lexing


class _Token(NamedTuple):
    """One white-space separated word: its raw text and its pieces as (text, was_quoted)."""

    raw: str
    pieces: List[Tuple[str, bool]]


class _Term(NamedTuple):
    """One parsed term before compiling."""

    raw: str
    negated: bool
    field: Optional[str]
    pieces: List[Tuple[str, bool]]


def _lex(text: str) -> Iterator[_Token]:
    """Split `text` into words, shell-style: double quotes group, backslash escapes inside quotes."""
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        pieces: List[Tuple[str, bool]] = []
        plain: List[str] = []
        while i < n and not text[i].isspace():
            if text[i] != '"':
                plain.append(text[i])
                i += 1
                continue
            if plain:
                pieces.append(("".join(plain), False))
                plain = []
            i += 1
            quoted: List[str] = []
            while True:
                if i >= n:
                    raise QueryError(f"unbalanced quote in '{text[start:].strip()}'")
                char = text[i]
                if char == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    quoted.append(text[i + 1])
                    i += 2
                elif char == '"':
                    i += 1
                    break
                else:
                    quoted.append(char)
                    i += 1
            pieces.append(("".join(quoted), True))
        if plain:
            pieces.append(("".join(plain), False))
        yield _Token(text[start:i], pieces)


def _field_name(word: str, raw: str) -> Optional[Tuple[str, int]]:
    """(field, end of `field:`) when `word` starts with a field name; None for a bare word.

    An unknown name is an error, unless the whole word is an IP address (`dead:beef::1`).
    """
    match = _FIELD_RE.match(word)
    if match is None:
        return None
    field = match.group(1).lower()
    if field in FIELDS:
        return field, match.end()
    bare = raw.lstrip("-")
    if _looks_like_ip(bare):
        return None
    raise QueryError(
        f"unknown field '{match.group(1)}' in '{raw}' (fields: {', '.join(FIELDS)};"
        f' quote text to search for it: "{bare}")'
    )


def _term(token: _Token) -> _Term:
    """Split a token into negation, field name and value pieces."""
    pieces = list(token.pieces)
    negated = False
    first, quoted = pieces[0]
    if not quoted and first.startswith("-") and (len(first) > 1 or len(pieces) > 1):
        negated = True
        first = first[1:]
        pieces[0] = (first, False)
    field = None
    found = None if quoted else _field_name(first, token.raw)
    if found is not None:
        field, end = found
        pieces[0] = (first[end:], False)
    return _Term(token.raw, negated, field, [piece for piece in pieces if piece[0] or piece[1]])


def _argv_term(item: str) -> Optional[_Term]:
    """One CLI argument as exactly one term (the shell already took its quotes away)."""
    try:
        tokens = list(_lex(item))
    except QueryError:
        tokens = []
    if len(tokens) == 1:
        return _term(tokens[0])
    if not item.strip():
        return None
    body = item.strip()
    negated = body.startswith("-") and len(body) > 1
    if negated:
        body = body[1:]
    field = None
    found = _field_name(body, item.strip())
    if found is not None:
        field, end = found
        body = body[end:]
    if len(body) >= 2 and body[0] == body[-1] and body[0] in "\"'":
        body = body[1:-1]
    return _Term(item, negated, field, [(body, True)])


def _quote_argv(item: str) -> str:
    """Render one CLI argument as query text that reads back as the same single term."""
    term = _argv_term(item)
    if term is None:
        return ""
    try:
        if len(list(_lex(item))) == 1:
            return item
    except QueryError:
        pass
    value = "".join(text for text, _ in term.pieces).replace("\\", "\\\\").replace('"', '\\"')
    prefix = ("-" if term.negated else "") + (f"{term.field}:" if term.field else "")
    return f'{prefix}"{value}"'


def _alternatives(pieces: List[Tuple[str, bool]]) -> List[str]:
    """Split value pieces on unquoted commas; empty unquoted alternatives are dropped."""
    found: List[str] = []
    current: List[str] = []
    kept = False
    for text, quoted in pieces:
        if quoted:
            current.append(text)
            kept = True
            continue
        parts = text.split(",")
        for part in parts[:-1]:
            current.append(part)
            if kept or "".join(current):
                found.append("".join(current))
            current, kept = [], False
        current.append(parts[-1])
    if kept or "".join(current):
        found.append("".join(current))
    return found


def _looks_like_ip(text: str) -> bool:
    return _ip(text) is not None


# ---------------------------------------------------------------------------------- value tests


@lru_cache(maxsize=8192)
def _ip(text: str) -> Optional[_IP]:
    """The IP address in `text` (brackets and Sendmail's `IPv6:` prefix allowed), or None."""
    text = text.strip().strip("[]")
    if text[:5].lower() == "ipv6:":
        text = text[5:]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _norm_ip(text: Optional[str]) -> str:
    """A logged IP lower-cased, without `IPv6:`, "" when missing."""
    if not text:
        return ""
    text = text.strip().lower()
    return text[5:] if text.startswith("ipv6:") else text


@lru_cache(maxsize=8192)
def _split_relay(relay: str) -> Tuple[str, str]:
    """(host, ip) of a relay string, lower-case, "" for a missing part: `host[ip]:port` -> host, ip."""
    relay = relay.lower()
    match = _RELAY_RE.fullmatch(relay)
    if match is None:
        return relay.strip(), ""
    return match.group(1), _norm_ip(match.group(2))


def _split_address(address: str) -> Tuple[str, str]:
    """(local part, domain) of a lower-case address; the domain is "" without an @."""
    local, at, domain = address.rpartition("@")
    return (local, domain) if at else (address, "")


def _address_test(value: str) -> AddressTest:
    """How one address value matches a lower-case address (see the module doc for the forms)."""
    value = value.strip().lower()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    if not value:
        return lambda address: address == ""
    if "@" not in value:

        def bare(address: str) -> bool:
            local, domain = _split_address(address)
            return domain == value or domain.endswith(dotted) or local == value

        dotted = "." + value
        return bare
    if value.startswith("@"):
        domain_value = value[1:]
        if domain_value.startswith("."):
            return lambda address: _split_address(address)[1].endswith(domain_value)
        return lambda address: _split_address(address)[1] == domain_value
    if value.endswith("@"):
        local_value = value[:-1]
        return lambda address: _split_address(address)[0] == local_value
    return lambda address: address == value


class _HostValue(NamedTuple):
    """One client/relay value as two tests, on the host name and on the IP (both lower-case): a
    (host, ip) pair matches when either holds. ``host_keys``/``ip_keys``, when not None, are the
    only values for which that test holds (so an index can look them up)."""

    host: AddressTest
    ip: AddressTest
    host_keys: Optional[FrozenSet[str]]
    ip_keys: Optional[FrozenSet[str]]


def _never(text: str) -> bool:
    return False


def _host_value(field: str, value: str) -> _HostValue:
    """How one client/relay value matches: CIDR, IP, IP prefix or host name."""
    text = value.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text.startswith("ipv6:"):
        text = text[5:]
    if not text:
        raise QueryError(f"{field}: needs a host, IP, IP prefix or network")
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise QueryError(
                f"{field}: cannot read '{value}' as a network (e.g. 10.0.0.0/8, 2001:db8::/32)"
            ) from None

        def in_network(ip: str) -> bool:
            address = _ip(ip) if ip else None
            return address is not None and address.version == network.version and address in network

        return _HostValue(_never, in_network, frozenset(), None)
    exact = _ip(text)
    if exact is not None:
        canonical = str(exact)

        def same_ip(ip: str) -> bool:
            return ip == canonical or (":" in ip and _ip(ip) == exact)

        return _HostValue(lambda host: host == canonical, same_ip, frozenset({canonical}), None)
    if text.endswith((".", ":")):
        return _HostValue(lambda host: host.startswith(text), lambda ip: ip.startswith(text), None, None)
    dotted = "." + text
    return _HostValue(
        lambda host: host == text or host.endswith(dotted), lambda ip: ip == text, None, frozenset({text})
    )


def _host_test(field: str, value: str) -> HostTest:
    """How one client/relay value matches a (host, ip) pair (see :func:`_host_value`)."""
    parts = _host_value(field, value)
    host_test, ip_test = parts.host, parts.ip
    return lambda host, ip: ip_test(ip) or host_test(host)


def _any_of(tests: Sequence[Callable[..., bool]]) -> Callable[..., bool]:
    """One test that holds when any of `tests` holds (the comma list)."""
    if len(tests) == 1:
        return tests[0]

    def either(*args: str) -> bool:
        return any(test(*args) for test in tests)

    return either


# ------------------------------------------------------------------------------------- time


def _epoch(moment: datetime, tz: Optional[tzinfo]) -> float:
    """Epoch seconds of `moment`; a naive moment is in `tz`, or the local zone when tz is None."""
    if moment.tzinfo is None and tz is not None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def _parse_time(field: str, value: str, now: float, tz: Optional[tzinfo]) -> float:
    """Epoch seconds for a `since:`/`until:` value; a date without a time ends the day for `until:`."""
    text = " ".join(value.split())
    lower = text.lower()
    if not text:
        raise QueryError(f"{field}: needs a date (e.g. {field}:2024-01-11, {field}:today, {field}:2h)")
    end = field == "until"
    if lower == "now":
        return now
    relative = _RELATIVE_RE.fullmatch(lower)
    if relative and relative.group(2) in _UNITS:
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    current = datetime.fromtimestamp(now, tz).replace(tzinfo=None)
    midnight = current.replace(hour=0, minute=0, second=0, microsecond=0)
    last_instant = midnight.replace(hour=23, minute=59, second=59, microsecond=999999)
    if lower in ("today", "yesterday"):
        day = last_instant if end else midnight
        if lower == "yesterday":
            day -= timedelta(days=1)
        return _epoch(day, tz)
    try:
        start = date_parser.parse(text, default=midnight, fuzzy=False)
        late = date_parser.parse(text, default=last_instant, fuzzy=False)
    except (ValueError, OverflowError):
        raise QueryError(
            f"{field}: cannot read '{value}' as a date (e.g. 2024-01-11, \"jan 11 09:00\", today, 2h)"
        ) from None
    if end and late.hour != start.hour:
        return _epoch(late, tz)  # no time of day given: the whole day counts
    return _epoch(start, tz)


# ---------------------------------------------------------------------------------- predicates


def _from_predicate(values: List[str]) -> Predicate:
    test = _any_of([_address_test(value) for value in values])

    def sender_matches(trace: Trace) -> bool:
        return any(hop.sender is not None and test(hop.sender.lower()) for hop in trace.hops)

    return sender_matches


def _to_predicate(values: List[str]) -> Predicate:
    test = _any_of([_address_test(value) for value in values])

    def recipient_matches(trace: Trace) -> bool:
        for rcpt in trace.recipients:
            if test(rcpt.address.lower()) or (rcpt.orig_address and test(rcpt.orig_address.lower())):
                return True
        for hop in trace.hops:
            for rcpt in list(hop.recipients.values()):
                if test(rcpt.address.lower()) or (rcpt.orig_address and test(rcpt.orig_address.lower())):
                    return True
        return False

    return recipient_matches


def _status_words(values: List[str]) -> FrozenSet[str]:
    """The statuses a status: term names (`problem` stands for every problem status)."""
    wanted = set()
    for value in values:
        word = value.strip().lower()
        if word == "problem":
            wanted.update(PROBLEM_STATUSES)
        elif word in _STATUS_WORDS:
            wanted.add(word)
        else:
            raise QueryError(f"status: unknown status '{value}' (statuses: {', '.join(_STATUS_WORDS)})")
    return frozenset(wanted)


def _status_predicate(values: List[str]) -> Predicate:
    statuses = _status_words(values)

    def status_matches(trace: Trace) -> bool:
        if trace.status in statuses:
            return True
        return any(rcpt.status in statuses for rcpt in trace.recipients)

    return status_matches


def _client_predicate(field: str, values: List[str]) -> Predicate:
    test = _any_of([_host_test(field, value) for value in values])

    def client_matches(trace: Trace) -> bool:
        for hop in trace.hops:
            if (hop.client or hop.client_ip) and test((hop.client or "").lower(), _norm_ip(hop.client_ip)):
                return True
        return False

    return client_matches


def _relay_test(field: str, values: List[str]) -> Callable[[Optional[str]], bool]:
    """How the values of a relay: term match one logged relay string."""
    test = _any_of([_host_test(field, value) for value in values])
    whole = frozenset(value.strip().lower() for value in values)

    def relay_test(relay: Optional[str]) -> bool:
        if not relay:
            return False
        return relay.lower() in whole or test(*_split_relay(relay))

    return relay_test


def _relay_predicate(field: str, values: List[str]) -> Predicate:
    relay_test = _relay_test(field, values)

    def relay_matches(trace: Trace) -> bool:
        for rcpt in trace.recipients:
            if relay_test(rcpt.relay):
                return True
        for hop in trace.hops:
            for rcpt in list(hop.recipients.values()):
                if relay_test(rcpt.relay):
                    return True
        return False

    return relay_matches


def _server_test(values: List[str]) -> Callable[[str], bool]:
    """How the values of a server: term match one lower-case server name."""
    names = tuple(value.strip().lower() for value in values)
    prefixes = tuple(name + "." for name in names)
    return lambda server: server in names or server.startswith(prefixes)


def _server_predicate(values: List[str]) -> Predicate:
    names = tuple(value.strip().lower() for value in values)
    prefixes = tuple(name + "." for name in names)

    def server_matches(trace: Trace) -> bool:
        for hop in trace.hops:
            server = (hop.server or "").lower()
            if server in names or server.startswith(prefixes):
                return True
        return False

    return server_matches


def _strip_angles(text: str) -> str:
    text = text.strip().lower()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    return text


def _msgid_predicate(values: List[str]) -> Predicate:
    ids = frozenset(_strip_angles(value) for value in values)

    def msgid_matches(trace: Trace) -> bool:
        for hop in trace.hops:
            for mid in (hop.message_id, hop.network_message_id):
                if mid and _strip_angles(mid) in ids:
                    return True
        return False

    return msgid_matches


def _qid_predicate(values: List[str]) -> Predicate:
    ids = frozenset(value.strip().lower() for value in values)

    def qid_matches(trace: Trace) -> bool:
        return any(hop.queue_id and hop.queue_id.lower() in ids for hop in trace.hops)

    return qid_matches


def _id_predicate(values: List[str]) -> Predicate:
    qid, msgid = _qid_predicate(values), _msgid_predicate(values)
    ids = frozenset(value.strip().lower() for value in values)
    return lambda trace: trace.id.lower() in ids or qid(trace) or msgid(trace)


def _subject_predicate(values: List[str]) -> Predicate:
    words = tuple(value.lower() for value in values)

    def subject_matches(trace: Trace) -> bool:
        for hop in trace.hops:
            if hop.subject:
                subject = hop.subject.lower()
                for word in words:
                    if word in subject:
                        return True
        return False

    return subject_matches


def _reason_predicate(values: List[str]) -> Predicate:
    needles = tuple((value.strip().lower(), is_folded(value)) for value in values)

    def reason_in(trace: Trace) -> bool:
        texts: List[Optional[str]] = [trace.reason]
        for rcpt in trace.recipients:
            texts += [rcpt.response, rcpt.reason]
        for hop in trace.hops:
            texts.append(hop.reason)
            for rcpt in list(hop.recipients.values()):
                texts += [rcpt.response, rcpt.reason]
        return any(reason_matches(needle, text, folded) for needle, folded in needles for text in texts)

    return reason_in


def _haystack(trace: Trace) -> str:
    """Every searchable text of a trace, lower-case, one field per line (bare words never span two)."""
    parts = [trace.id]
    recipients = list(trace.recipients)
    for hop in trace.hops:
        parts.extend(
            text
            for text in (
                hop.server,
                hop.queue_id,
                hop.client,
                hop.client_ip,
                hop.sender,
                hop.message_id,
                hop.network_message_id,
                hop.subject,
            )
            if text
        )
        recipients.extend(list(hop.recipients.values()))
    for rcpt in recipients:
        parts.extend(text for text in (rcpt.address, rcpt.orig_address, rcpt.relay) if text)
    return "\n".join(parts).lower()


def _words_predicate(words: List[Tuple[str, bool]]) -> Predicate:
    """All bare words in one test, so the trace's haystack is built once per match."""
    wanted = tuple(word.lower() for word, negated in words if not negated)
    unwanted = tuple(word.lower() for word, negated in words if negated)

    def words_match(trace: Trace) -> bool:
        haystack = _haystack(trace)
        for word in wanted:
            if word not in haystack:
                return False
        return all(word not in haystack for word in unwanted)

    return words_match


def _since_predicate(bound: float) -> Predicate:
    """Active at or after `bound`: its last line is not older."""
    return lambda trace: trace.last_seen >= bound


def _until_predicate(bound: float) -> Predicate:
    """Active at or before `bound`: its first line is not newer."""
    return lambda trace: trace.first_seen <= bound


def _negate(predicate: Predicate) -> Predicate:
    return lambda trace: not predicate(trace)


def _field_predicate(field: str, values: List[str]) -> Predicate:
    """The predicate for one `field:` term with its comma alternatives (not a time field)."""
    if field == "from":
        return _from_predicate(values or [""])
    if field == "to":
        return _to_predicate(values or [""])
    if not values or any(not value.strip() for value in values):
        raise QueryError(f"{field}: needs a value (e.g. {field}:{_EXAMPLES[field]})")
    if field == "status":
        return _status_predicate(values)
    if field == "client":
        return _client_predicate(field, values)
    if field == "relay":
        return _relay_predicate(field, values)
    if field == "ip":
        client, relay = _client_predicate(field, values), _relay_predicate(field, values)
        return lambda trace: client(trace) or relay(trace)
    if field == "server":
        return _server_predicate(values)
    if field == "msgid":
        return _msgid_predicate(values)
    if field == "qid":
        return _qid_predicate(values)
    if field == "id":
        return _id_predicate(values)
    if field == "reason":
        return _reason_predicate(values)
    return _subject_predicate(values)


# ------------------------------------------------------------------------------------ lookups

#: The columns an index keeps (:mod:`mailtui.index` fills each from the trace fields the predicate
#: above that reads them reads) and how a stored value is normalised before a :class:`Lookup`'s
#: ``keys`` or ``test`` see it, the way that predicate normalises it.
COLUMNS: Dict[str, Callable[[str], str]] = {
    "id": str.lower,  # trace.id
    "qid": str.lower,  # hop.queue_id
    "msgid": _strip_angles,  # hop.message_id, hop.network_message_id
    "sender": str.lower,  # hop.sender (also "", the null sender)
    "rcpt": str.lower,  # address and orig_address of trace.recipients and every hop's recipients
    "client_host": str.lower,  # hop.client
    "client_ip": _norm_ip,  # hop.client_ip
    "relay": str,  # relay of trace.recipients and every hop's recipients, as logged
    "server": str.lower,  # hop.server
    "subject": str.lower,  # hop.subject
    "status": str,  # trace.status and the status of trace.recipients
}
#: The columns that together hold every text :func:`_haystack` holds (what bare words search).
TEXT_COLUMNS = (
    "id",
    "server",
    "qid",
    "client_host",
    "client_ip",
    "sender",
    "msgid",
    "subject",
    "rcpt",
    "relay",
)


def _address_key(value: str) -> Optional[str]:
    """The one lower-case address an address value matches exactly, or None for the other forms
    (`@domain`, `local@`, a bare name): mirrors :func:`_address_test`."""
    value = value.strip().lower()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    if value and ("@" not in value or value.startswith("@") or value.endswith("@")):
        return None
    return value


def _address_lookups(column: str, values: List[str]) -> Tuple[Lookup, ...]:
    keys = {_address_key(value) for value in values}
    tests = [_address_test(value) for value in values if _address_key(value) is None]
    lookups = [Lookup(column, keys=frozenset(key for key in keys if key is not None))]
    if tests:
        lookups.append(Lookup(column, test=_any_of(tests)))
    return tuple(lookups)


def _host_lookups(field: str, values: List[str]) -> List[Lookup]:
    lookups: List[Lookup] = []
    for value in values:
        parts = _host_value(field, value)
        for column, test, keys in (
            ("client_host", parts.host, parts.host_keys),
            ("client_ip", parts.ip, parts.ip_keys),
        ):
            if keys is None:
                lookups.append(Lookup(column, test=test))
            elif keys:
                lookups.append(Lookup(column, keys=keys))
    return lookups


def _field_lookups(field: str, values: List[str]) -> Optional[Tuple[Lookup, ...]]:
    """How an index finds the traces of a positive `field:` term exactly (None: it cannot).

    Called after :func:`_field_predicate` accepted the values; each case mirrors its predicate.
    """
    if field == "from":
        return _address_lookups("sender", values or [""])
    if field == "to":
        return _address_lookups("rcpt", values or [""])
    if field == "status":
        return (Lookup("status", keys=_status_words(values)),)
    if field in ("client", "ip"):
        lookups = _host_lookups(field, values)
        if field == "ip":
            lookups.append(Lookup("relay", test=_relay_test(field, values)))
        return tuple(lookups)
    if field == "relay":
        return (Lookup("relay", test=_relay_test(field, values)),)
    if field == "server":
        return (Lookup("server", test=_server_test(values)),)
    if field == "msgid":
        return (Lookup("msgid", keys=frozenset(_strip_angles(value) for value in values)),)
    if field == "qid":
        return (Lookup("qid", keys=frozenset(value.strip().lower() for value in values)),)
    if field == "id":
        ids = frozenset(value.strip().lower() for value in values)
        msgids = frozenset(_strip_angles(value) for value in values)
        return (Lookup("id", keys=ids), Lookup("qid", keys=ids), Lookup("msgid", keys=msgids))
    if field == "subject":
        return (Lookup("subject", needles=tuple(value.lower() for value in values)),)
    return None  # reason: tested on every candidate


def _word_term(word: str) -> Optional[IndexTerm]:
    """One positive bare word (lower-case) as an index term; None when it holds a line break (it
    could then span two fields of the haystack, which no single value shows)."""
    if "\n" in word:
        return None

    def word_matches(trace: Trace) -> bool:
        return word in _haystack(trace)

    return IndexTerm(word_matches, tuple(Lookup(column, needles=(word,)) for column in TEXT_COLUMNS))


_EXAMPLES = {
    "status": "bounced,deferred",
    "subject": "invoice",
    "client": "10.0.0.0/8",
    "relay": "mail.example.com",
    "ip": "10.14.168.11",
    "server": "mx1",
    "msgid": "<abc@example.com>",
    "qid": "307DF802B3",
    "id": "307DF802B3",
    "reason": '"Relay access denied"',
}


_PLAIN_VALUE = re.compile(r'[^\s",\\]+')


def quote_value(value: str) -> str:
    """`value` as query text that reads back as exactly this one value (quoted when it has white
    space, a comma, a quote or a backslash, or starts with `-`): for queries built by the UI."""
    if value and _PLAIN_VALUE.fullmatch(value) and not value.startswith("-"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -------------------------------------------------------------------------------------- entry


def parse_query(
    text: Union[str, Sequence[str]], now: Optional[float] = None, tz: Optional[tzinfo] = None
) -> Query:
    """Compile the query. A sequence (CLI argv words) is joined the way a shell user means it: each argv
    item is one term (an item with spaces, e.g. since:"jan 11" passed by the shell as 'since:jan 11', is
    one term).

    `now` (epoch seconds, default the current time) anchors `today`, `2h` and dates without a year;
    `tz` is the zone of dates written without one (default: the local zone). Raises :class:`QueryError`.
    """
    if isinstance(text, str):
        source = text
        terms = [_term(token) for token in _lex(text)]
    else:
        items = list(text)
        source = " ".join(part for part in (_quote_argv(item) for item in items) if part)
        terms = [term for term in (_argv_term(item) for item in items) if term is not None]
    moment = time.time() if now is None else now
    predicates: List[Predicate] = []
    index_terms: List[IndexTerm] = []
    residual: List[Predicate] = []
    words: List[Tuple[str, bool]] = []
    since: Optional[float] = None
    until: Optional[float] = None
    for term in terms:
        field = _ALIASES.get(term.field, term.field) if term.field else None
        if field is None:
            word = "".join(piece for piece, _ in term.pieces)
            if word:
                words.append((word, term.negated))
            continue
        lookups: Optional[Tuple[Lookup, ...]] = None
        if field in _NO_LIST:
            bound = _parse_time(field, "".join(piece for piece, _ in term.pieces), moment, tz)
            if field == "since":
                predicate = _since_predicate(bound)
                if not term.negated:
                    since = bound if since is None else max(since, bound)
            else:
                predicate = _until_predicate(bound)
                if not term.negated:
                    until = bound if until is None else min(until, bound)
        else:
            values = _alternatives(term.pieces)
            predicate = _field_predicate(field, values)
            if not term.negated:
                lookups = _field_lookups(field, values)
        if term.negated:
            predicate = _negate(predicate)
            residual.append(predicate)
        elif lookups is not None:
            index_terms.append(IndexTerm(predicate, lookups))
        elif field not in _NO_LIST:
            residual.append(predicate)  # positive time terms: covered by since/until
        predicates.append(predicate)
    if words:
        predicate = _words_predicate(words)
        predicates.append(predicate)
        word_terms = [_word_term(word.lower()) for word, negated in words if not negated]
        index_terms.extend(term for term in word_terms if term is not None)
        if None in word_terms or any(negated for _, negated in words):
            residual.append(predicate)
    return Query(source, predicates, since, until, index_terms, residual)

"""Postfix message bodies: what one `postfix/<daemon>` line says, as a small typed event.

The syslog envelope is already split off (see :mod:`mailtui.envelope`); this module sees the daemon
name and the body after `tag[pid]: `. It knows nothing about other lines: grouping is done by
:mod:`mailtui.correlate`. Formats follow Postfix's own sources (smtpd.c, cleanup, qmgr, the
delivery agents, bounce) as summarised in CORRELATION.md.
"""

from __future__ import annotations

import re
from typing import Dict, NamedTuple, Optional, Tuple

from mailtui.parsers.replies import QUEUED_AS

#: Daemons Postfix ships (the last component of the syslog tag: `postfix/submission/smtpd` → smtpd).
DAEMONS = frozenset(
    {
        "smtpd", "smtp", "lmtp", "cleanup", "qmgr", "oqmgr", "pickup", "local", "virtual", "pipe",
        "error", "retry", "discard", "bounce", "defer", "trace", "postsuper", "postscreen", "anvil",
        "tlsmgr", "tlsproxy", "scache", "master", "trivial-rewrite", "dnsblog", "verify", "postdrop",
        "postqueue", "sendmail", "postmap", "postalias", "postfix-script", "postfix", "proxymap",
        "showq", "flush", "qmqpd", "spawn", "postlog", "postlogd", "postconf", "postmulti", "relay",
    }
)  # fmt: skip

#: Short (hex, reused) and long (`enable_long_queue_ids`, never reused) queue ids.
_QID = (
    r"(?:[0-9A-F]{6,15}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,}z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]+"
    # Hand-made and anonymised logs use ids Postfix never makes (`FGHIJ67890`): any 6-20 letters and
    # digits with at least one digit, so words like "warning" or "statistics" never look like ids.
    r"|(?=[0-9A-Za-z]*\d)[0-9A-Za-z]{6,20})"
)
QID_RE = re.compile(_QID + r"\Z")
_QID_PREFIX = re.compile(r"(" + _QID + r"|NOQUEUE): ")
_WARN_QID = re.compile(r"(warning|error|fatal|panic): (" + _QID + r"): ")
# The patterns the fast path (mailtui.fastpath) also builds its one-match-a-line pattern from.
HOST_IP = r"([^\s\[\]]*)\[([^\]]*)\](?::(\d+))?"
CLIENT = r"client=([^\s\[,]*)\[([^\]]*)\]"
QMGR_FROM = r"from=<([^>]*)>, (?:size=(\d+), nrcpt=(\d+)|status=([\w-]+))"
MESSAGE_ID = r"(?:resent-)?message-id=<?([^>]*)>?\s*\Z"
HEADER = r"(info|warning|reject|discard|hold|redirect|filter|replace|prepend|dunno): (header|body) "
DELIVERY = r"to=<([^>]*)>, (?:orig_to=<([^>]*)>, )?relay=([^,]*), (.*?)status=([\w-]+)(?: \((.*)\))?\Z"

_HOST_IP = re.compile(HOST_IP)
_CLIENT = re.compile(CLIENT)
_KV_COMMA = re.compile(r"(\w+)=([^,]*)")
_MESSAGE_ID = re.compile(MESSAGE_ID)
_HEADER = re.compile(HEADER)
_MILTER = re.compile(r"milter-(reject|discard|hold): (\S+) from ([^\[]*)\[([^\]]*)\]: (.*)")
_QMGR_FROM = re.compile(QMGR_FROM)
_DELIVERY = re.compile(DELIVERY)
_DELAY = re.compile(r"(?:^|, )delay=([\d.]+)")
_DELAYS = re.compile(r"delays=([\d./]+)")
_DSN = re.compile(r"dsn=(\d\.\d{1,3}\.\d{1,3})")
#: The middle of nearly every delivery line: `delay=1.3, delays=0.05/0/0.01/1.2, dsn=2.0.0, `.
_USUAL_TIMINGS = re.compile(r"delay=([\d.]+), delays=([\d./]+), dsn=(\d\.\d{1,3}\.\d{1,3}), \Z")
_PICKUP = re.compile(r"uid=(\d+) from=<([^>]*)>")
_BOUNCE = re.compile(
    r"(sender|postmaster) (non-delivery|delay|delivery status|success) notification: (" + _QID + ")"
)
_WHATSUP = re.compile(
    r"(reject|reject_warning|defer|discard|filter|hold|redirect|proxy-reject|proxy-accept|warn_if_reject|info)"
    r": "
    r"(\S+) from ([^\[\s]*)\[([^\]]*)\](?::\d+)?: (.*)"
)
#: Before-queue content filter verdicts: `proxy-accept: END-OF-MESSAGE: 250 ... queued as QID; from=<a> ...`.
_PROXY = re.compile(r"(proxy-accept|proxy-reject): (\S+): (.*)")
_TRAILER_FIELD = re.compile(r"(from|to|proto|helo|sasl_username)=<?([^>\s]*)>?")

_DISCARDED_REPLY = re.compile(r"\b2\.7\.0 Ok,? discarded\b|\bOk, discarded\b", re.IGNORECASE)

#: Lines without a queue id that Postfix writes and mailtui knows (counted as recognised).
_KNOWN_PLAIN = re.compile(
    r"(?:connect from|disconnect from|lost connection after|timeout after|too many errors after|"
    r"warning:|error:|fatal:|panic:|statistics:|Anonymous TLS|Trusted TLS|Untrusted TLS|Verified TLS|"
    r"SSL_accept error|SSL_connect error|TLS |improper command pipelining|CONNECT from|PASS (?:NEW|OLD)|"
    r"DNSBL rank|PREGREET|HANGUP after|COMMAND (?:PIPELINING|TIME LIMIT|COUNT LIMIT|LENGTH LIMIT)|"
    r"BARE NEWLINE|NON-SMTP COMMAND|(?:ALLOWLISTED|DENYLISTED|WHITELISTED|BLACKLISTED|WHITELIST VETO|"
    r"ALLOWLIST VETO|DISCONNECT) |DATA without|BDAT without|daemon started|terminating on|"
    r"reload |refreshing|addr \S+ listed by|connect to |host \S+ refused|Deleted: |Requeued: |"
    r"postfix/|NOQUEUE: |proxy-accept: |proxy-reject: |SASL |lost connection with|conversation with|"
    r"enabling PIX|table |dict_|mail system|Postfix |auto_clnt|using backwards-compatible|"
    r"mail for \S+ loops back|network_biff|cannot|setting up|starting|stopping|[A-Z]+ from |"
    r"\S*\[[^\]]*\](?::\d+)?: )"
)


class PostfixEvent(NamedTuple):
    """One Postfix line's meaning. ``kind`` names it; ``qid`` is "" when the line has none."""

    kind: str
    qid: str
    data: Dict[str, str]


def split_host_ip(text: str) -> Tuple[Optional[str], Optional[str]]:
    """`host[ip]:port` → (host, ip); `[ip]` → (None, ip); anything else → (text, None)."""
    match = _HOST_IP.search(text)
    if match is None:
        return (text.strip() or None), None
    host = match.group(1) or None
    return host, match.group(2) or None


def _trailer(text: str) -> Dict[str, str]:
    """The `; from=<a> to=<b> proto=ESMTP helo=<h>` tail of smtpd/cleanup reject lines."""
    _, sep, tail = text.rpartition("; from=<")
    if not sep:
        return {}
    fields = {name: value for name, value in _TRAILER_FIELD.findall("from=<" + tail)}
    return fields


def _reply_text(text: str) -> str:
    """The reject text without the `; from=... helo=...` trailer."""
    head, sep, _ = text.rpartition("; from=<")
    return head if sep else text


def _delivery(qid: str, rest: str) -> Optional[PostfixEvent]:
    match = _DELIVERY.match(rest)
    if match is None:
        return None
    return delivery_event(qid, *match.groups())


def delivery_event(
    qid: str, to: str, orig_to: Optional[str], relay: str, middle: str, status: str, reply: Optional[str]
) -> PostfixEvent:
    """A delivery agent's `to=<a>, relay=..., delay=..., status=... (reply)` (:data:`DELIVERY`'s groups)."""
    data = {"to": to, "relay": relay, "status": status, "reply": reply or ""}
    if orig_to:
        data["orig_to"] = orig_to
    usual = _USUAL_TIMINGS.match(middle)
    if usual is not None:  # what the searches of delivery_timings find, in one match
        data["delay"], data["delays"], data["dsn"] = usual.groups()
    else:
        data.update(delivery_timings(middle))
    return PostfixEvent("delivery", qid, data)


def delivery_timings(middle: str) -> Dict[str, str]:
    """`delay`, `delays` and `dsn` from what a delivery line has between `relay=` and `status=`."""
    found = {}
    for name, pattern in (("delay", _DELAY), ("delays", _DELAYS), ("dsn", _DSN)):
        match = pattern.search(middle)
        if match:
            found[name] = match.group(1)
    return found


def _with_qid(daemon: str, qid: str, rest: str) -> PostfixEvent:
    """A line that starts with a queue id: always belongs to that queue file's transaction."""
    if rest.startswith("to=<"):
        event = _delivery(qid, rest)
        if event is not None:
            return event
    if rest == "removed" or rest.startswith("removed "):
        return removed_event(daemon, qid, rest)
    if daemon == "smtpd" or rest.startswith("client="):
        match = _CLIENT.match(rest)
        if match:
            return client_event(qid, match.group(1), match.group(2), rest[match.end() :])
    if rest.startswith("from=<"):
        match = _QMGR_FROM.match(rest)
        if match:
            return qmgr_from_event(qid, *match.groups())
    if rest.startswith(("message-id=", "resent-message-id=")):
        match = _MESSAGE_ID.match(rest)
        if match:
            return message_id_event(qid, match.group(1))
    if rest.startswith("uid="):
        match = _PICKUP.match(rest)
        if match:
            return PostfixEvent("pickup", qid, {"uid": match.group(1), "from": match.group(2)})
    header = _HEADER.match(rest)
    if header:
        return header_event(qid, header.group(1), header.group(2), rest[header.end() :])
    milter = _MILTER.match(rest)
    if milter:
        action, stage, host, ip, text = milter.groups()
        data = {"action": action, "stage": stage, "client": host, "client_ip": ip, "text": _reply_text(text)}
        data.update(_trailer(text))
        return PostfixEvent("milter", qid, data)
    whatsup = _WHATSUP.match(rest)
    if whatsup:
        return _whatsup(qid, whatsup.groups())
    bounce = _BOUNCE.match(rest)
    if bounce:
        return PostfixEvent(
            "notification", qid, {"who": bounce.group(1), "what": bounce.group(2), "child": bounce.group(3)}
        )
    if rest.startswith(("requeued", "placed on hold", "released from hold", "skipped")):
        return PostfixEvent("admin", qid, {"what": rest})
    return PostfixEvent("info", qid, {"text": rest})


def removed_event(daemon: str, qid: str, rest: str) -> PostfixEvent:
    """`QID: removed` (or `removed (reason)`, postsuper's deletions included)."""
    return PostfixEvent("removed", qid, {"by": daemon, "how": rest[8:].strip("() ")})


def client_event(qid: str, client: str, client_ip: str, tail: str) -> PostfixEvent:
    """smtpd's `QID: client=host[ip]` and the `, name=value` fields after it (:data:`CLIENT`)."""
    data = {"client": client, "client_ip": client_ip}
    for name, value in _KV_COMMA.findall(tail):
        data[name] = value.strip()
    return PostfixEvent("client", qid, data)


def qmgr_from_event(
    qid: str, sender: str, size: Optional[str], nrcpt: Optional[str], status: Optional[str]
) -> PostfixEvent:
    """qmgr's `QID: from=<a>, size=N, nrcpt=N` or `from=<a>, status=expired` (:data:`QMGR_FROM`)."""
    if status:
        return PostfixEvent("qmgr-status", qid, {"from": sender, "status": status})
    return PostfixEvent("queued", qid, {"from": sender, "size": size, "nrcpt": nrcpt})  # type: ignore[dict-item]


def message_id_event(qid: str, message_id: str) -> PostfixEvent:
    """cleanup's `QID: message-id=<id>` (:data:`MESSAGE_ID`)."""
    return PostfixEvent("message-id", qid, {"message_id": message_id.strip()})


def connect_event(host: Optional[str], ip: Optional[str]) -> PostfixEvent:
    """smtpd's `connect from host[ip]`."""
    return PostfixEvent("connect", "", {"client": host or "", "client_ip": ip or ""})


def header_event(qid: str, action: str, part: str, text: str) -> PostfixEvent:
    """cleanup header/body checks: `info: header Subject: Hi from host[ip]; from=<a> to=<b> ...`."""
    data = _trailer(text)
    head = _reply_text(text)
    name, _, value = head.partition(": ")
    # The value ends with " from host[ip]" (the client): cut it off at the last such marker.
    cut = value.rfind(" from ")
    if cut >= 0 and _HOST_IP.match(value, cut + 6):
        value, where = value[:cut], value[cut + 6 :]
        host, ip = split_host_ip(where.split(":", 1)[0])
        data["client"], data["client_ip"] = host or "", ip or ""
        # Actions like reject add ": 5.7.1 reason" after the client.
        reason = where.partition(": ")[2]
        if reason:
            data["text"] = reason
    data.update({"action": action, "part": part, "name": name, "value": value})
    return PostfixEvent("header", qid, data)


def _whatsup(qid: str, groups: Tuple[str, ...]) -> PostfixEvent:
    """smtpd_check.c log_whatsup: `ACTION: STAGE from host[ip]: TEXT; from=<a> to=<b> proto=P helo=<h>`."""
    action, stage, host, ip, text = groups
    data = {"action": action, "stage": stage, "client": host, "client_ip": ip, "text": _reply_text(text)}
    data.update(_trailer(text))
    queued = QUEUED_AS.search(text)
    if queued:
        data["queued_as"] = queued.group(1)
    return PostfixEvent("smtpd-action", qid, data)


def parse(daemon: str, body: str) -> Optional[PostfixEvent]:
    """The event a Postfix daemon's line describes, or None when mailtui does not know the line.

    Args:
        daemon: last component of the syslog tag (`smtpd`, `qmgr`, ...).
        body: the text after `tag[pid]: `.
    """
    match = _QID_PREFIX.match(body)
    if match is not None:
        qid = match.group(1)
        rest = body[match.end() :]
        if qid != "NOQUEUE":
            return _with_qid(daemon, qid, rest)
        whatsup = _WHATSUP.match(rest)
        if whatsup:
            return _whatsup("", whatsup.groups())
        if rest.startswith("client="):
            return PostfixEvent("info", "", {"text": rest})
        return PostfixEvent("info", "", {"text": rest}) if _KNOWN_PLAIN.match(rest) else None
    warned = _WARN_QID.match(body)
    if warned is not None:
        return PostfixEvent("info", warned.group(2), {"text": body})
    if body.startswith("connect from "):
        return connect_event(*split_host_ip(body[13:]))
    if body.startswith("disconnect from "):
        return PostfixEvent("disconnect", "", {"text": body})
    whatsup = _WHATSUP.match(body)
    if whatsup:  # postscreen and pre-3.x proxy lines without NOQUEUE
        return _whatsup("", whatsup.groups())
    proxy = _PROXY.match(body)
    if proxy:
        return _whatsup("", (proxy.group(1), proxy.group(2), "", "", proxy.group(3)))
    if _KNOWN_PLAIN.match(body):
        return PostfixEvent("info", "", {"text": body})
    return None


def postfix_daemon(program: str) -> Optional[Tuple[str, str]]:
    """(instance, daemon) for a Postfix syslog tag, else None.

    `postfix-out/smtp` → ("postfix-out", "smtp"); `postfix/submission/smtpd` → ("postfix", "smtpd").
    """
    known = _DAEMON_OF.get(program, _UNKNOWN)
    if known is not _UNKNOWN:
        return known  # type: ignore[return-value]
    instance, sep, rest = program.partition("/")
    daemon = rest.rpartition("/")[2]
    found = (instance, daemon) if sep and (daemon in DAEMONS or instance.startswith("postfix")) else None
    if len(_DAEMON_OF) < _DAEMON_CACHE_SIZE:  # bounded: hostile logs can invent any number of tags
        _DAEMON_OF[program] = found
    return found


#: Syslog tags already looked at (a log has a few dozen): one dict lookup a line instead of parsing.
_DAEMON_OF: Dict[str, Optional[Tuple[str, str]]] = {}
_DAEMON_CACHE_SIZE = 4096
_UNKNOWN = object()


def is_discard_reply(reply: str) -> bool:
    """A content filter that accepted the mail only to drop it (`250 2.7.0 Ok, discarded, id=...`)."""
    return _DISCARDED_REPLY.search(reply) is not None

"""Sendmail message bodies (`sendmail[pid]`, `sm-mta[pid]`, `sm-msp-queue[pid]`).

`QID: from=<a>, size=N, class=N, nrcpts=N, msgid=<m>, proto=ESMTP, daemon=MTA, relay=host [ip]`,
`QID: to=<b>,<c>, ctladdr=..., delay=..., xdelay=..., mailer=esmtp, pri=N, relay=host. [ip], dsn=2.0.0,
stat=Sent (reply)`, DSN children `OLD: NEW: DSN: reason`, and ruleset rejects. Addresses may come
without angle brackets (`from=boss@example.com`), as in older configurations.
"""

from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Optional, Tuple

PROGRAMS = frozenset({"sendmail", "sm-mta", "sm-msp-queue", "sm-acceptingconnections", "sm-msp"})

#: 8.12+: 14 chars (6 time chars from 0-9A-Za-x, 2 sequence chars, 6-digit pid); older: 12 chars.
_QID = r"[0-9A-Za-x]{8}\d{6}|[0-9A-Za-x]{7}\d{5}|[0-9A-Za-x]{6,9}\d{4,6}"
_QID_PREFIX = re.compile(r"(" + _QID + r"|NOQUEUE)(?:\[\d+\])?: ")
_CHILD = re.compile(
    r"(" + _QID + r"): (DSN|return to sender|sender notify|postmaster notify|clone|owner notify): ?(.*)\Z"
)
_FIELD_SPLIT = re.compile(r", (?=[a-zA-Z_][\w-]*=)")
_RELAY = re.compile(r"(?:([^\s\[]*?)\.? ?)?\[([^\]]*)\]")
_ADDR_REJECT = re.compile(r"<?([^<>\s]*)>?\.\.\. (.*)\Z")

_KNOWN_PLAIN = re.compile(
    r"(?:starting daemon|STARTTLS|AUTH|File descriptors missing|unable to qualify|My unqualified host|"
    r"rejecting co|accepting connections|grew WorkList|alias database|/etc/mail/aliases|"
    r"\S+: \d+ aliases|possible SMTP attack|Milter|milter|SMTP outgoing connect|"
    r"collect: |timeout waiting|lost input channel|did not issue|ETRN|"
    r"restarting|sendmail|daemon |runqueue|ruleset=|\S+ \[[^\]]*\]|\[[^\]]*\]|"
    r"Authentication-Warning|SYSERR|gethostbyaddr|discarded|headers too large|"
    r"message size|done;|clone|premature|Too many|tls_|TLS|stopping|exiting|"
    r"savemail|return to sender|sender notify|DSN|queued|"
    r"<[^>]*>\.\.\.|[^\s:]+\.\.\. )"
)


class SendmailEvent(NamedTuple):
    """One Sendmail line's meaning; ``qid`` is "" when the line has none."""

    kind: str
    qid: str
    data: Dict[str, str]


def strip_address(value: str) -> str:
    """`<bob@example.com>` → `bob@example.com`; `bob@example.com` stays; `<>` → ``""``."""
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        return value[1:-1]
    return value


def split_addresses(value: str) -> List[str]:
    """`<a>,<b>` or `a,b` → [a, b]."""
    return [strip_address(part) for part in value.split(",") if part.strip()]


def parse_relay(value: str) -> Tuple[Optional[str], Optional[str]]:
    """`mail.evil.example [10.14.168.11]`, `esafe1.example.com[10.211.15.69] (may be forged)`,
    `[64.233.187.27]`, `host. [ip] [ip]`, `root@localhost` → (host, ip)."""
    value = value.replace(" (may be forged)", "").strip()
    match = _RELAY.search(value)
    if match is None:
        host = value.rpartition("@")[2] if "@" in value else value
        return (host.rstrip(".") or None), None
    host = (match.group(1) or "").rstrip(".")
    return (host or None), match.group(2) or None


def fields(text: str) -> Dict[str, str]:
    """`key=value, key=value` pairs (values may hold spaces and commas without a following key)."""
    result: Dict[str, str] = {}
    for part in _FIELD_SPLIT.split(text):
        name, sep, value = part.partition("=")
        if sep:
            result[name.strip()] = value.strip()
    return result


def status_of(stat: str, dsn: Optional[str]) -> str:
    """Map `stat=` (and the DSN code) to a mailtui status word."""
    if dsn and dsn[:1] in "245":
        return {"2": "sent", "4": "deferred", "5": "bounced"}[dsn[0]]
    if stat.startswith("Sent"):
        return "sent"
    if stat.startswith("Deferred"):
        return "deferred"
    if stat.lower().startswith("queued"):
        return "in-queue"
    return "bounced"


def parse(body: str) -> Optional[SendmailEvent]:
    """The event a Sendmail line describes, or None when mailtui does not know the line."""
    match = _QID_PREFIX.match(body)
    if match is None:
        return SendmailEvent("info", "", {"text": body}) if _KNOWN_PLAIN.match(body) else None
    qid = match.group(1)
    rest = body[match.end() :]
    if qid == "NOQUEUE":
        qid = ""
    if rest.startswith("from="):
        return SendmailEvent("from", qid, fields(rest))
    if rest.startswith("to="):
        return SendmailEvent("to", qid, fields(rest))
    if rest.startswith("ruleset="):
        return SendmailEvent("ruleset", qid, fields(rest))
    if rest.startswith("milter=") and "reject=" in rest:
        return SendmailEvent("ruleset", qid, fields(rest))
    child = _CHILD.match(rest)
    if child and qid:
        return SendmailEvent(
            "child", qid, {"child": child.group(1), "what": child.group(2), "text": child.group(3)}
        )
    if qid and rest.startswith("done;"):
        return SendmailEvent("done", qid, {"text": rest})
    rejected = _ADDR_REJECT.match(rest)
    if rejected and qid:
        return SendmailEvent("rcpt-reject", qid, {"to": rejected.group(1), "text": rejected.group(2)})
    if qid:
        return SendmailEvent("info", qid, {"text": rest})
    return SendmailEvent("info", "", {"text": rest}) if _KNOWN_PLAIN.match(rest) else None

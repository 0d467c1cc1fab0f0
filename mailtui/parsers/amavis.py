"""amavisd-new verdict lines: the content filter between two Postfix queue files.

`(pid-n) Passed CLEAN {RelayedInbound}, [ip]:port [ip] <s> -> <r1>,<r2>, Queue-ID: OLD, Message-ID: <m>,
mail_id: x, Hits: -1.2, size: 123, queued_as: NEW, 1234 ms` joins OLD and NEW; `Blocked SPAM
{DiscardedInbound,Quarantined}` says why a mail went nowhere.
"""

from __future__ import annotations

import re
from typing import List, NamedTuple, Optional

_VERDICT = re.compile(r"\(([\d-]+)\) (Passed|Blocked) ([A-Z][A-Z-]*)(?: \{([^}]*)\})?,")
_ADDRESSES = re.compile(r" <([^>]*)> -> ((?:<[^>]*>,?)+)")
_QUEUE_ID = re.compile(r"Queue-ID: ([0-9A-Za-z]+)")
_MESSAGE_ID = re.compile(r"Message-ID: <([^>]*)>")
_QUEUED_AS = re.compile(r"queued_as: ([0-9A-Za-z]+(?:/[0-9A-Za-z]+)*)")
_HITS = re.compile(r"Hits: (-?[\d.]+|-)")
_SESSION = re.compile(r"\((?:\d+(?:-\d+)+|!+)\) |[A-Z][\w:]+ (?:starting|loaded|code|Net::Server)")


class AmavisVerdict(NamedTuple):
    """What amavis decided about one mail."""

    passed: bool
    category: str
    actions: str
    sender: Optional[str]
    recipients: List[str]
    queue_id: Optional[str]
    message_id: Optional[str]
    queued_as: List[str]
    hits: Optional[str]

    @property
    def reason(self) -> str:
        """Words for the user: "discarded by amavis as SPAM, hits 13.8"."""
        verb = "passed by" if self.passed else ("discarded by" if "Discard" in self.actions else "blocked by")
        hits = f", hits {self.hits}" if self.hits and self.hits != "-" else ""
        return f"{verb} amavis as {self.category}{hits}"


def parse(body: str) -> Optional[AmavisVerdict]:
    """The verdict on an amavis `Passed`/`Blocked` line, or None for any other amavis line."""
    match = _VERDICT.match(body)
    if match is None:
        return None
    _, verdict, category, actions = match.groups()
    addresses = _ADDRESSES.search(body, match.end())
    sender = addresses.group(1) if addresses else None
    recipients = re.findall(r"<([^>]*)>", addresses.group(2)) if addresses else []
    queue_id = _QUEUE_ID.search(body)
    message_id = _MESSAGE_ID.search(body)
    queued_as = _QUEUED_AS.search(body)
    hits = _HITS.search(body)
    return AmavisVerdict(
        passed=verdict == "Passed",
        category=category,
        actions=actions or "",
        sender=sender,
        recipients=recipients,
        queue_id=queue_id.group(1) if queue_id else None,
        message_id=message_id.group(1) if message_id else None,
        queued_as=queued_as.group(1).split("/") if queued_as else [],
        hits=hits.group(1) if hits else None,
    )


def is_amavis_line(body: str) -> bool:
    """True for any line amavis writes in its usual `(pid-n) ...` form (counted as recognised)."""
    return _SESSION.match(body) is not None

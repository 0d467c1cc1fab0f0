"""Reply texts grouped by what they say: addresses, hosts, IPs and numbers folded away.

`554 5.7.1 <x@example.org>: Relay access denied` and `554 5.7.1 <y@example.net>: Relay access denied`
are one reason, `Relay access denied`; `host mx.a.example[192.0.2.1] said: 450 4.7.1 Greylisted,
please try again later (in reply to RCPT TO command)` is `Greylisted, please try again later`;
`connect to mx.b.example[192.0.2.2]:25: Connection timed out` is `Connection timed out`.
Used by the overview and `mailtui stats` (top reject/deferral reasons) and by the query
language's `reason:` field, so a folded reason typed back in finds the mail it stands for.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

__all__ = ["NO_REASON", "fold_reason", "reason_matches"]

#: What a problem without any logged text folds to.
NO_REASON = "(no reason logged)"
#: Placeholders the folding puts in (their presence in a query value asks for a folded match).
ADDRESS, HOST_IP, NUMBER = "<…>", "[…]", "N"

_SAID = re.compile(r"^host \S+ said: ", re.IGNORECASE)
_CONNECT = re.compile(
    r"^(?:connect to|lost connection with|conversation with) \S+?(?::\d+)?: ", re.IGNORECASE
)
_IN_REPLY = re.compile(r"\s*\(in reply to [^)]*\)\s*$", re.IGNORECASE)
_CODES = re.compile(r"^(?:\d{3}[ -])?(?:[245]\.\d{1,3}\.\d{1,3}\s+)?")
_ADDRESS = re.compile(r"<[^>]*>")
_IP = re.compile(r"\[?\b(?:\d{1,3}\.){3}\d{1,3}\b\]?|\[[0-9a-fA-F:]+:[0-9a-fA-F:]*\]")
_NUMBER = re.compile(r"\b\d+\b")
_LEAD = re.compile(r"^(?:<…>(?:\.\.\.)?|\[…\]|\S+\[…\](?::N)?):? ")
_WORD_N = re.compile(r"(?:^|\W)N(?:\W|$)")


@lru_cache(maxsize=4096)
def fold_reason(text: Optional[str]) -> str:
    """The reply text with codes, the replying host, addresses, IPs and numbers folded, so equal
    reasons group (see the module doc); at most 120 characters."""
    if not text:
        return NO_REASON
    text = " ".join(text.split())
    text = _SAID.sub("", text)
    text = _CONNECT.sub("", text)
    text = _IN_REPLY.sub("", text)
    text = _CODES.sub("", text)
    text = _ADDRESS.sub(ADDRESS, text)
    text = _IP.sub(HOST_IP, text)
    text = _NUMBER.sub(NUMBER, text)
    text = _LEAD.sub("", text)
    return text.strip()[:120] or NO_REASON


def is_folded(value: str) -> bool:
    """True when `value` holds a placeholder of :func:`fold_reason` (so it must match folded text)."""
    return ADDRESS in value or HOST_IP in value or "…" in value or bool(_WORD_N.search(value))


def reason_matches(needle: str, text: Optional[str], folded: bool) -> bool:
    """Whether the lower-case `needle` is in the reply `text` (as logged, or folded when `folded`)."""
    if not text:
        return False
    if needle in text.lower():
        return True
    return folded and needle in fold_reason(text).lower()

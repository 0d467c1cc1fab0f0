"""One-key pivots: the query that lists the mail related to one trace (same Message-ID, same sender,
same recipient, client, relay or subject). The UI writes it into the filter bar, where the user
sees and can edit it; every query here reads back through :func:`mailtui.query.parse_query`.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional

from mailtui.model import Recipient, Trace
from mailtui.query import quote_value
from mailtui.sanitize import has_controls, longest_plain_run

__all__ = ["PIVOTS", "Pivot", "pivot_query", "relay_host"]


class Pivot(NamedTuple):
    """One pivot: its key name, what it is called, and what it is when a trace has none."""

    name: str
    title: str
    missing: str


#: The pivots, by name (the UI binds one key to each).
PIVOTS: Dict[str, Pivot] = {
    pivot.name: pivot
    for pivot in (
        Pivot("msgid", "Same Message-ID", "no Message-ID was logged for this mail"),
        Pivot("from", "From this sender", "no sender was logged for this mail"),
        Pivot("to", "To this recipient", "this mail has no recipient"),
        Pivot("client", "From this client", "no client was logged for this mail"),
        Pivot("relay", "To this relay", "no recipient of this mail was handed to a relay"),
        Pivot("subject", "Same subject", "no subject was logged for this mail"),
    )
}


def relay_host(relay: str) -> str:
    """The host a relay string names, for `relay:` (`mx.example.com[192.0.2.1]:25` → the name,
    `[192.0.2.1]:25` → the IP, `local` → `local`)."""
    host = relay.split("[", 1)[0].strip().rstrip(".")
    if host:
        return host
    return relay.split("]", 1)[0].lstrip("[").strip() or relay


def _exact(field: str, value: Optional[str]) -> Optional[str]:
    """`field:value` for a field that matches whole values (None if the value has control characters:
    it could neither be shown in the filter bar nor typed)."""
    if value is None or has_controls(value):
        return None
    return f"{field}:{quote_value(value)}"


def pivot_query(trace: Trace, name: str, recipient: Optional[Recipient] = None) -> Optional[str]:
    """The query of pivot `name` (a key of :data:`PIVOTS`) for `trace`, None when the trace has
    nothing to pivot on. `recipient` picks the recipient for `to` and `relay` (default: the first,
    for `relay` the first one handed to a relay)."""
    if name == "msgid":
        mid = trace.message_id
        return _exact("msgid", f"<{mid}>") if mid else None
    if name == "from":
        sender = trace.sender
        if sender is None:
            return None
        return "from:<>" if sender == "" else _exact("from", sender)
    if name == "to":
        chosen = recipient or (trace.recipients[0] if trace.recipients else None)
        return None if chosen is None else _exact("to", chosen.address)
    if name == "client":
        first = trace.hops[0]
        return _exact("client", first.client_ip or first.client)
    if name == "relay":
        candidates = [recipient] if recipient is not None else trace.recipients
        relay = next((r.relay for r in candidates if r.relay and r.relay.lower() != "none"), None)
        return None if relay is None else _exact("relay", relay_host(relay))
    if name == "subject":
        subject = trace.subject
        if not subject:
            return None
        # `subject:` is a substring test: a subject with an escape sequence in it is found by its
        # longest plain stretch
        text = longest_plain_run(subject) if has_controls(subject) else subject.strip()
        return f"subject:{quote_value(text)}" if text else None
    raise KeyError(name)

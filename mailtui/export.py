"""Traces as the CLI contract's JSON, as a table for humans, and as a text report."""

from __future__ import annotations

import csv
from typing import Dict, Iterable, List, Optional, Sequence, TextIO

from mailtui.model import Trace, Transaction, iso_time
from mailtui.sanitize import clip, json_line, visible
from mailtui.session import Session

#: Columns of `search --csv` and the UI's list export, in order.
CSV_COLUMNS = (
    "id",
    "first_seen",
    "last_seen",
    "status",
    "sender",
    "recipients",
    "message_id",
    "subject",
    "size",
    "client",
    "client_ip",
    "servers",
    "queue_ids",
)

#: Table columns: (header, width); the subject column takes what is left.
_COLUMNS = (("TIME", 19), ("STATUS", 9), ("FROM", 28), ("TO", 30), ("SIZE", 7), ("SERVER", 12))


def trace_json(trace: Trace, session: Session, with_text: bool = False) -> Dict[str, object]:
    """The contract's object for one trace (see README, "JSON output")."""
    first = trace.hops[0]
    refs = trace.lines
    lines: List[Dict[str, object]] = [
        {"file": session.files[ref.file_id].name, "line": ref.line} for ref in refs
    ]
    if with_text:
        for entry, text in zip(lines, session.read_lines(refs)):
            entry["text"] = text
    return {
        "id": trace.id,
        "message_id": trace.message_id,
        "sender": trace.sender,
        "subject": trace.subject,
        "first_seen": iso_time(trace.first_seen, first.tz),
        "last_seen": iso_time(trace.last_seen, first.tz),
        "status": trace.status,
        "reason": trace.reason,
        "size": trace.size,
        "client": trace.client,
        "client_ip": trace.client_ip,
        "recipients": [rcpt.to_json() for rcpt in trace.recipients],
        "hops": [hop.hop_json() for hop in trace.hops],
        "links": [link.to_json() for link in trace.links],
        "parent": trace.parent,
        "children": list(trace.children),
        "lines": lines,
    }


def _to_column(trace: Trace) -> str:
    if not trace.recipients:
        return ""
    first = trace.recipients[0].address
    more = len(trace.recipients) - 1
    return f"{first} +{more}" if more else first


def _sender_column(trace: Trace) -> str:
    sender = trace.sender
    return "<>" if sender == "" else (sender or "")


def table_row(trace: Trace, width: int = 160) -> str:
    """One line of the human table; every field sanitised and clipped to its column."""
    first = trace.hops[0]
    cells = [
        iso_time(trace.first_seen, first.tz)[:19].replace("T", " "),
        trace.status,
        _sender_column(trace),
        _to_column(trace),
        "" if trace.size is None else str(trace.size),
        first.server,
    ]
    parts = [clip(visible(cell), w).ljust(w) for cell, (_, w) in zip(cells, _COLUMNS)]
    used = sum(w + 1 for _, w in _COLUMNS)
    rest = trace.subject or (
        f"client {trace.client or ''}[{trace.client_ip or ''}]" if trace.client_ip else ""
    )
    parts.append(clip(visible(f"{trace.id}  {rest}"), max(20, width - used)))
    return " ".join(parts).rstrip()


def table_header(width: int = 160) -> str:
    used = sum(w + 1 for _, w in _COLUMNS)
    return " ".join([h.ljust(w) for h, w in _COLUMNS] + ["ID / SUBJECT"[: max(20, width - used)]])


def hop_chain(trace: Trace) -> str:
    """`client -> server (queue id) -> ... -> relay or mailbox` on one line."""
    parts: List[str] = []
    first = trace.hops[0]
    if first.client_ip or first.client:
        parts.append(first.client_ip or first.client or "")
    for hop in trace.hops:
        parts.append(f"{hop.server} ({hop.queue_id})")
    finals = []
    for rcpt in trace.recipients:
        where = _relay_name(rcpt.relay)
        if where and where not in finals:
            finals.append(where)
    if finals:
        parts.append(", ".join(finals))
    return visible(" -> ".join(parts))


def _relay_name(relay: Optional[str]) -> Optional[str]:
    if not relay or relay == "none":
        return None
    host = relay.split("[", 1)[0]
    return host or relay.split("]", 1)[0].lstrip("[")


def _hop_line(number: int, hop: Transaction) -> str:
    client = f"{hop.client or '?'}[{hop.client_ip}]" if hop.client_ip else (hop.client or "?")
    return (
        f"  {number}. {iso_time(hop.first_seen, hop.tz)}  {client} -> {hop.server} "
        f"{hop.mta}/{hop.instance} {hop.queue_id}"
    )


def trace_report(trace: Trace, session: Session) -> str:
    """A text report of one trace: summary, hop chain, recipients, links, and every raw line."""
    out = [f"Trace {trace.id}: {trace.status}" + (f" ({trace.reason})" if trace.reason else "")]
    out.append(
        f"  from {_sender_column(trace) or '?'}  message-id {trace.message_id or '(none)'}  size {trace.size}"
    )
    if trace.subject:
        out.append(f"  subject {trace.subject}")
    out.append(f"  chain  {hop_chain(trace)}")
    out.append("Hops:")
    out.extend(_hop_line(i + 1, hop) for i, hop in enumerate(trace.hops))
    out.append("Recipients:")
    for rcpt in trace.recipients:
        extra = f" (was {rcpt.orig_address})" if rcpt.orig_address else ""
        out.append(
            f"  {rcpt.address}{extra}  {rcpt.status}  relay={rcpt.relay or '-'}  dsn={rcpt.dsn or '-'}"
            f"  server={rcpt.final_server or '-'}  {rcpt.response or rcpt.reason or ''}".rstrip()
        )
    if trace.links or trace.parent or trace.children:
        out.append("Links:")
        for link in trace.links:
            proof = ""
            if link.proof is not None:
                proof = f"  (line {session.files[link.proof.file_id].name}:{link.proof.line})"
            out.append(f"  {link.kind}: {link.source.key} -> {link.target.key}{proof}")
        if trace.parent:
            out.append(f"  bounce/notification of {trace.parent}")
        for child in trace.children:
            out.append(f"  notification {child}")
    out.append("Lines:")
    refs = trace.lines
    for ref, text in zip(refs, session.read_lines(refs)):
        out.append(f"  {session.files[ref.file_id].name}:{ref.line}: {text}")
    return "\n".join(visible(line) for line in out)


def traces_table(traces: Sequence[Trace], width: int = 160) -> str:
    return "\n".join([table_header(width), *(table_row(trace, width) for trace in traces)])


def csv_row(trace: Trace) -> List[str]:
    """One trace as the :data:`CSV_COLUMNS` cells (lists joined by a space, "" for missing; the null
    sender is `<>`). The text is the log's own: sanitise it before it goes to a terminal."""
    first = trace.hops[0]
    queue_ids: List[str] = []
    for hop in trace.hops:
        if hop.queue_id not in queue_ids:
            queue_ids.append(hop.queue_id)
    return [
        trace.id,
        iso_time(trace.first_seen, first.tz),
        iso_time(trace.last_seen, first.tz),
        trace.status,
        _sender_column(trace),
        " ".join(rcpt.address for rcpt in trace.recipients),
        trace.message_id or "",
        trace.subject or "",
        "" if trace.size is None else str(trace.size),
        trace.client or "",
        trace.client_ip or "",
        " ".join(trace.servers),
        " ".join(queue_ids),
    ]


def write_csv(traces: Iterable[Trace], handle: TextIO, terminal: bool = False) -> int:
    """Write a header and one row per trace with the csv module's quoting; returns the row count.

    With `terminal` (stdout is a TTY) every cell goes through :func:`visible`, so no escape sequence
    reaches the screen; a file keeps the log's text as it is."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for trace in traces:
        row = csv_row(trace)
        writer.writerow([visible(cell) for cell in row] if terminal else row)
        count += 1
    return count


def write_jsonl(traces: Iterable[Trace], session: Session, handle: TextIO) -> int:
    """One JSON object per trace (the `search --json` contract) per line; returns the count."""
    count = 0
    for trace in traces:
        handle.write(json_line(trace_json(trace, session)) + "\n")
        count += 1
    return count

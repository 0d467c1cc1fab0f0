"""Summary numbers over a session: lines read and understood, messages and recipients per status,
rejects and their reasons, top senders/recipients/clients/relays, messages per hour."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Dict, Iterable, List, Optional

from mailtui.model import STATUSES, Trace
from mailtui.sanitize import visible
from mailtui.session import Session

TOP = 10
_FOLD_ADDRESS = re.compile(r"<[^>]*>")
_FOLD_IP = re.compile(r"\[?\b(?:\d{1,3}\.){3}\d{1,3}\b\]?|\[[0-9a-fA-F:]+:[0-9a-fA-F:]*\]")
_FOLD_CODES = re.compile(r"^(?:\d{3}[ -])?(?:\d\.\d{1,3}\.\d{1,3} )?")
_FOLD_NUMBER = re.compile(r"\b\d+\b")


def fold_reason(text: Optional[str]) -> str:
    """A reply text with addresses, IPs and numbers folded, so equal reasons group:
    `554 5.7.1 <x@y>: Relay access denied` → `Relay access denied`."""
    if not text:
        return "(no reason logged)"
    text = _FOLD_CODES.sub("", text.strip())
    text = _FOLD_ADDRESS.sub("<…>", text)
    text = _FOLD_IP.sub("[…]", text)
    text = _FOLD_NUMBER.sub("N", text)
    text = re.sub(r"^(?:<…>|\[…\]|\S+\[…\]):? ", "", text)
    return text.strip()[:120]


def _top(counter: Counter, n: int = TOP) -> List[Dict[str, object]]:
    return [{"value": value, "count": count} for value, count in counter.most_common(n)]


def _hour(ts: float, tz_minutes: Optional[int]) -> str:
    zone = timezone(timedelta(minutes=tz_minutes or 0))
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%dT%H:00%z")


def compute_stats(session: Session, traces: Optional[Iterable[Trace]] = None) -> Dict[str, object]:
    """The numbers `mailtui stats` prints (and the overview screen shows)."""
    chosen = list(session.traces if traces is None else traces)
    by_status: Counter = Counter()
    rcpt_status: Counter = Counter()
    senders: Counter = Counter()
    recipients: Counter = Counter()
    clients: Counter = Counter()
    relays: Counter = Counter()
    reject_reasons: Counter = Counter()
    defer_reasons: Counter = Counter()
    per_hour: Counter = Counter()
    recipient_total = 0
    for trace in chosen:
        by_status[trace.status] += 1
        sender = trace.sender
        if sender is not None:
            senders[sender or "<>"] += 1
        first = trace.hops[0]
        if first.client_ip or first.client:
            clients[f"{first.client or 'unknown'}[{first.client_ip or ''}]"] += 1
        per_hour[_hour(trace.first_seen, first.tz)] += 1
        for rcpt in trace.recipients:
            recipient_total += 1
            rcpt_status[rcpt.status] += 1
            recipients[rcpt.address] += 1
            if rcpt.relay and rcpt.status == "sent":
                relays[rcpt.relay] += 1
            if rcpt.status == "rejected":
                reject_reasons[fold_reason(rcpt.response)] += 1
            elif rcpt.status == "deferred":
                defer_reasons[fold_reason(rcpt.response)] += 1
        if not trace.recipients and trace.status == "rejected":
            reject_reasons[fold_reason(trace.reason)] += 1
    files = [
        {
            "file": loaded.name,
            "format": loaded.format,
            "lines": loaded.lines,
            "lines_unrecognised": loaded.unrecognised,
            "unrecognised_examples": [{"line": n, "text": text} for n, text in loaded.examples],
            "errors": list(loaded.errors),
        }
        for loaded in session.files
    ]
    return {
        "lines": sum(loaded.lines for loaded in session.files),
        "lines_unrecognised": sum(loaded.unrecognised for loaded in session.files),
        "files": files,
        "messages": len(chosen),
        "recipients": recipient_total,
        "messages_by_status": {
            status: by_status[status] for status in (*STATUSES, "mixed") if by_status[status]
        },
        "recipients_by_status": {status: rcpt_status[status] for status in STATUSES if rcpt_status[status]},
        "rejects": sum(reject_reasons.values()),
        "top_reject_reasons": _top(reject_reasons),
        "top_deferral_reasons": _top(defer_reasons),
        "top_senders": _top(senders),
        "top_recipients": _top(recipients),
        "top_client_hosts": _top(clients),
        "top_relays": _top(relays),
        "messages_per_hour": dict(sorted(per_hour.items())),
    }


def stats_text(stats: Dict[str, object]) -> str:
    """The same numbers for a human reader."""
    out = [
        f"lines {stats['lines']}  unrecognised {stats['lines_unrecognised']}",
        f"messages {stats['messages']}  recipients {stats['recipients']}  rejects {stats['rejects']}",
        "messages by status: " + ", ".join(f"{k} {v}" for k, v in stats["messages_by_status"].items()),  # type: ignore[union-attr]
        "recipients by status: " + ", ".join(f"{k} {v}" for k, v in stats["recipients_by_status"].items()),  # type: ignore[union-attr]
    ]
    for key in ("top_senders", "top_recipients", "top_client_hosts", "top_relays", "top_reject_reasons",
                "top_deferral_reasons"):  # fmt: skip
        rows = stats[key]
        if rows:
            out.append(key.replace("_", " ") + ":")
            # visible(): a value with a newline in it must not print as a line of its own.
            out.extend(f"  {row['count']:>7}  {visible(str(row['value']))}" for row in rows)  # type: ignore[union-attr,index]
    out.append("files:")
    for entry in stats["files"]:  # type: ignore[union-attr]
        out.append(
            f"  {entry['file']} ({entry['format']}): {entry['lines']} lines, "
            f"{entry['lines_unrecognised']} unrecognised"
        )
        for example in entry["unrecognised_examples"]:
            out.append(f"      {example['line']}: {visible(example['text'][:150])}")
    return "\n".join(out)

"""Summary numbers over a session: lines read and understood, messages and recipients per status,
rejects and their reasons, top senders/recipients/clients/relays, messages per hour."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Callable, Dict, Iterable, List, Optional

from mailtui.model import MIXED, STATUSES, Trace
from mailtui.pivot import relay_host
from mailtui.query import quote_value
from mailtui.reasons import NO_REASON, fold_reason
from mailtui.sanitize import has_controls, longest_plain_run, visible
from mailtui.session import Session

TOP = 10
#: At most this many time buckets are listed one after the other (empty ones included).
MAX_CONTIGUOUS = 500
#: The parts of Postfix `delays=a/b/c/d`.
DELAY_PARTS = (
    ("a", "before the queue manager"),
    ("b", "in the queue manager"),
    ("c", "connection setup"),
    ("d", "transmission"),
)

__all__ = ["compute_stats", "fold_reason", "stats_text"]


def _top(
    counter: Counter, query: Optional[Callable[[str], str]] = None, n: int = TOP
) -> List[Dict[str, object]]:
    """The `n` biggest counts as rows; with `query`, each row carries the filter that lists its mail."""
    rows: List[Dict[str, object]] = []
    for value, count in counter.most_common(n):
        row: Dict[str, object] = {"value": value, "count": count}
        if query is not None:
            row["query"] = query(value)
        rows.append(row)
    return rows


def _hour(ts: float, tz_minutes: Optional[int]) -> str:
    zone = timezone(timedelta(minutes=tz_minutes or 0))
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%dT%H:00%z")


def _client_query(value: str) -> str:
    host, _, rest = value.rpartition("[")
    ip = rest.rstrip("]")
    return "client:" + quote_value(ip or host)


def _reason_query(status: str) -> Callable[[str], str]:
    def query(reason: str) -> str:
        if reason == NO_REASON:
            return f"status:{status}"
        # a reply with control characters in it: search for its longest plain stretch
        needle = longest_plain_run(reason) if has_controls(reason) else reason
        return f"status:{status} reason:{quote_value(needle)}"

    return query


def percentile(values: List[float], fraction: float) -> Optional[float]:
    """The nearest-rank percentile of sorted `values` (`fraction` 0.5: the median); None when empty."""
    if not values:
        return None
    rank = max(1, math.ceil(fraction * len(values)))
    return values[min(rank, len(values)) - 1]


def _delay_figures(values: List[float]) -> Dict[str, object]:
    values.sort()
    return {
        "count": len(values),
        "median": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "max": values[-1] if values else None,
    }


def _parse_delays(text: Optional[str]) -> Optional[List[float]]:
    if not text:
        return None
    parts = text.split("/")
    if len(parts) != 4:
        return None
    try:
        return [float(part) for part in parts]
    except ValueError:
        return None


def _zone_of(chosen: List[Trace], zone: Optional[tzinfo]) -> tzinfo:
    if zone is not None:
        return zone
    for trace in chosen:
        tz = trace.hops[0].tz
        return timezone(timedelta(minutes=tz or 0))
    return timezone.utc


def _bucket_start(ts: float, zone: tzinfo, hourly: bool) -> datetime:
    moment = datetime.fromtimestamp(ts, zone)
    if hourly:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _step(start: datetime, hourly: bool) -> datetime:
    """The next bucket's start (wall clock; a DST change in `zone` does not skip or repeat one)."""
    if hourly:
        return datetime.fromtimestamp(start.timestamp() + 3600, start.tzinfo)
    following = (start + timedelta(days=1, hours=2)).replace(hour=0)
    return following


def _stamp(moment: datetime) -> str:
    """`2024-03-11 09:00+00:00`, `2024-03-11 09:59:59+00:00`: what since:/until: read back exactly."""
    text = moment.isoformat(sep=" ", timespec="seconds")
    return text.replace(":00+", "+", 1) if moment.second == 0 and text.count(":") >= 3 else text


def volume(chosen: List[Trace], zone: Optional[tzinfo] = None) -> Dict[str, object]:
    """Messages per hour (a range of two days or less) or per day, by status, each bucket with the
    `since:… until:…` query of its time range. Buckets follow one another, empty ones included,
    unless there would be more than :data:`MAX_CONTIGUOUS` (then only those with mail)."""
    where = _zone_of(chosen, zone)
    if not chosen:
        return {"bucket": "hour", "contiguous": True, "buckets": []}
    first = min(trace.first_seen for trace in chosen)
    last = max(trace.first_seen for trace in chosen)
    hourly = last - first <= 2 * 86400
    counts: Dict[datetime, Counter] = {}
    for trace in chosen:
        start = _bucket_start(trace.first_seen, where, hourly)
        counter = counts.get(start)
        if counter is None:
            counter = counts[start] = Counter()
        counter[trace.status] += 1
    starts = sorted(counts)
    contiguous = True
    span = (starts[-1].timestamp() - starts[0].timestamp()) / (3600 if hourly else 86400)
    if span + 1 <= MAX_CONTIGUOUS:
        filled = [starts[0]]
        while filled[-1] < starts[-1]:
            filled.append(_step(filled[-1], hourly))
        starts = filled
    else:
        contiguous = False
    buckets: List[Dict[str, object]] = []
    for start in starts:
        counter = counts.get(start, Counter())
        end = datetime.fromtimestamp(_step(start, hourly).timestamp() - 1, where)
        buckets.append(
            {
                "start": start.isoformat(timespec="minutes"),
                "total": sum(counter.values()),
                "by_status": {s: counter[s] for s in (*STATUSES, MIXED) if counter[s]},
                "query": f'since:"{_stamp(start)}" until:"{_stamp(end)}"',
            }
        )
    return {"bucket": "hour" if hourly else "day", "contiguous": contiguous, "buckets": buckets}


def compute_stats(
    session: Session, traces: Optional[Iterable[Trace]] = None, zone: Optional[tzinfo] = None
) -> Dict[str, object]:
    """The numbers `mailtui stats` prints (and the overview screen shows).

    Args:
        session: the loaded logs (files and line counts come from here).
        traces: the mail to count (default: all of the session's).
        zone: the zone of the time buckets in ``volume`` (default: the first mail's log zone).
    """
    chosen = list(session.traces if traces is None else traces)
    by_status: Counter = Counter()
    rcpt_status: Counter = Counter()
    senders: Counter = Counter()
    sender_domains: Counter = Counter()
    recipients: Counter = Counter()
    clients: Counter = Counter()
    relays: Counter = Counter()
    relay_hosts: Counter = Counter()
    reject_reasons: Counter = Counter()
    defer_reasons: Counter = Counter()
    per_hour: Counter = Counter()
    end_to_end: List[float] = []
    parts: List[List[float]] = [[], [], [], []]
    recipient_total = 0
    for trace in chosen:
        by_status[trace.status] += 1
        sender = trace.sender
        if sender is not None:
            senders[sender or "<>"] += 1
            if "@" in sender:
                sender_domains[sender.rpartition("@")[2].lower()] += 1
        first = trace.hops[0]
        if first.client_ip or first.client:
            clients[f"{first.client or 'unknown'}[{first.client_ip or ''}]"] += 1
        start = trace.first_seen
        per_hour[_hour(start, first.tz)] += 1
        for rcpt in trace.recipients:
            recipient_total += 1
            rcpt_status[rcpt.status] += 1
            recipients[rcpt.address] += 1
            if rcpt.relay and rcpt.status == "sent":
                relays[rcpt.relay] += 1
                relay_hosts[relay_host(rcpt.relay)] += 1
            if rcpt.status == "rejected":
                reject_reasons[fold_reason(rcpt.response or rcpt.reason)] += 1
            elif rcpt.status == "deferred":
                defer_reasons[fold_reason(rcpt.response or rcpt.reason)] += 1
            if rcpt.status == "sent":
                took = None if rcpt.ts is None else rcpt.ts - start
                if rcpt.delay is not None and (took is None or rcpt.delay > took):
                    took = rcpt.delay  # queued before the log begins
                if took is not None:
                    end_to_end.append(max(0.0, took))
                split = _parse_delays(rcpt.delays)
                if split is not None:
                    for bucket, value in zip(parts, split):
                        bucket.append(value)
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
    delays: Dict[str, object] = {"end_to_end": _delay_figures(end_to_end)}
    for (name, _), values in zip(DELAY_PARTS, parts):
        delays[name] = _delay_figures(values)
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
        "top_reject_reasons": _top(reject_reasons, _reason_query("rejected")),
        "top_deferral_reasons": _top(defer_reasons, _reason_query("deferred")),
        "top_senders": _top(senders, lambda value: "from:" + quote_value(value)),
        "top_sender_domains": _top(sender_domains, lambda value: "from:@" + quote_value(value)),
        "top_recipients": _top(recipients, lambda value: "to:" + quote_value(value)),
        "top_client_hosts": _top(clients, _client_query),
        "top_relays": _top(relays, lambda value: "relay:" + quote_value(relay_host(value))),
        "top_relay_hosts": _top(relay_hosts, lambda value: "relay:" + quote_value(value)),
        "messages_per_hour": dict(sorted(per_hour.items())),
        "volume": volume(chosen, zone),
        "delays": delays,
    }


def _seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}s" if value < 100 else f"{value:.0f}s"


def stats_text(stats: Dict[str, object]) -> str:
    """The same numbers for a human reader."""
    out = [
        f"lines {stats['lines']}  unrecognised {stats['lines_unrecognised']}",
        f"messages {stats['messages']}  recipients {stats['recipients']}  rejects {stats['rejects']}",
        "messages by status: " + ", ".join(f"{k} {v}" for k, v in stats["messages_by_status"].items()),  # type: ignore[union-attr]
        "recipients by status: " + ", ".join(f"{k} {v}" for k, v in stats["recipients_by_status"].items()),  # type: ignore[union-attr]
    ]
    delays = stats.get("delays") or {}
    for name, label in (("end_to_end", "end to end"), *DELAY_PARTS):
        figures = delays.get(name)  # type: ignore[union-attr]
        if figures and figures["count"]:
            out.append(
                f"delay {name if name == 'end_to_end' else name + ' (' + label + ')'}: "
                f"median {_seconds(figures['median'])}, 95% {_seconds(figures['p95'])}, "
                f"max {_seconds(figures['max'])} ({figures['count']} recipients)"
            )
    for key in ("top_senders", "top_sender_domains", "top_recipients", "top_client_hosts", "top_relays",
                "top_reject_reasons", "top_deferral_reasons"):  # fmt: skip
        rows = stats[key]
        if rows:
            out.append(key.replace("_", " ") + ":")
            # visible(): a value with a newline in it must not print as a line of its own.
            out.extend(f"  {row['count']:>7}  {visible(str(row['value']))}" for row in rows)  # type: ignore[union-attr,index]
    chart = stats.get("volume") or {}
    buckets = chart.get("buckets") or []  # type: ignore[union-attr]
    if buckets:
        out.append(f"messages per {chart['bucket']} (by status):")  # type: ignore[index]
        for bucket in buckets:
            shown = ", ".join(f"{k} {v}" for k, v in bucket["by_status"].items())
            out.append(f"  {bucket['start']}  {bucket['total']:>7}  {shown}")
    out.append("files:")
    for entry in stats["files"]:  # type: ignore[union-attr]
        out.append(
            f"  {entry['file']} ({entry['format']}): {entry['lines']} lines, "
            f"{entry['lines_unrecognised']} unrecognised"
        )
        for example in entry["unrecognised_examples"]:
            out.append(f"      {example['line']}: {visible(example['text'][:150])}")
    return "\n".join(out)

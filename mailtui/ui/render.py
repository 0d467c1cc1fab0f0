"""Domain → Content: sanitise log text first, then style it (lexer tokens, status colours, list rows).

Every string that came from a log goes through :func:`mailtui.sanitize.visible` and into a
:class:`~textual.content.Content` built from plain text and spans, never through markup.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Dict, List, Optional, Sequence, Tuple

from textual.content import Content

from mailtui import highlight
from mailtui.model import MIXED, Recipient, Trace
from mailtui.sanitize import visible

#: Colour per status word (plain Rich colour names: NO_COLOR strips them, the words stay).
STATUS_STYLES: Dict[str, str] = {
    "sent": "bold green",
    "deferred": "bold yellow",
    "bounced": "bold red",
    "expired": "bold red",
    "rejected": "bold red",
    "discarded": "bold magenta",
    "in-queue": "bold cyan",
    MIXED: "bold yellow",
}

#: Style per lexer token type (sub-types inherit by walking up the token's parents).
TOKEN_STYLES = {
    highlight.TIMESTAMP: "cyan",
    highlight.HOST: "bold blue",
    highlight.PROGRAM: "magenta",
    highlight.PID: "dim",
    highlight.QUEUE_ID: "bold yellow",
    highlight.ADDRESS: "green",
    highlight.IP: "bold cyan",
    highlight.DSN: "bold",
    highlight.KEY: "dim",
    highlight.STATUS_OK: "bold green",
    highlight.STATUS_WARN: "bold yellow",
    highlight.STATUS_BAD: "bold red",
    highlight.STATUS_INFO: "blue",
}


def _token_style(token: object) -> Optional[str]:
    while token is not None:
        style = TOKEN_STYLES.get(token)  # type: ignore[call-overload]
        if style is not None:
            return style
        token = getattr(token, "parent", None)
    return None


def safe(text: Optional[str]) -> Content:
    """Log text as plain Content (sanitised, no markup)."""
    return Content(visible(text or ""))


def highlighted(raw: str) -> Content:
    """One raw log line, sanitised, with the mail-log lexer's tokens coloured."""
    text = visible(raw)
    content = Content(text)
    spans = []
    for start, end, token in highlight.token_spans(text):
        style = _token_style(token)
        if style:
            spans.append((start, end, style))
    if not spans:
        return content
    from textual.content import Span

    return Content(text, [Span(start, end, style) for start, end, style in spans])


def status_content(status: str, width: int = 0) -> Content:
    """The status word in its colour, padded to `width`."""
    return Content.styled(status.ljust(width), STATUS_STYLES.get(status, "bold"))


def when(ts: float, tz_minutes: Optional[int], with_year: bool = True) -> str:
    """`2024-03-11 09:02:11` (or `03-11 09:02:11`) in the zone the log was written in."""
    zone = timezone.utc if not tz_minutes else timezone(timedelta(minutes=tz_minutes))
    moment = datetime.fromtimestamp(ts, zone)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if with_year else "%m-%d %H:%M:%S")


def when_in(ts: float, zone: Optional[tzinfo], with_year: bool = True) -> str:
    """Like :func:`when`, in one display zone for the whole list (None: this machine's zone)."""
    moment = datetime.fromtimestamp(ts, zone) if zone is not None else datetime.fromtimestamp(ts).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S" if with_year else "%m-%d %H:%M:%S")


def duration(seconds: Optional[float]) -> str:
    """`0.4s`, `12s`, `3m05s`, `2h10m`, `1d4h`."""
    if seconds is None:
        return "?"
    if seconds < 10:
        return f"{seconds:.1f}s".replace(".0s", "s")
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    if total < 86400:
        return f"{total // 3600}h{total % 3600 // 60:02d}m"
    return f"{total // 86400}d{total % 86400 // 3600}h"


def sender_text(trace: Trace) -> str:
    sender = trace.sender
    return "<>" if sender == "" else (sender or "")


def recipients_text(trace: Trace) -> str:
    """First recipient and `+N` for the others."""
    if not trace.recipients:
        return ""
    more = len(trace.recipients) - 1
    first = trace.recipients[0].address
    return f"{first} +{more}" if more else first


def subject_text(trace: Trace) -> str:
    """The subject, or the client when no subject was logged."""
    if trace.subject:
        return trace.subject
    if trace.client_ip or trace.client:
        return f"client {trace.client or 'unknown'}[{trace.client_ip or ''}]"
    return ""


# ------------------------------------------------------------------------------------- columns

#: Column keys in display order, with their titles.
COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("time", "TIME"),
    ("status", "STATUS"),
    ("from", "FROM"),
    ("to", "TO"),
    ("subject", "SUBJECT / CLIENT"),
    ("size", "SIZE"),
    ("server", "SERVER"),
)
#: Sort keys `s` cycles through (same keys as COLUMNS).
SORT_KEYS = tuple(key for key, _ in COLUMNS)


def layout(width: int) -> List[Tuple[str, int]]:
    """Column widths for a list `width` cells wide (narrow terminals drop size and server)."""
    time_w = 19 if width >= 130 else 14
    fixed: List[Tuple[str, int]] = [("time", time_w), ("status", 9)]
    tail: List[Tuple[str, int]] = []
    if width >= 90:
        tail.append(("size", 7))
    if width >= 96:
        tail.append(("server", 12))
    used = sum(w for _, w in fixed + tail) + len(fixed) + len(tail) + 2  # one space after each
    rest = max(30, width - used)
    side = max(12, min(30, int(rest * 0.3)))
    subject = max(6, rest - 2 * side)
    return [*fixed, ("from", side), ("to", side), ("subject", subject), *tail]


def header_content(columns: Sequence[Tuple[str, int]], sort_key: str) -> Content:
    """The column titles, the sorted one marked."""
    titles = dict(COLUMNS)
    parts: List[Content] = []
    for key, width in columns:
        title = titles[key] + (" ▲" if key == sort_key else "")
        cell = Content.styled(title[:width].ljust(width), "bold underline" if key == sort_key else "bold")
        parts.append(cell)
    return Content(" ").join(parts)


def _cell(text: str, width: int, right: bool = False) -> Content:
    content = Content(visible(text))
    if content.cell_length > width:
        return content.truncate(width, ellipsis=True, pad=True)
    pad = " " * (width - content.cell_length)
    return Content(pad) + content if right else content + pad


def row_content(
    trace: Trace, columns: Sequence[Tuple[str, int]], zone: Optional[tzinfo] = timezone.utc
) -> Content:
    """One list row: every field sanitised, clipped to its column, the status coloured.

    Times are shown in `zone` (None: this machine's), so a list sorted by time reads in order
    even when the logs were written in different zones.
    """
    first = trace.hops[0]
    parts: List[Content] = []
    for key, width in columns:
        if key == "time":
            parts.append(Content.styled(when_in(trace.first_seen, zone, width >= 19)[:width], "dim"))
        elif key == "status":
            parts.append(status_content(trace.status[:width], width))
        elif key == "from":
            parts.append(_cell(sender_text(trace), width))
        elif key == "to":
            parts.append(_cell(recipients_text(trace), width))
        elif key == "subject":
            parts.append(_cell(subject_text(trace), width))
        elif key == "size":
            parts.append(_cell("" if trace.size is None else str(trace.size), width, right=True))
        elif key == "server":
            parts.append(_cell(first.server, width))
    return Content(" ").join(parts)


def sort_key(key: str):
    """A key function for sorting traces by a column (time breaks ties; `None` sorts first)."""
    if key == "status":
        return lambda t: (t.status, t.first_seen)
    if key == "from":
        return lambda t: ((t.sender or "").lower(), t.first_seen)
    if key == "to":
        return lambda t: (recipients_text(t).lower(), t.first_seen)
    if key == "subject":
        return lambda t: (subject_text(t).lower(), t.first_seen)
    if key == "size":
        return lambda t: (t.size if t.size is not None else -1, t.first_seen)
    if key == "server":
        return lambda t: (t.hops[0].server.lower(), t.first_seen)
    return lambda t: t.first_seen


#: Where the reply under a recipient starts (and its continuation lines too).
REPLY_INDENT = 6


def hanging(text: str, width: Optional[int], indent: int, start: int = 0) -> Content:
    """Log text (made visible) wrapped to `width` columns, the lines after the first indented by
    `indent`: a long reply or fact line reads as a block instead of running back to column 0.
    `start`: the column the text starts at (something else is before it on its first line). No
    width (before the first layout) or too narrow a one: one line, wrapped by the widget."""
    shown = visible(text)
    if width is None or width - max(indent, start) < 20 or start + len(shown) <= width:
        return Content(shown)
    if Content(shown).cell_length != len(shown):
        return Content(shown)  # wide characters: textwrap counts characters, not cells
    lines = textwrap.wrap(
        " " * start + shown,
        width,
        subsequent_indent=" " * indent,
        break_long_words=True,
        break_on_hyphens=False,
    )
    return Content("\n".join(lines)[start:])


def recipient_content(rcpt: Recipient, width: Optional[int] = None) -> Content:
    """`address  status  via relay  dsn  delay  (why)` for the trace screen (`width`: of the
    widget, for the reply's hanging indent)."""
    parts: List[Content] = [Content("  "), _cell(rcpt.address, max(24, len(rcpt.address)))]
    parts.append(Content("  "))
    parts.append(status_content(rcpt.status, 9))
    details = []
    if rcpt.orig_address:
        details.append(f"was {rcpt.orig_address}")
    if rcpt.relay:
        details.append(f"via {rcpt.relay}")
    if rcpt.dsn:
        details.append(f"dsn {rcpt.dsn}")
    if rcpt.delay is not None:
        details.append(f"after {duration(rcpt.delay)}")
    if rcpt.final_server:
        details.append(f"on {rcpt.final_server}")
    start = sum(part.cell_length for part in parts)
    parts.append(hanging("  ".join(details), width, REPLY_INDENT, start))
    why = rcpt.reason or rcpt.response
    if why:
        parts.append(Content("\n"))
        parts.append(hanging(" " * REPLY_INDENT + why, width, REPLY_INDENT).stylize("italic"))
    return Content.assemble(*parts)

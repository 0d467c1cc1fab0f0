"""The overview: a picture of the listed mail before reading rows.

Volume over time by status (a sparkline per status, a stacked bar per hour or day), counts per
status, delay figures, and the top senders, sender domains, recipients, clients, relays, reject
and deferral reasons. The numbers come from :func:`mailtui.stats.compute_stats`, computed in a
thread worker; every row with a query behind it is one Enter away from the list of its mail.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from mailtui.model import MIXED, PROBLEM_STATUSES, STATUSES, Trace
from mailtui.sanitize import has_controls, visible
from mailtui.session import Session
from mailtui.stats import DELAY_PARTS, compute_stats
from mailtui.ui import render
from mailtui.ui.widgets.line_list import LineList

if TYPE_CHECKING:
    from mailtui.ui.app import MailTuiApp

#: Sparkline levels, lowest first (a zero is a blank: spikes stand out).
_LEVELS = "▁▂▃▄▅▆▇█"
#: Bar character per status: problems are drawn differently, so they stand out without colour too.
_BAR = {"sent": "█", "in-queue": "▒", "discarded": "░", "deferred": "▓", MIXED: "▓"}
_BAR_PROBLEM = "▓"
#: (stats key, section title, what a row lists when opened).
_TOPS = (
    ("top_senders", "Top senders", "messages"),
    ("top_sender_domains", "Top sender domains", "messages"),
    ("top_recipients", "Top recipients", "recipients"),
    ("top_client_hosts", "Top clients (host[IP])", "messages"),
    ("top_relay_hosts", "Top relays (delivered recipients)", "recipients"),
    ("top_reject_reasons", "Reject reasons", "recipients"),
    ("top_deferral_reasons", "Deferral reasons (still deferred)", "recipients"),
)

Row = Tuple[str, object, Optional[str]]
"""(kind, payload, query): kind is title, note, spark, bucket, top or delay; query None: not actionable."""


def sparkline(counts: Sequence[int], width: int) -> str:
    """`counts` as one line of block characters at most `width` wide (adjacent counts summed)."""
    if not counts or width <= 0:
        return ""
    group = -(-len(counts) // width)  # ceil
    cells = [sum(counts[i : i + group]) for i in range(0, len(counts), group)]
    top = max(cells) or 1
    return "".join(" " if n == 0 else _LEVELS[min(7, (n * 8 - 1) // top)] for n in cells)


def _bucket_label(start: str, bucket: str) -> str:
    moment = datetime.fromisoformat(start)
    return moment.strftime("%m-%d %H:00" if bucket == "hour" else "%Y-%m-%d")


def overview_rows(stats: Dict[str, object]) -> List[Row]:
    """The overview's rows for `stats` (plain data; drawn by :class:`OverviewRows`)."""
    rows: List[Row] = []
    chart: Dict[str, object] = stats["volume"]  # type: ignore[assignment]
    buckets: List[Dict[str, object]] = chart["buckets"]  # type: ignore[assignment]
    by_status: Dict[str, int] = stats["messages_by_status"]  # type: ignore[assignment]
    rcpt_status: Dict[str, int] = stats["recipients_by_status"]  # type: ignore[assignment]
    rows.append(("title", f"Messages by status (per {chart['bucket']}, Enter lists them)", None))
    for status in (*STATUSES, MIXED):
        if not by_status.get(status) and not rcpt_status.get(status):
            continue
        series = [bucket["by_status"].get(status, 0) for bucket in buckets]  # type: ignore[union-attr]
        payload = (status, series, by_status.get(status, 0), rcpt_status.get(status, 0))
        rows.append(("spark", payload, f"status:{status}"))
    delays: Dict[str, Dict[str, object]] = stats["delays"]  # type: ignore[assignment]
    if delays["end_to_end"]["count"]:
        rows.append(("title", "Delays of delivered recipients (median, 95th percentile, max)", None))
        for name, label in (("end_to_end", "end to end"), *DELAY_PARTS):
            figures = delays[name]
            if figures["count"]:
                rows.append(("delay", (name, label, figures), None))
    if buckets:
        gaps = "" if chart["contiguous"] else ", days without mail left out"
        rows.append(("title", f"Messages per {chart['bucket']}{gaps} (Enter lists them)", None))
        peak = max(int(bucket["total"]) for bucket in buckets)  # type: ignore[call-overload]
        for bucket in buckets:
            label = _bucket_label(str(bucket["start"]), str(chart["bucket"]))
            rows.append(("bucket", (label, bucket, peak), str(bucket["query"])))
    for key, title, _what in _TOPS:
        entries: List[Dict[str, object]] = stats.get(key) or []  # type: ignore[assignment]
        if not entries:
            continue
        rows.append(("title", title, None))
        for entry in entries:
            query = str(entry.get("query") or "") or None
            rows.append(("top", (entry["count"], str(entry["value"])), query))
    if len(rows) == 1 and not by_status:
        rows.append(("note", "No mail in the list.", None))
    return rows


class OverviewRows:
    """RowSource of the overview list."""

    def __init__(self, rows: List[Row]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def query(self, row: int) -> Optional[str]:
        return self.rows[row][2] if 0 <= row < len(self.rows) else None

    def row_content(self, row: int, width: int) -> Content:
        kind, payload, _ = self.rows[row]
        if kind == "title":
            return Content.styled(visible(str(payload)), "bold underline")
        if kind == "note":
            return Content.styled(visible(str(payload)), "dim")
        if kind == "spark":
            status, series, messages, recipients = payload  # type: ignore[misc]
            style = render.STATUS_STYLES.get(status, "bold")
            rcpts = "" if status == MIXED else f"{recipients:>6} rcpt"
            counts = f" {messages:>6} msg {rcpts:>11}"
            line = sparkline(series, max(4, width - 13 - len(counts)))
            mark = "!" if status in PROBLEM_STATUSES or status == MIXED else " "
            return Content.assemble(
                (f"{mark}{status:<10} ", style), (line.ljust(max(4, width - 13 - len(counts))), style), counts
            )
        if kind == "delay":
            name, label, figures = payload  # type: ignore[misc]
            title = "end to end" if name == "end_to_end" else f"{name}: {label}"
            return Content(
                f"  {title:<32} {_secs(figures['median']):>8} {_secs(figures['p95']):>8} "
                f"{_secs(figures['max']):>8}  ({figures['count']})"
            )
        if kind == "bucket":
            label, bucket, peak = payload  # type: ignore[misc]
            return _bucket_content(label, bucket, peak, width)
        count, value = payload  # type: ignore[misc]
        return Content.assemble((f"  {count:>7}  ", "bold"), visible(value))


def _secs(value: Optional[float]) -> str:
    return render.duration(value) if value is not None else "-"


def _bucket_content(label: str, bucket: Dict[str, object], peak: int, width: int) -> Content:
    total = int(bucket["total"])  # type: ignore[call-overload]
    statuses: Dict[str, int] = bucket["by_status"]  # type: ignore[assignment]
    problems = ", ".join(
        f"{n} {status}" for status, n in statuses.items() if status in PROBLEM_STATUSES or status == MIXED
    )
    bar_width = max(6, min(40, (width - len(label) - 9) // 2))  # the same on every row: bars compare
    parts: List[Tuple[str, str]] = [(f"  {label} ", "dim")]
    used = 0
    for status in (*STATUSES, MIXED):
        n = statuses.get(status, 0)
        if not n:
            continue
        cells = max(1, round(n * bar_width / max(1, peak)))
        cells = min(cells, bar_width - used)
        if cells <= 0:
            break
        char = _BAR.get(status, _BAR_PROBLEM)
        parts.append((char * cells, render.STATUS_STYLES.get(status, "")))
        used += cells
    parts.append((" " * (bar_width - used), ""))
    parts.append((f" {total:>5}", "bold"))
    if problems:
        parts.append((f"  {problems}", "bold red"))
    return Content.assemble(*parts)


class OverviewList(LineList):
    """The overview's list: the cursor only stops on rows that open a list."""

    def _actionable(self, row: int) -> bool:
        source = self.source
        return isinstance(source, OverviewRows) and source.query(row) is not None

    def action_move(self, delta: int) -> None:
        row = self.cursor + delta
        while 0 <= row < self.row_count:
            if self._actionable(row):
                self.cursor = row
                return
            row += delta
        if delta < 0:  # at the first actionable row: show the title above it
            self.scroll_to(y=0, animate=False)

    def first_actionable(self) -> int:
        return next((row for row in range(self.row_count) if self._actionable(row)), 0)

    def action_section(self, step: int) -> None:
        """Jump to the first row of the next (or previous) section."""
        source = self.source
        if not isinstance(source, OverviewRows):
            return
        titles = [n for n, row in enumerate(source.rows) if row[0] == "title"]
        if step > 0:
            target = next((n for n in titles if n > self.cursor), None)
        else:
            before = [n for n in titles if n < self.cursor]
            target = before[-2] if len(before) >= 2 else (before[0] if before else None)
        if target is None:
            return
        row = next((r for r in range(target, self.row_count) if self._actionable(r)), None)
        if row is not None:
            self.cursor = row


class OverviewScreen(Screen):
    """Numbers and charts of the listed mail; Enter filters the list by the row."""

    app: MailTuiApp  # type: ignore[assignment]

    BINDINGS = [
        Binding("escape,o", "back", "Back", id="overview.back", tooltip="Back to the list"),
        Binding(
            "right_square_bracket",
            "section(1)",
            "Next section",
            id="overview.next_section",
            tooltip="Senders, recipients, clients, relays, reasons…",
        ),
        Binding("left_square_bracket", "section(-1)", "Previous section", id="overview.previous_section"),
    ]

    class Computed(Message):
        """The worker's numbers."""

        def __init__(self, stats: Dict[str, object]) -> None:
            super().__init__()
            self.stats = stats

    def __init__(self, session: Session, traces: Sequence[Trace], query: str) -> None:
        super().__init__(classes="overview-screen")
        self.session = session
        self.traces = traces
        #: The main list's filter (Enter adds the row's term to it).
        self.base_query = query
        self.stats: Optional[Dict[str, object]] = None

    def compose(self) -> ComposeResult:
        yield Static(id="overview-title", markup=False)
        yield OverviewList(id="overview-rows")
        yield Footer()

    @property
    def rows(self) -> OverviewList:
        return self.query_one(OverviewList)

    def on_mount(self) -> None:
        self._title("  computing…")
        self.rows.focus()
        self.compute(self.session, list(self.traces))

    def _title(self, extra: str) -> None:
        scope = f"filter: {self.base_query}" if self.base_query else "all mail"
        text = f"Overview: {len(self.traces):,} messages ({scope}){extra}"
        self.query_one("#overview-title", Static).update(Content.styled(visible(text), "bold"))

    def update_traces(self, session: Session, traces: Sequence[Trace]) -> None:
        """New lines were followed: the same list, re-filtered; the numbers are computed again
        (the cursor stays on its row)."""
        self.session = session
        self.traces = traces
        self.compute(session, list(traces))

    @work(thread=True, exclusive=True, group="overview", description="Computing the overview")
    def compute(self, session: Session, traces: List[Trace]) -> None:
        """The numbers, off the UI thread."""
        self.post_message(self.Computed(compute_stats(session, traces, self.app.display_tz)))

    def on_overview_screen_computed(self, message: OverviewScreen.Computed) -> None:
        rows = self.rows
        kept = rows.cursor if self.stats is not None else None  # a refresh: stay where the user is
        self.stats = message.stats
        rows.set_source(OverviewRows(overview_rows(message.stats)), 0)
        if kept is not None and 0 <= kept < rows.row_count:
            rows.cursor = kept
        else:
            rows.cursor = rows.first_actionable()
        stats = message.stats
        self._title(f", {stats['recipients']:,} recipients  ·  Enter: list them  ·  ]: next section")

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_section(self, step: int) -> None:
        self.rows.action_section(step)

    @on(LineList.RowSelected, "#overview-rows")
    def _open(self, event: LineList.RowSelected) -> None:
        source = self.rows.source
        query = source.query(event.row) if isinstance(source, OverviewRows) else None
        if query is None:
            return
        if has_controls(query):
            self.notify("This value holds control characters: type a part of it with /", severity="warning")
            return
        text = f"{self.base_query} {query}".strip()
        self.app.pivot(text)

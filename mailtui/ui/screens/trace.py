"""The trace screen: hop chain, recipients and their fate, linked bounces, raw lines in context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Set, Tuple

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from mailtui.export import hop_chain
from mailtui.model import LineRef, MailtuiError, Trace
from mailtui.sanitize import visible
from mailtui.session import Session
from mailtui.ui import render
from mailtui.ui.messages import RawIndexed
from mailtui.ui.rawlines import CompressedLineIndex
from mailtui.ui.screens.main import PIVOT_BINDINGS
from mailtui.ui.widgets.line_list import LineList

if TYPE_CHECKING:
    from mailtui.ui.app import MailTuiApp

DEFAULT_CONTEXT = 2
MAX_CONTEXT = 50
_GUTTER = 9  # "▶ 123456 "


class ContextRows:
    """RowSource of the raw pane: file headers, gaps, context lines (dim) and the trace's lines."""

    def __init__(self, rows: List[Tuple[str, int, str]], offsets: Optional[List[int]] = None) -> None:
        #: (kind, line, text): kind is "file", "gap", "own" or "context".
        self.rows = rows
        #: Byte offset of each row's line (-1 for headers and gaps).
        self.offsets = offsets if offsets is not None else [-1] * len(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def row_content(self, row: int, width: int) -> Content:
        kind, line, text = self.rows[row]
        if kind == "file":
            return Content.styled(visible(f"── {text} "), "bold")
        if kind == "gap":
            return Content.styled("  ⋯", "dim")
        if kind == "own":
            return Content.assemble(("▶ ", "bold"), (f"{line:>6} ", "bold"), render.highlighted(text))
        return Content.assemble(("  ", ""), (f"{line:>6} ", "dim"), Content.styled(visible(text), "dim"))


class TraceScreen(Screen):
    """One mail: what happened to it, and the log lines that say so."""

    app: MailTuiApp  # type: ignore[assignment]

    BINDINGS = [
        Binding("escape", "back", "Back", id="trace.back", tooltip="Back to the list"),
        Binding("plus,equals_sign", "context(1)", "More context", id="trace.more_context"),
        Binding("minus", "context(-1)", "Less context", id="trace.less_context"),
        Binding("y", "copy('queue_id')", "Copy id", id="trace.copy", tooltip="Copy the queue id"),
        Binding("Y", "copy('message_id')", "Copy Message-ID", show=False, id="trace.copy_msgid"),
        Binding("x", "export", "Export", id="trace.export", tooltip="Write the trace as text and JSON"),
        Binding("l", "raw_log", "Raw log", id="trace.raw", tooltip="The raw log at this trace's first line"),
        *PIVOT_BINDINGS("trace"),
    ]

    def __init__(self, trace: Trace, session: Session) -> None:
        super().__init__(classes="trace-screen")
        self.trace = trace
        self.session = session
        self.context = DEFAULT_CONTEXT
        self._related: List[str] = []

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="trace-top", can_focus=False):
            yield Static(self._summary(), id="trace-summary", markup=False)
            yield OptionList(id="trace-links")
        yield Static(id="trace-raw-title", markup=False)
        yield LineList(id="trace-raw", virtual_width=1200)
        yield Footer()

    def on_resize(self) -> None:
        # Replies wrap with a hanging indent computed for the width: redo it for the new one.
        self.query_one("#trace-summary", Static).update(self._summary())

    def on_mount(self) -> None:
        self.call_after_refresh(self.on_resize)  # the width is known once laid out
        links = self.query_one(OptionList)
        options = []
        trace = self.trace
        if trace.parent:
            options.append(self._link_option("bounce/notification of", trace.parent))
        for child in trace.children:
            options.append(self._link_option("notification", child))
        if options:
            links.add_options(options)
            links.highlighted = 0
            links.border_title = "Linked mail (Tab here, Enter opens)"
        else:
            links.display = False
        self.query_one("#trace-raw", LineList).focus()
        self.refresh_context()

    def _link_option(self, label: str, trace_id: str) -> Option:
        self._related.append(trace_id)
        other = self.session.trace(trace_id)
        parts = [label, trace_id]
        if other is not None:
            parts += [other.status, render.subject_text(other)]
        return Option(Content(visible("  ".join(parts))), id=f"link-{len(self._related) - 1}")

    def session_changed(self, session: Session, changed: Set[str], removed: Set[str]) -> None:
        """Following read more: the summary and raw lines again when this trace changed."""
        self.session = session
        if self.trace.id in removed:
            self.notify(
                visible(f"{self.trace.id} was merged into another message; Esc and open it again"),
                severity="warning",
                markup=False,
            )
            return
        if self.trace.id not in changed:
            return
        trace = session.trace(self.trace.id)
        if trace is None:
            return
        self.trace = trace
        self.query_one("#trace-summary", Static).update(self._summary())
        self.refresh_context()

    # ------------------------------------------------------------------------------ summary

    def _summary_width(self) -> Optional[int]:
        """Columns the summary has for text (None before it is laid out)."""
        try:
            width = self.query_one("#trace-summary", Static).content_size.width
        except NoMatches:
            return None
        return width or None

    def _summary(self) -> Content:
        trace = self.trace
        first = trace.hops[0]
        title = Content.assemble(
            ("Trace ", "bold"), render.safe(trace.id), "  ", render.status_content(trace.status)
        )
        if trace.reason:
            title = title + Content(visible(f"  ({trace.reason})"))
        lines: List[Content] = [title]
        width = self._summary_width()

        def block(text: str) -> Content:  # a long line goes on under itself, not at column 0
            return render.hanging(text, width, 4)

        facts = [f"from {render.sender_text(trace) or '?'}", f"message-id {trace.message_id or '(none)'}"]
        if trace.size is not None:
            facts.append(f"size {trace.size}")
        lines.append(block("  " + "  ".join(facts)))
        if trace.subject:
            lines.append(block(f"  subject {trace.subject}"))
        lines.append(block(f"  chain {hop_chain(trace)}").stylize("bold", 0, 8).stylize("bold cyan", 8))
        lines.append(Content.styled("Hops", "bold underline"))
        previous: Optional[float] = None
        for number, hop in enumerate(trace.hops, 1):
            client = f"{hop.client or 'unknown'}[{hop.client_ip}]" if hop.client_ip else (hop.client or "?")
            step = "" if previous is None else f"  +{render.duration(hop.first_seen - previous)}"
            previous = hop.first_seen
            held = render.duration(hop.last_seen - hop.first_seen)
            text = (
                f"  {number}. {render.when(hop.first_seen, hop.tz)}  {client} -> {hop.server} "
                f"({hop.queue_id}) {hop.mta}/{hop.instance}  in queue {held}{step}"
            )
            lines.append(block(text))
        if trace.recipients:
            lines.append(Content.styled("Recipients", "bold underline"))
            lines.extend(render.recipient_content(rcpt, width) for rcpt in trace.recipients)
        elif first.status:
            lines.append(block(f"  no recipient accepted: {first.status} {first.reason or ''}"))
        if trace.links:
            lines.append(Content.styled("Links", "bold underline"))
            for link in trace.links:
                lines.append(block(f"  {link.kind}: {link.source.key} -> {link.target.key}"))
        return Content("\n").join(lines)

    # ------------------------------------------------------------------------------ raw pane

    def refresh_context(self) -> None:
        self.query_one("#trace-raw-title", Static).update(
            Content.styled(
                f"Raw lines: {len(self.trace.lines)} of this mail (▶), ±{self.context} lines of context"
                "  (+/- to change)",
                "bold",
            )
        )
        self.load_context(self.context)

    @work(thread=True, exclusive=True, group="trace-context", description="Reading raw lines")
    def load_context(self, context: int) -> None:
        """Read the trace's lines and their neighbours off the UI thread: each line is read at its
        offset, with `context` lines before and after it (no index of the file needed, except for
        a compressed one, whose own lines show alone until it is indexed)."""
        refs = self.trace.lines
        indexes = self.app.line_indexes(self.session)
        rows: List[Tuple[str, int, str]] = []
        offsets: List[int] = []
        self._waiting = False
        by_file: Dict[int, List[LineRef]] = {}
        for ref in refs:
            by_file.setdefault(ref.file_id, []).append(ref)
        for file_id, file_refs in sorted(by_file.items()):
            rows.append(("file", 0, self.session.files[file_id].name))
            offsets.append(-1)
            try:
                index = indexes[file_id] if indexes is not None and file_id < len(indexes) else None
                unindexed = isinstance(index, CompressedLineIndex) and not index.complete
                if index is None or unindexed:
                    self._waiting = True  # the context comes when RawIndexed says it can
                if index is None or context == 0 or unindexed:
                    texts = self.session.read_lines(file_refs)
                    rows.extend(("own", ref.line, text) for ref, text in zip(file_refs, texts))
                    offsets.extend(ref.offset for ref in file_refs)
                    continue
                own = {ref.line for ref in file_refs}
                shown: Dict[int, Tuple[int, str]] = {}
                for ref in sorted(file_refs, key=lambda ref: ref.line):
                    if ref.line in shown and ref.line + context in shown:
                        continue  # its neighbours are there already
                    for line, offset, text in index.around(ref.line, ref.offset, context, context):
                        shown[line] = (offset, text)
            except (OSError, MailtuiError) as error:
                rows.append(("file", 0, f"cannot read: {error}"))
                offsets.append(-1)
                continue
            last = None
            for line in sorted(shown):
                if last is not None and line != last + 1:
                    rows.append(("gap", 0, ""))
                    offsets.append(-1)
                rows.append(("own" if line in own else "context", line, shown[line][1]))
                offsets.append(shown[line][0])
                last = line
        self.app.call_from_thread(self._show_context, rows, offsets)

    _waiting = False

    def _show_context(self, rows: List[Tuple[str, int, str]], offsets: List[int]) -> None:
        raw = self.query_one("#trace-raw", LineList)
        first_own = next((n for n, row in enumerate(rows) if row[0] == "own"), 0)
        raw.set_source(ContextRows(rows, offsets), first_own if raw.row_count == 0 else None)

    def on_raw_indexed(self, message: RawIndexed) -> None:
        if message.complete and self._waiting:
            self.refresh_context()

    # ------------------------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_context(self, step: int) -> None:
        self.context = max(0, min(MAX_CONTEXT, self.context + step))
        self.refresh_context()

    def action_copy(self, what: str) -> None:
        self.app.copy_trace_id(self.trace, what)

    def action_export(self) -> None:
        self.app.export_trace(self.trace, self.session)

    def action_raw_log(self) -> None:
        self.app.open_raw_log(self.trace)

    def action_pivot(self, name: str) -> None:
        self.app.pivot_on(self.trace, name)

    @on(OptionList.OptionSelected, "#trace-links")
    def _follow(self, event: OptionList.OptionSelected) -> None:
        trace_id = self._related[int((event.option.id or "link-0").split("-")[1])]
        other = self.session.trace(trace_id)
        if other is None:
            self.notify(visible(f"{trace_id} is not loaded"), severity="warning", markup=False)
            return
        self.app.push_screen(TraceScreen(other, self.session))

    @on(LineList.RowSelected, "#trace-raw")
    def _open_line(self, event: LineList.RowSelected) -> None:
        raw = self.query_one("#trace-raw", LineList)
        rows: ContextRows = raw.source  # type: ignore[assignment]
        kind, line, _ = rows.rows[event.row]
        if kind != "context":
            return
        file_row = max(n for n in range(event.row + 1) if rows.rows[n][0] == "file")
        name = rows.rows[file_row][2]
        file_id = next((i for i, f in enumerate(self.session.files) if f.name == name), None)
        if file_id is not None:
            self.app.find_trace_of_line(file_id, line, rows.offsets[event.row])

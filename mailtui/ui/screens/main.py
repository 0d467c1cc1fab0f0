"""The home screen: loaded files, load progress, the filter bar, the message list and its counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Set

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from mailtui.model import PROBLEM_STATUSES, MailtuiError, Trace
from mailtui.query import Query, QueryError, parse_query
from mailtui.sanitize import visible
from mailtui.session import LoadCancelled, Session
from mailtui.ui import render
from mailtui.ui.messages import FilterApplied, LoadFailed, LoadProgress, SearchResult, SessionReady
from mailtui.ui.screens.overview import OverviewScreen
from mailtui.ui.widgets.filter_bar import FilterBar, QueryInput
from mailtui.ui.widgets.line_list import LineList
from mailtui.ui.widgets.load_progress import LoadProgressBar
from mailtui.ui.widgets.message_list import MessageList

if TYPE_CHECKING:
    from mailtui.ui.app import MailTuiApp

#: Pivot key → pivot name (see mailtui.pivot); the same keys on the list and the trace screen.
PIVOT_KEYS = (("m", "msgid"), ("f", "from"), ("t", "to"), ("c", "client"), ("r", "relay"), ("S", "subject"))


def PIVOT_BINDINGS(scope: str) -> List[Binding]:
    """One binding per pivot, ids `<scope>.pivot_<name>`."""
    from mailtui.pivot import PIVOTS

    return [
        Binding(
            key,
            f"pivot('{name}')",
            PIVOTS[name].title,
            show=False,
            id=f"{scope}.pivot_{name}",
            tooltip=f"Filter the list: {PIVOT_EXAMPLES[name]}",
        )
        for key, name in PIVOT_KEYS
    ]


PIVOT_EXAMPLES = {
    "msgid": "msgid:<…> (everyone who got this mail)",
    "from": "from:<sender>",
    "to": "to:<first recipient>",
    "client": "client:<IP>",
    "relay": "relay:<host>",
    "subject": 'subject:"…"',
}

#: Seconds of loading before the first rows are shown (a provisional session; issue 6: the first
#: rows within a second of starting, whatever the size of the logs).
FIRST_ROWS_AFTER = 0.15
#: Live filtering while typing only below this many messages (Enter always applies).
LIVE_FILTER_LIMIT = 20_000
_CHECK_EVERY = 4096


class MainScreen(Screen):
    """Message list with filter; loads the logs in a worker thread when mounted."""

    app: MailTuiApp  # type: ignore[assignment]

    BINDINGS = [
        # priority: focus moves at once, so keys typed right after `/` land in the filter, not the list
        Binding(
            "slash",
            "focus_filter",
            "Filter",
            id="main.filter",
            tooltip="Type a query (Enter applies)",
            priority=True,
        ),
        Binding("s", "cycle_sort", "Sort", id="main.sort", tooltip="Sort by the next column"),
        Binding("l", "raw_log", "Raw log", id="main.raw", tooltip="The log files as they are"),
        Binding("e", "problem(1)", "Next problem", show=False, id="main.next_problem"),
        Binding("E", "problem(-1)", "Previous problem", show=False, id="main.previous_problem"),
        Binding("y", "copy('queue_id')", "Copy id", id="main.copy", tooltip="Copy the queue id"),
        Binding("Y", "copy('message_id')", "Copy Message-ID", show=False, id="main.copy_msgid"),
        Binding("x", "export", "Export", id="main.export", tooltip="Write the trace as text and JSON"),
        Binding(
            "X",
            "export_list",
            "Export list",
            show=False,
            id="main.export_list",
            tooltip="Write the listed messages as CSV and JSON lines",
        ),
        Binding("o", "overview", "Overview", id="main.overview", tooltip="Charts and top lists of the list"),
        *PIVOT_BINDINGS("main"),
        Binding(
            "n",
            "next_match(1)",
            "Next match",
            show=False,
            id="main.next_match",
            tooltip="Next message matching the last filter (also once it is cleared)",
        ),
        Binding("N", "next_match(-1)", "Previous match", show=False, id="main.previous_match"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="main.clear_filter"),
        Binding(
            "F",
            "toggle_follow",
            "Follow",
            show=False,
            id="main.follow",
            tooltip="Follow the logs as they grow, or pause (the status line says which)",
        ),
    ]

    def __init__(self, query: str = "") -> None:
        super().__init__(id="main")
        self.initial_query = query
        self.session: Optional[Session] = None
        self.final = False
        #: The query and sort the list shows (or is being computed); live typing changes it.
        self.query_text = ""
        #: The last query applied with Enter (or from the command line): Esc and errors go back to it.
        self.committed = ""
        self.sort = "time"
        self._total = 0

    def compose(self) -> ComposeResult:
        yield Static(id="files", markup=False)
        yield LoadProgressBar(id="progress")
        yield FilterBar(id="filter")
        yield Static(id="columns", markup=False)
        yield MessageList(id="messages", zone=self.app.display_tz)
        yield Static(id="status", markup=False)
        yield Footer()

    @property
    def messages(self) -> MessageList:
        return self.query_one(MessageList)

    @property
    def filter_input(self) -> QueryInput:
        return self.query_one(QueryInput)

    def on_mount(self) -> None:
        self.query_text = self.committed = self.initial_query
        if self.initial_query:
            self.filter_input.value = self.initial_query
            self.filter_input.remember(self.initial_query)
        self.set_focus(self.messages)
        self.query_one("#files", Static).update(Content("mailtui: opening logs…"))
        self._update_status()
        # after the first paint: the loader's thread would slow it down (they share the GIL)
        self.call_after_refresh(self.load)

    # --------------------------------------------------------------------------------- loading

    @work(thread=True, exclusive=True, group="load", description="Reading the logs")
    def load(self) -> None:
        """Run the engine's Loader; every result goes back as a message."""
        loader = self.app.loader
        try:
            if self.app.journal is not None:
                from mailtui.journal import read_journal

                loader.sources.append(read_journal(self.app.journal))
                for warning in self.app.journal.warnings:
                    self.app.call_from_thread(
                        self.notify, visible(warning), title="journal", severity="warning", markup=False
                    )
            session = loader.run(
                progress=lambda progress: self.post_message(LoadProgress(progress)),
                snapshot=lambda session: self.post_message(SessionReady(session, False)),
                first_snapshot=FIRST_ROWS_AFTER,
            )
        except LoadCancelled:
            return
        except MailtuiError as error:
            self.post_message(LoadFailed(str(error)))
            return
        self.post_message(SessionReady(session, True))

    def on_load_progress(self, message: LoadProgress) -> None:
        progress = message.progress
        self.query_one(LoadProgressBar).update_progress(progress)
        if progress.files_done < progress.files_total:
            self._loading_text = f"reading {progress.file} ({progress.files_done + 1}/{progress.files_total})"
        else:  # the progress line says what is going on
            self._loading_text = ""
        self._update_files()  # the line count as it grows
        self._update_status()

    def on_load_failed(self, message: LoadFailed) -> None:
        self.final = True
        self.query_one(LoadProgressBar).display = False
        self.notify(visible(message.error), title="Could not load", severity="error", markup=False)
        self._update_status()

    def on_session_ready(self, message: SessionReady) -> None:
        if self.final:
            return
        self.session = message.session
        self.final = message.final
        self.app.set_session(message.session, message.final)
        self._update_files()
        if message.final:
            self.query_one(LoadProgressBar).display = False
            for error in message.session.errors:
                self.notify(visible(error), title="Log problem", severity="warning", markup=False)
        self.apply_filter(self.query_text, keep=True)
        if message.final:
            self.app.start_following()

    def show_followed(self, session: Session, changed: Set[str], removed: Set[str]) -> None:
        """A new session from following: the list re-filtered, the cursor's row kept on screen."""
        if not self.final:
            return
        self.session = session
        self.app.set_session(session, True)
        self._update_files()
        self.apply_filter(self.query_text, keep=True, keep_view=True, clear_error=False)

    def _update_files(self) -> None:
        session = self.session
        if session is None:
            return
        names = [loaded.name for loaded in session.files]
        shown = ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
        lines = sum(loaded.lines for loaded in session.files)
        text = f"{len(names)} file{'s' if len(names) != 1 else ''}: {shown}  ·  {lines:,} lines"
        if session.errors:
            text += f"  ·  {len(session.errors)} problem{'s' if len(session.errors) != 1 else ''}"
        self.query_one("#files", Static).update(Content(visible(text)))

    # ------------------------------------------------------------------------------- filtering

    def apply_filter(
        self,
        text: str,
        keep: bool = True,
        sort: Optional[str] = None,
        clear_error: bool = True,
        keep_view: bool = False,
    ) -> bool:
        """Compile `text` and filter in a worker; False (and the error shown) for a bad query."""
        try:
            query = parse_query(text)
        except QueryError as error:
            self.query_one(FilterBar).show_error(str(error))
            return False
        if clear_error:
            self.query_one(FilterBar).show_error(None)
        self.query_text = text
        if sort is not None:
            self.sort = sort
        if self.session is None:
            self._update_status()
            return True
        keep_id = None
        current = self.messages.current
        if keep and current is not None and (keep_view or self.messages.cursor < self.messages.row_count - 1):
            keep_id = current.id
        self._filter_seq += 1
        self.filter_traces(self.session, query, self.sort, keep_id, self._filter_seq, keep_view)
        return True

    _filter_seq = 0
    #: The last non-empty filter applied: `n`/`N` find its matches once the filter is cleared.
    _last_match_query = ""

    @work(thread=True, exclusive=True, group="filter", description="Filtering")
    def filter_traces(
        self,
        session: Session,
        query: Query,
        sort: str,
        keep_id: Optional[str],
        seq: int,
        keep_view: bool = False,
    ) -> None:
        """Match (through the session's index) and sort off the UI thread; a newer filter cancels
        this one, which then stops at its next check."""
        from mailtui.session import SearchCancelled

        worker = get_current_worker()
        traces = session.traces
        if query.is_empty():
            result: Sequence[Trace] = traces
        else:
            for _attempt in range(3):
                try:
                    result = session.search(query, cancelled=lambda: worker.is_cancelled)
                    break
                except SearchCancelled:
                    return
                except RuntimeError:
                    # the loader (or the follower) changed the session under us: a provisional
                    # session is redone by the next one; a followed one is tried again
                    if not self.final:
                        return
            else:
                return
        if sort != "time":
            result = sorted(result, key=render.sort_key(sort))
        if worker.is_cancelled:
            return
        cursor = None
        if keep_id is not None:
            cursor = next((n for n, trace in enumerate(result) if trace.id == keep_id), None)
        self.post_message(
            FilterApplied(session, query.text, sort, result, cursor, seq, keep_view)  # type: ignore[arg-type]
        )

    def on_filter_applied(self, message: FilterApplied) -> None:
        if message.session is not self.session or message.seq != self._filter_seq:
            return  # an older request that finished late
        self._total = len(message.session.traces)
        if message.keep_view and self.messages.row_count:
            self._show_keeping_view(message)
        else:
            self.messages.show(message.traces, message.cursor)
        self._update_columns()
        self._update_status()
        for screen in self.app.screen_stack:  # an overview open above the list (following) follows it
            if isinstance(screen, OverviewScreen):
                screen.update_traces(message.session, message.traces)

    @on(Input.Submitted, "#filter-input")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self.apply_filter(event.value, keep=True):
            self.committed = event.value
            self.filter_input.remember(event.value.strip())
            self.set_focus(self.messages)
        elif self.query_text != self.committed:  # live typing left a half query applied
            self._revert()

    @on(Input.Changed, "#filter-input")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self.session is None or len(self.session.traces) > LIVE_FILTER_LIMIT:
            return
        try:
            parse_query(event.value)
        except QueryError:
            return  # still typing: the error shows on Enter
        if event.value != self.query_text:
            self.apply_filter(event.value, keep=True)

    def _revert(self) -> None:
        """Show the committed query's list again (keeps any error message on screen)."""
        self.apply_filter(self.committed, keep=True, clear_error=False)

    def on_query_input_left(self, _message: QueryInput.Left) -> None:
        self.query_one(FilterBar).show_error(None)
        if self.filter_input.value != self.committed:
            self.filter_input.value = self.committed
        if self.query_text != self.committed:
            self.apply_filter(self.committed, keep=True)
        self.set_focus(self.messages)

    def _show_keeping_view(self, message: FilterApplied) -> None:
        """New rows from following: the cursor stays on its trace, at the same line on screen."""
        messages = self.messages
        current = messages.current
        cursor = message.cursor
        there = cursor is not None and cursor < len(message.traces) and current is not None
        if current is not None and not (there and message.traces[cursor].id == current.id):  # type: ignore[index]
            # the user moved since the request: find the row they are on now
            cursor = next((n for n, t in enumerate(message.traces) if t.id == current.id), None)
        if cursor is None:  # the trace left the list (filtered out now): stay at that row number
            cursor = min(messages.cursor, max(0, len(message.traces) - 1))
        top = int(messages.scroll_offset.y) + cursor - messages.cursor
        messages.show(message.traces, cursor, top=top)

    # ------------------------------------------------------------------------------ display

    def on_message_list_layout_changed(self, message: MessageList.LayoutChanged) -> None:
        self._columns_width = message.width
        self._update_columns()

    _columns_width = 0

    def _update_columns(self) -> None:
        width = self._columns_width or self.messages.scrollable_content_region.width
        self.query_one("#columns", Static).update(render.header_content(render.layout(width), self.sort))

    _loading_text = ""

    def _update_status(self) -> None:
        shown = self.messages.row_count
        parts = [f"{shown:,} of {self._total:,} messages"]
        parts.append(f"sort: {self.sort}")
        if self.query_text:
            parts.append(f"filter: {self.query_text}")
        if not self.final:
            parts.append(self._loading_text or "loading…")
        live = self.app.live_marker()
        if live is not None:
            parts.append(live)
        self.query_one("#status", Static).update(Content(visible("  ·  ".join(parts))))

    def update_live_marker(self) -> None:
        """The follower read more, or following was toggled: the status line's marker."""
        self._update_status()

    # ------------------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple) -> Optional[bool]:
        # `/` typed in the filter is text (client:10.0.0.0/24)
        return not (action == "focus_filter" and isinstance(self.focused, Input))

    def action_focus_filter(self) -> None:
        self.set_focus(self.filter_input)

    def action_clear_filter(self) -> None:
        if self.query_text:
            self.filter_input.value = ""
            self._last_match_query = self.committed or self._last_match_query
            self.committed = ""
            self.apply_filter("", keep=True)

    def action_cycle_sort(self) -> None:
        keys = render.SORT_KEYS
        self.apply_filter(self.query_text, keep=True, sort=keys[(keys.index(self.sort) + 1) % len(keys)])
        if self.session is None:
            self._update_columns()

    def action_raw_log(self) -> None:
        self.app.open_raw_log(self.messages.current)

    def action_toggle_follow(self) -> None:
        self.app.toggle_follow()

    def action_problem(self, step: int) -> None:
        """Next/previous message that went wrong (in a worker: a million rows take 0.1-0.2 s)."""
        traces = list(self.messages.traces)
        self.find_match(traces, _is_problem, self.messages.cursor, step, "No more problem messages that way")

    # ------------------------------------------------------------------------------ pivots

    def pivot(self, text: str) -> None:
        """Write `text` into the filter bar (visible, editable) and apply it."""
        box = self.filter_input
        box.value = text
        box.cursor_position = len(text)
        if self.apply_filter(text, keep=True):
            self.committed = text
            box.remember(text)
            self.set_focus(self.messages)
        else:
            self.set_focus(box)

    def action_pivot(self, name: str) -> None:
        trace = self.messages.current
        if trace is not None:
            self.app.pivot_on(trace, name)

    def action_overview(self) -> None:
        self.app.open_overview(self.messages.traces, self.query_text)

    def action_export_list(self) -> None:
        self.app.export_list(self.messages.traces, self.query_text)

    def action_next_match(self, step: int) -> None:
        """Next/previous row matching the last filter applied (after Esc cleared it, too)."""
        text = self.committed or self._last_match_query
        if not text:
            self.notify("No filter yet: press / and type a query", severity="warning")
            return
        try:
            query = parse_query(text)
        except QueryError as error:
            self.notify(visible(str(error)), severity="warning", markup=False)
            return
        not_found = f"No more matches of {query.text} that way"
        self.find_match(list(self.messages.traces), query.matches, self.messages.cursor, step, not_found)

    @work(thread=True, exclusive=True, group="find-match", description="Finding the next match")
    def find_match(
        self, traces: List[Trace], matches: Callable[[Trace], bool], cursor: int, step: int, not_found: str
    ) -> None:
        """The next row from `cursor` on, `step` at a time, that `matches` (a newer search cancels)."""
        worker = get_current_worker()
        row = cursor + step
        checked = 0
        while 0 <= row < len(traces):
            if matches(traces[row]):
                break
            row += step
            checked += 1
            if checked % _CHECK_EVERY == 0 and worker.is_cancelled:
                return
        else:
            row = -1
        self.post_message(SearchResult(row if row >= 0 else None, not_found))

    def on_search_result(self, message: SearchResult) -> None:
        if message.row is None:  # the pattern is the not-found message
            self.notify(visible(message.pattern), severity="warning", markup=False)
        else:
            self.messages.cursor = message.row

    def action_copy(self, what: str) -> None:
        trace = self.messages.current
        if trace is not None:
            self.app.copy_trace_id(trace, what)

    def action_export(self) -> None:
        trace = self.messages.current
        if trace is not None:
            self.app.export_trace(trace)

    @on(LineList.RowSelected, "#messages")
    def _open(self, event: LineList.RowSelected) -> None:
        trace = self.messages.current
        if trace is not None:
            self.app.open_trace(trace)


def _is_problem(trace: Trace) -> bool:
    """What `e`/`E` stop at: a message that went wrong, for all or some of its recipients."""
    return trace.status in PROBLEM_STATUSES or trace.status == "mixed"

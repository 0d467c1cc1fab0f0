"""The raw log view: the loaded files as they are, like `less`, read lazily by offset."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Dict, Optional

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from mailtui.sanitize import visible
from mailtui.ui import render
from mailtui.ui.messages import RawIndexed, SearchResult
from mailtui.ui.rawlines import RawLog
from mailtui.ui.widgets.line_list import LineList

if TYPE_CHECKING:
    from mailtui.model import Trace
    from mailtui.ui.app import MailTuiApp

_BLOCK = 128


class RawRows:
    """RowSource over a :class:`RawLog`: reads a block of lines around the rows asked for."""

    def __init__(self, raw: RawLog) -> None:
        self.raw = raw
        self._block: Dict[int, str] = {}
        self._block_start = -1

    def __len__(self) -> int:
        return len(self.raw)

    def text(self, row: int) -> str:
        start = row - row % _BLOCK
        if start != self._block_start:
            self._block = {
                start + n: text for n, (_, _, text) in enumerate(self.raw.rows_text(start, _BLOCK))
            }
            self._block_start = start
        return self._block.get(row, "")

    def row_content(self, row: int, width: int) -> Content:
        _, line = self.raw.locate(row)
        return Content.assemble((f"{line:>7} ", "dim"), render.highlighted(self.text(row)))


class RawLogScreen(Screen):
    """All lines of all files; `/` searches, Enter opens the trace of the line."""

    app: MailTuiApp  # type: ignore[assignment]

    BINDINGS = [
        Binding("escape", "back", "Back", id="raw.back", tooltip="Back"),
        Binding("slash", "search", "Search", id="raw.search", tooltip="Find text in the log", priority=True),
        Binding("n", "next(1)", "Next match", id="raw.next"),
        Binding("N", "next(-1)", "Previous match", id="raw.previous"),
    ]

    def __init__(self, start: Optional[Trace] = None) -> None:
        super().__init__(classes="raw-screen")
        self.start = start
        self.pattern: Optional[re.Pattern] = None
        self.search_text = ""

    def compose(self) -> ComposeResult:
        yield Static(id="raw-title", markup=False)
        yield LineList(id="raw-lines", virtual_width=1200)
        yield Input(id="raw-search", placeholder="search text (Enter finds, Esc leaves)")
        yield Static(id="raw-status", markup=False)
        yield Footer()

    @property
    def lines(self) -> LineList:
        return self.query_one("#raw-lines", LineList)

    def on_mount(self) -> None:
        self.query_one("#raw-search", Input).display = False
        self.set_focus(self.lines)
        self._status("indexing lines…")
        self.query_one("#raw-title", Static).update(Content.styled("Raw log", "bold"))
        raw = self.app.raw_log()
        if raw is not None and raw.ready:
            self._show(raw)

    def on_raw_indexed(self, _message: RawIndexed) -> None:
        raw = self.app.raw_log()
        if raw is not None and raw.ready:
            self._show(raw)

    def _show(self, raw: RawLog) -> None:
        row = 0
        if self.start is not None and self.start.lines:
            ref = self.start.lines[0]
            row = raw.row_of(ref.file_id, ref.line)
            self.start = None
        elif self.lines.row_count:
            row = self.lines.cursor
        self.lines.set_source(RawRows(raw), row)
        self._where(row)

    def _status(self, text: str) -> None:
        status = self.query_one("#raw-status", Static)
        status.update(Content(visible(text)))
        status.display = bool(text)

    def _where(self, row: int) -> None:
        raw = self.app.raw_log()
        if raw is None or not raw.ready or not len(raw):
            return
        index, line = raw.locate(row)
        self.query_one("#raw-title", Static).update(
            Content.assemble(
                ("Raw log  ", "bold"), render.safe(f"{index.name}:{line}"), f"  ({len(raw):,} lines)"
            )
        )

    @on(LineList.CursorMoved, "#raw-lines")
    def _moved(self, event: LineList.CursorMoved) -> None:
        self._where(event.row)

    @on(LineList.RowSelected, "#raw-lines")
    def _open(self, event: LineList.RowSelected) -> None:
        raw = self.app.raw_log()
        if raw is None or not raw.ready:
            return
        index, line = raw.locate(event.row)
        self.app.find_trace_of_line(index.file_id, line)

    # ------------------------------------------------------------------------------ search

    def action_back(self) -> None:
        self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple) -> Optional[bool]:
        return not (action == "search" and isinstance(self.focused, Input))  # `/` in the box is text

    def action_search(self) -> None:
        box = self.query_one("#raw-search", Input)
        box.display = True
        self.set_focus(box)

    @on(Input.Submitted, "#raw-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        box = self.query_one("#raw-search", Input)
        box.display = False
        self.set_focus(self.lines)
        if not event.value:
            return
        self.search_text = event.value
        self.pattern = re.compile(re.escape(event.value), re.IGNORECASE)
        self.search(self.pattern, self.lines.cursor + 1, False)

    def on_key(self, event) -> None:  # Esc in the search box leaves it
        box = self.query_one("#raw-search", Input)
        if event.key == "escape" and box.has_focus:
            box.display = False
            self.set_focus(self.lines)
            event.stop()
            event.prevent_default()

    def action_next(self, step: int) -> None:
        if self.pattern is None:
            self.notify("No search yet: press / to search", severity="warning")
            return
        self.search(self.pattern, self.lines.cursor + step, step < 0)

    @work(thread=True, exclusive=True, group="raw-search", description="Searching the log")
    def search(self, pattern: re.Pattern, start: int, backwards: bool) -> None:
        raw = self.app.raw_log()
        if raw is None or not raw.ready:
            return
        self.post_message(SearchResult(raw.search(pattern, start, backwards), pattern.pattern))

    def on_search_result(self, message: SearchResult) -> None:
        if message.row is None:
            self._status(f"not found: {self.search_text}")
            return
        self._status("")
        self.lines.set_source(self.lines.source, message.row)

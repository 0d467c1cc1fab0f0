"""The raw log view: the loaded files as they are, like `less`, read lazily by offset.

It opens at once at any line of any file: the lines on screen are found from the nearest known
line start (see :mod:`mailtui.ui.rawlines`) while the files are scanned in the background; a row
whose place is not known yet (a far jump before the scan got there) shows a placeholder until it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from mailtui.model import MailtuiError
from mailtui.sanitize import visible
from mailtui.ui import render
from mailtui.ui.messages import RawIndexed, RawSearchProgress, SearchResult
from mailtui.ui.rawlines import STEP, Block, LineIndex
from mailtui.ui.rawlog import RawLog
from mailtui.ui.widgets.line_list import LineList
from mailtui.ui.widgets.ordered_input import OrderedInput

if TYPE_CHECKING:
    from mailtui.model import Trace
    from mailtui.ui.app import MailTuiApp

#: Blocks of STEP lines kept read (a few screens).
_BLOCKS_CACHED = 64


class RawRows:
    """RowSource over a :class:`RawLog`: reads the block of lines a row is in, when it is drawn."""

    def __init__(self, raw: RawLog) -> None:
        self.raw = raw
        #: (file id, block number) → the block's lines, or the error that stopped reading it.
        self._blocks: LRUCache[Tuple[int, int], object] = LRUCache(_BLOCKS_CACHED)
        #: A row was drawn as a placeholder (its place in the file is not known yet).
        self.missing = False

    def __len__(self) -> int:
        return len(self.raw)

    def forget(self) -> None:
        """Read the lines again when next drawn (the files grew, or more of them is known)."""
        self._blocks.clear()
        self.missing = False

    def line(self, row: int) -> Tuple[LineIndex, int, Optional[int], Optional[str]]:
        """(file, line number, offset, text) of a row; offset and text are None when not known yet,
        text is an error message (and offset None) when the file cannot be read."""
        index, line = self.raw.locate(row)
        key = (index.file_id, (line - 1) // STEP)
        found = self._blocks.get(key)
        if not isinstance(found, (Block, str)) or (
            isinstance(found, Block) and (line - found.first) >= len(found.texts)
        ):
            try:
                found = index.block(key[1])
            except (OSError, MailtuiError) as error:
                found = f"cannot read: {error}"
            if found is not None:
                self._blocks[key] = found
        if isinstance(found, str):
            return index, line, None, found
        if found is None or line - found.first >= len(found.texts):
            return index, line, None, None
        return index, line, found.offsets[line - found.first], found.texts[line - found.first]

    def row_content(self, row: int, width: int) -> Content:
        _, line, offset, text = self.line(row)
        gutter = (f"{line:>7} ", "dim")
        if text is None:
            self.missing = True
            return Content.assemble(gutter, ("⋯", "dim"))
        if offset is None:
            return Content.assemble(gutter, Content.styled(visible(text), "dim italic"))
        return Content.assemble(gutter, render.highlighted(text))


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
        self.search_text = ""
        self.raw: Optional[RawLog] = None
        self.rows: Optional[RawRows] = None
        #: Rows the list was given last (the raw log may have been recounted since).
        self._shown = 0
        #: (file id, line) of the cursor's row: where it stays when rows before it are added.
        self._at = (0, 1)

    def compose(self) -> ComposeResult:
        yield Static(id="raw-title", markup=False)
        yield LineList(id="raw-lines", virtual_width=1200)
        yield OrderedInput(id="raw-search", placeholder="search text (Enter finds, Esc leaves)")
        yield Static(id="raw-status", markup=False)
        yield Footer()

    @property
    def lines(self) -> LineList:
        return self.query_one("#raw-lines", LineList)

    def on_mount(self) -> None:
        self.watch(self.lines, "cursor", self._cursor_changed, init=False)
        self.query_one("#raw-search", Input).display = False
        self.set_focus(self.lines)
        self._status("")
        raw = self.app.raw_log(scan=None)  # scanned once the first rows are on screen
        if raw is None:
            self.query_one("#raw-title", Static).update(Content.styled("Raw log", "bold"))
            return
        self.raw = raw
        row = 0
        if self.start is not None and self.start.lines:
            ref = self.start.lines[0]
            try:
                raw.indexes[ref.file_id].note(ref.line, ref.offset)
            except (OSError, MailtuiError) as error:
                self._status(f"cannot read: {error}")
            row = raw.row_of(ref.file_id, ref.line)
        self.rows = RawRows(raw)
        self._shown = len(raw)
        self._where(row)
        # once laid out: the first paint then shows the rows around `row`, not the file's start
        self.call_after_refresh(self._show, row)

    def _show(self, row: int) -> None:
        self._go(row)
        self.call_after_refresh(self.app.raw_log, "all")

    def on_raw_indexed(self, message: RawIndexed) -> None:
        """The scan got further, or the files grew (following): new rows, placeholders filled."""
        raw, rows = self.raw, self.rows
        if raw is None or rows is None:
            return
        lines = self.lines
        shown = self._shown
        at_end = shown > 0 and lines.cursor >= shown - 1
        raw.recount()
        if len(raw) != shown:
            self._shown = len(raw)
            rows.forget()
            if at_end:  # like `less +F`: stay on the last line as it grows
                self._go(len(raw) - 1)
            else:  # on the same line, at the same height on screen
                file_id, line = self._at
                row = min(raw.row_of(file_id, line), max(0, len(raw) - 1))
                self._go(row, top=int(lines.scroll_offset.y) + row - lines.cursor)
        elif message.grown or rows.missing:  # a last line completed, placeholders to fill
            rows.forget()
            lines.refresh_rows()
        self._where(lines.cursor)

    def _go(self, row: int, top: Optional[int] = None) -> None:
        """Put the cursor on `row` (`top`: the row to show first)."""
        if self.raw is None or self.rows is None:
            return
        row = max(0, min(row, len(self.raw) - 1))
        if len(self.raw):
            index, line = self.raw.locate(row)
            self._at = (index.file_id, line)
        self.lines.set_source(self.rows, row, top=top)

    def _status(self, text: str) -> None:
        status = self.query_one("#raw-status", Static)
        status.update(Content(visible(text)))
        status.display = bool(text)

    def _where(self, row: int) -> None:
        raw = self.raw
        if raw is None or not len(raw):
            self.query_one("#raw-title", Static).update(Content.styled("Raw log", "bold"))
            return
        index, line = raw.locate(row)
        title = Content.assemble(
            ("Raw log  ", "bold"), render.safe(f"{index.name}:{line}"), f"  ({len(raw):,} lines)"
        )
        if not raw.complete:
            title += Content.styled(f"  · indexing {raw.scanned_fraction():.0%}", "dim")
        self.query_one("#raw-title", Static).update(title)

    @on(LineList.CursorMoved, "#raw-lines")
    def _moved(self, event: LineList.CursorMoved) -> None:
        self._where(event.row)

    def _cursor_changed(self, row: int) -> None:
        """(Called as the cursor moves, before any message: rows may be recounted next.)"""
        if self.raw is not None and 0 <= row < self._shown:
            index, line = self.raw.locate(row)
            self._at = (index.file_id, line)

    @on(LineList.RowSelected, "#raw-lines")
    def _open(self, event: LineList.RowSelected) -> None:
        if self.rows is None:
            return
        index, line, offset, _text = self.rows.line(event.row)
        if offset is None:
            self.notify("This line is not read yet: the file is still being indexed", severity="warning")
            return
        self.app.find_trace_of_line(index.file_id, line, offset)

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
        self.search(event.value, self.lines.cursor + 1, False)

    def on_key(self, event) -> None:  # Esc in the search box leaves it
        box = self.query_one("#raw-search", Input)
        if event.key == "escape" and box.has_focus:
            box.display = False
            self.set_focus(self.lines)
            event.stop()
            event.prevent_default()

    def action_next(self, step: int) -> None:
        if not self.search_text:
            self.notify("No search yet: press / to search", severity="warning")
            return
        self.search(self.search_text, self.lines.cursor + step, step < 0)

    @work(thread=True, exclusive=True, group="raw-search", description="Searching the log")
    def search(self, text: str, start: int, backwards: bool) -> None:
        """Find `text` from row `start` on (or back); progress and the result come as messages."""
        raw = self.raw
        if raw is None:
            return
        worker = get_current_worker()
        try:
            hit = raw.search(
                text,
                start,
                backwards,
                lambda: worker.is_cancelled,
                lambda fraction: self.post_message(RawSearchProgress(text, fraction)),
            )
        except (OSError, MailtuiError) as error:
            self.app.call_from_thread(self._status, f"cannot search: {error}")
            return
        if worker.is_cancelled:
            return
        row = None if hit is None else raw.row_of(hit.file_id, hit.line)
        self.post_message(SearchResult(row, text))

    def on_raw_search_progress(self, message: RawSearchProgress) -> None:
        if message.text == self.search_text:
            self._status(f"searching for {message.text}… {message.fraction:.0%}")

    def on_search_result(self, message: SearchResult) -> None:
        if message.row is None:
            self._status(f"not found: {self.search_text}")
            return
        self._status("")
        self._go(message.row)

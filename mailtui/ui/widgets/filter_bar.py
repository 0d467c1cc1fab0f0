"""The filter bar: an Input for the query language with recall of recent queries and an inline error."""

from __future__ import annotations

from typing import List, Optional

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from mailtui.sanitize import visible
from mailtui.ui.widgets.ordered_input import OrderedInput

HISTORY_SIZE = 50


class QueryInput(OrderedInput):
    """An Input that recalls earlier queries with up/down and leaves with Esc."""

    BINDINGS = [
        Binding("up", "history(-1)", "Older query", show=False, id="filter.older"),
        Binding("down", "history(1)", "Newer query", show=False, id="filter.newer"),
        Binding("escape", "leave", "Leave filter", id="filter.leave", tooltip="Back to the list"),
    ]

    class Left(Message):
        """Esc in the filter."""

    def __init__(self, *, id: Optional[str] = None, placeholder: str = "") -> None:
        super().__init__(id=id, placeholder=placeholder, select_on_focus=False)
        self.history: List[str] = []
        self._position = 0
        self._draft = ""

    def remember(self, query: str) -> None:
        """Add a query to the history (most recent last, no duplicates)."""
        if query in self.history:
            self.history.remove(query)
        if query:
            self.history.append(query)
        del self.history[:-HISTORY_SIZE]
        self._position = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._position == len(self.history):
            self._draft = self.value
        self._position = max(0, min(len(self.history), self._position + step))
        self.value = self._draft if self._position == len(self.history) else self.history[self._position]
        self.cursor_position = len(self.value)

    def action_leave(self) -> None:
        self.post_message(self.Left())


class FilterBar(Vertical):
    """The query input and, under it, what is wrong with the query (if anything)."""

    DEFAULT_CSS = """
    FilterBar { height: auto; }
    FilterBar > #filter-error { display: none; color: $error; padding: 0 1; }
    FilterBar.-error > #filter-error { display: block; }
    """

    def compose(self) -> ComposeResult:
        yield QueryInput(
            id="filter-input",
            placeholder="/ filter: from:bob@example.com status:bounced since:2h (Enter applies, Esc leaves)",
        )
        yield Static(id="filter-error", markup=False)

    @property
    def input(self) -> QueryInput:
        return self.query_one(QueryInput)

    def show_error(self, error: Optional[str]) -> None:
        """Show (or with None, clear) the query's error under the input."""
        label = self.query_one("#filter-error", Static)
        if error:
            label.update(Content(visible(error)))
            self.add_class("-error")
        else:
            label.update("")
            self.remove_class("-error")

"""The home screen's list: one row per trace, drawn with the Line API."""

from __future__ import annotations

from datetime import tzinfo
from typing import List, Optional, Sequence, Tuple

from textual.content import Content
from textual.message import Message
from textual.strip import Strip

from mailtui.model import Trace
from mailtui.ui import render
from mailtui.ui.widgets.line_list import LineList


class TraceRows:
    """A RowSource over a list of traces (the filtered, sorted view)."""

    def __init__(self, traces: Sequence[Trace], zone: Optional[tzinfo] = None) -> None:
        self.traces = traces
        self.zone = zone
        self._columns: List[Tuple[str, int]] = []
        self._width = -1

    def __len__(self) -> int:
        return len(self.traces)

    def columns(self, width: int) -> List[Tuple[str, int]]:
        if width != self._width:
            self._width = width
            self._columns = render.layout(width)
        return self._columns

    def row_content(self, row: int, width: int) -> Content:
        return render.row_content(self.traces[row], self.columns(width), self.zone)


class MessageList(LineList):
    """Traces, one a row; Enter posts :class:`LineList.RowSelected`."""

    class LayoutChanged(Message):
        """The columns changed width (the screen redraws the header)."""

        def __init__(self, width: int) -> None:
            super().__init__()
            self.width = width

    def __init__(self, *, zone: Optional[tzinfo] = None, id: Optional[str] = None) -> None:
        super().__init__(TraceRows([], zone), id=id)
        self.zone = zone
        self._last_width = -1

    @property
    def traces(self) -> Sequence[Trace]:
        return self.source.traces  # type: ignore[attr-defined,no-any-return]

    @property
    def current(self) -> Optional[Trace]:
        """The trace under the cursor."""
        traces = self.traces
        return traces[self.cursor] if 0 <= self.cursor < len(traces) else None

    def show(self, traces: Sequence[Trace], cursor: Optional[int] = None, top: Optional[int] = None) -> None:
        """Show these traces; the cursor goes to `cursor` (default: the last row, the newest);
        `top`: the first row on screen (default: scroll only to show the cursor)."""
        target = max(0, len(traces) - 1) if cursor is None else cursor
        self.set_source(TraceRows(traces, self.zone), target, top=top)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if width != self._last_width:
            self._last_width = width
            self.post_message(self.LayoutChanged(width))
        return super().render_line(y)

"""A virtual list drawn with the Line API: only the rows on screen are ever rendered.

:class:`LineList` is the one scrolling list of the app (message list, raw log, trace context):
it asks its :class:`RowSource` for the Content of a row, caches the rendered strips by
``(generation, row)``, and draws the cursor on top of the cache.
"""

from __future__ import annotations

from typing import List, Optional, Protocol

from textual.binding import Binding
from textual.cache import LRUCache
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

#: Refreshes to wait for a new source's scrollbar before scrolling to the cursor.
_TRIES = 8


class RowSource(Protocol):
    """What a list needs: a length and the Content of one row (already sanitised and styled)."""

    def __len__(self) -> int: ...

    def row_content(self, row: int, width: int) -> Content: ...


class EmptySource:
    """A source without rows."""

    def __len__(self) -> int:
        return 0

    def row_content(self, row: int, width: int) -> Content:  # pragma: no cover - never asked
        return Content("")


class LineList(ScrollView, can_focus=True):
    """A cursor over a virtual list of rows."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False, id="list.up", tooltip="Previous row"),
        Binding("down,j", "move(1)", "Down", show=False, id="list.down", tooltip="Next row"),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False, id="list.page_up"),
        Binding("pagedown,ctrl+f,space", "page(1)", "Page down", show=False, id="list.page_down"),
        Binding("home,g", "first", "First", show=False, id="list.first", tooltip="First row"),
        Binding("end,G", "last", "Last", show=False, id="list.last", tooltip="Last row"),
        Binding("enter", "select", "Open", id="list.open", tooltip="Open the row under the cursor"),
    ]
    COMPONENT_CLASSES = {"line-list--cursor"}
    DEFAULT_CSS = """
    LineList { height: 1fr; }
    LineList > .line-list--cursor { background: $accent 40%; }
    LineList:focus > .line-list--cursor { background: $accent 70%; text-style: bold; }
    """

    cursor: reactive[int] = reactive(0, repaint=False, init=False)
    """Row under the cursor."""

    class _RowMessage(Message):
        """Something happened on one row of a list."""

        def __init__(self, lines: LineList, row: int) -> None:
            super().__init__()
            self.lines = lines
            self.row = row

        @property
        def control(self) -> LineList:
            return self.lines

    class RowSelected(_RowMessage):
        """Enter on a row."""

    class CursorMoved(_RowMessage):
        """The cursor is on another row."""

    def __init__(
        self,
        source: Optional[RowSource] = None,
        *,
        virtual_width: Optional[int] = None,
        id: Optional[str] = None,
        classes: Optional[str] = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._source: RowSource = source if source is not None else EmptySource()
        self._virtual_width = virtual_width
        self._generation = 0
        self._strips: LRUCache[tuple, Strip] = LRUCache(2048)
        self._update_size()

    @property
    def source(self) -> RowSource:
        return self._source

    @property
    def row_count(self) -> int:
        return len(self._source)

    def _update_size(self) -> None:
        # without a virtual width the rows fit the widget: never a horizontal scrollbar
        self.virtual_size = Size(self._virtual_width or 1, len(self._source))
        if self.container_size:
            # Show (or hide) the scrollbars for the new size now, not at the next layout: until
            # they show, scroll_to does nothing, and the first paint would show the first rows.
            self._refresh_scrollbars()

    def set_source(self, source: RowSource, cursor: Optional[int] = 0, top: Optional[int] = None) -> None:
        """Show another source (O(1)); put the cursor on `cursor` (None: keep the row number);
        `top`: the row to show first (kept in range and so that the cursor's row shows)."""
        self._source = source
        self._generation += 1
        self._update_size()
        target = self.cursor if cursor is None else cursor
        target = max(0, min(target, len(source) - 1))
        self.set_reactive(LineList.cursor, target)
        self.post_message(self.CursorMoved(self, target))
        # Scroll now when the list is laid out (the first paint then shows the cursor's row), and
        # again once the new virtual size is laid out (before it, scroll_to may clamp to the old).
        if top is not None:
            if self.scrollable_content_region.height:
                self._scroll_top(top, target)
            self.call_after_refresh(self._scroll_top, top, target)
        else:
            if self.scrollable_content_region.height:
                self._scroll_to_cursor(target, cursor is not None)
            self.call_after_refresh(self._scroll_to_cursor, target, cursor is not None)
        self.refresh()

    def _scroll_top(self, top: int, row: int, tries: int = _TRIES) -> None:
        if row != self.cursor:  # a later move won
            return
        if self._scrollbar_pending() and tries:
            self.call_after_refresh(self._scroll_top, top, row, tries - 1)
            return
        self.scroll_to(y=max(0, top), animate=False, immediate=True)
        self._scroll_to_cursor(row)

    def _scrollbar_pending(self) -> bool:
        """More rows than fit, but no scrollbar yet (scroll_to would do nothing until there is)."""
        height = self.scrollable_content_region.height
        return 0 < height < len(self._source) and not self.allow_vertical_scroll

    def refresh_rows(self) -> None:
        """Redraw every row (the source's content changed)."""
        self._generation += 1
        self._update_size()
        self.refresh()

    def on_resize(self) -> None:
        self._strips.clear()
        self._update_size()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def _strip_for(self, row: int, width: int) -> Strip:
        key = (self._generation, row, width)
        strip = self._strips.get(key)
        if strip is None:
            content = self._source.row_content(row, width)
            strip = Strip(content.render_segments(), content.cell_length)
            self._strips[key] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        if row >= len(self._source):
            return Strip.blank(width, style)
        strip = self._strip_for(row, self._virtual_width or width)
        strip = strip.crop_extend(scroll_x, scroll_x + width, style)
        if row == self.cursor:
            cursor_style = self.get_component_rich_style("line-list--cursor")
            return strip.apply_style(style + cursor_style)
        return strip.apply_style(style)

    def validate_cursor(self, cursor: int) -> int:
        return max(0, min(cursor, len(self._source) - 1))

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh_line(old)  # virtual y: ScrollView subtracts scroll_offset itself
        self.refresh_line(new)
        self._scroll_to_cursor(new)
        self.post_message(self.CursorMoved(self, new))

    def _scroll_to_cursor(self, row: int, center: bool = False, tries: int = _TRIES) -> None:
        if not self.scrollable_content_region.height:  # not laid out yet: once it is
            self.call_after_refresh(self._scroll_to_cursor, self.cursor, center)
            return
        if row != self.cursor:  # a later move won
            return
        if self._scrollbar_pending() and tries:  # a new, longer source: once its scrollbar is there
            self.call_after_refresh(self._scroll_to_cursor, row, center, tries - 1)
            return
        top = int(self.scroll_offset.y)
        height = max(1, self.scrollable_content_region.height)
        if center and not top <= row < top + height:
            self.scroll_to(y=max(0, row - height // 2), animate=False, immediate=True)
        elif row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False, immediate=True)

    def action_move(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(1, self.scrollable_content_region.height - 1)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = max(0, len(self._source) - 1)

    def action_select(self) -> None:
        if len(self._source):
            self.post_message(self.RowSelected(self, self.cursor))

    def visible_rows(self) -> List[int]:
        """Row numbers currently on screen."""
        top = int(self.scroll_offset.y)
        height = self.scrollable_content_region.height
        return list(range(top, min(len(self._source), top + height)))

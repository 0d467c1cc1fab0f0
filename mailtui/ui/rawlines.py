"""Lazy access to the loaded files' raw lines: a newline index per file, text read by offset.

The engine keeps only :class:`~mailtui.model.LineRef` s; the raw view and the trace context need
"line N of file F" for any N. :class:`LineIndex` scans a file once (in a worker thread) for line
starts (an ``array('Q')``, 8 bytes a line) and reads the text of the lines asked for with
:func:`mailtui.sources.read_lines_at` (``pread`` for plain files). Compressed files are read in
batches around the lines asked for and cached, since each read decompresses again.

No Textual import: the widgets use this through plain method calls.
"""

from __future__ import annotations

import os
import re
import threading
from array import array
from bisect import bisect_right
from itertools import accumulate
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from mailtui import sources
from mailtui.model import LineRef
from mailtui.session import LoadedFile

_SCAN_CHUNK = 16 << 20
#: Lines read per batch from a compressed file (each batch decompresses from the start).
_COMPRESSED_BATCH = 4096


class LineIndex:
    """Line start offsets of one file; line numbers are 1-based like :class:`LineRef`."""

    def __init__(self, loaded: LoadedFile, file_id: int) -> None:
        self.file = loaded
        self.file_id = file_id
        self.starts = array("Q")
        self.complete = False
        self._cache: Dict[int, str] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.file.name

    def __len__(self) -> int:
        return len(self.starts)

    def build(self, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Scan the file for line starts (slow for big files: run in a thread)."""
        source = self.file.source
        starts = array("Q")
        if source.compression is None and source.data is None:
            with open(source.path, "rb") as handle:
                base = 0
                starts.append(0)
                while True:
                    chunk = handle.read(_SCAN_CHUNK)
                    if not chunk:
                        break
                    parts = chunk.split(b"\n")
                    # the start of the line after each newline in this chunk
                    after = accumulate((len(p) + 1 for p in parts[:-1]), initial=base)
                    next(after)  # `base` itself: not necessarily a line start
                    starts.extend(after)
                    base += len(chunk)
                    if cancelled():
                        return
                # `starts` now holds 0 and each position after a newline; drop one at end of file
                if starts and starts[-1] >= base:
                    starts.pop()
        else:
            for line_no, offset, _ in sources.iter_lines(source):
                starts.append(offset)
                if line_no % 65536 == 0 and cancelled():
                    return
        self.starts = starts
        self.complete = True

    def ref(self, line: int) -> LineRef:
        """The LineRef of a 1-based line number."""
        return LineRef(self.file_id, line, self.starts[line - 1])

    def line_of_offset(self, offset: int) -> int:
        """1-based number of the line holding byte `offset`."""
        return max(1, bisect_right(self.starts, offset))

    def text(self, lines: Sequence[int]) -> List[str]:
        """The decoded raw text of these 1-based line numbers ("" for lines that do not exist)."""
        count = len(self.starts)
        wanted = [n for n in lines if 1 <= n <= count]
        if not wanted:
            return ["" for _ in lines]
        source = self.file.source
        if source.compression is None:
            raw = sources.read_lines_at(source, [self.starts[n - 1] for n in wanted])
            found = dict(zip(wanted, (sources.decode(r) for r in raw)))
            return [found.get(n, "") for n in lines]
        with self._lock:
            missing = [n for n in wanted if n not in self._cache]
            if missing:
                low = max(1, min(missing) - _COMPRESSED_BATCH // 4)
                high = min(count, max(max(missing), low + _COMPRESSED_BATCH))
                numbers = list(range(low, high + 1))
                raw = sources.read_lines_at(source, [self.starts[n - 1] for n in numbers])
                if len(self._cache) > 8 * _COMPRESSED_BATCH:
                    self._cache.clear()
                self._cache.update(zip(numbers, (sources.decode(r) for r in raw)))
            return [self._cache.get(n, "") for n in lines]

    def search(self, pattern: re.Pattern, start_line: int, backwards: bool = False) -> Optional[int]:
        """The first line at or after `start_line` (before, when `backwards`) matching `pattern`."""
        count = len(self.starts)
        if count == 0:
            return None
        source = self.file.source
        if source.compression is None and source.data is None and not backwards:
            return self._search_plain(pattern, max(1, start_line))
        step = -1 if backwards else 1
        line = min(max(1, start_line), count)
        while 1 <= line <= count:
            batch = list(range(line, line + step * 2048, step))
            batch = [n for n in batch if 1 <= n <= count]
            for number, text in zip(batch, self.text(batch)):
                if pattern.search(text):
                    return number
            line = batch[-1] + step
        return None

    def _search_plain(self, pattern: re.Pattern, start_line: int) -> Optional[int]:
        if start_line > len(self.starts):
            return None
        offset = self.starts[start_line - 1]
        bytes_pattern = re.compile(pattern.pattern.encode("utf-8"), pattern.flags & re.IGNORECASE)
        fd = os.open(self.file.source.path, os.O_RDONLY)
        try:
            while True:
                chunk = os.pread(fd, _SCAN_CHUNK, offset)
                if not chunk:
                    return None
                end = chunk.rfind(b"\n") + 1 if len(chunk) == _SCAN_CHUNK else len(chunk)
                if end <= 0:
                    end = len(chunk)
                match = bytes_pattern.search(chunk, 0, end)
                if match is not None:
                    return self.line_of_offset(offset + match.start())
                offset += end
        finally:
            os.close(fd)


class RawLog:
    """All loaded files as one sequence of lines (file after file), for the raw view."""

    def __init__(self, files: Sequence[LoadedFile]) -> None:
        self.indexes = [LineIndex(loaded, file_id) for file_id, loaded in enumerate(files)]
        self._ends: List[int] = []
        self.ready = False

    def build(self, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Index every file (run in a thread)."""
        for index in self.indexes:
            if not index.complete:
                index.build(cancelled)
            if cancelled():
                return
        self._ends = list(accumulate(len(index) for index in self.indexes))
        self.ready = True

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def locate(self, row: int) -> Tuple[LineIndex, int]:
        """(file index, 1-based line) of a 0-based row of the whole log."""
        position = bisect_right(self._ends, row)
        before = self._ends[position - 1] if position else 0
        return self.indexes[position], row - before + 1

    def row_of(self, file_id: int, line: int) -> int:
        """The 0-based row of a file's 1-based line."""
        before = self._ends[file_id - 1] if file_id else 0
        return before + line - 1

    def rows_text(self, first: int, count: int) -> List[Tuple[LineIndex, int, str]]:
        """(file, line, text) for `count` rows from `first` (clipped to the end)."""
        out: List[Tuple[LineIndex, int, str]] = []
        row = first
        end = min(len(self), first + count)
        while row < end:
            index, line = self.locate(row)
            take = min(end - row, len(index) - line + 1)
            numbers = list(range(line, line + take))
            out.extend((index, n, text) for n, text in zip(numbers, index.text(numbers)))
            row += take
        return out

    def search(self, pattern: re.Pattern, start_row: int, backwards: bool = False) -> Optional[int]:
        """The next row (from `start_row`, inclusive) whose text matches; None when there is none."""
        if not len(self):
            return None
        index, line = self.locate(min(max(0, start_row), len(self) - 1))
        order = range(index.file_id, -1, -1) if backwards else range(index.file_id, len(self.indexes))
        for file_id in order:
            current = self.indexes[file_id]
            if file_id != index.file_id:
                line = len(current) if backwards else 1
            found = current.search(pattern, line, backwards)
            if found is not None:
                return self.row_of(file_id, found)
        return None


def context_rows(index: LineIndex, lines: Sequence[int], context: int) -> List[Tuple[int, bool]]:
    """Line numbers to show around `lines` (±context, merged), each with "is one of `lines`"."""
    own = set(lines)
    shown = set()
    count = len(index)
    for line in lines:
        low = max(1, line - context)
        high = min(count, line + context) if count else line
        shown.update(range(low, max(high, line) + 1))
    return [(n, n in own) for n in sorted(shown)]

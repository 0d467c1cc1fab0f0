"""All loaded files as one sequence of rows, file after file: what the raw view scrolls through.

Row numbers follow each file's line count (see :attr:`mailtui.ui.rawlines.LineIndex.count`) as of
the last :meth:`RawLog.recount`; the scan and the searches run in worker threads. No Textual import.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from itertools import accumulate
from typing import Callable, List, Optional, Sequence, Tuple

from mailtui.session import LoadedFile
from mailtui.ui.rawlines import Cancelled, Hit, LineIndex, line_index, never

_REPORT_EVERY = 0.25


class RawLog:
    """All loaded files as one sequence of rows (file after file), for the raw view.

    Row numbers follow the line counts as of the last :meth:`recount` (UI thread).
    """

    def __init__(self, files: Sequence[LoadedFile]) -> None:
        self.indexes: List[LineIndex] = []
        self._ends: List[int] = []
        self.sync(files)

    def sync(self, files: Sequence[LoadedFile]) -> None:
        """Take the session's files (following may add some); indexes of known files are kept."""
        for file_id in range(len(self.indexes), len(files)):
            self.indexes.append(line_index(files[file_id], file_id))
        self.recount()

    def recount(self) -> bool:
        """Update the row numbers to the files' line counts now; True when they changed."""
        ends = list(accumulate(index.count for index in self.indexes))
        changed = ends != self._ends
        self._ends = ends
        return changed

    @property
    def complete(self) -> bool:
        """Every file's scan is done."""
        return all(index.complete for index in self.indexes)

    def scanned_fraction(self) -> float:
        """How far the scans are, by bytes (compressed files count when done)."""
        done = total = 0
        for index in self.indexes:
            size = index.file.source.size or index.scanned or 1
            total += size
            done += size if index.complete else min(index.scanned, size)
        return done / total if total else 1.0

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def locate(self, row: int) -> Tuple[LineIndex, int]:
        """(file index, 1-based line) of a 0-based row of the whole log."""
        position = max(0, min(bisect_right(self._ends, row), len(self.indexes) - 1))
        before = self._ends[position - 1] if position else 0
        return self.indexes[position], row - before + 1

    def row_of(self, file_id: int, line: int) -> int:
        """The 0-based row of a file's 1-based line."""
        before = self._ends[file_id - 1] if file_id else 0
        return before + line - 1

    def scan(self, cancelled: Cancelled = never, progress: Optional[Callable[[], None]] = None) -> None:
        """Scan every file to its end (a worker thread); `progress` is called now and then."""
        last = time.monotonic()

        def report(_done: int, _total: int) -> None:
            nonlocal last
            now = time.monotonic()
            if progress is not None and now - last >= _REPORT_EVERY:
                last = now
                progress()

        for index in list(self.indexes):
            index.scan(cancelled, report)
            if cancelled():
                return

    def search(
        self,
        text: str,
        start_row: int,
        backwards: bool = False,
        cancelled: Cancelled = never,
        progress: Optional[Callable[[float], None]] = None,
    ) -> Optional[Hit]:
        """The first line at or after row `start_row` (at or before it, `backwards`) that holds
        `text` (ASCII letters in either case); None when there is none."""
        if backwards:
            start_row = min(start_row, len(self) - 1)
        if not text or not 0 <= start_row < len(self):
            return None
        needle = text.encode("utf-8").lower()
        first, line = self.locate(start_row)
        order = range(first.file_id, -1, -1) if backwards else range(first.file_id, len(self.indexes))
        total = max(1, sum(index.file.source.size or index.scanned for index in self.indexes))
        done = 0
        last = time.monotonic()

        def searched(size: int) -> None:
            nonlocal done, last
            done += size
            now = time.monotonic()
            if progress is not None and now - last >= _REPORT_EVERY:
                last = now
                progress(min(1.0, done / total))

        for file_id in order:
            index = self.indexes[file_id]
            if file_id != first.file_id:
                line = index.count + 1 if backwards else 1
            found = index.search(needle, line, backwards, cancelled, searched)
            if found is not None or cancelled():
                return found
        return None

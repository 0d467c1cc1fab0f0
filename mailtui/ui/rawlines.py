"""Lazy access to the loaded files' raw lines, like `less`: only what is shown is read.

The engine keeps only :class:`~mailtui.model.LineRef` s (file, line number, byte offset); the raw
view and the trace context need "line N of file F" for any N. For a plain file nothing is read up
front. Lines are found from *marks*: the byte offset where line ``b * STEP + 1`` (the first line
of block ``b``) starts. Marks come from

- a scan from the start of the file, run in the background in chunks (8 bytes per STEP lines);
- lines whose number and offset are known: a trace's LineRefs, the end of the file as the loader
  read it, a search hit. The mark of their block is found by reading a few KB backwards;
- walking a few blocks forwards or backwards from a known mark.

So the view opens at any line of a 1 GB file with a few small reads; the scan matters only for a
far jump (a row shows a placeholder until the scan gets there). When a file grows (following), the
scan goes on from where it stopped. Compressed files cannot be read at an offset: they are indexed
fully in the background (decompressing once) and read in batches that are cached.

No Textual import: the widgets use this through plain method calls; the scan and the searches run
in worker threads (marks are only added, under a lock, but for a file found truncated).
"""

from __future__ import annotations

import threading
import time
from array import array
from bisect import bisect_left, bisect_right
from itertools import accumulate, count
from operator import add
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from mailtui import sources
from mailtui.session import LoadedFile
from mailtui.ui.rawbytes import (
    Opened,
    Reader,
    clip,
    count_newlines,
    lines_forward,
    next_newline,
    skip_lines,
    start_before,
)

#: Lines per block: a mark every STEP lines.
STEP = 64
#: Blocks walked from a known mark to reach the one asked for, when nothing nearer is known.
MAX_WALK = 32
_SCAN_CHUNK = 1 << 20
#: Time the scan sleeps after each chunk, for each second of work on it.
_SCAN_PAUSE = 0.25
_SEARCH_CHUNK = 4 << 20
_BACK_CHUNK = 256 << 10
#: Lines read per batch from a compressed file (each batch decompresses from the start).
_COMPRESSED_BATCH = 4096

Cancelled = Callable[[], bool]
#: Called with (bytes done, bytes in all) now and then by a scan or a search.
ProgressCallback = Callable[[int, int], None]


def never() -> bool:
    """A `cancelled` that never is."""
    return False


class Block(NamedTuple):
    """Up to STEP consecutive lines from the first line of a block."""

    first: int
    """1-based number of the first line."""
    offsets: List[int]
    """Byte offset of each line's start."""
    texts: List[str]
    """Each line's text (decoded, clipped to MAX_TEXT bytes)."""


class Hit(NamedTuple):
    """A search result: a line of a file."""

    file_id: int
    line: int
    offset: int


# ------------------------------------------------------------------------------- one file


class LineIndex:
    """Where the lines of one file start, found as needed; line numbers are 1-based like LineRef.

    Plain files only; :class:`CompressedLineIndex` has the same methods.
    """

    def __init__(self, loaded: LoadedFile, file_id: int) -> None:
        self.file = loaded
        self.file_id = file_id
        #: The scan reached the end of the file (as it was then).
        self.complete = False
        #: Why the file cannot be read (shown instead of its lines), or None.
        self.error: Optional[str] = None
        # The scan's marks: line b*STEP+1 starts at _marks[b]; _found line starts (the first at 0,
        # then one after each newline) seen in bytes [0, _scanned], the last at _last_start.
        self._marks = array("Q", [0])
        self._found = 1
        self._last_start = 0
        self._scanned = 0
        # Marks past the scan's, from known lines and walks: sorted blocks, their offsets.
        self._extra_blocks: List[int] = []
        self._extra_offsets: List[int] = []
        self._lock = threading.Lock()
        self._scan_lock = threading.Lock()
        #: (lines, end offset) as the loader read the file, to find its last line before the scan.
        self._end: Optional[Tuple[int, int]] = None
        self._end_given = False

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def scanned(self) -> int:
        """Bytes the scan has gone through."""
        return self._scanned

    @property
    def scanned_lines(self) -> int:
        """Lines in the bytes scanned (a last line without newline counts)."""
        return self._found - (1 if self._last_start >= self._scanned else 0)

    @property
    def count(self) -> int:
        """Lines of the file: as far as the scan or the loader got (following adds more)."""
        return max(self.scanned_lines, self.file.lines)

    def opened(self) -> Opened:
        return Opened(self.file.source)

    def set_end(self, lines: int, offset: Optional[int]) -> None:
        """The loader read `lines` lines in bytes [0, offset): lets G show the end before the scan
        (only the first call counts)."""
        if offset is not None and lines > 0 and not self._end_given:
            self._end = (lines, offset)
            self._end_given = True

    # -- marks -----------------------------------------------------------------------------------

    def _known(self, block: int) -> Optional[int]:
        if block < len(self._marks):
            return self._marks[block]
        with self._lock:
            at = bisect_left(self._extra_blocks, block)
            if at < len(self._extra_blocks) and self._extra_blocks[at] == block:
                return self._extra_offsets[at]
        return None

    def _remember(self, block: int, offset: int) -> None:
        if block < len(self._marks):
            return
        with self._lock:
            at = bisect_left(self._extra_blocks, block)
            if at < len(self._extra_blocks) and self._extra_blocks[at] == block:
                return
            self._extra_blocks.insert(at, block)
            self._extra_offsets.insert(at, offset)

    def _neighbours(self, block: int) -> Tuple[int, Optional[int]]:
        """The nearest known blocks below and above `block` (there is always one below: 0)."""
        below = len(self._marks) - 1
        with self._lock:
            at = bisect_left(self._extra_blocks, block)
            if at:
                below = max(below, self._extra_blocks[at - 1])
            above = self._extra_blocks[at] if at < len(self._extra_blocks) else None
        return below, above

    def note(self, line: int, offset: int, read: Optional[Reader] = None) -> None:
        """Line `line` starts at `offset` (a LineRef, a search hit): remember its block's mark."""
        block, back = divmod(line - 1, STEP)
        if self._known(block) is not None:
            return
        if read is None:
            with self.opened() as opened:
                self.note(line, offset, opened.read)
            return
        start, stepped = start_before(read, offset, back)
        if stepped == back:
            self._remember(block, start)

    def _resolve_end(self, read: Reader) -> None:
        end, self._end = self._end, None
        if end is None:
            return
        lines, offset = end
        tail = read(max(0, offset - 1), 1)
        last_start = offset - 1 if tail == b"\n" else offset  # the last line's newline, if any
        start, _ = start_before(read, last_start, 0)
        self.note(lines, start, read)

    def mark(self, block: int, walk: int = MAX_WALK, read: Optional[Reader] = None) -> Optional[int]:
        """Where block `block` starts, walking at most `walk` blocks from a known mark (None when it
        is farther from any, or past the end of the file)."""
        known = self._known(block)
        if known is not None:
            return known
        if read is None:
            with self.opened() as opened:
                return self.mark(block, walk, opened.read)
        self._resolve_end(read)
        known = self._known(block)
        if known is not None:
            return known
        below, above = self._neighbours(block)
        if above is not None and above - block <= walk and above - block < block - below:
            offset = self._known(above)
            assert offset is not None
            start, stepped = start_before(read, offset, (above - block) * STEP)
            if stepped != (above - block) * STEP:
                return None
            self._remember(block, start)
            return start
        if block - below > walk:
            return None
        position = self._known(below)
        assert position is not None
        for number in range(below + 1, block + 1):
            moved = skip_lines(read, position, STEP)
            if moved is None:
                return None
            position = moved
            self._remember(number, position)
        return position

    # -- lines -----------------------------------------------------------------------------------

    def block(self, number: int, walk: int = MAX_WALK) -> Optional[Block]:
        """The lines of block `number` (None: not found yet, see :meth:`mark`)."""
        with self.opened() as opened:
            start = self.mark(number, walk, opened.read)
            if start is None:
                return None
            offsets, texts, end = lines_forward(opened.read, start, STEP)
        if end is not None:
            self._remember(number + 1, end)
        return Block(number * STEP + 1, offsets, [sources.decode(text) for text in texts])

    def around(self, line: int, offset: int, before: int, after: int) -> List[Tuple[int, int, str]]:
        """(line, offset, text) of the lines from `before` lines before line `line` (which starts at
        `offset`) to `after` lines after it."""
        with self.opened() as opened:
            start, stepped = start_before(opened.read, offset, before)
            offsets, texts, _ = lines_forward(opened.read, start, stepped + 1 + after)
        first = line - stepped
        return [(first + n, off, sources.decode(text)) for n, (off, text) in enumerate(zip(offsets, texts))]

    def offset_of(self, line: int, walk: int = MAX_WALK) -> Optional[int]:
        """Byte offset where line `line` starts (None: not found yet)."""
        found = self.block((line - 1) // STEP, walk)
        if found is None or (line - 1) % STEP >= len(found.offsets):
            return None
        return found.offsets[(line - 1) % STEP]

    def line_at(self, offset: int, read: Reader) -> int:
        """The number of the line holding byte `offset` (counting from the nearest mark before it)."""
        block = bisect_right(self._marks, offset) - 1
        base = (block, self._marks[block])
        with self._lock:
            at = bisect_right(self._extra_offsets, offset)
            if at and self._extra_offsets[at - 1] > base[1]:
                base = (self._extra_blocks[at - 1], self._extra_offsets[at - 1])
        return base[0] * STEP + 1 + count_newlines(read, base[1], offset)

    # -- the scan --------------------------------------------------------------------------------

    def scan(self, cancelled: Cancelled = never, progress: Optional[ProgressCallback] = None) -> None:
        """Find line starts from where the scan stopped to the end of the file (run in a thread).
        A file found shorter than what was scanned (truncated) is scanned again from its start."""
        with self._scan_lock, self.opened() as opened:
            size = opened.size()
            if size < self._scanned:
                self._restart()
            if self._scanned < size:
                self.complete = False
            while self._scanned < size:
                started = time.perf_counter()
                chunk = opened.read(self._scanned, min(_SCAN_CHUNK, size - self._scanned))
                if not chunk:
                    break
                self._add(chunk)
                if progress is not None:
                    progress(self._scanned, size)
                if cancelled():
                    return
                # Give the GIL away for a while: the UI thread, which lets go of it at each turn of
                # its event loop, would otherwise wait for it at each turn (keys took a second).
                time.sleep((time.perf_counter() - started) * _SCAN_PAUSE)
            self.complete = True

    def _add(self, chunk: bytes) -> None:
        parts = chunk.split(b"\n")
        parts.pop()  # the bytes after the last newline (a line that goes on in the next chunk)
        if parts:
            # the start of the line after each newline: running total of lengths, +1 per newline
            starts = list(map(add, accumulate(map(len, parts)), count(self._scanned + 1)))
            self._marks.extend(starts[(-self._found) % STEP :: STEP])
            self._found += len(starts)
            self._last_start = starts[-1]
        self._scanned += len(chunk)

    def _restart(self) -> None:
        self._marks = array("Q", [0])
        self._found, self._last_start, self._scanned = 1, 0, 0
        with self._lock:
            self._extra_blocks, self._extra_offsets = [], []

    # -- search ----------------------------------------------------------------------------------

    def search(
        self,
        needle: bytes,
        line: int,
        backwards: bool,
        cancelled: Cancelled = never,
        progress: Optional[Callable[[int], None]] = None,
    ) -> Optional[Hit]:
        """The first line from `line` on (from its end backwards, when `backwards`) that holds
        `needle` (lower-case bytes; ASCII letters match either case); `line` past the end means
        from the end of the file."""
        with self.opened() as opened:
            read = opened.read
            size = opened.size()
            high_line: Optional[int] = None
            if line <= 1:
                start = 0
            elif line > self.count:
                start = size
                if self.complete and self.scanned == size:
                    # the line "starting" at the end: after the last newline, or the last line
                    # itself when it has none (newlines are counted back from there)
                    high_line = self._found
            else:
                found = self.offset_of(line)
                if found is None:
                    return None
                start = found
            if not backwards:
                return self._search_on(read, needle, line, start, size, cancelled, progress)
            if start < size and line <= self.count:  # from the end of line `line`
                newline = next_newline(read, start)
                start, high_line = (size, None) if newline is None else (newline + 1, line + 1)
            return self._search_back(read, needle, start, high_line, cancelled, progress)

    def _search_on(
        self,
        read: Reader,
        needle: bytes,
        line: int,
        offset: int,
        size: int,
        cancelled: Cancelled,
        progress: Optional[Callable[[int], None]],
    ) -> Optional[Hit]:
        while offset < size:
            chunk = read(offset, _SEARCH_CHUNK)
            if not chunk:
                return None
            end = len(chunk)
            if offset + end < size:  # stop at a line's end: a match never spans two chunks
                last = chunk.rfind(b"\n")
                end = last + 1 if last >= 0 else end
            at = chunk.lower().find(needle, 0, end)
            if at >= 0:
                start = chunk.rfind(b"\n", 0, at) + 1
                hit = Hit(self.file_id, line + chunk.count(b"\n", 0, start), offset + start)
                self.note(hit.line, hit.offset, read)
                return hit
            line += chunk.count(b"\n", 0, end)
            offset += end
            if progress is not None:
                progress(end)
            if cancelled():
                return None
        return None

    def _search_back(
        self,
        read: Reader,
        needle: bytes,
        high: int,
        high_line: Optional[int],
        cancelled: Cancelled,
        progress: Optional[Callable[[int], None]],
    ) -> Optional[Hit]:
        """Backwards from byte `high` (a line start, or the end), the line starting there being
        number `high_line` (None: unknown, counted from a mark for a hit)."""
        window = _BACK_CHUNK
        while high > 0:
            low = max(0, high - window)
            chunk = read(low, high - low)
            cut = 0
            if low > 0:  # start at a line's start
                cut = chunk.find(b"\n") + 1
                if cut == 0 or cut >= len(chunk):
                    window *= 2  # no line starts in it (a long line): read more of it
                    continue
            at = chunk.lower().rfind(needle, cut)
            if at >= 0:
                start = chunk.rfind(b"\n", 0, at) + 1
                offset = low + start
                if high_line is None:
                    number = self.line_at(offset, read)
                else:
                    number = high_line - chunk.count(b"\n", start)
                hit = Hit(self.file_id, number, offset)
                self.note(hit.line, hit.offset, read)
                return hit
            if high_line is not None:
                high_line -= chunk.count(b"\n", cut)
            if progress is not None:
                progress(len(chunk) - cut)
            high = low + cut
            window = _BACK_CHUNK
            if cancelled():
                return None
        return None


class CompressedLineIndex(LineIndex):
    """A compressed file: every line start is found by decompressing it once (in the background);
    lines are read in batches, decompressing again from the start, and cached."""

    def __init__(self, loaded: LoadedFile, file_id: int) -> None:
        super().__init__(loaded, file_id)
        self.starts = array("Q")
        self._cache: Dict[int, str] = {}
        self._read_lock = threading.Lock()

    @property
    def scanned_lines(self) -> int:
        return len(self.starts) if self.complete else 0

    def note(self, line: int, offset: int, read: Optional[Reader] = None) -> None:
        return None

    def mark(self, block: int, walk: int = MAX_WALK, read: Optional[Reader] = None) -> Optional[int]:
        if not self.complete or block * STEP >= len(self.starts):
            return None
        return self.starts[block * STEP]

    def text(self, lines: Sequence[int]) -> List[str]:
        """The text of these lines ("" for lines that do not exist); needs the scan done."""
        total = len(self.starts)
        wanted = [n for n in lines if 1 <= n <= total]
        if not wanted:
            return ["" for _ in lines]
        with self._read_lock:
            missing = [n for n in wanted if n not in self._cache]
            if missing:
                low = max(1, min(missing) - _COMPRESSED_BATCH // 4)
                high = min(total, max(max(missing), low + _COMPRESSED_BATCH))
                numbers = list(range(low, high + 1))
                raw = sources.read_lines_at(self.file.source, [self.starts[n - 1] for n in numbers])
                if len(self._cache) > 8 * _COMPRESSED_BATCH:
                    self._cache.clear()
                self._cache.update(zip(numbers, (sources.decode(clip(r)) for r in raw)))
            return [self._cache.get(n, "") for n in lines]

    def block(self, number: int, walk: int = MAX_WALK) -> Optional[Block]:
        if self.mark(number) is None:
            return None
        lines = list(range(number * STEP + 1, min(len(self.starts), number * STEP + STEP) + 1))
        return Block(number * STEP + 1, [self.starts[n - 1] for n in lines], self.text(lines))

    def around(self, line: int, offset: int, before: int, after: int) -> List[Tuple[int, int, str]]:
        if not self.complete:
            return []
        lines = list(range(max(1, line - before), min(len(self.starts), line + after) + 1))
        return [(n, self.starts[n - 1], text) for n, text in zip(lines, self.text(lines))]

    def scan(self, cancelled: Cancelled = never, progress: Optional[ProgressCallback] = None) -> None:
        with self._scan_lock:
            if self.complete:
                return
            starts = array("Q")
            for line_no, offset, _ in sources.iter_lines(self.file.source):
                starts.append(offset)
                if line_no % 65536 == 0 and cancelled():
                    return
            self.starts = starts
            self.complete = True

    def search(
        self,
        needle: bytes,
        line: int,
        backwards: bool,
        cancelled: Cancelled = never,
        progress: Optional[Callable[[int], None]] = None,
    ) -> Optional[Hit]:
        self.scan(cancelled)
        total = len(self.starts)
        if not total or not self.complete:
            return None
        step = -1 if backwards else 1
        line = min(max(1, line), total)
        while 1 <= line <= total:
            batch = [n for n in range(line, line + step * 2048, step) if 1 <= n <= total]
            for number, text in zip(batch, self.text(batch)):
                if needle in text.encode("utf-8").lower():
                    return Hit(self.file_id, number, self.starts[number - 1])
            line = batch[-1] + step
            if cancelled():
                return None
        return None


def line_index(loaded: LoadedFile, file_id: int) -> LineIndex:
    """The right index for a file: plain files are read at offsets, compressed ones decompressed."""
    if loaded.source.compression is not None:
        return CompressedLineIndex(loaded, file_id)
    return LineIndex(loaded, file_id)

"""Reading the lines of a plain file (or of stdin's bytes) at byte offsets: forwards from a line's
start, backwards a number of lines, counting newlines. No index is needed: each call reads a few
KB around where it starts (long lines are read through in 1 MiB pieces, their head kept).

Used by :mod:`mailtui.ui.rawlines`; no Textual import.
"""

from __future__ import annotations

import os
from typing import Callable, List, Optional, Tuple

from mailtui import sources
from mailtui.model import MailtuiError

#: Bytes of a line kept for display (the views are 1,200 columns wide at most).
MAX_TEXT = 4096
_WINDOW = 16 << 10
_COUNT_CHUNK = 1 << 20

#: Reads (offset, size) → bytes (fewer at the end of the file).
Reader = Callable[[int, int], bytes]


def clip(raw: bytes) -> bytes:
    """A line's head for display: MAX_TEXT bytes, without a trailing CR."""
    raw = raw[:MAX_TEXT]
    return raw[:-1] if raw[-1:] == b"\r" else raw


def next_newline(read: Reader, pos: int) -> Optional[int]:
    """Offset of the first newline at or after `pos` (None: the file ends first)."""
    while True:
        chunk = read(pos, 1 << 20)
        if not chunk:
            return None
        found = chunk.find(b"\n")
        if found >= 0:
            return pos + found
        pos += len(chunk)


def lines_forward(read: Reader, start: int, wanted: int) -> Tuple[List[int], List[bytes], Optional[int]]:
    """Up to `wanted` lines from the line starting at `start`: their offsets, their texts (clipped,
    without end of line) and the start of the next line (None when the file ends before it: the
    last line read has no newline yet, or `wanted` lines were not there)."""
    offsets: List[int] = []
    texts: List[bytes] = []
    base = start
    buf = read(base, _WINDOW)
    i = 0
    while len(offsets) < wanted:
        newline = buf.find(b"\n", i)
        if newline < 0 and len(buf) - i <= MAX_TEXT:
            more = read(base + len(buf), _WINDOW)
            if more:
                buf = buf[i:] + more
                base += i
                i = 0
                continue
            if i < len(buf):  # the last line has no newline (yet)
                offsets.append(base + i)
                texts.append(clip(buf[i:]))
            return offsets, texts, None
        offsets.append(base + i)
        if newline < 0:  # a line longer than MAX_TEXT: its head, then on after its end
            texts.append(clip(buf[i : i + MAX_TEXT]))
            end = next_newline(read, base + len(buf))
            if end is None:
                return offsets, texts, None
            base, buf, i = end + 1, read(end + 1, _WINDOW), 0
            continue
        texts.append(clip(buf[i : min(newline, i + MAX_TEXT)]))
        i = newline + 1
    return offsets, texts, base + i


def skip_lines(read: Reader, start: int, lines: int) -> Optional[int]:
    """The start of the line `lines` lines after the one at `start` (None: the file ends first)."""
    pos = start
    left = lines
    while left:
        chunk = read(pos, 1 << 16)
        if not chunk:
            return None
        newlines = chunk.count(b"\n")
        if newlines < left:
            left -= newlines
            pos += len(chunk)
            continue
        at = -1
        for _ in range(left):
            at = chunk.find(b"\n", at + 1)
        return pos + at + 1
    return pos


def start_before(read: Reader, start: int, lines: int) -> Tuple[int, int]:
    """The start of the line `lines` lines before the one at `start`, or of the first line when
    there are not as many: (offset, how many lines back that is)."""
    need = lines + 1  # the newline ending the line before, then one per line further back
    pos = start
    window = _WINDOW
    while pos > 0 and need:
        low = max(0, pos - window)
        chunk = read(low, pos - low)
        end = len(chunk)
        while need:
            found = chunk.rfind(b"\n", 0, end)
            if found < 0:
                break
            need -= 1
            end = found
            if not need:
                return low + found + 1, lines
        pos = low
        window = min(window * 2, 1 << 20)
    return 0, lines + 1 - need


def count_newlines(read: Reader, low: int, high: int) -> int:
    """Newlines in bytes [low, high)."""
    found = 0
    pos = low
    while pos < high:
        chunk = read(pos, min(_COUNT_CHUNK, high - pos))
        if not chunk:
            break
        found += chunk.count(b"\n")
        pos += len(chunk)
    return found


class Opened:
    """A plain file (or stdin's bytes) opened for reading at offsets; a context manager."""

    def __init__(self, source: sources.LogSource) -> None:
        self.source = source
        self.fd: Optional[int] = None
        self._own = False

    def __enter__(self) -> Opened:
        source = self.source
        if source.data is not None:
            return self
        if source.fd is not None:
            self.fd = source.fd
            return self
        try:
            fd = os.open(source.path, os.O_RDONLY)
        except OSError as exc:
            raise MailtuiError(f"{source.name}: {sources._reason(exc)}") from exc
        self.fd, self._own = fd, True
        if source.identity is not None:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != source.identity:
                self.__exit__()
                raise MailtuiError(f"{source.name}: the file was replaced (rotated?) since it was read")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._own and self.fd is not None:
            os.close(self.fd)
        self.fd = None

    def read(self, offset: int, size: int) -> bytes:
        if self.source.data is not None:
            return self.source.data[offset : offset + size]
        assert self.fd is not None
        return os.pread(self.fd, size, offset)

    def size(self) -> int:
        if self.source.data is not None:
            return len(self.source.data)
        assert self.fd is not None
        return os.fstat(self.fd).st_size

"""The main screen's load progress: a bar, the bytes read of all, the lines, and the time left.

The time left comes from a smoothed read rate (:class:`ReadRate`) and shows only once it means
something: after a couple of seconds and a few percent of the bytes, when the sizes are known.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional

from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.content import Content
from textual.widgets import ProgressBar, Static

from mailtui.sanitize import visible
from mailtui.session import Progress

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(size: int) -> str:
    """`1536` → "1.5 KiB", `104863000` → "100 MiB" (binary units, as `ls -lh` and `du -h`)."""
    value = float(max(0, size))
    unit = 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{int(value)} B"
    return f"{value:.1f} {_UNITS[unit]}" if value < 100 else f"{value:.0f} {_UNITS[unit]}"


def time_left_text(seconds: float) -> str:
    """A rounded "about 25 s left" (rounder the longer it is: the estimate is rough)."""
    if seconds < 10:
        return "a few seconds left"
    if seconds < 90:
        return f"about {int(5 * round(seconds / 5))} s left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


class ReadRate:
    """Bytes per second, smoothed, and the time left to read the rest.

    Each sample's rate counts for more the longer the interval it covers (exponential smoothing
    with a time constant of ``smoothing`` seconds), so bursts and stalls (a snapshot being linked,
    the other core busy) move the estimate only a little.
    """

    def __init__(self, smoothing: float = 4.0, min_elapsed: float = 2.0, min_fraction: float = 0.02) -> None:
        self.smoothing = smoothing
        #: No estimate before this many seconds...
        self.min_elapsed = min_elapsed
        #: ...and this share of the bytes.
        self.min_fraction = min_fraction
        #: Smoothed bytes per second (None before two samples).
        self.rate: Optional[float] = None
        self._first: Optional[float] = None
        self._last: Optional[tuple] = None

    def add(self, now: float, done: int) -> None:
        """A sample: `done` bytes read at time `now` (seconds, monotonic)."""
        if self._last is None:
            self._first = now
            self._last = (now, done)
            return
        then, before = self._last
        elapsed = now - then
        if elapsed <= 0 or done < before:
            return
        sample = (done - before) / elapsed
        weight = 1 - math.exp(-elapsed / self.smoothing)
        self.rate = sample if self.rate is None else self.rate + weight * (sample - self.rate)
        self._last = (now, done)

    def seconds_left(self, done: int, total: int) -> Optional[float]:
        """Seconds until `total` bytes are read, or None while the estimate means little."""
        if self.rate is None or self.rate <= 0 or self._last is None or self._first is None:
            return None
        if total <= 0 or done > total or done < total * self.min_fraction:
            return None
        if self._last[0] - self._first < self.min_elapsed:
            return None
        return (total - done) / self.rate


class LoadProgressBar(HorizontalGroup):
    """A progress bar with "33.5 MiB of 100 MiB · 229,376 lines · about 12 s left" after it."""

    DEFAULT_CSS = """
    LoadProgressBar { height: 1; }
    LoadProgressBar > ProgressBar { width: 1fr; }
    LoadProgressBar > ProgressBar > Bar { width: 1fr; }
    LoadProgressBar > #progress-text { width: auto; padding: 0 0 0 1; }
    """

    def __init__(self, *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        #: The clock for the rate (tests set a fake one).
        self.clock: Callable[[], float] = time.monotonic
        self.rate = ReadRate()
        #: The text after the bar (plain; for tests).
        self.text = "opening the logs…"

    def compose(self) -> ComposeResult:
        yield ProgressBar(show_eta=False, id="progress-bar")
        yield Static(Content(self.text), id="progress-text", markup=False)

    def update_progress(self, progress: Progress) -> None:
        """Show how far the load is."""
        done, total = progress.bytes_done, progress.bytes_total
        self.rate.add(self.clock(), done)
        bar = self.query_one(ProgressBar)
        parts = []
        if total > 0 and done <= total:
            bar.update(total=total, progress=done)
            parts.append(f"{human_bytes(done)} of {human_bytes(total)}")
        else:  # sizes unknown (stdin, the journal) or not comparable (compressed files)
            bar.update(total=None)
            parts.append(f"{human_bytes(done)} read")
        parts.append(f"{progress.lines:,} lines")
        if progress.files_total and progress.files_done >= progress.files_total:
            parts.append("linking the messages…")
        else:
            left = self.rate.seconds_left(done, total)
            if left is not None:
                parts.append(time_left_text(left))
        self.text = " · ".join(parts)
        self.query_one("#progress-text", Static).update(Content(visible(self.text)))

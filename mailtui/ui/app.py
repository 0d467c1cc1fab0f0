"""The Textual app: built by :func:`make_app` from plain arguments (the CLI, tests and screenshots share it).

The app owns the engine objects (the :class:`~mailtui.session.Loader`, the current
:class:`~mailtui.session.Session`, the raw-line index) and the actions every screen uses
(open a trace, open the raw log, copy an id, export). Heavy work runs in thread workers that
talk back only with messages or ``call_from_thread``.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, List, Optional, Sequence, Set, Tuple

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import get_current_worker

from mailtui.follow import POLL_INTERVAL, Follower
from mailtui.model import LineRef, MailtuiError, Recipient, Trace
from mailtui.sanitize import visible
from mailtui.session import Loader, Session
from mailtui.ui.commands import mailtui_commands
from mailtui.ui.messages import FollowPolled, RawIndexed
from mailtui.ui.rawlines import CompressedLineIndex, LineIndex
from mailtui.ui.rawlog import RawLog
from mailtui.ui.screens.help import HelpScreen
from mailtui.ui.screens.main import MainScreen
from mailtui.ui.screens.raw import RawLogScreen
from mailtui.ui.screens.trace import TraceScreen

if TYPE_CHECKING:  # pragma: no cover
    from mailtui.journal import JournalQuery

_CHECK_EVERY = 4096


class MailTuiApp(App):
    """mailtui: a message list over mail logs, traces with raw lines, a raw log view."""

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))
    TITLE = "mailtui"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave mailtui"),
        Binding("question_mark,f1", "help", "Help", id="app.help", tooltip="Every key of every screen"),
        Binding(
            "ctrl+p",
            "command_palette",
            "Commands",
            show=False,
            id="app.palette",
            tooltip='Search the actions ("category: Action")',
        ),
    ]

    def __init__(
        self,
        paths: Sequence[str],
        query: str = "",
        *,
        fmt: str = "auto",
        year: Optional[int] = None,
        local_tz: Optional[tzinfo] = None,
        follow: bool = True,
        journal: Optional[JournalQuery] = None,
    ) -> None:
        super().__init__()
        self.paths = list(paths)
        #: Read the systemd journal too (the main screen's load worker runs journalctl).
        self.journal = journal
        #: Follow the logs once loaded (F toggles it); the follower is made at the first poll.
        self.follow_wanted = follow
        self.follower: Optional[Follower] = None
        self._follow_timer: Optional[Timer] = None
        self._polling = False
        #: Follower notices already shown (only the one poll worker running touches it).
        self._notices_shown = 0
        self.initial_query = query
        #: The engine's loader; its run() happens in the main screen's worker.
        self.loader = Loader(self.paths, fmt=fmt, year=year, local_tz=local_tz)
        #: The session shown (provisional until ``final``).
        self.session: Optional[Session] = None
        self.final = False
        self._raw: Optional[RawLog] = None
        #: Raw-log scans asked for (see _scan_raw), taken by the scan worker.
        self._raw_scan_wanted: Set[str] = set()
        self._raw_scanning = False
        #: Following read lines since the scan worker last looked (the raw view shows them).
        self._raw_grown = False
        self._raw_reported = 0.0
        self._raw_lock = threading.Lock()
        #: The zone the message list shows times in (None: this machine's).
        self.display_tz = local_tz

    def get_default_screen(self) -> Screen:
        return MainScreen(self.initial_query)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from mailtui_commands(self, screen)
        yield from super().get_system_commands(screen)

    def set_session(self, session: Session, final: bool) -> None:
        """Called by the main screen (UI thread) for each provisional session and the final one."""
        self.session = session
        self.final = final

    async def action_quit(self) -> None:
        self.loader.cancel()
        self.exit()

    def on_unmount(self) -> None:
        self.loader.cancel()
        if self.follower is not None:
            self.follower.close()

    # ------------------------------------------------------------------------------ following

    @property
    def following(self) -> bool:
        """Whether the logs are being followed now (wanted, and something can be followed)."""
        return self.follow_wanted and (self.follower is None or bool(self.follower.followed))

    def start_following(self) -> None:
        """Poll the logs every POLL_INTERVAL once the final session is there (UI thread)."""
        if not self.follow_wanted or not self.final or self.session is None:
            return
        if self.journal is not None and self.journal.until:
            self.follow_wanted = False
            self.notify("Not following the journal: --until ends it", severity="warning")
            return
        if self._follow_timer is None:
            self._follow_timer = self.set_interval(POLL_INTERVAL, self._follow_tick, name="follow")
        else:
            self._follow_timer.resume()
        self._follow_tick()

    def toggle_follow(self) -> None:
        """Key F: pause following, or go on (lines written meanwhile are read then)."""
        if self.follow_wanted:
            self.follow_wanted = False
            if self._follow_timer is not None:
                self._follow_timer.pause()
            self.notify("Paused: new log lines are read when following again (F)", title="Follow")
        else:
            self.follow_wanted = True
            if self.follower is not None and not self.follower.followed:
                self.follow_wanted = False
                self.notify("Nothing to follow (compressed files, stdin, rotated names)", severity="warning")
                return
            if self.final:
                self.notify("Following the logs", title="Follow")
            self.start_following()
        self._update_live_marker()

    def _follow_tick(self) -> None:
        if not self.follow_wanted or self._polling or self.session is None:
            return
        self._polling = True
        self._poll_logs(self.session)

    @work(thread=True, group="follow", description="Following the logs")
    def _poll_logs(self, session: Session) -> None:
        """One poll (one at a time: ``_polling``); the result goes back as a message."""
        follower = self.follower
        new: Optional[Session] = None
        notices: List[str] = []
        try:
            if follower is None:
                follower = Follower(self.loader, session)
            new = follower.poll()
        except (OSError, MailtuiError) as error:
            notices.append(f"following stopped: {error}")
        changed: Set[str] = set()
        removed: Set[str] = set()
        if follower is not None:
            notices[:0] = follower.notices[self._notices_shown :]
            self._notices_shown = len(follower.notices)
            if new is not None:
                changed, removed = set(follower.changed), set(follower.removed)
        self.post_message(FollowPolled(follower, new, changed, removed, notices))

    def on_follow_polled(self, message: FollowPolled) -> None:
        self._polling = False
        first = self.follower is None
        self.follower = message.follower
        for notice in message.notices:
            self.notify(visible(notice), title="Follow", severity="warning", markup=False, timeout=8)
        if self.follower is None or (first and not self.follower.followed):
            self.follow_wanted = False  # nothing can be followed: no marker, no more polls
            if self._follow_timer is not None:
                self._follow_timer.pause()
        if message.session is not None:
            if self._raw is not None:  # the raw view shows the new lines too
                self._raw.sync(message.session.files)
                _note_followed_ends(self._raw)
                viewed = any(isinstance(screen, RawLogScreen) for screen in self.screen_stack)
                self._scan_raw("all" if viewed else "grown", grown=True)
            self.main_screen().show_followed(message.session, message.changed, message.removed)
            for screen in self.screen_stack:
                if isinstance(screen, TraceScreen):
                    screen.session_changed(message.session, message.changed, message.removed)
        self._update_live_marker()

    def live_marker(self) -> Optional[str]:
        """The status line's "● live · last line 12:03:05" (or "paused"); None when nothing is
        followed (--no-follow from the start, compressed files only...)."""
        follower = self.follower
        if follower is None or not follower.followed:
            return None
        if not self.follow_wanted:
            return "paused"
        if follower.last_line_at is None:
            return "● live"
        when = datetime.fromtimestamp(follower.last_line_at, self.display_tz).strftime("%H:%M:%S")
        return f"● live · last line {when}"

    def _update_live_marker(self) -> None:
        if self.screen_stack:
            self.main_screen().update_live_marker()

    # ------------------------------------------------------------------------------- screens

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def open_trace(self, trace: Trace) -> None:
        """Push the trace screen for `trace`."""
        if self.session is not None:
            self.raw_log("compressed")  # compressed files are indexed for the context lines
            self.push_screen(TraceScreen(trace, self.session))

    def open_overview(self, traces: Sequence[Trace], query: str) -> None:
        """Push the overview of `traces` (the main list's rows, filtered by `query`)."""
        if self.session is None:
            self.notify("The logs are still opening", severity="warning")
            return
        from mailtui.ui.screens.overview import OverviewScreen

        self.push_screen(OverviewScreen(self.session, traces, query))

    def main_screen(self) -> MainScreen:
        """The message list (always at the bottom of the screen stack)."""
        main = self.screen_stack[0]
        assert isinstance(main, MainScreen)
        return main

    def pivot(self, query: str) -> None:
        """Back to the message list with `query` written into the filter bar and applied."""
        main = self.main_screen()
        while len(self.screen_stack) > 1 and self.screen is not main:
            self.pop_screen()
        main.pivot(query)

    def pivot_on(self, trace: Trace, name: str, recipient: Optional[Recipient] = None) -> None:
        """Pivot `name` (see :data:`mailtui.pivot.PIVOTS`) on `trace`, or say why there is none."""
        from mailtui.pivot import PIVOTS, pivot_query

        query = pivot_query(trace, name, recipient)
        if query is None:
            self.notify(f"{PIVOTS[name].title}: {PIVOTS[name].missing}", severity="warning")
            return
        self.pivot(query)

    def open_raw_log(self, at: Optional[Trace] = None) -> None:
        """Push the raw log view (at the first line of `at`, if given)."""
        if self.session is None:
            self.notify("The logs are still opening", severity="warning")
            return
        self.push_screen(RawLogScreen(at))

    # ------------------------------------------------------------------------------ raw lines

    def raw_log(self, scan: Optional[str] = "all") -> Optional[RawLog]:
        """The raw log of the current session's files (UI thread). Nothing is read up front; the
        files are scanned for line starts in a worker: `scan` "all", "compressed" only, or None."""
        session = self.session
        if session is None:
            return None
        raw = self._raw
        if raw is None:
            raw = self._raw = RawLog(session.files)
        else:
            raw.sync(session.files)
        if self.final and (self.follower is None or not self.follower.lines_read):
            # no line was read since the load: the loader's counts and ends go together
            for index in raw.indexes:
                source = index.file.source
                # (a poll under way reads lines only if the file grew)
                quiet = not self._polling or _size_now(source.path) == source.read_to
                if source.read_to is not None and quiet:
                    index.set_end(index.file.lines, source.read_to)
        else:
            _note_followed_ends(raw)
        if scan is not None:
            self._scan_raw(scan)
        return raw

    def line_indexes(self, session: Session) -> Optional[List[LineIndex]]:
        """The line indexes of `session`'s files (any thread; None before the raw log exists)."""
        raw = self._raw
        if raw is None or len(raw.indexes) < len(session.files):
            return None
        if any(index.file is not loaded for index, loaded in zip(raw.indexes, session.files)):
            return None
        return raw.indexes

    def _scan_raw(self, what: str, grown: bool = False) -> None:
        """Scan the raw log's files in the scan worker, starting it if idle: "all" of them, the
        "compressed" ones, or the ones scanned before ("grown": following read more of them)."""
        with self._raw_lock:
            self._raw_scan_wanted.add(what)
            self._raw_grown = self._raw_grown or grown
            if self._raw_scanning or self._raw is None:
                return
            self._raw_scanning = True
        self._index_raw(self._raw)

    @work(thread=True, group="raw-index", description="Indexing raw lines")
    def _index_raw(self, raw: RawLog) -> None:
        """Scan files for line starts, as asked (``_raw_scan_wanted``), until nothing more is."""
        worker = get_current_worker()
        while not worker.is_cancelled:
            with self._raw_lock:
                wanted, self._raw_scan_wanted = self._raw_scan_wanted, set()
                grown, self._raw_grown = self._raw_grown, False
                if not wanted:
                    self._raw_scanning = False
                    return
            for index in list(raw.indexes):
                compressed = isinstance(index, CompressedLineIndex)
                if not (
                    "all" in wanted
                    or ("compressed" in wanted and compressed)
                    or ("grown" in wanted and index.complete and not compressed)
                ):
                    continue
                try:
                    index.scan(
                        lambda: worker.is_cancelled,
                        lambda _done, _total: self._raw_progress(),
                    )
                except (OSError, MailtuiError) as error:
                    index.error = str(error)
                    self.call_from_thread(
                        self.notify,
                        visible(f"cannot index {index.name}: {error}"),
                        severity="error",
                        markup=False,
                    )
                if worker.is_cancelled:
                    return
            self._raw_indexed(True, grown)

    def _raw_progress(self) -> None:
        """From the scan worker: tell the screens now and then how far it got."""
        now = time.monotonic()
        if now - self._raw_reported >= 0.25:
            self._raw_reported = now
            self._raw_indexed(False, False)

    def _raw_indexed(self, complete: bool, grown: bool) -> None:
        """Tell every screen (any thread: post_message is thread-safe)."""
        for screen in list(self.screen_stack):
            screen.post_message(RawIndexed(complete, grown))

    @work(thread=True, exclusive=True, group="find-line", description="Finding the trace of a line")
    def find_trace_of_line(self, file_id: int, line: int, offset: int) -> None:
        """Open the trace that holds line `line` (at byte `offset`) of file `file_id` (or say that
        none does)."""
        worker = get_current_worker()
        session = self.session
        if session is None or file_id >= len(session.files):
            return
        where = f"{session.files[file_id].name}:{line}"
        found = session.trace_at(LineRef(file_id, line, offset))
        if worker.is_cancelled:
            return
        self.call_from_thread(self._open_found, found, where)

    def _open_found(self, trace: Optional[Trace], where: str) -> None:
        if trace is None:
            self.notify(visible(f"No message uses line {where}"), severity="warning", markup=False)
        else:
            self.open_trace(trace)

    # ------------------------------------------------------------------------------ copy/export

    def copy_trace_id(self, trace: Trace, what: str = "queue_id") -> None:
        """Copy the queue id (or the Message-ID) with OSC 52 and show it in a notification."""
        if what == "message_id":
            value = trace.message_id
            label = "Message-ID"
        else:
            value = trace.hops[0].queue_id
            label = "queue id"
        if not value:
            self.notify(f"This message has no {label} in the log", severity="warning")
            return
        self.copy_to_clipboard(value)
        self.notify(visible(f"Copied {label}: {value}"), title="Clipboard (OSC 52)", markup=False)

    def export_trace(self, trace: Trace, session: Optional[Session] = None) -> None:
        """Write the trace as text and JSON in a worker, then show where."""
        from mailtui.ui.exports import write_export

        chosen = session or self.session
        if chosen is not None:
            self._write_export(lambda: write_export(trace, chosen), trace.id)

    def export_list(self, traces: Sequence[Trace], query: str) -> None:
        """Write the listed traces as CSV and JSON lines in a worker, then show where."""
        from mailtui.ui.exports import write_list_export

        session = self.session
        if session is None:
            self.notify("The logs are still opening", severity="warning")
            return
        chosen = list(traces)
        self._write_export(lambda: write_list_export(chosen, session), f"{len(chosen):,} messages")

    @work(thread=True, group="export", description="Exporting")
    def _write_export(self, write: Callable[[], Tuple[Path, Path]], what: str) -> None:
        """Run an export off the UI thread; say where the two files went, or why not."""
        try:
            first, second = write()
        except (OSError, MailtuiError) as error:
            self.call_from_thread(
                self.notify, visible(f"Export failed: {error}"), severity="error", markup=False
            )
            return
        self.call_from_thread(
            self.notify,
            visible(f"Exported {what} to {first} and {second.name}"),
            title="Export",
            markup=False,
            timeout=10,
        )


def _size_now(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def make_app(
    paths: Sequence[str],
    query: str = "",
    *,
    fmt: str = "auto",
    year: Optional[int] = None,
    local_tz: Optional[tzinfo] = None,
    follow: bool = True,
    journal: Optional[JournalQuery] = None,
) -> MailTuiApp:
    """Build the app (the CLI, the Pilot tests and the screenshot script all call this).

    `follow`: follow the logs as they grow once loaded (F toggles it). `journal`: read the
    systemd journal too, with this query (journalctl runs in the load worker).

    Raises:
        MailtuiError: for an unknown `fmt`.
    """
    return MailTuiApp(
        list(paths), query, fmt=fmt, year=year, local_tz=local_tz, follow=follow, journal=journal
    )


def _note_followed_ends(raw: RawLog) -> None:
    """Tell each file's line index where the last followed line starts, so that `G` shows the end
    of a grown file before its scan gets there (a short read back from that line, UI thread)."""
    for index in raw.indexes:
        last = index.file.last_line
        if last is not None:
            with contextlib.suppress(OSError, MailtuiError):  # gone: its rows say so when read
                index.note(*last)

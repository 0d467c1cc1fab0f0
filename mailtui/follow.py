"""Follow loaded logs as they grow, like ``tail -F``: appended lines are parsed incrementally.

    >>> loader = Loader(["/var/log/mail.log"])
    >>> session = loader.run()
    >>> follower = Follower(loader, session)
    >>> while True:
    ...     time.sleep(POLL_INTERVAL)
    ...     new = follower.poll()          # None when nothing changed (cheap: an fstat per file)
    ...     if new is not None:
    ...         session = new              # follower.changed: ids of new or changed traces

Only the bytes appended since the last read are read (``os.pread`` on a descriptor kept open); a
last line without its newline waits for it. Followed: plain syslog files with a live name
(``mail.log``, not ``mail.log.1``) and a journal spool (:mod:`mailtui.journal`, read on from a
``journalctl -f`` process). Compressed files, stdin and Exchange logs are not followed.

Rotation by rename (``mail.log`` -> ``mail.log.1``, a new ``mail.log``): the old file is read to
its end through its descriptor (and for :data:`ROTATED_GRACE` seconds more, for a writer that
has not reopened yet), then the new file is read from its start as a new file id.
Copytruncate (same file, now shorter than what was read): the copy (``mail.log.1``...) is looked
for in the same directory, recognised by its bytes, and read on from where reading stopped; then
the file is read again from 0 as a new file id. Lines written between the copy and the truncation
are lost by copytruncate itself (no reader can see them); without a copy found, so are the lines
written between the last poll and the truncation.

Sessions returned share transactions with the follower, which goes on filling them (and the
traces that did not change with each other): use the latest session, and call
:meth:`Follower.poll` from one thread at a time. Linking is incremental (only what the new lines
change is linked again), so a poll costs little more than the session it returns.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import time
from typing import Dict, List, Optional, Set, Tuple

from mailtui import sources
from mailtui.link import Linker
from mailtui.model import Trace
from mailtui.session import LoadedFile, Loader, Session

#: Seconds between two polls the CLI and UI use.
POLL_INTERVAL = 0.5
#: Seconds a renamed-away file is still read after its successor appeared.
ROTATED_GRACE = 30.0
#: Most bytes read from one file in one poll (the rest comes at the next poll).
READ_LIMIT = 16 << 20
#: A new session is built at most every REBUILD_FACTOR x the time the last build took (linking
#: is incremental, but a session is still O(traces): its lookups, the UI's filtering).
REBUILD_FACTOR = 2.0
#: Builds quicker than this (seconds) are not held back at all.
REBUILD_FREE = 0.05
#: Bytes of a file's start kept to recognise its copy after a copytruncate rotation.
_HEAD_BYTES = 512


def _identity(st: os.stat_result) -> Tuple[int, int]:
    return (st.st_dev, st.st_ino)


class _Tail:
    """Lines of one file id, read from a byte position on: keeps a partial last line back."""

    def __init__(self, file_id: int, fd: int, pos: int, line_no: int, skip: bool = False) -> None:
        self.file_id = file_id
        self.fd = fd
        self.pos = pos
        self.line_no = line_no
        #: Bytes of a line whose newline has not been read yet.
        self.partial = b""
        #: Drop bytes up to the next newline (the rest of a line fed before, or of an overlong one).
        self.skip = skip
        #: The last complete line read: (offset, bytes with its newline), to recognise a copy.
        self.last: Optional[Tuple[int, bytes]] = None

    def feed(self, loader: Loader, data: bytes) -> int:
        """Take bytes that follow ``pos``; the number of lines fed."""
        start = self.pos - len(self.partial)
        self.pos += len(data)
        buf = self.partial + data if self.partial else data
        self.partial = b""
        if self.skip:
            cut = buf.find(b"\n")
            if cut < 0:
                return 0
            self.skip = False
            buf = buf[cut + 1 :]
            start += cut + 1
        lines = buf.split(b"\n")
        self.partial = lines.pop()
        offset = start
        for line in lines:
            self.line_no += 1
            raw = line[:-1] if line[-1:] == b"\r" else line
            loader.feed_line(self.file_id, self.line_no, offset, raw[: sources.MAX_LINE])
            self.last = (offset, line + b"\n")
            offset += len(line) + 1
        count = len(lines)
        if len(self.partial) > sources.MAX_LINE:  # an overlong line: its head now, the rest skipped
            self.line_no += 1
            loader.feed_line(self.file_id, self.line_no, offset, self.partial[: sources.MAX_LINE])
            self.partial = b""
            self.skip = True
            count += 1
        return count

    def flush(self, loader: Loader) -> int:
        """The file ended without a newline (it is no longer written): its last line counts."""
        if not self.partial or self.skip:
            self.partial = b""
            return 0
        offset = self.pos - len(self.partial)
        raw = self.partial[:-1] if self.partial[-1:] == b"\r" else self.partial
        self.line_no += 1
        loader.feed_line(self.file_id, self.line_no, offset, raw)
        self.partial = b""
        return 1

    def read(self, loader: Loader, fd: Optional[int] = None, limit: int = READ_LIMIT) -> int:
        """Read what was appended to the file (or to `fd`, a copy of it) up to its size now."""
        fd = self.fd if fd is None else fd
        size = os.fstat(fd).st_size
        fed = 0
        while self.pos < size and limit > 0:
            data = os.pread(fd, min(sources.CHUNK_SIZE, size - self.pos, limit), self.pos)
            if not data:
                break
            limit -= len(data)
            fed += self.feed(loader, data)
        return fed


class _FollowedPath:
    """A path followed across rotations: the file it names now and the ones renamed away."""

    def __init__(self, path: str, tail: _Tail, identity: Tuple[int, int], head: bytes) -> None:
        self.path = path
        self.tail = tail
        self.identity = identity
        self.head = head
        #: Renamed-away files still read: (tail, time after which they are dropped).
        self.old: List[Tuple[_Tail, float]] = []
        #: Descriptors opened here (closed by :meth:`Follower.close`).
        self.fds: List[int] = [tail.fd]
        #: st_mtime_ns at the last poll: a file written but no bigger may have been rewritten.
        self.mtime = 0


class Follower:
    """Reads what is appended to the files (and journal) a :class:`Loader` has loaded.

    Create it after :meth:`Loader.run`, passing the session ``run`` returned (its trace ids are
    kept); then call :meth:`poll` every :data:`POLL_INTERVAL` seconds. Trace ids stay the same
    across polls (a trace whose first hop is unchanged keeps its id; ids are never reused).
    """

    def __init__(self, loader: Loader, session: Optional[Session] = None) -> None:
        self.loader = loader
        #: Trace id by the ``seq`` of its first hop: keeps ids stable across rebuilds.
        self._ids: Dict[int, str] = {}
        #: Ids of traces new or changed in the latest poll that returned a session.
        self.changed: Set[str] = set()
        #: Ids of traces that are gone (merged into another) in that poll.
        self.removed: Set[str] = set()
        #: What happened while following (rotations, truncations, journalctl ending), one line each.
        self.notices: List[str] = []
        #: time.time() when the last line was read (None: none yet); for the UI's "live" marker.
        self.last_line_at: Optional[float] = None
        #: Lines read since the follower started.
        self.lines_read = 0
        self._paths: List[_FollowedPath] = []
        self._journals: List[object] = []
        self._dirty = False
        self._next_build = 0.0
        #: Lines read while starting (a rotation since the load), reported by the first poll.
        self._backlog = 0
        self._closed = False
        if session is not None:
            for trace in session.traces:
                self._ids[trace.hops[0].seq] = trace.id
        self.session = session if session is not None else loader.session(self._ids)
        #: Relinks only what the lines read since the last build changed (mailtui.link.Linker).
        self._linker = Linker(self._ids, self.session.traces)
        for file_id, loaded in enumerate(list(loader.files)):
            if loaded.source.journal is not None:
                from mailtui.journal import JournalFollow

                self._journals.append(JournalFollow(self, file_id, loaded))
            elif _followable(loaded):
                self._start(file_id, loaded)

    # -- the public side ------------------------------------------------------------------------

    @property
    def followed(self) -> List[str]:
        """Names of what is followed (paths, and "journal")."""
        return [p.path for p in self._paths] + ["journal" for _ in self._journals]

    def poll(self) -> Optional[Session]:
        """Read what was appended everywhere; a new session when anything changed, else None."""
        fed, self._backlog = self._backlog, 0
        for followed in self._paths:
            try:
                fed += self._poll_path(followed)
            except OSError as exc:
                self._notice(f"{followed.path}: {sources._reason(exc)}")
        for journal in self._journals:
            fed += journal.poll()  # type: ignore[attr-defined]
        if fed:
            self.lines_read += fed
            self.last_line_at = time.time()
            self._dirty = True
        if not self._dirty or time.monotonic() < self._next_build:
            return None
        return self._build()

    def _build(self) -> Session:
        started = time.monotonic()
        loader = self.loader
        linker = self._linker
        linker.update(loader.correlator.transactions())
        # A new session even when no trace changed: the lines read count, and show in the raw view.
        new = Session(list(loader.files), linker.traces, list(loader.errors))
        self.changed = linker.changed
        self.removed = linker.removed
        self.session = new
        self._dirty = False
        # A session is O(all traces) (and so is the UI's filtering of it): with big logs it is not
        # made more often than it costs x REBUILD_FACTOR, so following never takes more than
        # about a third of a CPU.
        now = time.monotonic()
        cost = now - started
        self._next_build = now + cost * REBUILD_FACTOR if cost > REBUILD_FREE else 0.0
        return new

    def close(self) -> None:
        """Stop following: ends ``journalctl -f``. File descriptors stay open: sessions re-read raw
        lines through them (a rotated file's disk space is held until mailtui exits)."""
        if self._closed:
            return
        self._closed = True
        for journal in self._journals:
            journal.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- files ----------------------------------------------------------------------------------

    def _notice(self, text: str) -> None:
        self.notices.append(text)

    def _start(self, file_id: int, loaded: LoadedFile) -> None:
        """Follow a file the loader read: from just after its last line."""
        source = loaded.source
        try:
            fd = os.open(source.path, os.O_RDONLY)
        except OSError as exc:
            self._notice(f"{source.path}: not followed: {sources._reason(exc)}")
            return
        st = os.fstat(fd)
        tail = _Tail(file_id, fd, source.read_to or 0, loaded.lines)
        if source.identity is not None and _identity(st) != source.identity:
            # Rotated between the load and now: the loaded file is renamed away (or gone).
            os.close(fd)
            old_fd = _find_inode(source.path, source.identity)
            if old_fd is None:
                self._notice(
                    f"{source.path}: replaced since it was read; lines written to the old file "
                    "after that are missing"
                )
                self._open_new(None, source.path)
                return
            source.fd = old_fd
            tail.fd = old_fd
            tail.skip = _ends_mid_line(old_fd, tail.pos)
            followed = _FollowedPath(source.path, tail, source.identity, b"")
            followed.fds = [old_fd]
            self._paths.append(followed)
            self._backlog += self._rotate(followed)
            return
        source.fd = fd  # raw lines stay readable after a rename
        tail.skip = _ends_mid_line(fd, tail.pos)
        followed = _FollowedPath(source.path, tail, _identity(st), os.pread(fd, _HEAD_BYTES, 0))
        self._paths.append(followed)

    def _open_new(self, followed: Optional[_FollowedPath], path: str) -> Optional[_FollowedPath]:
        """Start reading the file now at `path` from 0, as a new file id."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                self._notice(f"{path}: {sources._reason(exc)}")
            return None
        st = os.fstat(fd)
        file_id = self._new_file(path, fd, st)
        if file_id is None:
            os.close(fd)
            return None
        tail = _Tail(file_id, fd, 0, 0)
        if followed is None:
            followed = _FollowedPath(path, tail, _identity(st), b"")
            self._paths.append(followed)
        else:
            followed.tail = tail
            followed.identity = _identity(st)
            followed.head = b""
        followed.fds.append(fd)
        return followed

    def _new_file(self, path: str, fd: int, st: os.stat_result) -> Optional[int]:
        source = sources.LogSource(path, path, None, st.st_mtime)
        source.identity = _identity(st)
        source.fd = fd
        file_id = self.loader.open_file(source)
        if file_id is None:
            self._notice(f"{path}: the new file is not a mail log mailtui reads; no longer followed")
        return file_id

    def _poll_path(self, followed: _FollowedPath) -> int:
        fed = 0
        now = time.monotonic()
        for old, until in list(followed.old):
            fed += old.read(self.loader)
            if now >= until:
                fed += old.flush(self.loader)
                followed.old.remove((old, until))
        fed += self._poll_current(followed)
        if len(followed.head) < _HEAD_BYTES and followed.tail.pos > len(followed.head):
            followed.head = os.pread(followed.tail.fd, min(_HEAD_BYTES, followed.tail.pos), 0)
        return fed

    def _poll_current(self, followed: _FollowedPath) -> int:
        tail = followed.tail
        st = os.fstat(tail.fd)
        size = st.st_size
        touched = size > tail.pos or st.st_mtime_ns != followed.mtime
        followed.mtime = st.st_mtime_ns
        if size < tail.pos or (touched and _rewritten(followed)):
            return self._truncated(followed)
        fed = tail.read(self.loader)
        try:
            st = os.stat(followed.path)
        except FileNotFoundError:
            return fed  # renamed away, the new one not created yet: the old one is still read
        if _identity(st) != followed.identity:
            fed += self._rotate(followed)
        return fed

    def _rotate(self, followed: _FollowedPath) -> int:
        """The path names a new file: finish the old one (it may still be written for a while)."""
        fed = followed.tail.read(self.loader)
        followed.old.append((followed.tail, time.monotonic() + ROTATED_GRACE))
        name = self.loader.files[followed.tail.file_id].name
        if self._open_new(followed, followed.path) is None:
            return fed
        self._notice(f"{name}: rotated; reading the new {followed.path} from its start")
        return fed + followed.tail.read(self.loader)

    def _truncated(self, followed: _FollowedPath) -> int:
        """Copytruncate: read the rest from the copy when it can be found, then start again at 0."""
        tail = followed.tail
        fed = 0
        loaded = self.loader.files[tail.file_id]
        copy = _find_copy(followed.path, followed.head, tail)
        if copy is not None:
            copy_fd, copy_path = copy
            fed += tail.read(self.loader, fd=copy_fd, limit=1 << 62)
            fed += tail.flush(self.loader)
            loaded.source.fd = copy_fd
            loaded.source.path = loaded.source.name = copy_path
            loaded.source.identity = _identity(os.fstat(copy_fd))
            followed.fds.append(copy_fd)
            self._notice(f"{followed.path}: truncated (copytruncate); read the rest from {copy_path}")
        else:
            # The old bytes are gone: re-reading this file id's lines would show the new ones.
            loaded.source.fd = None
            loaded.source.identity = (-1, -1)
            self._notice(
                f"{followed.path}: truncated (copytruncate?) and no copy found; lines written since "
                "the last read are missing, and older raw lines cannot be shown"
            )
        st = os.fstat(tail.fd)
        file_id = self._new_file(followed.path, tail.fd, st)
        if file_id is None:
            self._paths.remove(followed)
            return fed
        followed.tail = _Tail(file_id, tail.fd, 0, 0)
        followed.head = b""
        return fed + followed.tail.read(self.loader)


def _ends_mid_line(fd: int, pos: int) -> bool:
    """Whether the load stopped inside a line (it was fed as it was then: what follows of it is
    skipped, not read as a line of its own)."""
    return pos > 0 and os.pread(fd, 1, pos - 1) != b"\n"


def _rewritten(followed: _FollowedPath) -> bool:
    """Truncated and grown past where reading stopped between two polls: the first bytes or the
    last line read are not what they were (two small preads, only when the file grew)."""
    tail = followed.tail
    if followed.head and os.pread(tail.fd, len(followed.head), 0) != followed.head:
        return True
    if tail.last is not None:
        offset, line = tail.last
        return os.pread(tail.fd, len(line), offset) != line
    return False


def signature(trace: Trace) -> tuple:
    """Changes when anything shown of a trace may have: its hops, a new line in one (statuses and
    recipients only change with lines), its bounce relations."""
    return (tuple([(hop.seq, len(hop.lines)) for hop in trace.hops]), trace.parent, len(trace.children))


def _followable(loaded: LoadedFile) -> bool:
    source = loaded.source
    if loaded.format != "syslog" or source.compression is not None or source.data is not None:
        return False
    if source.path == "-":
        return False
    age = sources._rotation_key(os.path.basename(source.path))[1]
    return age[0] == 3  # a live name: mail.log, not mail.log.1 or mail.log-20240101


def _siblings(path: str) -> List[str]:
    directory = os.path.dirname(path) or "."
    try:
        with os.scandir(directory) as it:
            return sorted(os.path.join(directory, entry.name) for entry in it if entry.is_file())
    except OSError:
        return []


def _find_inode(path: str, identity: Tuple[int, int]) -> Optional[int]:
    """An open descriptor of the file with this identity next to `path` (renamed away), or None."""
    for candidate in _siblings(path):
        with contextlib.suppress(OSError):
            if _identity(os.stat(candidate)) == identity:
                fd = os.open(candidate, os.O_RDONLY)
                if _identity(os.fstat(fd)) == identity:
                    return fd
                os.close(fd)
    return None


def _find_copy(path: str, head: bytes, tail: _Tail) -> Optional[Tuple[int, str]]:
    """The copy a copytruncate rotation made of `path`: a plain file next to it that starts with
    the same bytes and holds the last line read at the same offset."""
    if not head:
        return None
    base = sources._rotation_key(os.path.basename(path))[0]
    for candidate in _siblings(path):
        if candidate == path or sources._rotation_key(os.path.basename(candidate))[0] != base:
            continue
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue
        try:
            ok = os.fstat(fd).st_size >= tail.pos - len(tail.partial) and os.pread(fd, len(head), 0) == head
            if ok and tail.last is not None:
                offset, line = tail.last
                ok = os.pread(fd, len(line), offset) == line
        except OSError:
            ok = False
        if ok:
            return fd, candidate
        os.close(fd)
    return None


def popen_kill(process: subprocess.Popen) -> None:
    """End a child process we started (journalctl -f), without waiting long."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

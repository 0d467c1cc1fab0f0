"""Mail lines from the systemd journal, through ``journalctl -o json``.

    >>> from mailtui.journal import JournalQuery, journal_loader
    >>> loader = journal_loader(JournalQuery(since="today"))     # runs journalctl (blocking)
    >>> session = loader.run()                                  # same correlation as files
    >>> follower = Follower(loader, session)                    # goes on with `journalctl -f`

journalctl's output is spooled to an unlinked temporary file, which becomes an ordinary source
(detected as journal JSON, re-read by offset for raw lines). Following starts ``journalctl -f``
after the cursor of the last entry read, so nothing is lost or read twice between the two, and
appends what it prints to the same spool (the same file id: one growing "file").

Which entries: journalctl matches name one field value exactly (``-t postfix/smtpd`` misses
``postfix-out/smtpd`` and every daemon not listed), so the selection is the mail syslog facility
(``SYSLOG_FACILITY=2``: every Postfix instance and daemon, ``postfix/sendmail`` run from cron,
Sendmail/sm-mta, amavis and Dovecot log there by default), OR'ed (``+``) with the units and
slice of those daemons (for a facility changed in their configuration, or stderr logging), OR'ed
with their syslog identifiers. Unrelated lines that slip in are counted as unrecognised.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, List, Optional, Sequence

from mailtui import sources
from mailtui.model import MailtuiError
from mailtui.session import LoadedFile, Loader

if TYPE_CHECKING:  # pragma: no cover
    from mailtui.follow import Follower

#: The name journal lines are shown under (as a file name).
JOURNAL_NAME = "journal"
#: journalctl matches: terms separated by "+" are OR'ed; values of one field in a term are OR'ed.
MATCHES = (
    "SYSLOG_FACILITY=2",
    "+",
    "_SYSTEMD_SLICE=system-postfix.slice",
    "+",
    "_SYSTEMD_UNIT=postfix.service",
    "_SYSTEMD_UNIT=sendmail.service",
    "_SYSTEMD_UNIT=sm-client.service",
    "_SYSTEMD_UNIT=amavis.service",
    "_SYSTEMD_UNIT=amavisd.service",
    "_SYSTEMD_UNIT=dovecot.service",
    "+",
    "SYSLOG_IDENTIFIER=sendmail",
    "SYSLOG_IDENTIFIER=sm-mta",
    "SYSLOG_IDENTIFIER=sm-msp-queue",
    "SYSLOG_IDENTIFIER=amavis",
    "SYSLOG_IDENTIFIER=amavisd",
    "SYSLOG_IDENTIFIER=dovecot",
)


class JournalUnavailable(MailtuiError):
    """journalctl is not installed (or not runnable) here."""


class JournalQuery:
    """What to ask journalctl for: ``--since``/``--until`` as journalctl takes them, ``-D DIR``."""

    def __init__(
        self, since: Optional[str] = None, until: Optional[str] = None, directory: Optional[str] = None
    ) -> None:
        self.since = since
        self.until = until
        self.directory = directory
        #: journalctl's stderr lines when it succeeded anyway (permission hints...).
        self.warnings: List[str] = []
        #: ``__CURSOR`` of the last entry read: following starts after it.
        self.cursor: Optional[str] = None

    def args(self, follow: bool = False) -> List[str]:
        """journalctl's argv (without the program), for the first read or for following."""
        args = ["-o", "json", "--no-pager"]
        if self.directory:
            args += ["--directory", self.directory]
        if follow:
            args += ["--follow", "--no-tail"]
            if self.cursor:
                args += ["--after-cursor", self.cursor]  # journalctl takes no --since with it
            elif self.since:
                args += ["--since", self.since]
        else:
            if self.since:
                args += ["--since", self.since]
            if self.until:
                args += ["--until", self.until]
        return [*args, *MATCHES]


def journalctl() -> str:
    """The journalctl program; raises :class:`JournalUnavailable` when there is none."""
    found = shutil.which("journalctl")
    if found is None:
        raise JournalUnavailable(
            "journalctl not found: the systemd journal cannot be read on this system (pass a log file)"
        )
    return found


def available() -> bool:
    return shutil.which("journalctl") is not None


def read_journal(query: JournalQuery) -> sources.LogSource:
    """Run journalctl once and spool its output; a source to hand to a :class:`Loader`.

    Raises :class:`JournalUnavailable` without journalctl, :class:`MailtuiError` when it fails
    (a bad ``--since``, a missing ``-D`` directory).
    """
    program = journalctl()
    with tempfile.TemporaryFile(prefix="mailtui-journal-") as spool:
        try:
            done = subprocess.run(
                [program, *query.args()], stdout=spool, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise JournalUnavailable(f"journalctl: {sources._reason(exc)}") from exc
        fd = os.dup(spool.fileno())  # keeps the (unlinked) file once `spool` is closed
    messages = [line.strip() for line in sources.decode(done.stderr).splitlines() if line.strip()]
    size = os.fstat(fd).st_size
    if done.returncode != 0 and size == 0:
        os.close(fd)
        reason = messages[0] if messages else f"exit status {done.returncode}"
        raise MailtuiError(f"journalctl: {reason}")
    source = sources.LogSource(JOURNAL_NAME, JOURNAL_NAME, None, time.time())
    source.fd = fd
    source.size = size
    source.journal = query
    if done.returncode != 0:
        source.errors.extend(f"journalctl: {message}" for message in messages)
    else:
        query.warnings.extend(f"journalctl: {message}" for message in messages)
    query.cursor = _last_cursor(fd, size)
    return source


def _last_cursor(fd: int, size: int) -> Optional[str]:
    """``__CURSOR`` of the last line of the spool (None when it has none)."""
    buf = b""
    pos = size
    while pos > 0:
        start = max(0, pos - (1 << 16))
        buf = os.pread(fd, pos - start, start) + buf
        pos = start
        stripped = buf.rstrip(b"\r\n")
        cut = stripped.rfind(b"\n")
        if cut >= 0 or pos == 0:
            return _cursor_of(stripped[cut + 1 :])
    return None


def _cursor_of(line: bytes) -> Optional[str]:
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    cursor = obj.get("__CURSOR") if isinstance(obj, dict) else None
    return cursor if isinstance(cursor, str) else None


def journal_loader(
    query: Optional[JournalQuery] = None, paths: Sequence[str] = (), **options: object
) -> Loader:
    """A :class:`Loader` for the journal (and any `paths` too); call its ``run()`` next.

    Runs journalctl now (blocking: call it where the load runs, e.g. the UI's worker). Options
    are the Loader's (``fmt``, ``year``, ``local_tz``, ``on_unrecognised``).
    """
    loader = Loader(paths, **options)  # type: ignore[arg-type]
    loader.sources.append(read_journal(query or JournalQuery()))
    return loader


class JournalFollow:
    """A ``journalctl -f`` process whose lines are appended to the journal spool and fed."""

    def __init__(self, follower: Follower, file_id: int, loaded: LoadedFile) -> None:
        from mailtui.follow import _Tail

        self.follower = follower
        self.loaded = loaded
        source = loaded.source
        query = source.journal
        assert isinstance(query, JournalQuery) and source.fd is not None
        self.query = query
        self.fd = source.fd
        size = os.fstat(self.fd).st_size
        if size and os.pread(self.fd, 1, size - 1) != b"\n":
            os.pwrite(self.fd, b"\n", size)  # the last entry was cut: what follows starts a line
            size += 1
        self.tail = _Tail(file_id, self.fd, size, loaded.lines)
        self._stderr = tempfile.TemporaryFile(prefix="mailtui-journalctl-")  # noqa: SIM115 - lives on
        try:
            self.process: Optional[subprocess.Popen] = subprocess.Popen(
                [journalctl(), *query.args(follow=True)],
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, MailtuiError) as exc:
            follower.notices.append(f"journal: not followed: {exc}")
            self.process = None
            return
        assert self.process.stdout is not None
        self._pipe = self.process.stdout.fileno()
        os.set_blocking(self._pipe, False)

    def poll(self) -> int:
        """Feed what journalctl printed since the last poll."""
        if self.process is None:
            return 0
        fed = 0
        while True:
            try:
                data = os.read(self._pipe, sources.CHUNK_SIZE)
            except BlockingIOError:
                break
            if not data:
                fed += self.tail.flush(self.follower.loader)
                self._ended()
                break
            os.pwrite(self.fd, data, self.tail.pos)  # the spool: raw lines stay readable
            fed += self.tail.feed(self.follower.loader, data)
        return fed

    def _ended(self) -> None:
        process = self.process
        if process is None:
            return
        code = process.wait()
        self._stderr.seek(0)
        lines = sources.decode(self._stderr.read()).strip().splitlines()
        why = f": {lines[-1]}" if lines else ""
        self.follower.notices.append(f"journal: journalctl -f ended (exit status {code}){why}")
        self.close()

    def close(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            from mailtui.follow import popen_kill

            popen_kill(process)
            if process.stdout is not None:
                process.stdout.close()
        self._stderr.close()

"""The public API: open logs, get traces, query them, re-read raw lines.

    >>> from mailtui.session import open_logs
    >>> session = open_logs(["/var/log/mail.log"])
    >>> for trace in session.search("from:boss@example.com since:today"):
    ...     print(trace.id, trace.status, [r.address for r in trace.recipients])

The CLI and the UI build everything through :func:`open_logs`; scripts can too.
"""

from __future__ import annotations

import gc
import os
import re
import time
from array import array
from bisect import bisect_left
from contextlib import contextmanager
from datetime import tzinfo
from itertools import islice
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from mailtui import parallel, sources, timehints
from mailtui.correlate import Correlator
from mailtui.envelope import EnvelopeParser, detect_syslog
from mailtui.fastpath import LineParser, Parsed
from mailtui.index import SearchCancelled as SearchCancelled  # raised by Session.search
from mailtui.index import TraceIndex
from mailtui.link import build_traces
from mailtui.model import Envelope, LineRef, MailtuiError, Trace, Transaction
from mailtui.parsers import exchange
from mailtui.parsers.postfix import PostfixEvent
from mailtui.query import Query, parse_query

#: Formats `--format` accepts; postfix/sendmail/journal are all read by the syslog reader.
FORMATS = ("auto", "syslog", "postfix", "sendmail", "journal", "exchange")
#: How many unrecognised lines per file `stats` shows as examples.
EXAMPLES_PER_FILE = 5
_DETECT_LINES = 200
#: Lines searched for queue ids that tell the year (see :mod:`mailtui.timehints`).
_HINT_LINES = 5000

#: Called with (file, line number, text) for each line no parser understood.
UnrecognisedCallback = Callable[["LoadedFile", int, str], None]


class LoadedFile:
    """One file as read: its format and how many of its lines mailtui understood."""

    __slots__ = ("errors", "examples", "format", "last_line", "lines", "source", "unrecognised")

    def __init__(self, source: sources.LogSource, fmt: str) -> None:
        self.source = source
        self.format = fmt
        self.lines = 0
        #: (line number, byte offset) of the last line fed one at a time (following appends), set
        #: as one value so that another thread reads a pair that goes together; None before.
        self.last_line: Optional[Tuple[int, int]] = None
        self.unrecognised = 0
        #: (line number, text) of the first few unrecognised lines.
        self.examples: List[Tuple[int, str]] = []
        self.errors: List[str] = []

    @property
    def name(self) -> str:
        return self.source.name

    def count(self, line_no: int, text: str, understood: bool) -> None:
        self.lines += 1
        if not understood:
            self.unrecognised += 1
            if len(self.examples) < EXAMPLES_PER_FILE and text.strip():
                self.examples.append((line_no, text[:300]))


class Session:
    """Everything loaded from a set of paths."""

    def __init__(self, files: List[LoadedFile], traces: List[Trace], errors: List[str]) -> None:
        self.files = files
        self.traces = traces
        #: One line per path that could not be read (missing, unreadable, unknown format).
        self.errors = errors
        self._by_id: Dict[str, Trace] = {trace.id: trace for trace in traces}
        self._line_index: Optional[Dict[int, Tuple[array, array]]] = None
        self._index = TraceIndex(traces)

    @property
    def index(self) -> TraceIndex:
        """The search index of :attr:`traces` (empty until a search needs a part of it)."""
        if self._index.traces is not self.traces:  # the list was replaced: index the new one
            self._index = TraceIndex(self.traces)
        return self._index

    def search(
        self, query: Union[str, Sequence[str], Query] = "", cancelled: Optional[Callable[[], bool]] = None
    ) -> List[Trace]:
        """Traces matching a query (the DESIGN.md language), in time order.

        Exactly the traces ``query.matches`` accepts, found through :attr:`index` (built as
        searches need it). ``cancelled``, a callable checked now and then, lets a worker abandon a
        search that is no longer wanted: the search then raises :class:`SearchCancelled`.
        """
        compiled = query if isinstance(query, Query) else parse_query(query)
        if compiled.is_empty():
            return list(self.traces)
        return self.index.search(compiled, cancelled)

    def find(self, ident: str) -> List[Trace]:
        """Traces for a trace id, a queue id (any server) or a Message-ID (with or without `<>`)."""
        ident = ident.strip()
        if ident in self._by_id:
            return [self._by_id[ident]]
        bare = ident[1:-1] if ident.startswith("<") and ident.endswith(">") else ident
        if ident and bare:
            return self.index.find(ident, bare)
        return [
            trace
            for trace in self.traces
            if any(hop.queue_id == ident or hop.message_id == bare for hop in trace.hops)
        ]

    def trace(self, trace_id: str) -> Optional[Trace]:
        return self._by_id.get(trace_id)

    def trace_at(self, ref: LineRef) -> Optional[Trace]:
        """The trace a raw line belongs to (Enter on a line in the raw view), or None.

        Most lines name their mail (a queue id, a Message-ID): the traces those ids find through
        the index are checked for this very line. Other lines (an smtpd session's `connect from`)
        need the line index: the first such call builds, per file, the sorted byte offsets of every
        line that belongs to a trace (two arrays, 12 bytes a line; seconds on a 1 GB log), later
        calls are a binary search.
        """
        if self._line_index is None:
            named = self._trace_named_by(ref)
            if named is not None:
                return named
            self._line_index = _build_line_index(self.traces)
        found = self._line_index.get(ref.file_id)
        if found is None:
            return None
        offsets, owners = found
        position = bisect_left(offsets, ref.offset)
        if position < len(offsets) and offsets[position] == ref.offset:
            return self.traces[owners[position]]
        return None

    def _trace_named_by(self, ref: LineRef) -> Optional[Trace]:
        """The trace holding this line among those found by the ids its text names, or None."""
        if not 0 <= ref.file_id < len(self.files):
            return None
        try:
            text = self.read_lines([ref])[0]
        except (MailtuiError, OSError):
            return None  # the file changed since: the line index (built from the load) decides
        words = (found.group(1) or found.group(0) for found in _ID_WORDS.finditer(text[:2000]))
        for word in dict.fromkeys(words):
            for trace in self.find(word):
                if any(ref in hop.lines for hop in trace.hops):
                    return trace
        return None

    def read_lines(self, refs: Sequence[LineRef]) -> List[str]:
        """The raw text of these lines (re-read from the files by offset), in the order given."""
        wanted: Dict[int, List[int]] = {}
        for ref in refs:
            wanted.setdefault(ref.file_id, []).append(ref.offset)
        texts: Dict[Tuple[int, int], str] = {}
        for file_id, offsets in wanted.items():
            unique = sorted(set(offsets))
            raw = sources.read_lines_at(self.files[file_id].source, unique)
            for offset, data in zip(unique, raw):
                texts[(file_id, offset)] = sources.decode(data)
        return [texts.get((ref.file_id, ref.offset), "") for ref in refs]


#: Words of a raw line that may be a queue id (letters and digits, at least one digit) or a
#: Message-ID (inside angle brackets): what :meth:`Session.trace_at` looks up first.
_ID_WORDS = re.compile(r"(?<![\w.-])(?=[0-9A-Za-z]*\d)[0-9A-Za-z]{5,20}(?![\w-])|<([^<>\s]{3,250})>")


def _build_line_index(traces: Sequence[Trace]) -> Dict[int, Tuple[array, array]]:
    """Per file id: (sorted line offsets, index of the trace owning each)."""
    pairs: Dict[int, List[Tuple[int, int]]] = {}
    for number, trace in enumerate(traces):
        for hop in trace.hops:
            for ref in hop.lines:
                pairs.setdefault(ref.file_id, []).append((ref.offset, number))
    index: Dict[int, Tuple[array, array]] = {}
    for file_id, items in pairs.items():
        items.sort()
        index[file_id] = (array("q", (offset for offset, _ in items)), array("I", (n for _, n in items)))
    return index


def _detect(head: List[str], fmt: str) -> Optional[str]:
    if fmt != "auto":
        return "exchange" if fmt == "exchange" else "syslog"
    if exchange.looks_like_exchange(head):
        return "exchange"
    if not any(line.strip() for line in head):
        return "syslog"  # empty file: nothing to read, nothing wrong
    return "syslog" if detect_syslog(head) else None


def _merge_exchange(transactions: List[Transaction]) -> List[Transaction]:
    """One transaction per (server, internal id) even when its events span rotated files."""
    merged: Dict[Tuple[str, str], Transaction] = {}
    result: List[Transaction] = []
    for tx in transactions:
        key = (tx.server.lower(), tx.queue_id)
        first = merged.get(key)
        if first is None:
            merged[key] = tx
            result.append(tx)
            continue
        first.lines.extend(tx.lines)
        first.first_seen = min(first.first_seen, tx.first_seen)
        first.last_seen = max(first.last_seen, tx.last_seen)
        for name in ("client", "client_ip", "sender", "size", "message_id", "network_message_id", "subject"):
            if getattr(first, name) is None:
                setattr(first, name, getattr(tx, name))
        first.recipients.update(tx.recipients)
        first.claims.extend(tx.claims)
    return result


class Progress(NamedTuple):
    """How far a load is: files and (uncompressed) bytes done, lines read, the file being read."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    lines: int
    file: str


class LoadCancelled(Exception):
    """Raised inside :meth:`Loader.run` when :meth:`Loader.cancel` was called."""


_new_tuple = tuple.__new__

#: Lines between two looks at the clock (progress, snapshots, cancellation).
_CHECK_EVERY = 8192


class Loader:
    """Reads, correlates and links logs, reporting progress and provisional results as it goes.

    The UI runs :meth:`run` in a worker thread: ``progress`` is called about every ``interval``
    seconds, ``snapshot`` with a provisional :class:`Session` first after ``first_snapshot``
    seconds and then each time the number of transactions has doubled (so all the rebuilding
    costs at most as much as the final link), and the final session is returned. Snapshot
    traces share transactions that are still being filled: treat them as read-only and
    provisional.
    """

    def __init__(
        self,
        paths: Sequence[str],
        *,
        fmt: str = "auto",
        year: Optional[int] = None,
        local_tz: Optional[tzinfo] = None,
        on_unrecognised: Optional[UnrecognisedCallback] = None,
    ) -> None:
        if fmt not in FORMATS:
            raise MailtuiError(f"unknown format '{fmt}' (formats: {', '.join(FORMATS)})")
        self.fmt = fmt
        self.year = year
        self.local_tz = local_tz
        self.on_unrecognised = on_unrecognised
        self.sources, self.errors = sources.expand_paths(paths)
        #: Files found in a directory that are not in a format mailtui reads.
        self.skipped: List[str] = []
        #: Files read so far, indexed by file id (what LineRef.file_id points at).
        self.files: List[LoadedFile] = []
        #: The state lines are correlated into; it lives on so that appended lines can be fed.
        self.correlator = Correlator()
        #: The envelope parser of each syslog file (by file id), kept for appended lines.
        self.parsers: Dict[int, EnvelopeParser] = {}
        self._line_parsers: Dict[int, LineParser] = {}
        self._readers: Dict[int, exchange.ExchangeReader] = {}
        self._exchange_transactions: List[Transaction] = []
        self._pending_dsn: List[Tuple[Transaction, str, float, LineRef]] = []
        self._cancelled = False

    def cancel(self) -> None:
        """Ask a running load to stop (it raises :class:`LoadCancelled` at its next check)."""
        self._cancelled = True

    def run(
        self,
        progress: Optional[Callable[[Progress], None]] = None,
        snapshot: Optional[Callable[[Session], None]] = None,
        interval: float = 0.25,
        first_snapshot: float = 0.3,
    ) -> Session:
        """Load everything; returns the final session.

        Big plain syslog files are parsed by a second process while this one correlates (see
        :mod:`mailtui.parallel`; ``MAILTUI_PROCESSES=1`` keeps all the work in this process).
        """
        pacer = _Pacer(self, progress, snapshot, interval, first_snapshot)
        sizes = [_size(source) for source in self.sources]  # once: a gzip size means reading its trailer
        pacer.bytes_total = sum(sizes)
        worker = parallel.ParseWorker()
        with _collector_paused():
            try:
                for number, source in enumerate(self.sources):
                    pacer.start_file(number, source.name)
                    opened = self.open_file(source)
                    if opened is None:
                        continue
                    skip: Optional[int] = 0
                    if opened in self.parsers and worker.usable and parallel.wanted(source, sizes[number]):
                        skip = self._feed_parsed(opened, worker, pacer)
                    if skip is not None:
                        self._read_in_process(opened, pacer, skip)
                    pacer.end_file(self.files[opened].lines, sizes[number])
                    self.close_file(opened)
            finally:
                worker.close()
            merged = _merge_exchange(self._exchange_transactions)
            exchange.attach_dsn_claims(self._pending_dsn, merged)
            self.correlator.add(merged)
            self._exchange_transactions = []
            return self.session()

    def _read_in_process(self, file_id: int, pacer: _Pacer, skip: int = 0) -> None:
        """Read, parse and correlate one file here. Lines up to number `skip` were fed already (by a
        worker that failed): they are parsed again only for the envelope parser's state."""
        loaded = self.files[file_id]
        if file_id not in self.parsers:
            for line_no, offset, raw in sources.iter_lines(loaded.source):
                self.feed_line(file_id, line_no, offset, raw)
                if not line_no % _CHECK_EVERY:
                    pacer.check(line_no, offset)
            return
        # The hot loop (millions of lines): parsing as in the worker, feeding as from it.
        decode = sources.decode
        parse = self._line_parser(file_id).parse
        feed = self._feed_record
        for line_no, offset, raw in sources.iter_lines(loaded.source):
            text = decode(raw)
            parsed = parse(text)
            if line_no > skip:
                feed(loaded, file_id, line_no, offset, parsed, text)
            if not line_no % _CHECK_EVERY:
                pacer.check(line_no, offset)

    def _feed_record(
        self,
        loaded: LoadedFile,
        file_id: int,
        line_no: int,
        offset: int,
        parsed: Optional[Parsed],
        text: Optional[str],
    ) -> bool:
        """Correlate one line parsed by :class:`~mailtui.fastpath.LineParser` (here or in the worker;
        `text` may be None for a Postfix line, which never needs it); True when understood."""
        if parsed is not None:
            ref = _new_tuple(LineRef, (file_id, line_no, offset))
            if len(parsed) == 10:
                ts, tz, host, program, pid, instance, daemon, kind, qid, data = parsed
                # Named tuples made from plain ones without their Python-level __new__.
                envelope = _new_tuple(Envelope, (ts, tz, host, program, pid, ""))
                self.correlator.feed_postfix(
                    envelope, ref, instance, daemon, _new_tuple(PostfixEvent, (kind, qid, data))
                )
                loaded.lines += 1
                return True
            if self.correlator.feed(_new_tuple(Envelope, parsed), ref):
                loaded.lines += 1
                return True
        self._unrecognised(loaded, line_no, text or "")
        return False

    def _line_parser(self, file_id: int) -> LineParser:
        """The line parser of a syslog file, over its envelope parser (the worker's, once it has
        read the file: a new line parser then, its stamp cache empty)."""
        envelope = self.parsers[file_id]
        found = self._line_parsers.get(file_id)
        if found is None or found.envelope is not envelope:
            found = self._line_parsers[file_id] = LineParser(envelope)
        return found

    def _feed_parsed(self, file_id: int, worker: parallel.ParseWorker, pacer: _Pacer) -> Optional[int]:
        """Correlate a file the worker parses. None when it is done; otherwise the worker failed and
        this is the number of the last line fed (the caller reads the rest in-process)."""
        loaded = self.files[file_id]
        feed = self._feed_record
        feed_postfix = self.correlator.feed_postfix
        fed = 0
        try:
            for batch in worker.parse(loaded.source, self.parsers[file_id]):
                postfix_lines = 0
                for record in batch:
                    size = len(record)
                    if size == 12:  # _feed_record's first case, inlined: nine lines in ten
                        line_no, offset, ts, tz, host, program, pid, instance, daemon, kind, qid, data = (
                            record
                        )
                        feed_postfix(
                            _new_tuple(Envelope, (ts, tz, host, program, pid, "")),
                            _new_tuple(LineRef, (file_id, line_no, offset)),
                            instance,
                            daemon,
                            _new_tuple(PostfixEvent, (kind, qid, data)),
                        )
                        postfix_lines += 1
                    else:  # not Postfix (the envelope, then the text), or not understood (the text)
                        envelope = record[2] if size == 4 else None
                        feed(loaded, file_id, record[0], record[1], envelope, record[-1])
                loaded.lines += postfix_lines
                fed, offset = batch[-1][0], batch[-1][1]
                pacer.check(fed, offset)
        except parallel.WorkerFailed:
            return fed
        assert worker.result is not None
        parser, errors, read_to = worker.result
        # Lines appended later (follow mode) go on with the worker's year and zone state.
        self.parsers[file_id] = parser
        for error in errors:
            sources.add_error(loaded.source.errors, error)
        loaded.source.read_to = read_to
        return None

    def _unrecognised(self, loaded: LoadedFile, line_no: int, text: str) -> None:
        loaded.count(line_no, text, False)
        if self.on_unrecognised is not None:
            self.on_unrecognised(loaded, line_no, text)

    def open_file(self, source: sources.LogSource) -> Optional[int]:
        """Detect a source's format and get ready to feed its lines; its file id, or None when it
        is not a log mailtui reads (reported in ``errors`` or, for directory finds, ``skipped``)."""
        # One read of the file's start serves format detection and the year hints.
        head = [sources.decode(raw) for _, _, raw in islice(sources.iter_lines(source), _HINT_LINES)]
        detected = _detect(head[:_DETECT_LINES], self.fmt)
        if detected is None and source.from_directory:
            self.skipped.append(f"{source.name}: not a mail log mailtui reads (skipped)")
            return None
        if detected is None:
            self.errors.append(
                f"{source.name}: unknown format "
                "(not syslog, journal or Exchange message tracking; try --format)"
            )
            return None
        file_id = len(self.files)
        self.files.append(LoadedFile(source, detected))
        if detected == "exchange":
            self._readers[file_id] = exchange.ExchangeReader(file_id, kind=exchange.log_kind(source.name))
        else:
            year = self.year
            if year is None:
                year = timehints.first_line_year(head, timehints.year_from_mtime(source.mtime))
            self.parsers[file_id] = EnvelopeParser(source.mtime, year=year, local_tz=self.local_tz)
        return file_id

    def feed_line(self, file_id: int, line_no: int, offset: int, raw: bytes) -> bool:
        """Parse and correlate one line of an opened file; True when it was understood."""
        loaded = self.files[file_id]
        loaded.last_line = (line_no, offset)
        text = sources.decode(raw)
        if file_id in self.parsers:  # syslog: parsed and fed as in a file's first reading
            parsed = self._line_parser(file_id).parse(text)
            return self._feed_record(loaded, file_id, line_no, offset, parsed, text)
        understood = self._readers[file_id].feed(line_no, offset, text)
        if understood:
            loaded.lines += 1
        else:
            self._unrecognised(loaded, line_no, text)
        return understood

    def close_file(self, file_id: int) -> None:
        """The end of a file's first reading: collect what its reader made and what went wrong."""
        loaded = self.files[file_id]
        reader = self._readers.pop(file_id, None)
        if reader is not None:
            self._exchange_transactions.extend(reader.transactions())
            self._pending_dsn.extend(reader.pending_dsn())
        loaded.errors.extend(loaded.source.errors)
        self.errors.extend(loaded.source.errors)

    def session(self, known_ids: Optional[Dict[int, str]] = None) -> Session:
        """A session of everything read so far (linking is redone: O(transactions)).

        ``known_ids`` keeps trace ids stable across calls (see :func:`mailtui.link.build_traces`).
        """
        traces = build_traces(self.correlator.transactions(), known_ids)
        return Session(list(self.files), traces, list(self.errors))


class _Pacer:
    """What :meth:`Loader.run` does between lines now and then: progress, snapshots, cancellation."""

    def __init__(
        self,
        loader: Loader,
        progress: Optional[Callable[[Progress], None]],
        snapshot: Optional[Callable[[Session], None]],
        interval: float,
        first_snapshot: float,
    ) -> None:
        self.loader = loader
        self.progress = progress
        self.snapshot = snapshot
        self.interval = interval
        started = time.monotonic()
        self.next_progress = started + interval
        self.next_snapshot = started + first_snapshot
        self.snapshot_size = 0
        self.bytes_total = 0
        self.bytes_before = 0  # bytes of the files already read
        self.lines_before = 0
        self.files_done = 0
        self.file = ""

    def start_file(self, number: int, name: str) -> None:
        self.files_done, self.file = number, name

    def end_file(self, lines: int, size: int) -> None:
        self.lines_before += lines
        self.bytes_before += size
        self.files_done += 1
        if self.progress is not None:
            self.progress(self._progress(self.bytes_before, self.lines_before))

    def _progress(self, done: int, lines: int) -> Progress:
        total = len(self.loader.sources)
        return Progress(self.files_done, total, done, self.bytes_total, lines, self.file)

    def check(self, line_no: int, offset: int) -> None:
        """Called every few thousand lines of the current file (at `line_no`, byte `offset`)."""
        loader = self.loader
        if loader._cancelled:
            raise LoadCancelled()
        now = time.monotonic()
        if self.progress is not None and now >= self.next_progress:
            self.next_progress = now + self.interval
            self.progress(self._progress(self.bytes_before + offset, self.lines_before + line_no))
        if self.snapshot is not None and now >= self.next_snapshot:
            count = len(loader.correlator.transactions_so_far())
            if count >= 2 * self.snapshot_size and count:
                self.snapshot_size = count
                self.snapshot(loader.session())


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while loading, and none over what the load made afterwards.

    A load makes millions of long-lived objects and no cycles; each full collection would walk
    all of them (about a third of the load time on 100 MB). Frozen afterwards, they also cost
    nothing to the collections that run while the UI is used.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()


def _size(source: sources.LogSource) -> int:
    """Bytes a source will yield, as far as known up front: progress counts uncompressed bytes, so
    a gzip file counts the size its trailer gives (modulo 4 GiB: trusted when not smaller than the
    file); bzip2 and xz files, which tell no size, count their own."""
    if source.data is not None:
        return len(source.data)
    try:
        size = os.stat(source.path).st_size
        if source.compression == "gz" and size >= 18:
            with open(source.path, "rb") as handle:
                handle.seek(-4, os.SEEK_END)
                unpacked = int.from_bytes(handle.read(4), "little")
            return max(size, unpacked)
        return size
    except OSError:
        return 0


def open_logs(
    paths: Sequence[str],
    *,
    fmt: str = "auto",
    year: Optional[int] = None,
    local_tz: Optional[tzinfo] = None,
    on_unrecognised: Optional[UnrecognisedCallback] = None,
) -> Session:
    """Read, correlate and link the logs at `paths` (files, directories, globs, `-` for stdin).

    Args:
        paths: what the user named; bad ones are reported in ``Session.errors``, the rest still load.
        fmt: one of :data:`FORMATS`; "auto" detects per file.
        year: the year of RFC 3164 timestamps (default: inferred from each file's mtime).
        local_tz: the zone of timestamps that carry none (default: this machine's).
        on_unrecognised: called for every line no parser understood.

    Raises:
        MailtuiError: for an unknown `fmt`.
    """
    loader = Loader(paths, fmt=fmt, year=year, local_tz=local_tz, on_unrecognised=on_unrecognised)
    return loader.run()

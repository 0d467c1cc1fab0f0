"""Parse syslog files in a second process while this one correlates: both cores at work (issue 6).

Parsing a line (splitting, decoding, the envelope, the Postfix body) depends only on the line and
on the file's :class:`~mailtui.envelope.EnvelopeParser` state; correlating depends on every line
before it. So the work splits into a two-stage pipeline: a worker process reads the file itself
(its own descriptor: nothing crosses the pipe but results), parses each line and sends batches of
parsed lines, in file order; the loading process correlates them exactly as if it had parsed them
itself. The worker also sends its parser at the end of the file, so that lines appended later
(follow mode) are read with the same year and zone state.

Each record of a batch is a plain tuple of plain values; batches cross the pipe as :mod:`marshal`
data (both ends are the same interpreter; it writes them 3.6x and reads them 2x faster than pickle):

* ``(line_no, offset, text)``: a line nobody understood (``text`` for the examples);
* ``(line_no, offset, envelope fields, text)``: not Postfix: the correlator parses the body
  (amavis, Sendmail, Dovecot... these may depend on what it has seen), ``text`` in case it cannot;
* ``(line_no, offset, ts, tz, host, program, pid, instance, daemon, kind, qid, data)``: a Postfix
  line, parsed (the envelope without its body, then the :class:`~mailtui.parsers.postfix.PostfixEvent`;
  see :class:`mailtui.fastpath.LineParser`).

Anything that goes wrong on the worker's side (it cannot start, it dies) makes
:class:`ParseWorker` raise :class:`WorkerFailed`; the loader then parses the rest in-process.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import pickle
import struct
import subprocess
import sys
from typing import BinaryIO, Iterator, List, Optional, Tuple

from mailtui import sources
from mailtui.envelope import EnvelopeParser
from mailtui.fastpath import LineParser

try:
    import fcntl
except ImportError:  # Windows has none: the default pipe size only costs some speed
    fcntl = None  # type: ignore[assignment]

#: Lines per batch: big enough that pickling and the pipe cost little per line, small enough that
#: the loading process sees progress (and the first rows) early.
BATCH_LINES = 2048
#: Pipe size asked for (Linux's default limit for unprivileged processes); a batch is ~200 bytes a line.
_PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031) if fcntl is not None else 1031
#: Files smaller than this are parsed in-process: starting a worker costs about 0.2 s.
MIN_PARALLEL_BYTES = 8 * 1024 * 1024

Batch = List[tuple]


class WorkerFailed(Exception):
    """The worker process could not start or stopped early; parse in-process instead."""


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def wanted(source: sources.LogSource, size: int) -> bool:
    """True when a file is worth a worker: a named file (not stdin, not an inherited descriptor)
    big enough to amortise the start, on a machine with a second core.

    ``MAILTUI_PROCESSES=1`` (or 0) never uses one; ``MAILTUI_PROCESSES=2`` always does, whatever
    the size (for tests and measurements).
    """
    if source.data is not None or source.fd is not None:
        return False
    setting = os.environ.get("MAILTUI_PROCESSES", "").strip()
    if setting in ("0", "1"):
        return False
    if setting.isdigit():
        return True
    return size >= MIN_PARALLEL_BYTES and usable_cores() > 1


def parse_lines(source: sources.LogSource, parser: EnvelopeParser) -> Iterator[Batch]:
    """Batches of parsed-line records for a whole file (the worker's loop; see the module doc)."""
    decode = sources.decode
    parse = LineParser(parser).parse
    batch: Batch = []
    append = batch.append
    for line_no, offset, raw in sources.iter_lines(source):
        text = decode(raw)
        parsed = parse(text)
        if parsed is None:
            append((line_no, offset, text))
        elif len(parsed) == 6:
            append((line_no, offset, parsed, text))
        else:
            append((line_no, offset, *parsed))  # flat: pickling named tuples costs three times as much
        if len(batch) >= BATCH_LINES:
            yield batch
            batch = []
            append = batch.append
    if batch:
        yield batch


_BATCH = b"B"
_END = b"E"
_HEADER = struct.Struct("<cQ")  # message tag, payload length


def _write(stream: BinaryIO, tag: bytes, payload: bytes) -> None:
    stream.write(_HEADER.pack(tag, len(payload)))
    stream.write(payload)
    stream.flush()


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the parsing process closed its pipe")
    return data


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """The worker process: one job (source, parser) at a time until its input ends."""
    while True:
        header = requests.read(_HEADER.size)
        if len(header) != _HEADER.size:
            return
        source, parser = pickle.loads(_read_exactly(requests, _HEADER.unpack(header)[1]))
        for batch in parse_lines(source, parser):
            _write(replies, _BATCH, marshal.dumps(batch))
        _write(replies, _END, pickle.dumps((parser, source.errors, source.read_to), pickle.HIGHEST_PROTOCOL))


def _error_log() -> Optional[BinaryIO]:
    """Where the worker's stderr goes: never the user's terminal (the UI owns it), so nowhere,
    unless ``MAILTUI_WORKER_LOG`` names a file to append it to (a crash's traceback, to debug a
    load that fell back to one process)."""
    path = os.environ.get("MAILTUI_WORKER_LOG", "").strip()
    if not path:
        return None
    try:
        return open(path, "ab")  # closed by _start once the child has it
    except OSError:
        return None


class ParseWorker:
    """A worker process (started on first use) that parses whole files for the loading process.

    It is a plain ``python -m mailtui.parallel`` child talking over its stdin and stdout, not a
    :mod:`multiprocessing` one: a spawned multiprocessing child imports the parent's main script
    again, which would run a user's script (one that calls ``open_logs``) twice. Use
    :meth:`parse` per file, :meth:`close` at the end.
    """

    def __init__(self) -> None:
        self._process: Optional[subprocess.Popen] = None  # type: ignore[type-arg]
        #: After a file's batches: the worker's parser state, the source's read errors, and how far
        #: the file was read (``LogSource.read_to``).
        self.result: Optional[Tuple[EnvelopeParser, List[str], Optional[int]]] = None
        #: False once the worker failed: the rest of the load stays in-process.
        self.usable = True

    def _start(self) -> subprocess.Popen:  # type: ignore[type-arg]
        if self._process is not None:
            return self._process
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
        errors = _error_log()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "mailtui.parallel"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors if errors is not None else subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
        except (OSError, ValueError) as exc:
            self.usable = False
            raise WorkerFailed(str(exc)) from exc
        finally:
            if errors is not None:
                errors.close()  # the child has its own copy
        # A pipe that holds a whole batch: the worker writes the next one while this process
        # correlates, and this process reads it in one system call. (A reading thread would not
        # do: it must win the GIL back after every 64 KiB read, which takes milliseconds while
        # the main thread is busy.)
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(self._process.stdout.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)  # type: ignore[union-attr]
        return self._process

    def parse(self, source: sources.LogSource, parser: EnvelopeParser) -> Iterator[Batch]:
        """Batches of parsed lines of `source`, in order; then :attr:`result` is set. Stopping
        early (cancel) stops the worker."""
        process = self._start()
        self.result = None
        replies: BinaryIO = process.stdout  # type: ignore[assignment]
        finished = False
        try:
            _write(process.stdin, _BATCH, pickle.dumps((source, parser), pickle.HIGHEST_PROTOCOL))  # type: ignore[arg-type]
            while True:
                tag, size = _HEADER.unpack(_read_exactly(replies, _HEADER.size))
                data = _read_exactly(replies, size)
                if tag == _END:
                    self.result = pickle.loads(data)
                    finished = True
                    return
                yield marshal.loads(data)
        except (EOFError, OSError, ValueError, TypeError, struct.error, pickle.PickleError) as exc:
            self.usable = False
            raise WorkerFailed(f"the parsing process stopped ({exc})") from exc
        finally:
            if not finished:
                self.close()

    def close(self) -> None:
        """Stop the worker (at once if it is busy: used on cancel and on failure too)."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            process.stdin.close()  # type: ignore[union-attr]
        try:
            process.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            process.kill()  # busy with a file nobody wants any more
            process.wait()
        with contextlib.suppress(OSError, ValueError):
            process.stdout.close()  # type: ignore[union-attr]


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)

"""Where log lines come from: paths, rotated sets, compressed files and stdin.

:func:`expand_paths` turns command-line paths (files, directories, glob patterns, ``-``) into
:class:`LogSource` records in reading order (oldest rotation first) plus one-line error messages;
:func:`iter_lines` streams a source's lines with their byte offsets in the (decompressed) stream;
:func:`read_lines_at` re-reads lines by offset later, so raw lines never have to stay in memory.

Files are only ever opened read-only. Compression is recognised by magic bytes, not by name.
"""

from __future__ import annotations

import bz2
import codecs
import errno
import glob
import gzip
import io
import lzma
import os
import re
import stat
import sys
import time
import zlib
from typing import BinaryIO, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from mailtui.model import MailtuiError

#: Bytes read (or decompressed) per chunk while scanning.
CHUNK_SIZE = 1 << 20
#: Longest line handed on; longer lines are cut to this many bytes (offsets stay right).
MAX_LINE = 1 << 20
#: First window read by :func:`read_lines_at` for a plain file.
_PREAD_WINDOW = 1 << 16

_MAGIC = (
    (b"\x1f\x8b\x08", "gz"),  # deflate: the only method gzip has
    (b"\xfd7zXZ\x00", "xz"),
)
#: bzip2: "BZh", the block size digit, then a block's or the end's magic. "BZh" alone is too weak: a
#: plain log whose first line starts with "BZh" was read as a broken bzip2 stream (issue 4).
_BZ2_MAGIC = re.compile(rb"BZh[1-9](?:\x31\x41\x59\x26\x53\x59|\x17\x72\x45\x38\x50\x90)")
#: Bytes looked at to recognise a compressed stream.
_HEAD = 16
_UNSUPPORTED_MAGIC = (
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x1f\x9d", "compress (.Z)"),
    (b"PK\x03\x04", "zip"),
)
_COMPRESSED_NAMES = {"gz": "gzip", "bz2": "bzip2", "xz": "xz"}

#: Name prefixes (lower case) of mail logs taken from a directory.
_LOG_PREFIXES = ("mail.log", "maillog", "mail.info", "mail.warn", "mail.err", "syslog", "msgtrk")
#: Name endings (lower case) that are never logs, even when the prefix matches.
_JUNK_SUFFIXES = ("~", ".swp", ".swx", ".lock", ".pid", ".tmp", ".part", ".sock")

# name = base [.N | -DATE] [.gz|.bz2|.xz|.zst|.Z]
_ROTATION = re.compile(
    r"(?P<base>.+?)"
    r"(?:\.(?P<num>\d{1,6})|-(?P<date>\d{8}(?:\d{2})?|\d{4}-\d{2}-\d{2}))?"
    r"(?:\.(?:gz|bz2|xz|zst|z|lzma))?\Z",
    re.IGNORECASE | re.ASCII,
)


def _latin1_fallback(exc: UnicodeError) -> Tuple[str, int]:
    """Codec error handler: bytes that are not UTF-8 are taken as Latin-1."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("latin-1"), exc.end


codecs.register_error("mailtui-latin1", _latin1_fallback)


def decode(raw: bytes) -> str:
    """Decode one raw line: UTF-8, with any invalid bytes read as Latin-1. Never raises."""
    return raw.decode("utf-8", "mailtui-latin1")


class LogSource:
    """One input to read: a file (plain or compressed) or stdin."""

    __slots__ = (
        "compression",
        "data",
        "errors",
        "fd",
        "from_directory",
        "identity",
        "journal",
        "mtime",
        "name",
        "path",
        "read_to",
        "size",
    )

    def __init__(
        self,
        path: str,
        name: str,
        compression: Optional[str] = None,
        mtime: float = 0.0,
        data: Optional[bytes] = None,
    ) -> None:
        #: Path to open (as resolved); "-" for stdin.
        self.path = path
        #: Name shown to the user; "<stdin>" for stdin.
        self.name = name
        #: "gz", "bz2", "xz" or None, from the magic bytes.
        self.compression = compression
        #: st_mtime of the file (time of reading for stdin); used to infer syslog years.
        self.mtime = mtime
        #: Stdin's bytes as read (still compressed, if they were); None for files.
        self.data = data
        #: Problems met while reading, one line each ("mail.log.2.gz: truncated gzip stream ...").
        self.errors: List[str] = []
        #: Found by scanning a directory (not named by the user): a file of another format is
        #: skipped quietly instead of reported as an error.
        self.from_directory = False
        #: (st_dev, st_ino) when the path was expanded: a later re-read by offset checks that the
        #: path still names the same file (after a rotation it would be another file's bytes).
        self.identity: Optional[Tuple[int, int]] = None
        #: st_size when the path was expanded: a file found smaller later was truncated meanwhile.
        self.size: Optional[int] = None
        #: An open descriptor of the (plain) file, kept by whoever opened it (a follower after a
        #: rotation, a journal spool): reads use it instead of the path, which may name another
        #: file by now. Never closed here.
        self.fd: Optional[int] = None
        #: For a spool of `journalctl` output: the query it came from (a ``mailtui.journal``
        #: object), so that a follower can go on reading the journal after it.
        self.journal: Optional[object] = None
        #: Bytes a complete reading of the (plain) file got to: where its end was when it was last
        #: read through (the load); a follower goes on from there. None until then.
        self.read_to: Optional[int] = None

    def __repr__(self) -> str:
        return f"LogSource(path={self.path!r}, name={self.name!r}, compression={self.compression!r})"


# ---------------------------------------------------------------------------------------------------
# Path expansion


def _reason(exc: OSError) -> str:
    """A short lower-case reason for an OSError, without the path."""
    if exc.errno == errno.ENOENT:
        return "no such file or directory"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ELOOP:
        return "too many levels of symbolic links (symlink loop?)"
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    if exc.errno == errno.ENOTDIR:
        return "not a directory (a path component is a file)"
    return (exc.strerror or str(exc)).lower()


def _detect_compression(head: bytes) -> Optional[str]:
    """Compression named by the first bytes of a stream, or None for plain text."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if _BZ2_MAGIC.match(head):
        return "bz2"
    return None


def _unsupported_compression(head: bytes) -> Optional[str]:
    for magic, kind in _UNSUPPORTED_MAGIC:
        if head.startswith(magic):
            return kind
    return None


def _rotation_key(name: str) -> Tuple[str, Tuple[int, int, str]]:
    """(family base name, age key) where a smaller age key means an older file."""
    m = _ROTATION.match(name)
    if m is None:  # pragma: no cover - the pattern matches every non-empty name
        return name, (3, 0, "")
    base = m.group("base")
    if m.group("num") is not None:
        return base, (0, -int(m.group("num")), "")
    if m.group("date") is not None:
        return base, (1, 0, m.group("date").replace("-", ""))
    if len(base) != len(name):  # compressed without a number: older than the live file
        return base, (2, 0, "")
    return base, (3, 0, "")


def _is_log_name(name: str) -> bool:
    """Whether a file found in a directory looks like a mail/system log."""
    lower = name.lower()
    if lower.startswith(".") or lower.endswith(_JUNK_SUFFIXES):
        return False
    if lower.startswith(_LOG_PREFIXES):
        return True
    base = _rotation_key(lower)[0]
    return base.endswith((".log", ".json"))


def _open_file_source(path: str, st: os.stat_result) -> Tuple[Optional[LogSource], Optional[str]]:
    """A source for a regular file, after checking it can be opened; or an error message."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD)
    except OSError as exc:
        return None, f"{path}: {_reason(exc)}"
    unsupported = _unsupported_compression(head)
    if unsupported is not None:
        return None, f"{path}: {unsupported}-compressed files are not supported (decompress it first)"
    source = LogSource(path, path, _detect_compression(head), st.st_mtime)
    source.identity = (st.st_dev, st.st_ino)
    source.size = st.st_size
    return source, None


def _order_family_members(entries: List[Tuple[str, os.stat_result]]) -> List[Tuple[str, os.stat_result]]:
    """Put files of one rotation family (same directory and base name) oldest first.

    Families stay where their first member appeared; unrelated files keep their order.
    """
    families: Dict[Tuple[str, str], List[Tuple[Tuple[int, int, str], int, str, os.stat_result]]] = {}
    order: List[Tuple[str, str]] = []
    for position, (path, st) in enumerate(entries):
        directory, name = os.path.split(path)
        base, age = _rotation_key(name)
        key = (os.path.normpath(directory or "."), base)
        if key not in families:
            families[key] = []
            order.append(key)
        families[key].append((age, position, path, st))
    result: List[Tuple[str, os.stat_result]] = []
    for key in order:
        for _age, _position, path, st in sorted(families[key], key=lambda item: (item[0], item[1])):
            result.append((path, st))
    return result


#: How deep a directory argument is searched (`samples/` holds `postfix/relay/mx1.log`).
MAX_DEPTH = 4


def _directory_logs(path: str, depth: int = 0) -> Tuple[List[Tuple[str, os.stat_result]], List[str]]:
    """Mail logs inside a directory and its subdirectories (not hidden ones, not through symlinks),
    grouped by family (families by name), oldest first; each subdirectory after the files."""
    errors: List[str] = []
    found: List[Tuple[str, os.stat_result]] = []
    subdirectories: List[str] = []
    try:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda entry: entry.name)
    except OSError as exc:
        return [], [f"{path}: {_reason(exc)}"]
    for entry in entries:
        full = os.path.join(path, entry.name)
        if depth < MAX_DEPTH and not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
            subdirectories.append(full)
            continue
        if not _is_log_name(entry.name):
            continue
        try:
            st = os.stat(full)
        except OSError as exc:
            errors.append(f"{full}: {_reason(exc)}")
            continue
        if stat.S_ISREG(st.st_mode):
            found.append((full, st))
    families: Dict[str, List[Tuple[str, os.stat_result]]] = {}
    for full, st in found:
        families.setdefault(_rotation_key(os.path.basename(full))[0].lower(), []).append((full, st))
    ordered: List[Tuple[str, os.stat_result]] = []
    for base in sorted(families):
        ordered.extend(_order_family_members(families[base]))
    for directory in subdirectories:
        more, more_errors = _directory_logs(directory, depth + 1)
        ordered.extend(more)
        errors.extend(more_errors)
    if depth == 0 and not ordered and not errors:
        errors.append(f"{path}: no mail logs in this directory")
    return ordered, errors


_GLOB_MAGIC = re.compile(r"[*?\[]")


def _has_magic(path: str) -> bool:
    """Whether a path contains glob wildcards."""
    return _GLOB_MAGIC.search(path) is not None


def expand_paths(paths: Sequence[str]) -> Tuple[List[LogSource], List[str]]:
    """Resolve CLI paths into sources in reading order, plus one-line error messages for bad paths.

    Accepts regular files, directories (the mail logs directly inside), glob patterns (used when
    the literal path does not exist) and ``-`` for stdin (once). Rotated files of one family are
    read oldest first (``mail.log.2.gz, mail.log.1, mail.log``); unrelated files keep their order.
    Errors are returned as ``"<path>: <reason>"``; nothing is raised.
    """
    errors: List[str] = []
    # Each item: ("file", path, stat) or ("stdin", "-", None). Files of one argument are one group.
    groups: List[List[Tuple[str, Optional[os.stat_result]]]] = []
    stdin_seen = False
    scanned: Set[str] = set()
    for arg in paths:
        if arg == "-":
            if stdin_seen:
                errors.append("-: standard input can only be read once")
                continue
            stdin_seen = True
            groups.append([("-", None)])
            continue
        if not arg:
            errors.append("'': empty path")
            continue
        candidates: List[str]
        if not os.path.lexists(arg) and _has_magic(arg):
            candidates = sorted(glob.glob(arg))
            if not candidates:
                errors.append(f"{arg}: no files match this pattern")
                continue
            from_glob = True
        else:
            candidates = [arg]
            from_glob = False
        group: List[Tuple[str, Optional[os.stat_result]]] = []
        for path in candidates:
            try:
                st = os.stat(path)
            except OSError as exc:
                if exc.errno == errno.ENOENT and os.path.islink(path):
                    errors.append(f"{path}: broken symbolic link")
                else:
                    errors.append(f"{path}: {_reason(exc)}")
                continue
            if stat.S_ISDIR(st.st_mode):
                if from_glob:
                    continue  # `logs/*` means the files in it, not its subdirectories
                found, dir_errors = _directory_logs(path)
                errors.extend(dir_errors)
                group.extend(found)
                scanned.update(full for full, _st in found)
            elif stat.S_ISREG(st.st_mode):
                group.append((path, st))
            else:
                errors.append(f"{path}: not a regular file (FIFO, socket or device); use - for a pipe")
        groups.append(group)

    # Rotation families across arguments: members gather at the family's first position.
    flat: List[Tuple[str, Optional[os.stat_result]]] = [item for group in groups for item in group]
    file_entries = [(p, st) for p, st in flat if st is not None]
    ordered_files = iter(_order_family_members(file_entries))
    # Rebuild the sequence: stdin stays where it was; file slots are refilled in family order.
    placed = [("-", None) if st is None else next(ordered_files) for _path, st in flat]
    sources: List[LogSource] = []
    seen = set()
    for path, st in placed:
        if st is None:
            source = _stdin_source(errors)
            if source is not None:
                sources.append(source)
            continue
        identity = (st.st_dev, st.st_ino)
        if identity in seen:
            continue
        seen.add(identity)
        source, error = _open_file_source(path, st)
        if error is not None:
            errors.append(error)
        elif source is not None:
            source.from_directory = path in scanned
            sources.append(source)
    return sources, errors


def _stdin_source(errors: List[str]) -> Optional[LogSource]:
    """Read stdin fully (so it can be re-read by offset) into a source."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        errors.append("-: standard input is not available")
        return None
    try:
        data = stream.read()
    except OSError as exc:
        errors.append(f"-: {_reason(exc)}")
        return None
    if isinstance(data, str):  # a text-only replacement of sys.stdin
        data = data.encode("utf-8")
    unsupported = _unsupported_compression(data[:_HEAD])
    if unsupported is not None:
        errors.append(f"-: {unsupported}-compressed input is not supported (decompress it first)")
        return None
    return LogSource("-", "<stdin>", _detect_compression(data[:_HEAD]), time.time(), data)


# ---------------------------------------------------------------------------------------------------
# Reading


class _FdReader(io.RawIOBase):
    """Reads an open descriptor from the start with ``os.pread`` (its own position; the
    descriptor's offset is not touched and it is not closed)."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._pos = 0

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(os.fstat(self._fd).st_size - self._pos, 0)
        data = os.pread(self._fd, size, self._pos)
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _open_raw(source: LogSource) -> BinaryIO:
    if source.data is not None:
        return io.BytesIO(source.data)
    if source.fd is not None:
        return _FdReader(source.fd)  # type: ignore[return-value]
    return open(source.path, "rb")


def _decompressor(raw: BinaryIO, compression: Optional[str]) -> BinaryIO:
    if compression == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if compression == "bz2":
        return bz2.BZ2File(raw, mode="rb")  # type: ignore[return-value]
    if compression == "xz":
        return lzma.LZMAFile(raw, mode="rb")  # type: ignore[return-value]
    return raw


def _iter_chunks(source: LogSource, errors: List[str]) -> Iterator[bytes]:
    """The source's (decompressed) bytes in chunks; read problems go to `errors`, never raised."""
    try:
        raw = _open_raw(source)
    except OSError as exc:
        add_error(errors, f"{source.name}: {_reason(exc)}")
        return
    total = 0
    error: Optional[str] = None
    with raw:
        stream = _decompressor(raw, source.compression)
        # read1: a decompressor's read(n) would drop what it had decoded when the stream breaks.
        read = raw.read if stream is raw else stream.read1  # type: ignore[attr-defined]
        parts: List[bytes] = []
        pending = 0
        try:
            while True:
                piece = read(CHUNK_SIZE)
                if not piece:
                    if source.compression is None:
                        source.read_to = total
                    break
                total += len(piece)
                parts.append(piece)
                pending += len(piece)
                if pending >= CHUNK_SIZE:
                    chunk = parts[0] if len(parts) == 1 else b"".join(parts)
                    parts = []
                    pending = 0
                    yield chunk
        except EOFError:
            kind = _COMPRESSED_NAMES.get(source.compression or "", "compressed")
            error = f"{source.name}: truncated {kind} stream after {total} bytes"
        except (OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
            if source.compression is None:
                error = f"{source.name}: read error after {total} bytes: {_reason(exc)}"
            else:
                kind = _COMPRESSED_NAMES[source.compression]
                error = f"{source.name}: corrupt {kind} data after {total} bytes ({exc})"
        finally:
            if stream is not raw:
                stream.close()
        if error is None and source.data is None:
            error = _shrunk(source, raw, total)
    if parts:
        yield b"".join(parts)
    if error is not None:
        add_error(errors, error)


def add_error(errors: List[str], error: str) -> None:
    """Add a read problem once: a source is read more than once (format detection, year hints,
    the load itself), and the same break must not be reported three times."""
    if error not in errors:
        errors.append(error)


def _shrunk(source: LogSource, raw: BinaryIO, total: int) -> Optional[str]:
    """A message when the file behind `raw` got smaller than what was read from it (truncated by
    copytruncate-style rotation while mailtui read it): lines after that point may be missing."""
    if source.compression is not None:
        return None  # `total` counts decompressed bytes; a truncated stream is reported anyway
    try:
        size = os.fstat(raw.fileno()).st_size
    except (OSError, ValueError, AttributeError):
        return None
    before = max(total, source.size or 0)
    if size >= before:
        return None
    return (
        f"{source.name}: file shrank from {before} to {size} bytes while being read (truncated by a "
        f"rotation?); read {total} bytes, later lines may be missing"
    )


def _split_lines(chunks: Iterator[bytes]) -> Iterator[Tuple[int, int, bytes]]:
    """(line number, offset, line) from a chunked byte stream; see :func:`iter_lines`."""
    line_no = 0
    offset = 0  # offset of the first byte of `pending`
    pending = b""
    overflow = False  # inside a line longer than MAX_LINE: `pending` holds its head only
    overflow_len = 0  # bytes of that line consumed so far
    for chunk in chunks:
        if overflow:
            cut = chunk.find(b"\n")
            if cut < 0:
                overflow_len += len(chunk)
                continue
            line_no += 1
            yield line_no, offset, pending
            offset += overflow_len + cut + 1
            overflow = False
            pending = b""
            chunk = chunk[cut + 1 :]
        buf = pending + chunk if pending else chunk
        lines = buf.split(b"\n")
        pending = lines.pop()
        if lines:
            if len(buf) > MAX_LINE and max(map(len, lines)) > MAX_LINE:
                for line in lines:
                    line_no += 1
                    size = len(line) + 1
                    if line[-1:] == b"\r":
                        line = line[:-1]
                    yield line_no, offset, line[:MAX_LINE]
                    offset += size
            elif b"\r" in buf:
                for line in lines:
                    line_no += 1
                    size = len(line) + 1
                    if line[-1:] == b"\r":
                        line = line[:-1]
                    yield line_no, offset, line
                    offset += size
            else:
                for line in lines:
                    line_no += 1
                    yield line_no, offset, line
                    offset += len(line) + 1
        if len(pending) > MAX_LINE:
            overflow = True
            overflow_len = len(pending)
            pending = pending[:MAX_LINE]
    if overflow:
        yield line_no + 1, offset, pending
    elif pending:
        if pending[-1:] == b"\r":
            pending = pending[:-1]
        yield line_no + 1, offset, pending


def iter_lines(source: LogSource) -> Iterator[Tuple[int, int, bytes]]:
    """(line_no 1-based, byte offset of line start in the (decompressed) stream, line without end-of-line).

    Lines end at ``\\n``; a trailing ``\\r`` is dropped; a last line without a newline still counts;
    lines longer than :data:`MAX_LINE` are cut (numbers and offsets stay right). A truncated or
    corrupt compressed stream yields what could be read and appends a message to ``source.errors``.
    """
    return _split_lines(_iter_chunks(source, source.errors))


def _cut_line(window: bytes) -> bytes:
    end = window.find(b"\n")
    if end >= 0:
        window = window[:end]
    if window[-1:] == b"\r":
        window = window[:-1]
    return window[:MAX_LINE]


def _pread_line(fd: int, offset: int) -> bytes:
    """The line starting at `offset` of an open plain file (bounded to MAX_LINE)."""
    window = os.pread(fd, _PREAD_WINDOW, offset)
    if b"\n" in window or len(window) < _PREAD_WINDOW:
        return _cut_line(window)
    parts = [window]
    size = len(window)
    while size <= MAX_LINE:
        more = os.pread(fd, min(CHUNK_SIZE, MAX_LINE + 1 - size + 1), offset + size)
        if not more:
            break
        parts.append(more)
        size += len(more)
        if b"\n" in more:
            break
    return _cut_line(b"".join(parts))


def read_lines_at(source: LogSource, offsets: Sequence[int]) -> List[bytes]:
    """Re-read the lines starting at these byte offsets (any order); used to show raw lines later.

    Returns one entry per offset, in the order given (b"" past the end). Plain files are read
    with ``os.pread``; compressed sources are decompressed again in one pass up to the last offset.
    Raises :class:`MailtuiError` when the file can no longer be opened.
    """
    if not offsets:
        return []
    if source.compression is None and source.data is not None:
        data = source.data
        return [_cut_line(data[off : off + MAX_LINE + 2]) if 0 <= off < len(data) else b"" for off in offsets]
    if source.compression is None and source.fd is not None:
        try:
            return [_pread_line(source.fd, off) if off >= 0 else b"" for off in offsets]
        except OSError as exc:
            raise MailtuiError(f"{source.name}: {_reason(exc)}") from exc
    if source.compression is None:
        try:
            fd = os.open(source.path, os.O_RDONLY)
        except OSError as exc:
            raise MailtuiError(f"{source.name}: {_reason(exc)}") from exc
        try:
            if source.identity is not None:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) != source.identity:
                    # Rotated (renamed, a new file created) since it was read: the offsets point
                    # into another file, whose lines would be shown as this mail's.
                    raise MailtuiError(
                        f"{source.name}: the file was replaced (rotated?) since it was read; reload it"
                    )
            return [_pread_line(fd, off) if off >= 0 else b"" for off in offsets]
        except OSError as exc:
            raise MailtuiError(f"{source.name}: {_reason(exc)}") from exc
        finally:
            os.close(fd)
    wanted = sorted(set(offsets))
    found: Dict[int, bytes] = {}
    index = 0
    last = wanted[-1]
    errors: List[str] = []
    for _no, start, line in _split_lines(_iter_chunks(source, errors)):
        if start > last:
            break
        while index < len(wanted) and wanted[index] < start:
            index += 1  # not a line start: skipped
        while index < len(wanted) and wanted[index] == start:
            found[start] = line
            index += 1
        if index >= len(wanted):
            break
    if errors and not found and errors[0].endswith(("no such file or directory", "permission denied")):
        raise MailtuiError(errors[0])
    return [found.get(off, b"") for off in offsets]

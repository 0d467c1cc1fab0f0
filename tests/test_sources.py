"""Tests for mailtui.sources: path expansion, rotation order, decompression, line splitting, re-reads."""

from __future__ import annotations

import builtins
import bz2
import gzip
import io
import lzma
import os
import sys
from pathlib import Path
from typing import List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailtui import sources
from mailtui.model import MailtuiError
from mailtui.sources import LogSource, decode, expand_paths, iter_lines, read_lines_at

SAMPLE = b"a\r\nbb\n\nc\rd\nlast"
SAMPLE_LINES = [(1, 0, b"a"), (2, 3, b"bb"), (3, 6, b""), (4, 7, b"c\rd"), (5, 11, b"last")]


def reference_lines(data: bytes, max_line: int) -> List[Tuple[int, int, bytes]]:
    """The obvious (slow) reading of iter_lines' contract, to compare against."""
    result = []
    offset = 0
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    for number, part in enumerate(parts, 1):
        line = part[:-1] if part.endswith(b"\r") else part
        result.append((number, offset, line[:max_line]))
        offset += len(part) + 1
    return result


def one_source(path: Path) -> LogSource:
    found, errors = expand_paths([str(path)])
    assert errors == []
    assert len(found) == 1
    return found[0]


def names(found: List[LogSource]) -> List[str]:
    return [os.path.basename(source.path) for source in found]


# -- line splitting ---------------------------------------------------------------------------------


def test_plain_lines_crlf_empty_lone_cr_and_missing_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    path.write_bytes(SAMPLE)
    source = one_source(path)
    assert source.compression is None
    assert source.name == str(path)
    assert source.mtime == path.stat().st_mtime
    assert list(iter_lines(source)) == SAMPLE_LINES
    assert source.errors == []


def test_final_newline_adds_no_empty_line_and_empty_file_has_none(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"x\ny\n")
    (tmp_path / "b.log").write_bytes(b"")
    assert list(iter_lines(one_source(tmp_path / "a.log"))) == [(1, 0, b"x"), (2, 2, b"y")]
    assert list(iter_lines(one_source(tmp_path / "b.log"))) == []


@pytest.mark.parametrize(
    ("compress", "kind"),
    [(gzip.compress, "gz"), (bz2.compress, "bz2"), (lzma.compress, "xz")],
)
def test_compressed_detected_by_magic_not_by_name(tmp_path: Path, compress, kind: str) -> None:
    path = tmp_path / "mail.log"  # no telling suffix
    path.write_bytes(compress(SAMPLE))
    source = one_source(path)
    assert source.compression == kind
    assert list(iter_lines(source)) == SAMPLE_LINES
    assert source.errors == []


def test_plain_file_named_gz_is_read_as_plain(tmp_path: Path) -> None:
    path = tmp_path / "mail.log.1.gz"
    path.write_bytes(SAMPLE)
    source = one_source(path)
    assert source.compression is None
    assert list(iter_lines(source)) == SAMPLE_LINES


def test_multi_member_gzip(tmp_path: Path) -> None:
    path = tmp_path / "mail.log.2.gz"
    path.write_bytes(gzip.compress(b"one\ntw") + gzip.compress(b"o\nthree\n"))
    assert [line for _, _, line in iter_lines(one_source(path))] == [b"one", b"two", b"three"]


def test_truncated_gzip_yields_what_it_can_and_reports(tmp_path: Path) -> None:
    data = b"".join(b"Feb  3 01:01:%02d mx postfix/smtpd[1]: line %06d\n" % (i % 60, i) for i in range(20000))
    packed = gzip.compress(data)
    path = tmp_path / "mail.log.3.gz"
    path.write_bytes(packed[: len(packed) // 2])
    source = one_source(path)
    got = list(iter_lines(source))
    assert 0 < len(got) < 20000
    expected = reference_lines(data, sources.MAX_LINE)
    assert got[:-1] == expected[: len(got) - 1]  # the last one may be a partial line
    assert len(source.errors) == 1
    assert source.errors[0].startswith(f"{path}: truncated gzip stream after ")


def test_corrupt_gzip_reports_instead_of_raising(tmp_path: Path) -> None:
    packed = bytearray(gzip.compress(b"hello\n" * 50000))
    packed[200:260] = b"\xff" * 60
    path = tmp_path / "mail.log.1.gz"
    path.write_bytes(bytes(packed))
    source = one_source(path)
    list(iter_lines(source))
    assert len(source.errors) == 1
    assert str(path) in source.errors[0]


def test_line_longer_than_limit_is_cut_but_offsets_stay_right(tmp_path: Path) -> None:
    huge = b"x" * (3 * sources.MAX_LINE + 5)
    path = tmp_path / "mail.log"
    path.write_bytes(b"short\n" + huge + b"\nafter\n" + huge)
    got = list(iter_lines(one_source(path)))
    assert [(n, off, len(line)) for n, off, line in got] == [
        (1, 0, 5),
        (2, 6, sources.MAX_LINE),
        (3, 6 + len(huge) + 1, 5),
        (4, 6 + len(huge) + 7, sources.MAX_LINE),
    ]
    assert got[2][2] == b"after"


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(
        st.sampled_from([b"\n", b"\r", b"\r\n", b"ab", b"c", b"xyzxyzxyz", b"\xe9"]), max_size=60
    ).map(b"".join),
    chunk=st.integers(min_value=1, max_value=16),
    max_line=st.integers(min_value=1, max_value=12),
)
def test_splitting_matches_reference_for_any_chunking(data: bytes, chunk: int, max_line: int) -> None:
    original = (sources.CHUNK_SIZE, sources.MAX_LINE)
    sources.CHUNK_SIZE, sources.MAX_LINE = chunk, max_line
    try:
        source = LogSource("-", "<stdin>", None, 0.0, data)
        assert list(iter_lines(source)) == reference_lines(data, max_line)
    finally:
        sources.CHUNK_SIZE, sources.MAX_LINE = original


# -- re-reading by offset ---------------------------------------------------------------------------


@pytest.mark.parametrize("packed", [False, True])
def test_read_lines_at_equals_iter_lines(tmp_path: Path, packed: bool) -> None:
    data = b"".join(b"line %d %s\r\n" % (i, b"z" * (i * 37 % 300)) for i in range(3000)) + b"tail"
    path = tmp_path / "mail.log.1"
    path.write_bytes(gzip.compress(data) if packed else data)
    source = one_source(path)
    lines = list(iter_lines(source))
    picked = [lines[i] for i in (2999, 0, 1500, 3000, 7, 1500)]
    got = read_lines_at(source, [off for _, off, _ in picked])
    assert got == [line for _, _, line in picked]
    assert read_lines_at(source, []) == []
    assert read_lines_at(source, [len(data) + 10]) == [b""]


def test_read_lines_at_long_line_in_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    long_line = b"y" * 200_000
    path.write_bytes(b"a\n" + long_line + b"\nb")
    assert read_lines_at(one_source(path), [2, 0, 200_003]) == [long_line, b"a", b"b"]


def test_read_lines_at_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    path.write_bytes(b"a\n")
    source = one_source(path)
    path.unlink()
    with pytest.raises(MailtuiError, match="no such file"):
        read_lines_at(source, [0])


# -- stdin ------------------------------------------------------------------------------------------


class FakeStdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


@pytest.mark.parametrize("packed", [False, True])
def test_stdin_is_read_once_and_can_be_reread(monkeypatch: pytest.MonkeyPatch, packed: bool) -> None:
    monkeypatch.setattr(sys, "stdin", FakeStdin(gzip.compress(SAMPLE) if packed else SAMPLE))
    found, errors = expand_paths(["-", "-"])
    assert errors == ["-: standard input can only be read once"]
    assert len(found) == 1
    source = found[0]
    assert (source.path, source.name) == ("-", "<stdin>")
    assert source.compression == ("gz" if packed else None)
    assert list(iter_lines(source)) == SAMPLE_LINES
    assert list(iter_lines(source)) == SAMPLE_LINES  # a second pass still works
    assert read_lines_at(source, [11, 3, 0]) == [b"last", b"bb", b"a"]


# -- path expansion ---------------------------------------------------------------------------------


def test_directory_rotation_order_and_filtering(tmp_path: Path) -> None:
    for name in [
        "mail.log",
        "mail.log.1",
        "mail.log.2.gz",
        "mail.log.10.gz",
        "maillog",
        "maillog-20240101.gz",
        "maillog-20231201",
        "syslog.1",
        "syslog",
        "MSGTRK20140221-1.LOG",
        "app.log.1",
        "notes.txt",
        "mail.log.swp",
        "README",
    ]:
        (tmp_path / name).write_bytes(b"x\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mail.log").write_bytes(b"x\n")
    os.mkfifo(tmp_path / "mail.err")  # a pipe inside a directory is skipped, never opened
    found, errors = expand_paths([str(tmp_path)])
    assert errors == []
    assert names(found) == [
        "app.log.1",
        "mail.log.10.gz",
        "mail.log.2.gz",
        "mail.log.1",
        "mail.log",
        "maillog-20231201",
        "maillog-20240101.gz",
        "maillog",
        "MSGTRK20140221-1.LOG",
        "syslog.1",
        "syslog",
        "mail.log",  # sub/mail.log: subdirectories come after the directory's own files
    ]
    assert all(source.from_directory for source in found)
    assert found[-1].path == str(tmp_path / "sub" / "mail.log")


def test_directory_scan_skips_other_formats_quietly_but_named_files_fail(tmp_path: Path) -> None:
    from mailtui.session import Loader

    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "mail.log").write_bytes(
        b"Mar 11 09:00:00 mx1 postfix/qmgr[5]: ABCDEF1234: from=<a@b.c>, size=1, nrcpt=1 (queue active)\n"
    )
    (tmp_path / "app.log").write_bytes(b"GET / HTTP/1.1 200\n" * 3)
    loader = Loader([str(tmp_path)])
    session = loader.run()
    assert [loaded.name for loaded in session.files] == [str(tmp_path / "deep" / "er" / "mail.log")]
    assert session.errors == [] and "app.log" in loader.skipped[0]
    named = Loader([str(tmp_path / "app.log")]).run()
    assert "unknown format" in named.errors[0]


def test_command_line_order_kept_for_unrelated_files_and_families_gathered(tmp_path: Path) -> None:
    for name in ["mail.log", "mail.log.1", "other.log", "exchange.LOG"]:
        (tmp_path / name).write_bytes(b"x\n")
    args = [str(tmp_path / n) for n in ["other.log", "mail.log", "exchange.LOG", "mail.log.1"]]
    found, errors = expand_paths(args)
    assert errors == []
    assert names(found) == ["other.log", "mail.log.1", "mail.log", "exchange.LOG"]


def test_same_file_twice_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "mail.log").write_bytes(b"x\n")
    found, errors = expand_paths([str(tmp_path / "mail.log"), str(tmp_path), str(tmp_path / "mail.log")])
    assert errors == []
    assert names(found) == ["mail.log"]


def test_glob_expands_in_rotation_order_and_reports_no_match(tmp_path: Path) -> None:
    for name in ["mail.log", "mail.log.1", "mail.log.2.gz"]:
        (tmp_path / name).write_bytes(gzip.compress(b"x\n") if name.endswith(".gz") else b"x\n")
    found, errors = expand_paths([str(tmp_path / "mail.log*"), str(tmp_path / "nothing*.log")])
    assert names(found) == ["mail.log.2.gz", "mail.log.1", "mail.log"]
    assert errors == [f"{tmp_path / 'nothing*.log'}: no files match this pattern"]


def test_literal_path_with_brackets_is_not_globbed(tmp_path: Path) -> None:
    path = tmp_path / "mail[1].log"
    path.write_bytes(b"x\n")
    assert names(expand_paths([str(path)])[0]) == ["mail[1].log"]


def test_bad_paths_give_one_line_errors(tmp_path: Path) -> None:
    missing = tmp_path / "x" / "y"
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    (empty_dir / "notes.txt").write_text("hi")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    loop_a, loop_b = tmp_path / "loop_a", tmp_path / "loop_b"
    os.symlink(loop_b, loop_a)
    os.symlink(loop_a, loop_b)
    dangling = tmp_path / "dangling.log"
    os.symlink(tmp_path / "gone", dangling)
    found, errors = expand_paths([str(missing), str(empty_dir), str(fifo), str(loop_a), str(dangling)])
    assert found == []
    assert errors[0] == f"{missing}: no such file or directory"
    assert errors[1] == f"{empty_dir}: no mail logs in this directory"
    assert errors[2].startswith(f"{fifo}: not a regular file")
    assert errors[3].startswith(f"{loop_a}: too many levels of symbolic links")
    assert errors[4] == f"{dangling}: broken symbolic link"
    assert all("\n" not in error for error in errors)


def test_unreadable_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "mail.log"
    locked.write_bytes(b"x\n")
    fine = tmp_path / "other.log"
    fine.write_bytes(b"x\n")
    if os.geteuid() == 0:  # root ignores file modes: refuse the open the way the kernel would
        real_open = builtins.open

        def fake_open(file, *args, **kwargs):
            if str(file) == str(locked):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", fake_open)
    else:
        locked.chmod(0)
    found, errors = expand_paths([str(locked), str(fine)])
    assert names(found) == ["other.log"]
    assert errors == [f"{locked}: permission denied"]


def test_unsupported_compression_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mail.log.1.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    found, errors = expand_paths([str(path)])
    assert found == []
    assert errors == [f"{path}: zstd-compressed files are not supported (decompress it first)"]


def test_file_deleted_after_expansion_reports_instead_of_raising(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    path.write_bytes(b"x\n")
    source = one_source(path)
    path.unlink()
    assert list(iter_lines(source)) == []
    assert source.errors == [f"{path}: no such file or directory"]


# -- decoding ---------------------------------------------------------------------------------------


def test_decode_utf8_and_latin1_fallback() -> None:
    assert decode("Grüße".encode()) == "Grüße"
    assert decode(b"Subject: caf\xe9") == "Subject: café"  # Latin-1 subject
    assert decode("café ".encode() + b"\xe9t\xe9") == "café été"  # mixed: only bad bytes are Latin-1
    assert decode(b"\xff\xfe\x00") == "ÿþ\x00"

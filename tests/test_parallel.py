"""The two-process load (mailtui.parallel) gives exactly what the one-process load gives.

The worker parses in another process; everything a user sees (traces, hops, lines, recipients,
counts of unrecognised lines, read errors, the parser state follow mode goes on with) must be the
same as when this process parses. Also: a worker that cannot start or dies mid-file falls back
without losing or repeating lines; cancelling stops it; a user's script is not run twice.
"""

from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any, List

import pytest
from conftest import MTIME, ROOT, SAMPLES, write_log

from mailtui import parallel
from mailtui.session import LoadCancelled, Loader, Session


def _signature(session: Session) -> Any:
    """Everything a load decides, in comparable form."""
    traces = [
        (
            trace.id,
            trace.status,
            trace.parent,
            list(trace.children),
            [
                (
                    hop.key,
                    hop.sender,
                    hop.message_id,
                    hop.client,
                    hop.client_ip,
                    hop.first_seen,
                    list(hop.lines),
                )
                for hop in trace.hops
            ],
            [(r.address, r.status, r.relay, r.dsn, r.response, r.delay) for r in trace.recipients],
        )
        for trace in session.traces
    ]
    files = [(f.name, f.format, f.lines, f.unrecognised, f.examples, f.errors) for f in session.files]
    return traces, files, session.errors


def _load(paths: List[str], processes: str, monkeypatch: pytest.MonkeyPatch) -> Loader:
    monkeypatch.setenv("MAILTUI_PROCESSES", processes)
    loader = Loader(paths)
    loader.session_result = loader.run()  # type: ignore[attr-defined]
    return loader


def _same_both_ways(paths: List[str], monkeypatch: pytest.MonkeyPatch) -> Session:
    alone = _load(paths, "1", monkeypatch).session_result  # type: ignore[attr-defined]
    split = _load(paths, "2", monkeypatch).session_result  # type: ignore[attr-defined]
    assert _signature(split) == _signature(alone)
    return split


@pytest.fixture
def generated_log(tmp_path: Path) -> Path:
    """A few thousand lines of generated Postfix log (amavis, bounces, rejects, New Year)."""
    out = tmp_path / "generated.log"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            "--size",
            "600K",
            "--out",
            str(out),
            "--seed",
            "3",
            "--start",
            "2023-12-31T23:57",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    os.utime(out, (MTIME, MTIME))
    return out


def test_samples_load_the_same_in_two_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    session = _same_both_ways([str(SAMPLES)], monkeypatch)
    assert len(session.traces) > 50


def test_generated_log_loads_the_same_in_two_processes(
    generated_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = _same_both_ways([str(generated_log)], monkeypatch)
    assert len(session.traces) > 250
    years = {time.gmtime(t.first_seen).tm_year for t in session.traces}
    assert years == {2023, 2024}  # the worker counted the year on at New Year
    assert {t.status for t in session.traces} >= {"sent", "bounced", "rejected"}


def test_hostile_and_compressed_files_load_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packed = tmp_path / "mail.log.1.gz"
    packed.write_bytes(gzip.compress((SAMPLES / "postfix" / "mail.log").read_bytes()))
    os.utime(packed, (MTIME, MTIME))
    broken = tmp_path / "broken.log.2.gz"
    broken.write_bytes(gzip.compress((SAMPLES / "postfix" / "mail.log").read_bytes())[:-300])
    session = _same_both_ways([str(SAMPLES / "hostile"), str(packed), str(broken)], monkeypatch)
    assert any("truncated" in error for error in session.errors)


def test_follow_goes_on_with_the_workers_year(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's parser counted the year on at New Year; lines appended later must be read in
    the new year too (the parser comes back from the worker)."""
    path = write_log(
        tmp_path,
        "mail.log",
        """
        Dec 31 23:59:58 mx postfix/pickup[1]: 1A2B3C4D5E: uid=0 from=<root>
        Jan  1 00:00:01 mx postfix/qmgr[2]: 1A2B3C4D5E: from=<root@mx>, size=300, nrcpt=1 (queue active)
        """,
        mtime=MTIME,
    )
    loader = _load([str(path)], "2", monkeypatch)
    line = b"Jan  1 00:00:02 mx postfix/local[3]: 1A2B3C4D5E: to=<a@mx>, relay=local, delay=1, status=sent (delivered)"
    assert loader.feed_line(0, 3, path.stat().st_size, line)
    session = loader.session()
    (trace,) = session.traces
    assert trace.status == "sent"
    assert trace.last_seen - trace.first_seen == pytest.approx(4.0)


def test_a_worker_that_cannot_start_leaves_the_load_in_process(
    generated_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _signature(_load([str(generated_log)], "1", monkeypatch).session_result)  # type: ignore[attr-defined]
    monkeypatch.setattr(sys, "executable", str(generated_log.parent / "no-such-python"))
    assert _signature(_load([str(generated_log)], "2", monkeypatch).session_result) == expected  # type: ignore[attr-defined]


def test_a_worker_that_dies_mid_file_loses_and_repeats_no_line(
    generated_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _signature(_load([str(generated_log)], "1", monkeypatch).session_result)  # type: ignore[attr-defined]
    real_parse = parallel.ParseWorker.parse
    batches_seen = []

    def dying_parse(self: parallel.ParseWorker, source: Any, parser: Any) -> Any:
        for batch in real_parse(self, source, parser):
            batches_seen.append(len(batch))
            if len(batches_seen) == 2:
                self._process.kill()  # type: ignore[union-attr]
            yield batch

    monkeypatch.setattr(parallel.ParseWorker, "parse", dying_parse)
    assert _signature(_load([str(generated_log)], "2", monkeypatch).session_result) == expected  # type: ignore[attr-defined]
    assert 2 <= len(batches_seen) < 10  # it died: the rest was read in-process


def test_a_crashing_worker_leaves_its_traceback_where_mailtui_worker_log_says(
    generated_log: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    expected = _signature(_load([str(generated_log)], "1", monkeypatch).session_result)  # type: ignore[attr-defined]
    garbled = types.SimpleNamespace(
        **{name: getattr(pickle, name) for name in ("loads", "HIGHEST_PROTOCOL", "PickleError")}
    )
    garbled.dumps = lambda *args: b"not a pickle"  # the worker cannot read its job: it dies
    monkeypatch.setattr(parallel, "pickle", garbled)
    log = tmp_path / "worker.log"
    monkeypatch.setenv("MAILTUI_WORKER_LOG", str(log))
    assert _signature(_load([str(generated_log)], "2", monkeypatch).session_result) == expected  # type: ignore[attr-defined]
    assert "Traceback" in log.read_text() and "UnpicklingError" in log.read_text()
    monkeypatch.delenv("MAILTUI_WORKER_LOG")
    log.unlink()
    _load([str(generated_log)], "2", monkeypatch)
    assert not log.exists()  # by default a worker writes nothing anywhere


def test_cancel_stops_the_worker(generated_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILTUI_PROCESSES", "2")
    monkeypatch.setattr(parallel, "BATCH_LINES", 64)
    workers: List[parallel.ParseWorker] = []
    real_start = parallel.ParseWorker._start

    def recording_start(self: parallel.ParseWorker) -> Any:
        workers.append(self)
        return real_start(self)

    monkeypatch.setattr(parallel.ParseWorker, "_start", recording_start)
    loader = Loader([str(generated_log)])
    with pytest.raises(LoadCancelled):
        loader.run(progress=lambda progress: loader.cancel(), interval=0.0)
    assert workers and all(worker._process is None for worker in workers)


def test_a_script_without_a_main_guard_runs_once(tmp_path: Path) -> None:
    """A user's script calling open_logs is not imported again by the worker (multiprocessing's
    spawn would do that)."""
    script = tmp_path / "count.py"
    script.write_text(
        "from mailtui.session import open_logs\n"
        f"session = open_logs([{str(SAMPLES / 'postfix' / 'mail.log')!r}])\n"
        "print('loaded', len(session.traces))\n"
    )
    env = dict(os.environ, MAILTUI_PROCESSES="2")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.count("loaded") == 1


def test_progress_of_a_gzip_file_counts_its_uncompressed_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress counts uncompressed bytes; a gzip file's total comes from its trailer, so the bar
    of a rotated `mail.log.2.gz` ends at 100 % instead of far beyond it."""
    text = (SAMPLES / "postfix" / "mail.log").read_bytes() * 20
    packed = tmp_path / "mail.log.2.gz"
    packed.write_bytes(gzip.compress(text))
    seen: List[Any] = []
    for processes in ("1", "2"):
        monkeypatch.setenv("MAILTUI_PROCESSES", processes)
        seen.clear()
        Loader([str(packed)]).run(progress=seen.append, interval=0.0)
        assert seen and all(p.bytes_total == len(text) for p in seen)
        assert all(p.bytes_done <= p.bytes_total for p in seen)
        assert seen[-1].bytes_done == len(text)


def test_provisional_sessions_and_the_final_one_are_what_a_full_link_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UI's provisional sessions relink only what changed since the previous one; each, and
    the final session made from the last, must be what loading that much of the log at once makes."""
    out = tmp_path / "big.log"
    generate = [sys.executable, str(ROOT / "bench" / "generate.py"), "--size", "3M", "--out", str(out)]
    subprocess.run(
        [*generate, "--seed", "5"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    os.utime(out, (MTIME, MTIME))
    lines = out.read_bytes().splitlines(keepends=True)
    for processes in ("1", "2"):
        monkeypatch.setenv("MAILTUI_PROCESSES", processes)
        loader = Loader([str(out)])
        shown: List[Any] = []  # (lines read, what the provisional session said)

        def snapshot(session: Session, loader: Loader = loader, shown: List[Any] = shown) -> None:
            shown.append((loader.files[0].lines, _signature(session)[0]))

        final = loader.run(snapshot=snapshot, first_snapshot=0.0)
        assert len(shown) >= 2
        for count, seen in shown:
            head = tmp_path / f"head-{processes}-{count}.log"
            head.write_bytes(b"".join(lines[:count]))
            os.utime(head, (MTIME, MTIME))
            assert seen == _signature(_load([str(head)], "1", monkeypatch).session_result)[0]  # type: ignore[attr-defined]
        reference = _load([str(out)], "1", monkeypatch).session_result  # type: ignore[attr-defined]
        assert _signature(final) == _signature(reference)

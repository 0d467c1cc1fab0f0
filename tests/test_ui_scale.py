"""Pilot tests of the UI at scale (issue 6): the load progress line (bytes, lines, time left), and
the raw view that opens at any line without indexing the file first, finds text, goes to either
end, fills in what the background scan finds, and shows lines appended while following."""

from __future__ import annotations

import os
from datetime import timezone
from pathlib import Path
from typing import List

import pytest
from conftest import MTIME
from test_follow import append, mail
from test_ui_app import _NoLoadApp
from test_ui_follow import wait_for

from mailtui.session import Progress
from mailtui.ui.app import MailTuiApp, make_app
from mailtui.ui.messages import LoadProgress
from mailtui.ui.rawlines import LineIndex
from mailtui.ui.rawlog import RawLog
from mailtui.ui.screens.raw import RawLogScreen
from mailtui.ui.screens.trace import TraceScreen
from mailtui.ui.screenshots import screen_text, settle
from mailtui.ui.widgets.line_list import LineList
from mailtui.ui.widgets.load_progress import LoadProgressBar, ReadRate, human_bytes, time_left_text
from mailtui.ui.widgets.message_list import MessageList

SIZE = (120, 30)
#: Lines of the generated log: far more than the raw view finds by walking from a known line.
FILLER = 20_000
QID = "4D5E6F7A8B"


# ------------------------------------------------------------------------------ load progress


def test_human_bytes_and_time_left_read_like_ls_and_a_person():
    assert [human_bytes(n) for n in (0, 999, 1536, 104_863_000, 1_073_745_185)] == [
        "0 B",
        "999 B",
        "1.5 KiB",
        "100 MiB",
        "1.0 GiB",
    ]
    assert [time_left_text(s) for s in (3, 23, 61, 600, 4000)] == [
        "a few seconds left",
        "about 25 s left",
        "about 60 s left",
        "about 10 min left",
        "about 1 h 07 min left",
    ]


def test_read_rate_waits_for_a_meaningful_estimate_and_smooths_bursts():
    rate = ReadRate()
    rate.add(0.0, 0)
    rate.add(0.5, 5_000_000)
    assert rate.seconds_left(5_000_000, 100_000_000) is None  # too early to tell
    for step in range(1, 9):
        rate.add(0.5 + step * 0.25, 5_000_000 + step * 2_500_000)  # 10 MB/s from now on
    left = rate.seconds_left(25_000_000, 100_000_000)
    assert left is not None and 7.0 < left < 7.6  # 75 MB at about 10 MB/s
    rate.add(2.75 + 0.25, 25_000_000)  # a stall (a snapshot being linked): the estimate moves a bit
    stalled = rate.seconds_left(25_000_000, 100_000_000)
    assert stalled is not None and left < stalled < 1.2 * left
    assert rate.seconds_left(0, 0) is None and rate.seconds_left(200, 100) is None  # sizes unknown


async def test_progress_line_shows_bytes_lines_and_then_the_time_left():
    app = _NoLoadApp(["mail.log"], follow=False)
    async with app.run_test(size=SIZE) as pilot:
        bar = app.screen.query_one(LoadProgressBar)
        now = [100.0]
        bar.clock = lambda: now[0]
        name = "/var/log/[bold]x[/bold] [/foo]\x1b[31m.log"
        total = 80 << 20

        async def report(done: int, lines: int, files_done: int = 0) -> str:
            app.screen.post_message(LoadProgress(Progress(files_done, 1, done, total, lines, name)))
            await pilot.pause()
            return screen_text(app)

        text = await report(2 << 20, 16_384)
        assert "2.0 MiB of 80.0 MiB · 16,384 lines" in text
        assert "left" not in text  # no estimate from one sample
        for step in range(1, 13):  # 4 MiB a second for three seconds
            now[0] += 0.25
            text = await report((2 << 20) + step * (1 << 20), 16_384 + step * 8_192)
        assert "14.0 MiB of 80.0 MiB · 114,688 lines · about 15 s left" in text  # 66 MiB at 4 MiB/s
        assert "18%" in text
        assert f"reading {name.replace(chr(27), '␛')} (1/1)" in text  # the file name, literally
        text = await report(total, 600_000, files_done=1)
        assert "80.0 MiB of 80.0 MiB · 600,000 lines · linking the messages…" in text
        assert "\x1b" not in text


# ------------------------------------------------------------------------------ raw view


def _filler(number: int) -> str:
    return f"Mar 11 09:{number // 1000 % 60:02d}:00 mx1 dovecot[77]: imap({number}): Logged out in=20 out=300"


def big_log(directory: Path) -> Path:
    """FILLER unrelated lines with one mail (QID) in the middle."""
    half = FILLER // 2
    lines = [_filler(n) for n in range(half)] + mail(QID, 30, "carol@example.org", "sent")
    lines += [_filler(n) for n in range(half, FILLER)]
    path = directory / "mail.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.utime(path, (MTIME, MTIME))
    return path


def rows_text(app) -> List[str]:  # type: ignore[no-untyped-def]
    return screen_text(app).split("\n")


async def open_raw_at_mail(pilot) -> RawLogScreen:  # type: ignore[no-untyped-def]
    await settle(pilot)
    app = pilot.app
    messages = app.screen.query_one(MessageList)
    messages.cursor = next(n for n, t in enumerate(messages.traces) if t.hops[0].queue_id == QID)
    await pilot.press("l")
    await settle(pilot)
    assert isinstance(app.screen, RawLogScreen)
    return app.screen


async def test_raw_view_opens_at_the_line_goes_to_both_ends_and_finds_text_without_a_scan(
    tmp_path, monkeypatch
):
    """With the background scan held back, every step a user takes still works: only the lines
    on screen are read, from the lines whose place is known (the mail's, the end the loader read)."""
    scans: List[str] = []
    monkeypatch.setattr(LineIndex, "scan", lambda self, *args, **kwargs: scans.append(self.name))
    path = big_log(tmp_path)
    app = make_app([str(path)], year=2024, local_tz=timezone.utc, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_raw_at_mail(pilot)
        lines = screen.query_one("#raw-lines", LineList)
        first = FILLER // 2 + 1  # the mail's first line
        assert lines.cursor == first - 1 and lines.row_count == FILLER + 5
        text = rows_text(app)
        assert f"mail.log:{first}  ({FILLER + 5:,} lines)  · indexing 0%" in text[0]
        assert any(row.strip().startswith(f"{first} Mar 11 10:30:01 mx1 postfix/smtpd") for row in text)
        assert any(row.strip().startswith(f"{first - 3} Mar 11 09:") for row in text)  # read backwards too
        await pilot.press("G")
        await pilot.pause()
        assert lines.cursor == FILLER + 4
        assert any(row.strip() == f"{FILLER + 5} {_filler(FILLER - 1)}" for row in rows_text(app))
        await pilot.press("g")
        await pilot.pause()
        assert rows_text(app)[1].strip() == f"1 {_filler(0)}"

        # far from every known line: a placeholder until the scan gets there
        lines.cursor = FILLER // 4
        await pilot.pause()
        assert any(row.strip() == f"{FILLER // 4 + 1} ⋯" for row in rows_text(app))

        # search from the top: found by reading on from the cursor, numbered by counting lines
        await pilot.press("g", "slash", *f"{QID}: to=", "enter")
        await settle(pilot)
        assert lines.cursor == first + 2
        await pilot.press("N")
        await settle(pilot)
        assert lines.cursor == first + 2  # nothing before it
        assert f"not found: {QID}: to=" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen) and app.screen.trace.hops[0].queue_id == QID
        context = app.screen.query_one("#trace-raw", LineList).source.rows  # type: ignore[attr-defined]
        assert ("context", first - 1, _filler(FILLER // 2 - 1)) in context  # read around each line
        await pilot.press("escape")
        assert isinstance(app.screen, RawLogScreen)

        # the scan, once allowed, fills in the placeholders
        monkeypatch.undo()
        lines.cursor = FILLER // 4
        app.raw_log()
        await settle(pilot)
        assert app.raw_log().complete  # type: ignore[union-attr]
        assert any(row.strip() == f"{FILLER // 4 + 1} {_filler(FILLER // 4)}" for row in rows_text(app))
        assert "indexing" not in rows_text(app)[0]
    assert scans  # the scan was asked for, and held back


def test_raw_log_search_both_ways_across_files(tmp_path):
    """RawLog on its own (no Textual): searching forwards and backwards over two files, ASCII
    letters in either case, numbered right whether or not the files were scanned."""
    from mailtui.session import Loader

    one = tmp_path / "a.log"
    one.write_text("".join(f"line {n} of a\n" for n in range(1, 3001)) + "NEEDLE in a\n", encoding="utf-8")
    two = tmp_path / "b.log"
    two.write_text("".join(f"line {n} of b\n" for n in range(1, 3001)) + "needle in b", encoding="utf-8")
    loader = Loader([str(one), str(two)], fmt="syslog")
    loader.run()
    for scanned in (False, True):
        raw = RawLog(loader.files)
        if scanned:
            raw.scan()
            raw.recount()
        assert len(raw) == 6002
        found = raw.search("Needle", 0)
        assert found is not None and (found.file_id, found.line) == (0, 3001)
        found = raw.search("needle", raw.row_of(0, 3001) + 1)
        assert found is not None and (found.file_id, found.line) == (1, 3001)
        found = raw.search("NEEDLE", len(raw) - 2, backwards=True)
        assert found is not None and (found.file_id, found.line) == (0, 3001)
        assert raw.search("needle", raw.row_of(1, 3001) + 1) is None
        index, line = raw.locate(raw.row_of(1, 3001))
        block = index.block((line - 1) // 64)
        assert block is not None and block.texts[(line - 1) % 64] == "needle in b"


# ------------------------------------------------------------------------------ following


def followed_big_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scanned: bool) -> MailTuiApp:
    """The app on big_log, following it; with `scanned` False the raw view's scan never runs."""
    if not scanned:
        monkeypatch.setattr(LineIndex, "scan", lambda self, *args, **kwargs: None)
    return make_app([str(big_log(tmp_path))], year=2024, local_tz=timezone.utc)


async def until_following(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await wait_for(pilot, lambda: pilot.app.follower is not None)


@pytest.mark.parametrize("scanned", [True, False])
async def test_raw_view_shows_lines_appended_while_following(tmp_path, monkeypatch, scanned):
    """At the last line, the view stays at the end as the log grows (like `less +F`); the new
    lines are there whether or not the scan had been through the file."""
    app = followed_big_log(tmp_path, monkeypatch, scanned)
    path = tmp_path / "mail.log"
    async with app.run_test(size=SIZE) as pilot:
        await until_following(pilot)
        await pilot.press("l")
        await settle(pilot)
        lines = app.screen.query_one("#raw-lines", LineList)
        await pilot.press("G")
        await pilot.pause()
        assert lines.cursor == FILLER + 4
        append(path, mail("5E6F7A8B9C", 40, "dave@example.org", "sent"))
        await wait_for(pilot, lambda: lines.row_count == FILLER + 10)
        await settle(pilot)
        assert lines.cursor == FILLER + 9  # still at the end
        text = rows_text(app)
        assert any(row.strip().startswith(f"{FILLER + 10} Mar 11 10:40:11 mx1 postfix/qmgr") for row in text)
        assert any(row.strip().startswith(f"{FILLER + 6} Mar 11 10:40:01 mx1 postfix/smtpd") for row in text)
        assert f"({FILLER + 10:,} lines)" in text[0]


async def test_g_shows_the_end_of_a_file_that_grew_before_the_raw_view_opened(tmp_path, monkeypatch):
    """Lines followed before the raw view is first opened, its scan not run: `G` shows the last
    line's text at once (the follower says where it starts), not `⋯`."""
    app = followed_big_log(tmp_path, monkeypatch, scanned=False)
    path = tmp_path / "mail.log"
    async with app.run_test(size=SIZE) as pilot:
        await until_following(pilot)
        append(path, mail("5E6F7A8B9C", 40, "dave@example.org", "sent"))
        await wait_for(pilot, lambda: app.follower is not None and app.follower.lines_read >= 5)
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        lines = app.screen.query_one("#raw-lines", LineList)
        await pilot.press("G")
        await settle(pilot)
        assert lines.cursor == FILLER + 9
        text = rows_text(app)
        last = [row for row in text if row.strip().startswith(f"{FILLER + 10} ")]
        assert last and "postfix/qmgr" in last[0] and "⋯" not in last[0], text

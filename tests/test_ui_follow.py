"""The UI follows the logs (issue 5): new rows appear, open traces update, the cursor's row stays
put, F pauses and goes on, the status line shows it."""

from __future__ import annotations

import time
from datetime import timezone
from pathlib import Path
from typing import Callable, List

from test_follow import append, delivery, mail

from mailtui.follow import POLL_INTERVAL
from mailtui.ui.app import MailTuiApp, make_app
from mailtui.ui.screens.main import MainScreen
from mailtui.ui.screens.overview import OverviewScreen
from mailtui.ui.screens.trace import TraceScreen
from mailtui.ui.screenshots import screen_text, settle, to_row
from mailtui.ui.widgets.message_list import MessageList

SIZE = (120, 30)
TIMEOUT = 5.0
#: Latencies (seconds) from a line written to its row shown, measured by the tests below.
LATENCIES: List[float] = []


def app_on(path: Path, **options: object) -> MailTuiApp:
    return make_app([str(path)], year=2024, local_tz=timezone.utc, **options)  # type: ignore[arg-type]


def qids(app: MailTuiApp) -> List[str]:
    return [trace.hops[0].queue_id for trace in app.main_screen().query_one(MessageList).traces]


def row_of(app: MailTuiApp, qid: str):  # type: ignore[no-untyped-def]
    return next(t for t in app.main_screen().query_one(MessageList).traces if t.hops[0].queue_id == qid)


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = TIMEOUT) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `condition` held (fails after `timeout`); checks every 20 ms."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        await pilot.pause(0.02)
    return time.monotonic() - started


async def following(pilot) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    await wait_for(pilot, lambda: pilot.app.follower is not None)


def write(tmp_path: Path, lines: List[str]) -> Path:
    path = tmp_path / "mail.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def test_new_message_appears_and_deferred_becomes_sent(tmp_path):
    log = write(
        tmp_path,
        mail("1111AAAA01", 1, "a@example.org", "sent") + mail("2222BBBB02", 2, "b@example.org", "deferred"),
    )
    app = app_on(log)
    async with app.run_test(size=SIZE) as pilot:
        await following(pilot)
        assert qids(app) == ["1111AAAA01", "2222BBBB02"]
        assert "● live" in screen_text(app)
        await pilot.press("home")  # the user is on the first row
        written = time.monotonic()
        append(log, mail("3333CCCC03", 3, "c@example.org", "sent"))
        await wait_for(pilot, lambda: "3333CCCC03" in qids(app))
        LATENCIES.append(time.monotonic() - written)
        messages = app.main_screen().query_one(MessageList)
        assert messages.current is not None and messages.current.hops[0].queue_id == "1111AAAA01"
        await pilot.pause()
        text = screen_text(app)
        assert "3 of 3 messages" in text and "● live · last line " in text

        # the deferred mail, its trace open, is finally sent
        assert row_of(app, "2222BBBB02").status == "deferred"
        await to_row(pilot, row_of(app, "2222BBBB02").id)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TraceScreen) and screen.trace.status == "deferred"
        written = time.monotonic()
        append(
            log,
            [
                delivery("2222BBBB02", 2, "b@example.org", "sent", 1),
                "Mar 11 10:02:12 mx1 postfix/qmgr[812]: 2222BBBB02: removed",
            ],
        )
        await wait_for(pilot, lambda: screen.trace.status == "sent")
        LATENCIES.append(time.monotonic() - written)
        await pilot.pause()
        assert "sent" in screen_text(app).split("\n")[0]
        own = [row for row in screen.query_one("#trace-raw").source.rows if row[0] == "own"]  # type: ignore[attr-defined]
        assert any("status=sent" in row[2] for row in own)  # the new line, read past the raw index
        assert row_of(app, "2222BBBB02").status == "sent"  # the list too
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.screen.query_one(MessageList).current.hops[0].queue_id == "2222BBBB02"
    assert max(LATENCIES) < 2.0, LATENCIES
    print(
        f"\nlatency from a line written to its row shown: {', '.join(f'{s * 1000:.0f} ms' for s in LATENCIES)}"
    )


async def test_toggle_follow_pauses_and_goes_on(tmp_path):
    log = write(tmp_path, mail("1111AAAA01", 1, "a@example.org", "sent"))
    app = app_on(log)
    async with app.run_test(size=SIZE) as pilot:
        await following(pilot)
        await pilot.press("F")
        await pilot.pause()
        assert not app.follow_wanted
        assert "paused" in screen_text(app)
        append(log, mail("4444DDDD04", 4, "d@example.org", "sent"))
        await pilot.pause(3 * POLL_INTERVAL)
        await settle(pilot)
        assert qids(app) == ["1111AAAA01"]
        await pilot.press("F")
        await wait_for(pilot, lambda: "4444DDDD04" in qids(app))
        assert "● live" in screen_text(app)


async def test_no_follow_shows_no_marker_until_f(tmp_path):
    log = write(tmp_path, mail("1111AAAA01", 1, "a@example.org", "sent"))
    app = app_on(log, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        append(log, mail("5555EEEE05", 5, "e@example.org", "sent"))
        await pilot.pause(2 * POLL_INTERVAL)
        await settle(pilot)
        assert app.follower is None and qids(app) == ["1111AAAA01"]
        text = screen_text(app)
        assert "live" not in text and "paused" not in text
        await pilot.press("F")
        await wait_for(pilot, lambda: "5555EEEE05" in qids(app))  # lines written meanwhile are read
        await wait_for(pilot, lambda: "● live · last line" in screen_text(app))


async def test_rows_above_do_not_move_the_cursor_row(tmp_path):
    lines: List[str] = []
    for minute in range(10, 60):
        lines += mail(f"{minute:04d}ABCDEF", minute, f"u{minute}@example.org", "sent")
    log = write(tmp_path, lines)
    app = app_on(log)
    async with app.run_test(size=SIZE) as pilot:
        await following(pilot)
        messages = app.main_screen().query_one(MessageList)
        messages.cursor = 30
        await settle(pilot)
        before = messages.current
        assert before is not None
        line_on_screen = messages.cursor - int(messages.scroll_offset.y)
        # two mails older than every other: they sort above the cursor
        append(
            log,
            mail("9999ZZZZ01", 1, "z@example.org", "sent") + mail("9999ZZZZ02", 2, "z@example.org", "sent"),
        )
        await wait_for(pilot, lambda: "9999ZZZZ02" in qids(app))
        await settle(pilot)
        assert qids(app)[:2] == ["9999ZZZZ01", "9999ZZZZ02"]
        assert messages.current is not None and messages.current.id == before.id
        assert messages.cursor == 32
        assert messages.cursor - int(messages.scroll_offset.y) == line_on_screen


def test_ui_command_line_journal_options(tmp_path, monkeypatch, capsys):
    from mailtui import cli, journal

    log = write(tmp_path, mail("1111AAAA01", 1, "a@example.org", "sent"))
    assert cli.main(["--since", "today", str(log)]) == 2
    assert "--since is for the journal: add --journal" in capsys.readouterr().err
    monkeypatch.setattr(journal.shutil, "which", lambda name: None)
    assert cli.main(["--journal", "--since", "today"]) == 2
    assert "journalctl not found" in capsys.readouterr().err
    options = cli._ui_parser().parse_args(["--no-follow", "--journal", "-D", "/tmp/j", "--until", "now"])
    assert (options.follow, options.journal, options.directory, options.until) == (
        False,
        True,
        "/tmp/j",
        "now",
    )


async def test_an_open_overview_counts_followed_mail_and_keeps_its_row(tmp_path):
    log = write(tmp_path, mail("1111AAAA01", 1, "a@example.org", "sent"))
    app = app_on(log)
    async with app.run_test(size=SIZE) as pilot:
        await following(pilot)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        assert "Overview: 1 messages" in screen_text(app)
        rows = app.screen.query_one("#overview-rows")
        await pilot.press("down", "down")
        row = rows.cursor  # type: ignore[attr-defined]
        append(
            log,
            mail("2222BBBB02", 2, "b@example.org", "deferred")
            + mail("3333CCCC03", 3, "c@example.org", "sent"),
        )
        await wait_for(pilot, lambda: "Overview: 3 messages" in screen_text(app))
        await settle(pilot)
        assert "deferred" in screen_text(app)
        assert rows.cursor == row  # type: ignore[attr-defined]

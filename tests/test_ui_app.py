"""Pilot tests: every screen and binding of the TUI on samples/ (see issue 3)."""

from __future__ import annotations

import os
import stat
from datetime import timezone

import pytest
from conftest import ROOT, write_log
from textual import events

from mailtui.session import Loader
from mailtui.ui import render
from mailtui.ui.app import MailTuiApp, make_app
from mailtui.ui.messages import SessionReady
from mailtui.ui.screens.help import HelpScreen
from mailtui.ui.screens.main import MainScreen
from mailtui.ui.screens.raw import RawLogScreen
from mailtui.ui.screens.trace import TraceScreen
from mailtui.ui.screenshots import SEEDS_TRACE, sample_app, screen_text, settle, to_row
from mailtui.ui.widgets.filter_bar import FilterBar, QueryInput
from mailtui.ui.widgets.line_list import LineList
from mailtui.ui.widgets.message_list import MessageList

SIZE = (100, 30)
HOSTILE = "[bold]x[/bold] [/foo] \x1b[31mred\x1b[0m\x07"


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def ids(app) -> list:
    return [trace.id for trace in app.screen.query_one(MessageList).traces]


async def test_list_shows_every_message_with_files_and_counts():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        total = len(app.session.traces)
        assert screen.query_one(MessageList).row_count == total > 50
        text = screen_text(app)
        assert f"{total} of {total} messages" in text
        assert "files: samples/" in text
        assert "TIME ▲" in text
        # newest at the bottom, cursor on it
        rows = screen.query_one(MessageList)
        assert rows.cursor == total - 1
        times = [trace.first_seen for trace in rows.traces]
        assert times == sorted(times)
        assert not screen.query_one("#progress").display


async def test_done_when_flow_filter_trace_and_back():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, QueryInput)
        await pilot.press(*"from:bob@example.com", "enter")
        await settle(pilot)
        assert isinstance(app.focused, MessageList)  # Enter moved the focus to the list
        shown = ids(app)
        assert SEEDS_TRACE in shown and len(shown) < len(app.session.traces)
        assert f"{len(shown)} of {len(app.session.traces)} messages" in screen_text(app)
        await to_row(pilot, SEEDS_TRACE)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TraceScreen) and screen.trace.id == SEEDS_TRACE
        text = screen_text(app)
        assert "172.20.63.1 -> util-ubuntu (307DF802B3) -> mail.evil.example" in text
        assert "sent" in text.split("\n")[0]
        raw = screen.query_one("#trace-raw", LineList)
        rows = raw.source.rows  # type: ignore[attr-defined]
        own = [row for row in rows if row[0] == "own"]
        assert len(own) == 7
        # each own line is highlighted: the queue id carries a style of its own
        content = raw.source.row_content(rows.index(own[1]), 100)  # type: ignore[attr-defined]
        styled = {content.plain[span.start : span.end] for span in content.spans}
        assert "307DF802B3" in styled and "172.20.63.1" in styled
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.screen.query_one(MessageList).current.id == SEEDS_TRACE


async def test_bad_query_is_shown_inline_and_esc_leaves():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = ids(app)
        await pilot.press("slash", *"status:nope", "enter")
        await settle(pilot)
        bar = app.screen.query_one(FilterBar)
        assert bar.has_class("-error")
        assert "nope" in screen_text(app)
        assert isinstance(app.focused, QueryInput)  # stays to fix the word
        assert ids(app) == before
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.focused, MessageList)
        assert not bar.has_class("-error")


async def test_filter_history_up_down_and_escape_clears():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        box = app.screen.query_one(QueryInput)
        await pilot.press("slash")
        box.value = "status:rejected"
        await pilot.press("enter")
        await settle(pilot)
        rejected = len(ids(app))
        await pilot.press("slash")
        box.value = "from:bob@example.com"
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("slash")
        box.value = ""
        await pilot.press("up")
        assert box.value == "from:bob@example.com"
        await pilot.press("up")
        assert box.value == "status:rejected"
        await pilot.press("down", "down")
        assert box.value == ""
        await pilot.press("up", "up", "enter")
        await settle(pilot)
        assert len(ids(app)) == rejected
        await pilot.press("escape")  # in the list: clears the filter
        await settle(pilot)
        assert len(ids(app)) == len(app.session.traces)


async def test_editing_keys_in_a_burst_keep_their_order():
    """Keys that arrive together (a paste, a fast typist over SSH) are applied in order: ctrl+u
    then `status:bounced` filters by status:bounced (Textual runs bound keys after the typed
    characters that follow them: textual#6605)."""
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        box = app.screen.query_one(QueryInput)
        await pilot.press("slash")
        box.value = "from:bob@example.com"
        box.cursor_position = len(box.value)
        burst = ["ctrl+u", *"to:carol", "left", "left", "backspace", "X", "home", "Y"]
        for key in burst:  # posted without waiting in between, as a terminal delivers a burst
            box.post_message(events.Key(key, key if len(key) == 1 else None))
        await pilot.pause()
        assert box.value == "Yto:caXol"
        for key in ["end", "ctrl+u", *"status:bounced", "enter"]:
            box.post_message(events.Key(key, key if len(key) == 1 else None))
        await settle(pilot)
        assert app.screen.filter_input.value == "status:bounced"
        assert ids(app) == [trace.id for trace in app.session.search("status:bounced")]
        assert ids(app)


async def test_command_line_words_prefilter_the_list():
    app = sample_app("from:bob@example.com")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown = ids(app)
        assert SEEDS_TRACE in shown and len(shown) == 4
        assert app.screen.query_one(QueryInput).value == "from:bob@example.com"


async def test_s_cycles_the_sort_column():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        screen = app.screen
        assert screen.sort == "status"
        statuses = [trace.status for trace in screen.query_one(MessageList).traces]
        assert statuses == sorted(statuses)
        assert "STATUS ▲" in screen_text(app)
        for _ in range(6):
            await pilot.press("s")
            await settle(pilot)
        assert screen.sort == "time"


async def test_e_and_shift_e_move_between_problems():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        messages = app.screen.query_one(MessageList)
        problems = [
            row for row, trace in enumerate(messages.traces) if trace.status not in ("sent", "in-queue")
        ]
        assert 0 not in problems and len(problems) > 2  # (the samples, in time order)
        await pilot.press("home", "e")
        await settle(pilot)  # found by a worker: the UI goes on meanwhile
        assert messages.cursor == problems[0]
        await pilot.press("e")
        await settle(pilot)
        assert messages.cursor == problems[1]
        await pilot.press("E")
        await settle(pilot)
        assert messages.cursor == problems[0]
        await pilot.press("E")
        await settle(pilot)
        assert messages.cursor == problems[0]  # none before it: the cursor stays, a note says so
        assert "No more problem messages that way" in [n.message for n in app._notifications]


async def test_trace_context_grows_and_shrinks_and_links_are_followed():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        parent = next(
            t for t in app.session.traces if t.children and not t.parent and app.session.trace(t.children[0])
        )
        await to_row(pilot, parent.id)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        raw = screen.query_one("#trace-raw", LineList)
        count = raw.row_count
        await pilot.press("plus", "plus")
        await settle(pilot)
        assert screen.context == 4 and raw.row_count > count
        for _ in range(5):
            await pilot.press("minus")
        await settle(pilot)
        assert screen.context == 0
        assert all(row[0] in ("own", "file") for row in raw.source.rows)  # type: ignore[attr-defined]
        assert "notification" in screen_text(app)
        await pilot.press("tab")  # to the links
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen) and app.screen.trace.id == parent.children[0]
        assert app.screen.trace.parent == parent.id
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, MainScreen)


async def test_raw_log_view_search_and_enter_opens_the_trace():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("home", "l")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RawLogScreen)
        lines = screen.query_one("#raw-lines", LineList)
        assert lines.row_count == sum(loaded.lines for loaded in app.session.files)
        await pilot.press("slash")
        screen.query_one("#raw-search").value = "307DF802B3: to="
        await pilot.press("enter")
        await settle(pilot)
        index, line = app.raw_log().locate(lines.cursor)
        assert index.name.endswith("postfix-book.log") and line == 6
        assert "postfix-book.log:6" in screen_text(app)
        await pilot.press("g", "n")
        await settle(pilot)
        assert lines.cursor == app.raw_log().row_of(index.file_id, 6)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen) and app.screen.trace.id == SEEDS_TRACE
        await pilot.press("escape")
        assert isinstance(app.screen, RawLogScreen)
        await pilot.press("slash")
        screen.query_one("#raw-search").value = "no such text anywhere"
        await pilot.press("enter")
        await settle(pilot)
        assert "not found" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_raw_view_scrolls_lazily():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        lines = app.screen.query_one("#raw-lines", LineList)
        rows = lines.source

        def blocks_on_screen() -> set:
            return {
                (index.file_id, (line - 1) // 64)
                for index, line in map(rows.raw.locate, lines.visible_rows())  # type: ignore[attr-defined]
            }

        first = blocks_on_screen()
        await pilot.press("end")
        await pilot.pause()
        assert lines.cursor == lines.row_count - 1
        # only the blocks of lines around what is on screen were read
        assert 0 < len(rows._blocks) <= 8  # type: ignore[attr-defined]
        assert set(rows._blocks.keys()) <= first | blocks_on_screen()  # type: ignore[attr-defined]


async def test_help_lists_every_binding():
    app = sample_app()
    async with app.run_test(size=(120, 80)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        from mailtui.ui.screens.help import help_sections

        for _title, bindings in help_sections():
            for binding in bindings:
                assert binding.description in text
        for needle in ("Filter", "Sort", "Raw log", "Copy id", "Export", "More context", "Search", "Quit"):
            assert needle in text
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_palette_commands_are_category_action():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for wanted in (
            "filter: Focus the filter",
            "view: Raw log",
            "trace: Copy queue id",
            "export: Trace as text and JSON",
            "sort: By status",
        ):
            assert wanted in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"raw log", "enter")
        await settle(pilot)
        assert isinstance(app.screen, RawLogScreen)


async def test_q_quits():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_y_copies_the_queue_id_and_message_id(monkeypatch):
    copied = []
    monkeypatch.setattr(MailTuiApp, "copy_to_clipboard", lambda self, text: copied.append(text))
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await to_row(pilot, SEEDS_TRACE)
        await pilot.press("y")
        await pilot.pause()
        assert copied == ["307DF802B3"]
        assert any("307DF802B3" in n.message and not n.markup for n in app._notifications)
        trace = next(t for t in app.session.traces if t.message_id)
        await to_row(pilot, trace.id)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("Y")
        assert copied[-1] == trace.message_id


async def test_x_exports_text_and_json_privately(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await to_row(pilot, SEEDS_TRACE)
        await pilot.press("x")
        await settle(pilot)
        folder = tmp_path / "data" / "mailtui" / "exports"
        text = folder / "util-ubuntu_307DF802B3.txt"
        data = folder / "util-ubuntu_307DF802B3.json"
        assert text.exists() and data.exists()
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(folder.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(text).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(data).st_mode) == 0o600
        assert "172.20.63.1 -> util-ubuntu (307DF802B3)" in text.read_text()
        assert any(str(text) in n.message for n in app._notifications)
        await pilot.press("enter", "x")  # again, from the trace screen: a second file, not overwritten
        await settle(pilot)
        assert (folder / "util-ubuntu_307DF802B3-2.json").exists()


async def test_hostile_log_text_is_shown_literally(tmp_path):
    log = write_log(
        tmp_path,
        "mail.log",
        f"""\
        Mar 11 09:00:00 mx1 postfix/smtpd[10]: ABCDEF1234: client=evil.example[203.0.113.9]
        Mar 11 09:00:01 mx1 postfix/cleanup[11]: ABCDEF1234: info: header Subject: {HOSTILE} from evil.example[203.0.113.9]; from=<a@evil.example> to=<b@example.com> proto=ESMTP helo=<x>
        Mar 11 09:00:01 mx1 postfix/qmgr[12]: ABCDEF1234: from=<a@evil.example>, size=10, nrcpt=1 (queue active)
        Mar 11 09:00:02 mx1 postfix/local[13]: ABCDEF1234: to=<b@example.com>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)
        """,
    )
    app = make_app([str(log)], year=2024, local_tz=timezone.utc)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "[bold]x[/bold] [/foo] ␛[31mred␛[0m␇" in text
        assert "\x1b" not in text and "\x07" not in text
        await pilot.press("enter")
        await settle(pilot)
        text = screen_text(app)
        assert "subject [bold]x[/bold] [/foo] ␛[31mred␛[0m␇" in text
        assert "\x1b" not in text
        await pilot.press("l")
        await settle(pilot)
        assert "[bold]x[/bold] [/foo] ␛[31mred" in screen_text(app)


async def test_works_at_80x24_keyboard_only():
    app = sample_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        app.screen.query_one(QueryInput).value = "from:bob@example.com"
        await pilot.press("enter")
        await settle(pilot)
        text = screen_text(app)
        assert "of 71 messages" in text or "of " in text
        assert "SIZE" not in text  # narrow: size and server columns give way
        await to_row(pilot, SEEDS_TRACE)
        await pilot.press("enter")
        await settle(pilot)
        assert "172.20.63.1 -> util-ubuntu (307DF802B3) -> mail.evil.example" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


class _NoLoadScreen(MainScreen):
    def load(self) -> None:  # the test posts the sessions itself
        return None


class _NoLoadApp(MailTuiApp):
    def get_default_screen(self):
        return _NoLoadScreen(self.initial_query)


async def test_provisional_session_shows_rows_then_final_keeps_the_cursor():
    paths = ["samples/postfix", "samples/seeds"]
    provisional = Loader(paths, year=2024, local_tz=timezone.utc).run()
    final = Loader(paths, year=2024, local_tz=timezone.utc).run()
    app = _NoLoadApp(paths, year=2024, local_tz=timezone.utc)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.post_message(SessionReady(provisional, False))
        await settle(pilot)
        rows = screen.query_one(MessageList)
        assert rows.row_count == len(provisional.traces)
        assert "loading" in screen_text(app)
        await to_row(pilot, SEEDS_TRACE)
        screen.post_message(SessionReady(final, True))
        await settle(pilot)
        assert rows.current is final.trace(SEEDS_TRACE)
        assert "loading" not in screen_text(app)


async def test_hostile_sample_never_reaches_the_terminal_raw():
    """samples/hostile: markup, OSC title/clipboard escapes, BEL, backspace, bidi and Latin-1 bytes,
    on the list, on every trace screen and in the raw view."""
    app = make_app([str(ROOT / "samples" / "hostile")], year=2024, local_tz=timezone.utc)
    raw_controls = {chr(c) for c in range(0x20) if c not in (0x0A,)} | {"\x7f", "\u202e", "\u2066"}
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        seen = [screen_text(app)]
        rows = len(app.screen.query_one(MessageList)._source)
        assert rows == 9
        for _ in range(rows):
            await pilot.press("enter")
            await settle(pilot)
            seen.append(screen_text(app))
            await pilot.press("escape", "k")
            await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        seen.append(screen_text(app))
    everything = "\n".join(seen)
    assert not raw_controls & set(everything)
    assert "[bold red]" in everything and "[link=https://evil.example]" in everything
    assert "␛]0;" in everything and "␛]52;" in everything and "␇" in everything
    assert "<U+202E>" in everything
    assert "Café crème ¿Qué?" in everything


async def test_a_million_rows_render_only_what_is_visible(monkeypatch):
    """The list is virtual: with 1,000,000 traces, moving to the end and paging draw one screen of
    rows each time, never the whole list."""
    from textual.app import App

    from mailtui.session import open_logs
    from mailtui.ui import render

    (trace,) = open_logs([str(ROOT / "samples" / "seeds" / "postfix-book.log")], year=2024).traces
    drawn = []
    real_row_content = render.row_content

    def counting(row_trace, columns, zone):
        drawn.append(1)
        return real_row_content(row_trace, columns, zone)

    monkeypatch.setattr(render, "row_content", counting)

    class OneList(App):
        def compose(self):
            yield MessageList(id="list")

    app = OneList()
    async with app.run_test(size=(100, 30)) as pilot:
        rows = app.query_one(MessageList)
        rows.show([trace] * 1_000_000, cursor=0)
        rows.focus()
        await pilot.pause()
        assert 0 < len(drawn) <= 60
        drawn.clear()
        await pilot.press("end")
        await pilot.pause()
        assert rows.cursor == 999_999 and 0 < len(drawn) <= 60
        drawn.clear()
        for _ in range(5):
            await pilot.press("pageup")
        await pilot.pause()
        assert rows.cursor < 999_999 - 100 and len(drawn) <= 5 * 60


async def test_q_on_the_help_screen_closes_help_not_the_app():
    app = sample_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and app.is_running


def test_long_text_wraps_under_itself_not_at_column_zero():
    reply = "host mx.example.com[192.0.2.7] said: 550 5.1.1 <nosuch@example.com>... User unknown (in reply)"
    wrapped = render.hanging("      " + reply, 40, 6).plain.split("\n")
    assert len(wrapped) > 2 and all(len(line) <= 40 for line in wrapped)
    assert all(line.startswith("      ") and line[6] != " " for line in wrapped)
    assert " ".join(line.strip() for line in wrapped) == reply
    # After something else on the first line (`start`), and unwrapped when no width is known yet.
    after = render.hanging(reply, 60, 4, start=30).plain.split("\n")
    assert after[0] == "host mx.example.com[192.0.2.7]" and all(line.startswith("    ") for line in after[1:])
    assert render.hanging(reply, None, 6).plain == reply
    assert render.hanging("a\x1b[31mb", 40, 6).plain == "a␛[31mb"  # made visible all the same


async def test_trace_screen_keeps_a_long_reply_indented_at_any_width():
    app = sample_app()
    async with app.run_test(size=(70, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"status:bounced", "enter")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        text = screen_text(app)
        reply = [line for line in text.splitlines() if "User unknown" in line or "said:" in line]
        assert reply, text
        summary = text.split(" Links")[0].splitlines()
        headings = (" Trace ", " Hops", " Recipients")
        assert all(
            line.startswith("  ") for line in summary if line.strip() and not line.startswith(headings)
        )
        assert any(line.startswith("       command)") for line in summary)  # under the reply, not at 0

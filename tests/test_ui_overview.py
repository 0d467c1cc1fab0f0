"""Pilot tests of issue 7: the overview screen, the one-key pivots, n/N, and the list export."""

from __future__ import annotations

import csv
import json
import os
import stat
from datetime import timezone

import pytest
from conftest import ROOT

from mailtui.ui.app import make_app
from mailtui.ui.screens.main import MainScreen
from mailtui.ui.screens.overview import OverviewList, OverviewRows, OverviewScreen
from mailtui.ui.screens.trace import TraceScreen
from mailtui.ui.screenshots import SEEDS_TRACE, sample_app, screen_text, settle, to_row
from mailtui.ui.widgets.filter_bar import QueryInput
from mailtui.ui.widgets.message_list import MessageList

SIZE = (100, 30)
MAIL_LOG = "samples/postfix/mail.log"
#: samples/README.md, "postfix/mail.log": P2, inbound through amavis.
P2 = "mx1:3F2A1B2C3D"


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def mail_log_app():
    return make_app([MAIL_LOG], year=2024, local_tz=timezone.utc)


def ids(app) -> list:
    return [trace.id for trace in app.screen.query_one(MessageList).traces]


def filter_text(app) -> str:
    return app.screen.query_one(QueryInput).value


async def open_overview(pilot) -> OverviewScreen:
    await settle(pilot)
    await pilot.press("o")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, OverviewScreen) and screen.stats is not None
    return screen


async def enter_on(pilot, screen: OverviewScreen, needle: str) -> None:
    """Put the overview's cursor on the first actionable row whose text holds `needle`; Enter."""
    rows = screen.query_one(OverviewList)
    source: OverviewRows = rows.source  # type: ignore[assignment]
    row = next(
        n for n in range(len(source)) if source.query(n) and needle in source.row_content(n, 100).plain
    )
    rows.cursor = row
    await pilot.press("enter")
    await settle(pilot)


async def test_overview_numbers_match_samples_readme():
    """samples/README.md, mail.log totals: 18 messages; sent 11 (8 + 3 NDRs), expired P1, bounced P10,
    discarded P6, mixed P12, rejected P3 P5 P9; P4 took 1600 s; 08:57-16:05 in hours."""
    app = mail_log_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_overview(pilot)
        stats = screen.stats
        assert stats["messages"] == 18
        assert stats["messages_by_status"] == {
            "sent": 11, "bounced": 1, "expired": 1, "rejected": 3, "discarded": 1, "mixed": 1,
        }  # fmt: skip
        assert stats["recipients_by_status"]["bounced"] == 2  # P10 and P12's old.contact
        volume = stats["volume"]
        assert volume["bucket"] == "hour" and volume["contiguous"]
        hours = {b["start"][11:16]: b["total"] for b in volume["buckets"]}
        assert hours == {
            "08:00": 2, "09:00": 7, "10:00": 4, "11:00": 3, "12:00": 0, "13:00": 0, "14:00": 0,
            "15:00": 1, "16:00": 1,
        }  # fmt: skip
        assert stats["delays"]["end_to_end"]["max"] == 1600
        assert {r["value"]: r["count"] for r in stats["top_reject_reasons"]} == {
            "Relay access denied": 1,
            "Service unavailable; Client host […] blocked using zen.spamhaus.org; "
            "https://www.spamhaus.org/query/ip/[…]": 1,
            "Helo command rejected: need fully-qualified hostname": 1,
        }
        text = screen_text(app)
        assert "Overview: 18 messages (all mail), 20 recipients" in text
        assert " sent " in text and "11 msg" in text and "13 rcpt" in text
        assert "!rejected" in text  # problems are marked
        assert "end to end" in text and "26m40s" in text  # P4's 1600 s, the 95th percentile


async def test_overview_rows_open_the_list_filtered():
    app = mail_log_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_overview(pilot)
        await enter_on(pilot, screen, "Relay access denied")
        assert isinstance(app.screen, MainScreen)
        assert filter_text(app) == 'status:rejected reason:"Relay access denied"'
        assert ids(app) == ["mx1:NOQUEUE:1"]  # P3
        await pilot.press("escape")
        await settle(pilot)
        screen = await open_overview(pilot)
        await enter_on(pilot, screen, "zen.spamhaus.org")
        assert ids(app) == ["mx1:NOQUEUE:2"]  # P5: a folded reason reads back
        await pilot.press("escape")
        screen = await open_overview(pilot)
        await enter_on(pilot, screen, "03-11 09:00")
        assert filter_text(app) == 'since:"2024-03-11 09:00+00:00" until:"2024-03-11 09:59:59+00:00"'
        assert len(ids(app)) == 7
        await pilot.press("escape")
        screen = await open_overview(pilot)
        await enter_on(pilot, screen, "dave@example.com")
        assert filter_text(app) == "from:dave@example.com"
        assert ids(app) == ["mx1:A7B8C9D0E1", "mx1:5A6B7C8D9E"]  # P1, P12
        await pilot.press("escape")
        screen = await open_overview(pilot)
        await enter_on(pilot, screen, "unknown[203.0.113.140]")
        assert filter_text(app) == "client:203.0.113.140"
        assert ids(app) == ["mx1:8A4B3C2D1E", "mx1:2B3C4D5E6F"]  # P4, P8
        await pilot.press("escape")
        screen = await open_overview(pilot)
        await enter_on(pilot, screen, "rejected")  # the sparkline row of a status
        assert filter_text(app) == "status:rejected" and len(ids(app)) == 3


async def test_overview_of_a_filtered_list_adds_to_the_filter():
    app = make_app([MAIL_LOG], "status:rejected", year=2024, local_tz=timezone.utc)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_overview(pilot)
        assert screen.stats["messages"] == 3
        assert "filter: status:rejected" in screen_text(app)
        await enter_on(pilot, screen, "noreply@promo.example")
        assert filter_text(app) == "status:rejected from:noreply@promo.example"
        assert ids(app) == ["mx1:NOQUEUE:2"]
        await pilot.press("o")
        await settle(pilot)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_overview_moves_and_jumps_between_sections():
    app = mail_log_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_overview(pilot)
        rows = screen.query_one(OverviewList)
        source: OverviewRows = rows.source  # type: ignore[assignment]
        assert source.query(rows.cursor) == "status:sent"
        await pilot.press("right_square_bracket")
        assert source.query(rows.cursor).startswith("since:")  # delays have no rows to open
        await pilot.press("right_square_bracket")
        assert source.query(rows.cursor) == "from:<>"
        for _ in range(30):
            await pilot.press("j")
            assert source.query(rows.cursor) is not None  # titles and delays are skipped
        await pilot.press("left_square_bracket")
        assert source.rows[rows.cursor - 1][0] == "title"


async def test_pivots_from_the_list_write_the_filter_bar():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        expected = {
            "f": ("from:bob@example.com", 4),
            "t": ("to:billy@evil.example", 1),
            "c": ("client:172.20.63.1", 1),
            "r": ("relay:mail.evil.example", 1),
        }
        for key, (query, count) in expected.items():
            await to_row(pilot, SEEDS_TRACE)
            await pilot.press(key)
            await settle(pilot)
            assert filter_text(app) == query
            assert app.screen.committed == query
            shown = ids(app)
            assert SEEDS_TRACE in shown and len(shown) == count, (key, shown)
            assert isinstance(app.focused, MessageList)
            await pilot.press("escape")
            await settle(pilot)
        await to_row(pilot, P2)
        await pilot.press("m")
        await settle(pilot)
        assert filter_text(app) == "msgid:<CAF1x7q2Lw9@mail.example.net>"
        assert ids(app) == [P2]
        await pilot.press("S")
        await settle(pilot)
        assert filter_text(app) == 'subject:"Q1 figures"'
        assert ids(app) == [P2, "mx1:2F3A4B5C6D"]  # P2 and P15 (Re: Q1 figures)
        assert {t.sender for t in app.screen.query_one(MessageList).traces} == {
            "anna@example.net",
            "boss@example.com",
        }
        # the seed has an empty Message-ID: nothing to pivot on, said so, the filter stays
        await to_row(pilot, P2)
        await pilot.press("escape")
        await settle(pilot)
        await to_row(pilot, SEEDS_TRACE)
        await pilot.press("m")
        await settle(pilot)
        assert filter_text(app) == ""
        assert any("no Message-ID" in n.message for n in app._notifications)


async def test_pivots_from_the_trace_screen_go_back_to_the_list():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await to_row(pilot, P2)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TraceScreen)
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert filter_text(app) == "to:boss@example.com"
        assert P2 in ids(app)
        await to_row(pilot, P2)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("l")  # raw log on top of the trace: the pivot still lands on the list
        await settle(pilot)
        app.screen_stack[-2].action_pivot("client")
        await settle(pilot)
        assert len(app.screen_stack) == 1 and filter_text(app) == "client:198.51.100.7"
        assert P2 in ids(app)


async def test_n_and_N_walk_the_matches_of_the_last_filter():
    app = mail_log_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"status:rejected", "enter")
        await settle(pilot)
        assert len(ids(app)) == 3
        await pilot.press("escape")  # clear the filter: n/N now find its matches in context
        await settle(pilot)
        assert len(ids(app)) == 18
        rows = app.screen.query_one(MessageList)
        await pilot.press("home", "n")
        await settle(pilot)
        assert rows.current.id == "mx1:NOQUEUE:1"
        await pilot.press("n")
        await settle(pilot)
        assert rows.current.id == "mx1:NOQUEUE:2"
        await pilot.press("N")
        await settle(pilot)
        assert rows.current.id == "mx1:NOQUEUE:1"
        await pilot.press("N")
        await settle(pilot)
        assert rows.current.id == "mx1:NOQUEUE:1"
        assert any("No more matches" in n.message for n in app._notifications)


async def test_X_exports_the_list_as_csv_and_json_lines(tmp_path, monkeypatch):
    out = tmp_path / "chosen"
    monkeypatch.setenv("MAILTUI_EXPORT_DIR", str(out))
    app = mail_log_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"status:rejected,bounced", "enter")
        await settle(pilot)
        shown = ids(app)
        assert len(shown) == 5  # P3 P5 P9, P10 and mixed P12
        await pilot.press("X")
        await settle(pilot)
        (csv_path,) = out.glob("*.csv")
        (jsonl_path,) = out.glob("*.jsonl")
        for path in (csv_path, jsonl_path):
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
        with open(csv_path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert [row["id"] for row in rows] == shown
        p12 = next(row for row in rows if row["id"] == "mx1:5A6B7C8D9E")
        assert p12["recipients"] == "ann@client.example old.contact@client2.example"
        assert p12["subject"] == "Meeting notes 11 March" and p12["status"] == "mixed"
        objects = [json.loads(line) for line in jsonl_path.read_text(encoding="utf-8").splitlines()]
        assert [o["id"] for o in objects] == shown
        assert any(str(csv_path) in n.message for n in app._notifications)
        await pilot.press("X")  # again: new files, never overwritten
        await settle(pilot)
        assert len(list(out.glob("*.csv"))) == 2


async def test_palette_lists_overview_pivots_and_exports():
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for wanted in (
            "view: Overview",
            "filter: Same Message-ID",
            "filter: From this sender",
            "filter: To this recipient",
            "filter: From this client",
            "filter: To this relay",
            "filter: Same subject",
            "filter: Next match",
            "export: List as CSV and JSON lines",
        ):
            assert wanted in titles
        await to_row(pilot, SEEDS_TRACE)
        await pilot.press("enter")
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "filter: From this sender" in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"from this sender", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and filter_text(app) == "from:bob@example.com"


async def test_hostile_sample_overview_and_subject_pivot_stay_literal():
    app = make_app([str(ROOT / "samples" / "hostile")], year=2024, local_tz=timezone.utc)
    raw_controls = {chr(c) for c in range(0x20) if c != 0x0A} | {"\x7f", "\u202e"}
    async with app.run_test(size=(160, 40)) as pilot:
        await open_overview(pilot)
        seen = [screen_text(app)]
        for _ in range(6):
            await pilot.press("right_square_bracket")
            seen.append(screen_text(app))
        await pilot.press("escape")
        await settle(pilot)
        rows = app.screen.query_one(MessageList)
        hostile = next(n for n, t in enumerate(rows.traces) if t.subject and "\x1b" in t.subject)
        rows.cursor = hostile
        await pilot.press("S")
        await settle(pilot)
        query = filter_text(app)
        assert query.startswith("subject:") and not raw_controls & set(query)
        assert rows.traces and all("\x1b" in (t.subject or "") for t in rows.traces)
        seen.append(screen_text(app))
    assert not raw_controls & set("\n".join(seen))

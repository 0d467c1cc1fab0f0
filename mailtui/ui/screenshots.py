"""SVG screenshots of every screen, made with the app factory the tests use.

    .venv/bin/python -m mailtui.ui.screenshots [OUTDIR]     (default: screenshots/)

Run from the project root (the app opens ``samples/``). The same steps drive the snapshot tests
(`tests/test_snapshots.py`), so the pictures and the pinned snapshots show the same screens.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timezone
from typing import Awaitable, Callable, Dict, List

from textual.app import App
from textual.pilot import Pilot

from mailtui.ui.app import MailTuiApp, make_app

#: Fixed data for pictures and snapshots: the samples, RFC 3164 dates in 2024, times in UTC.
SAMPLE_PATHS = ["samples/"]
YEAR = 2024
SIZE = (100, 30)
SEEDS_TRACE = "util-ubuntu:307DF802B3"


def sample_app(query: str = "") -> MailTuiApp:
    """The app on the samples with fixed year and zone, not following (deterministic pictures)."""
    return make_app(SAMPLE_PATHS, query, year=YEAR, local_tz=timezone.utc, follow=False)


def screen_text(app: App) -> str:
    """The plain text on screen now (what a user reads), one line per row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


async def settle(pilot: Pilot) -> None:
    """Wait for every worker and for the screen to catch up."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.05)  # scrolls deferred to after the next refresh


async def to_row(pilot: Pilot, trace_id: str) -> None:
    """Put the message list's cursor on `trace_id` (with the keyboard when it is near the top)."""
    messages = pilot.app.screen.query_one("#messages")
    row = [trace.id for trace in messages.traces].index(trace_id)  # type: ignore[attr-defined]
    if row <= 5:
        await pilot.press("home", *["down"] * row)
    else:
        messages.cursor = row  # type: ignore[attr-defined]
        await pilot.pause()


async def shot_list(pilot: Pilot) -> None:
    await settle(pilot)


async def shot_filtered(pilot: Pilot) -> None:
    await settle(pilot)
    await pilot.press("slash", *"from:bob@example.com", "enter")
    await settle(pilot)


async def shot_trace(pilot: Pilot) -> None:
    await shot_filtered(pilot)
    await to_row(pilot, SEEDS_TRACE)
    await pilot.press("enter")
    await settle(pilot)


async def shot_raw(pilot: Pilot) -> None:
    await shot_filtered(pilot)
    await to_row(pilot, SEEDS_TRACE)
    await pilot.press("l")
    await settle(pilot)


async def shot_help(pilot: Pilot) -> None:
    await settle(pilot)
    await pilot.press("question_mark")
    await settle(pilot)


async def shot_overview(pilot: Pilot) -> None:
    await settle(pilot)
    await pilot.press("o")
    await settle(pilot)


#: name → steps after start-up.
SHOTS: Dict[str, Callable[[Pilot], Awaitable[None]]] = {
    "list": shot_list,
    "filtered": shot_filtered,
    "trace": shot_trace,
    "raw": shot_raw,
    "help": shot_help,
    "overview": shot_overview,
}


async def _shoot(name: str, outdir: str) -> str:
    app = sample_app()
    async with app.run_test(size=SIZE) as pilot:
        await SHOTS[name](pilot)
        return app.save_screenshot(filename=f"{name}.svg", path=outdir)


def main(argv: List[str]) -> int:
    outdir = argv[0] if argv else "screenshots"
    os.makedirs(outdir, exist_ok=True)
    for name in SHOTS:
        print(asyncio.run(_shoot(name, outdir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

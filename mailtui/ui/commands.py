"""Command-palette commands, titled "category: Action" (each also has a key; see the help screen)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from textual.app import SystemCommand
from textual.screen import Screen

if TYPE_CHECKING:
    from mailtui.ui.app import MailTuiApp


def mailtui_commands(app: MailTuiApp, screen: Screen) -> Iterable[SystemCommand]:
    """The app's own palette commands for the screen the palette was opened on."""
    from mailtui.ui.render import SORT_KEYS
    from mailtui.ui.screens.main import MainScreen
    from mailtui.ui.screens.overview import OverviewScreen
    from mailtui.ui.screens.trace import TraceScreen

    if isinstance(screen, (MainScreen, TraceScreen)):
        yield from _pivot_commands(screen)

    if isinstance(screen, MainScreen):
        yield SystemCommand("filter: Focus the filter", "Type a query (/)", screen.action_focus_filter)
        yield SystemCommand("filter: Clear", "Show every message (Esc)", screen.action_clear_filter)
        yield SystemCommand(
            "filter: Problems only", "status:problem", lambda: screen.apply_filter("status:problem")
        )
        for key in SORT_KEYS:
            yield SystemCommand(
                f"sort: By {key}",
                f"Sort the list by {key}",
                lambda key=key: screen.apply_filter(screen.query_text, sort=key),
            )
        yield SystemCommand("view: Raw log", "The log files as they are (l)", screen.action_raw_log)
        yield SystemCommand(
            "view: Overview",
            "Volume by status, delays, top senders, clients, relays, reasons (o)",
            screen.action_overview,
        )
        yield SystemCommand(
            "view: Toggle follow",
            "Follow the logs as they grow, or pause (F)",
            screen.action_toggle_follow,
        )
        yield SystemCommand(
            "filter: Next match",
            "Next message matching the last filter (n)",
            lambda: screen.action_next_match(1),
        )
        yield SystemCommand(
            "filter: Previous match",
            "Previous message matching the last filter (N)",
            lambda: screen.action_next_match(-1),
        )
        yield SystemCommand(
            "export: List as CSV and JSON lines",
            "Write the listed messages to the export directory (X)",
            screen.action_export_list,
        )
        yield SystemCommand(
            "trace: Open", "The selected message's trace (Enter)", screen.messages.action_select
        )
        yield SystemCommand(
            "trace: Copy queue id", "Copy the selected queue id (y)", lambda: screen.action_copy("queue_id")
        )
        yield SystemCommand(
            "trace: Copy Message-ID",
            "Copy the selected Message-ID (Y)",
            lambda: screen.action_copy("message_id"),
        )
        yield SystemCommand(
            "export: Trace as text and JSON", "Write files and show where (x)", screen.action_export
        )
    if isinstance(screen, TraceScreen):
        yield SystemCommand(
            "trace: More context", "More raw lines around (+)", lambda: screen.action_context(1)
        )
        yield SystemCommand(
            "trace: Less context", "Fewer raw lines around (-)", lambda: screen.action_context(-1)
        )
        yield SystemCommand(
            "trace: Copy queue id", "Copy the queue id (y)", lambda: screen.action_copy("queue_id")
        )
        yield SystemCommand(
            "trace: Copy Message-ID", "Copy the Message-ID (Y)", lambda: screen.action_copy("message_id")
        )
        yield SystemCommand(
            "export: Trace as text and JSON", "Write files and show where (x)", screen.action_export
        )
        yield SystemCommand("view: Raw log", "The raw log at this trace (l)", screen.action_raw_log)
    if isinstance(screen, OverviewScreen):
        yield SystemCommand("view: Back to the list", "Leave the overview (Esc, o)", screen.action_back)
        yield SystemCommand(
            "view: Next section", "Jump to the next top list (])", lambda: screen.action_section(1)
        )
    yield SystemCommand("view: Help", "Every key (?)", app.action_help)
    yield SystemCommand("app: Quit", "Leave mailtui (q)", app.exit)


def _pivot_commands(screen: Screen) -> Iterable[SystemCommand]:
    """ "filter: Same Message-ID" and the other pivots, with their keys."""
    from mailtui.pivot import PIVOTS
    from mailtui.ui.screens.main import PIVOT_EXAMPLES, PIVOT_KEYS

    for key, name in PIVOT_KEYS:
        yield SystemCommand(
            f"filter: {PIVOTS[name].title}",
            f"{PIVOT_EXAMPLES[name]} ({key})",
            lambda name=name: screen.action_pivot(name),  # type: ignore[attr-defined]
        )

"""The help screen: every binding of every screen, read from the BINDINGS themselves (no drift)."""

from __future__ import annotations

from typing import Iterable, List, Sequence, Tuple

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

#: Keys shown the way users type them.
_KEY_NAMES = {
    "slash": "/",
    "question_mark": "?",
    "plus": "+",
    "minus": "-",
    "equals_sign": "=",
    "escape": "Esc",
    "enter": "Enter",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "space": "Space",
    "right_square_bracket": "]",
    "left_square_bracket": "[",
}


def key_label(keys: str) -> str:
    """`up,k` → `↑ k`-like readable text (`up / k`)."""
    return " / ".join(_KEY_NAMES.get(key.strip(), key.strip()) for key in keys.split(","))


def _bindings(bindings: Iterable[BindingType]) -> List[Binding]:
    return [b for b in bindings if isinstance(b, Binding)]


def help_sections() -> List[Tuple[str, List[Binding]]]:
    """(section title, bindings) for the whole app."""
    from mailtui.ui.app import MailTuiApp
    from mailtui.ui.screens.main import MainScreen
    from mailtui.ui.screens.overview import OverviewScreen
    from mailtui.ui.screens.raw import RawLogScreen
    from mailtui.ui.screens.trace import TraceScreen
    from mailtui.ui.widgets.filter_bar import QueryInput
    from mailtui.ui.widgets.line_list import LineList

    return [
        ("Everywhere", _bindings(MailTuiApp.BINDINGS)),
        ("Message list", _bindings(MainScreen.BINDINGS)),
        ("Moving in any list", _bindings(LineList.BINDINGS)),
        (
            "Filter bar (query language: from: to: status: since: until: subject: client: relay: "
            "server: msgid: qid: reason:, bare words, -negation)",
            _bindings(QueryInput.BINDINGS),
        ),
        ("Trace", _bindings(TraceScreen.BINDINGS)),
        ("Raw log", _bindings(RawLogScreen.BINDINGS)),
        ("Overview (o): Enter on a row lists its mail", _bindings(OverviewScreen.BINDINGS)),
    ]


def help_content(sections: Sequence[Tuple[str, List[Binding]]]) -> Content:
    lines: List[Content] = []
    for title, bindings in sections:
        lines.append(Content.styled(title, "bold underline"))
        for binding in bindings:
            lines.append(
                Content.assemble(
                    (f"  {key_label(binding.key):<22}", "bold"),
                    binding.description,
                    (f"  {binding.tooltip}" if binding.tooltip else "", "dim"),
                )
            )
        lines.append(Content(""))
    lines.append(Content.styled("Ctrl+P opens the command palette; Esc, q or ? closes this help.", "italic"))
    return Content("\n").join(lines)


class HelpScreen(ModalScreen):
    """Every key of the app."""

    BINDINGS = [
        Binding("escape,question_mark,f1,q", "dismiss", "Close help", id="help.close"),
        Binding("up,k", "scroll(-1)", "Up", show=False),
        Binding("down,j", "scroll(1)", "Down", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(help_content(help_sections()), id="help-text", markup=False)

    def on_mount(self) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        body.border_title = "mailtui keys"
        body.focus()

    def action_scroll(self, step: int) -> None:
        body = self.query_one("#help-body", VerticalScroll)
        body.scroll_to(y=body.scroll_y + step, animate=False)

"""Make untrusted log text safe to print: no control characters or escape sequences reach a terminal."""

from __future__ import annotations

from typing import Dict

# C0 controls (but TAB) → Control Pictures (U+2400+), DEL → U+2421, C1 controls → U+FFFD, and the
# bidirectional overrides/isolates that could reorder what the user reads → visible `<U+202E>` escapes.
_TABLE: Dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c != 0x09}
_TABLE[0x7F] = "\u2421"
_TABLE.update({c: "\ufffd" for c in range(0x80, 0xA0)})
_TABLE.update({c: f"<U+{c:04X}>" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)})


def visible(text: str, tab_size: int = 4) -> str:
    """Log text as it may be drawn: tabs expanded, control characters shown as glyphs, never executed."""
    return text.expandtabs(tab_size).translate(_TABLE)


def clip(text: str, width: int) -> str:
    """Cut to `width` characters, marking the cut with an ellipsis."""
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"

"""Make untrusted log text safe to print: no control characters or escape sequences reach a terminal."""

from __future__ import annotations

import json
import re
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


#: Characters JSON may carry raw (json.dumps with ensure_ascii=False) that a terminal acts on or that
#: reorder text: DEL, C1 controls, bidi controls, line/paragraph separators, lone surrogates.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def json_line(value: object) -> str:
    """One line of JSON that is safe to print to a terminal: the same data as ``json.dumps``, with
    UTF-8 text kept readable but every character a terminal could act on written as a ``\\uXXXX``
    escape (C0 controls are escaped by json itself), so `json.loads` gives back the original text."""
    text = json.dumps(value, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def has_controls(text: str) -> bool:
    """True when `text` holds a character :func:`visible` would replace (but TAB)."""
    return text.translate(_TABLE) != text


def longest_plain_run(text: str) -> str:
    """The longest stretch of `text` without control characters (a substring to search for when the
    whole text cannot be typed or shown: a subject with an escape sequence in it)."""
    runs = re.split("[" + "".join(re.escape(chr(c)) for c in _TABLE if c != 0x20) + "\t]", text)
    return max((run.strip() for run in runs), key=len, default="")

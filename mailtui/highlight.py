"""A Pygments lexer for mail-server log lines (syslog Postfix/Sendmail/amavis, Exchange tracking rows).

Tokens only: this module knows nothing about terminals or colours beyond the token types, so a
script, the CLI and the UI can all use it. The UI maps the token types below to styles.

    >>> [(text, token) for _, token, text in MailLogLexer().get_tokens_unprocessed(line)]

:func:`token_spans` gives ``(start, end, token)`` triples over the exact string given (no tab
expansion or newline added), so spans line up with a string already passed through
:func:`mailtui.sanitize.visible`.
"""

from __future__ import annotations

import re
from typing import List, Tuple

from pygments.lexer import RegexLexer, bygroups, default
from pygments.token import Token, _TokenType

__all__ = [
    "ADDRESS",
    "DSN",
    "HOST",
    "IP",
    "KEY",
    "PID",
    "PROGRAM",
    "QUEUE_ID",
    "STATUS_BAD",
    "STATUS_INFO",
    "STATUS_OK",
    "STATUS_WARN",
    "TIMESTAMP",
    "MailLogLexer",
    "token_spans",
]

#: When the line was written.
TIMESTAMP = Token.Literal.Date
#: The syslog host (or the Exchange server).
HOST = Token.Name.Namespace
#: The syslog tag without the pid (`postfix/smtpd`).
PROGRAM = Token.Name.Function
PID = Token.Literal.Number.Integer
#: Postfix/Sendmail queue ids (also `NOQUEUE` and the id in "queued as X").
QUEUE_ID = Token.Name.Label
#: Mail addresses, with or without angle brackets.
ADDRESS = Token.Literal.String
IP = Token.Literal.Number.Ip
#: Enhanced status codes (`dsn=5.1.1`) and SMTP reply codes (`550`).
DSN = Token.Literal.Number.Dsn
#: `name=` keys.
KEY = Token.Name.Attribute
#: Status words by outcome: delivered, delayed, failed/refused, neutral events.
STATUS_OK = Token.Keyword.Status.Ok
STATUS_WARN = Token.Keyword.Status.Warn
STATUS_BAD = Token.Keyword.Status.Bad
STATUS_INFO = Token.Keyword.Status.Info

_TEXT = Token.Text
_PUNCT = Token.Punctuation
_WS = Token.Text.Whitespace

_SYSLOG_TS = (
    r"(?:[A-Z][a-z]{2}\s[\s\d]\d\s\d\d:\d\d:\d\d"  # RFC 3164 (some write NBSP for the space)
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"  # ISO 8601
)
_ISO_TS = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"
# A queue id right after the tag: has a digit (so `warning:` is not one), 5..20 word characters.
_QUEUE_ID = r"(?=[A-Za-z]*\d)[0-9A-Za-z]{5,20}|NOQUEUE"
_IPV4 = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"
_IPV6 = r"(?<=\[)(?:IPv6:)?[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?=\])"
_OK_WORDS = r"sent|Sent|delivered|DELIVER|SEND|passed|Passed|CLEAN"
_WARN_WORDS = r"deferred|Deferred|DEFER|expired|warning|in-queue"
_BAD_WORDS = (
    r"bounced|Bounced|rejected|reject|REJECT|FAIL|discarded|discard|Blocked|SPAM|BADMAIL|"
    r"POISONMESSAGE|DROP|error|fatal|panic|lost input channel|User unknown"
)
_INFO_WORDS = r"RECEIVE|SUBMIT|EXPAND|REDIRECT|RESOLVE|TRANSFER|DSN|removed|queue active|connect|disconnect"


class MailLogLexer(RegexLexer):
    """Mail log lines: timestamps, hosts, program[pid], queue ids, addresses, IPs, status words, codes."""

    name = "Mail log"
    aliases = ["maillog", "mail-log"]
    filenames = ["mail.log", "maillog", "mail.log.*", "MSGTRK*.LOG"]
    flags = re.MULTILINE

    tokens = {
        "root": [
            (
                r"(" + _SYSLOG_TS + r")(\s+)([^\s:\[]+)(\s+)([\w./-]+)(?:(\[)(\d+)(\]))?(:)",
                bygroups(TIMESTAMP, _WS, HOST, _WS, PROGRAM, _PUNCT, PID, _PUNCT, _PUNCT),
                "queue",
            ),
            (
                r"(<\d{1,3}>\d{0,2}\s)("
                + _ISO_TS
                + r")(\s+)(\S+)(\s+)(\S+)(\s+)(\d+|-)(\s+)(\S+\s+(?:-|\[[^\]]*\])\s?)",
                bygroups(_PUNCT, TIMESTAMP, _WS, HOST, _WS, PROGRAM, _WS, PID, _WS, _TEXT),
                "queue",
            ),
            default("body"),
        ],
        "queue": [
            (r"(\s*)(" + _QUEUE_ID + r")(:)(?=\s|$)", bygroups(_WS, QUEUE_ID, _PUNCT), ("#pop", "body")),
            default(("#pop", "body")),
        ],
        "body": [
            (r"\n", _WS, "#pop"),
            (_ISO_TS, TIMESTAMP),
            (r"(queued as|queued_as:|Queue-ID:)(\s+)([0-9A-Za-z]{5,20})", bygroups(_TEXT, _WS, QUEUE_ID)),
            (r"<[^<>\s]*>", ADDRESS),
            (r"[\w.+'=/-]+@[\w-]+(?:\.[\w-]+)+", ADDRESS),
            (_IPV4, IP),
            (_IPV6, IP),
            (r"(dsn)(=)(\d\.\d{1,3}\.\d{1,3})", bygroups(KEY, _PUNCT, DSN)),
            (r"(?<![\w.])[245]\.\d{1,3}\.\d{1,3}(?![\w.])", DSN),
            (r"(?<![\w.])[245]\d\d(?=[ -]\d\.\d)", DSN),
            (r"\b(?:" + _OK_WORDS + r")\b", STATUS_OK),
            (r"\b(?:" + _WARN_WORDS + r")\b", STATUS_WARN),
            (r"\b(?:" + _BAD_WORDS + r")\b", STATUS_BAD),
            (r"\b(?:" + _INFO_WORDS + r")\b", STATUS_INFO),
            (r"([A-Za-z_][\w-]*)(=)", bygroups(KEY, _PUNCT)),
            (r"[ \t]+", _WS),
            (r"\w+", _TEXT),
            (r".", _TEXT),
        ],
    }


_LEXER = MailLogLexer()


def token_spans(text: str) -> List[Tuple[int, int, _TokenType]]:
    """``(start, end, token)`` for every non-plain token of `text` (offsets into `text` itself)."""
    spans: List[Tuple[int, int, _TokenType]] = []
    for start, token, value in _LEXER.get_tokens_unprocessed(text):
        if value and token not in (_TEXT, _WS, _PUNCT):
            spans.append((start, start + len(value), token))
    return spans

"""Parse a syslog line, and the commonest Postfix lines in one regular-expression match (issue 6).

The general path reads a line in steps: the envelope (:class:`~mailtui.envelope.EnvelopeParser`),
then the Postfix daemon's body (:func:`mailtui.parsers.postfix.parse`), each a few matches and
objects. Nine lines in ten of a busy Postfix log have one of a dozen shapes (`connect from`,
`QID: client=`, `message-id=`, `from=<>, size=`, `to=<>, relay=`, `removed`, TLS notes...), so
:class:`LineParser` tries one pattern made of the envelope and those shapes first, and builds the
event with the same functions the general path uses. The pattern's pieces are the general path's
own (:data:`mailtui.parsers.postfix.DELIVERY` and kin), tried in the same order, at the same
place: a line it matches gets the event the general path gives; a line it does not match goes the
general way. The time of a stamp seen on the line before is not worked out again.

``tests/test_fastpath.py`` checks the two paths give the same result, line by line, on every log
the tests have.
"""

from __future__ import annotations

import re
from typing import Callable, List, Optional, Tuple, Union

from mailtui.envelope import EnvelopeParser
from mailtui.parsers import postfix

#: A parsed line: the envelope ``(ts, tz, host, program, pid, body)`` of a line that is not from a
#: Postfix daemon, or ``(ts, tz, host, program, pid, instance, daemon, kind, qid, data)`` for a
#: Postfix line (its :class:`~mailtui.parsers.postfix.PostfixEvent` after the envelope).
Parsed = Union[
    Tuple[float, Optional[int], str, str, Optional[int], str],
    Tuple[float, Optional[int], str, str, Optional[int], str, str, str, str, dict],
]


def _groups(pattern: str) -> int:
    return re.compile(pattern).groups


# The envelope: RFC 3164 stamp without fraction, host, `tag[pid]: ` (the general path's fast
# case, envelope._CLASSIC, narrowed: lines with a fraction, no pid or no space go the general way).
_ENVELOPE = r"(?a:(([A-Z][a-z]{2} [ \d]?\d \d\d):(\d\d:\d\d)) +(\S+) ([^\s\[\]:]+)\[(\d+)\]: )"
# Bodies after a short queue id, in the order postfix._with_qid tries them.
_REMOVED = r"(removed(?:\Z| (?s:.*)))"
_CLIENT = postfix.CLIENT + r"((?s:.*))"
_HEADER = postfix.HEADER + r"((?s:.*))"
_WITH_QID = (postfix.DELIVERY, _REMOVED, _CLIENT, postfix.QMGR_FROM, postfix.MESSAGE_ID, _HEADER)
# Bodies without a queue id that postfix.parse reads as they are (none can start like a queue id,
# a warning, a `reject:` or a `proxy-accept:`).
_CONNECT = r"connect from " + postfix.HOST_IP
_PLAIN = (
    r"(disconnect from |(?:Anonymous|Trusted|Untrusted|Verified) TLS |CONNECT from |"
    r"PASS (?:NEW|OLD) |lost connection after |timeout after )"
)

_PID_GROUP = _groups(_ENVELOPE)  # the envelope's last group: the body starts 3 characters after it
_QID_GROUP = _PID_GROUP + 1


def _build() -> Tuple[re.Pattern[str], List[int]]:
    """The one pattern, and the number of the first group of each body alternative in it."""
    firsts = []
    group = _QID_GROUP + 1
    for body in (*_WITH_QID, _CONNECT):
        firsts.append(group)
        group += _groups(body)
    firsts.append(group)  # _PLAIN's
    with_qid = "|".join(f"(?:{body})" for body in _WITH_QID)
    pattern = _ENVELOPE + f"(?:([0-9A-F]{{6,15}}): (?:{with_qid})|(?:{_CONNECT})|{_PLAIN})?"
    return re.compile(pattern), firsts  # the envelope's classes are ASCII, the bodies' Unicode: as theirs


_LINE, _FIRST = _build()
(_AT_DELIVERY, _AT_REMOVED, _AT_CLIENT, _AT_QMGR, _AT_MSGID, _AT_HEADER, _AT_CONNECT, _AT_PLAIN) = _FIRST


class LineParser:
    """Parses the lines of one syslog file, in order (the envelope parser keeps the file's state)."""

    __slots__ = ("_stamp", "_when", "envelope", "fast")

    def __init__(self, envelope: EnvelopeParser, fast: bool = True) -> None:
        self.envelope = envelope
        #: False: every line the general way (the reference the tests compare with).
        self.fast = fast
        self._stamp: Optional[str] = None  # the last stamp read here, and its (time, offset)
        self._when: Tuple[float, int] = (0.0, 0)

    def parse(self, text: str) -> Optional[Parsed]:
        """The line parsed (see :data:`Parsed`), or None when mailtui does not understand it."""
        m = _LINE.match(text) if self.fast else None
        if m is None:
            self._stamp = None  # the general path may move the envelope parser's state on
            return self._general(text)
        stamp = m.group(1)
        if stamp != self._stamp:
            when = self.envelope.classic_time(m.group(2), m.group(3))
            if when is None:
                self._stamp = None
                return None
            self._stamp, self._when = stamp, when
        ts, tz = self._when
        host, program, pid = m.group(4, 5, 6)
        daemon = postfix.postfix_daemon(program)
        body_at = m.end(_PID_GROUP) + 3
        if daemon is None or m.lastindex == _PID_GROUP:  # not Postfix, or a body of other shapes
            body = text[body_at:]
            if body[:4] == "[ID ":  # a Solaris message id the envelope parser strips
                self._stamp = None
                return self._general(text)
            if daemon is None:
                return ts, tz, host, program, int(pid), body
            event = postfix.parse(daemon[1], body)
        else:
            event = _BUILDER[m.lastindex](m, daemon[1], text, body_at)  # type: ignore[index,misc]
        if event is None:
            return None
        return ts, tz, host, program, int(pid), daemon[0], daemon[1], event[0], event[1], event[2]

    def _general(self, text: str) -> Optional[Parsed]:
        env = self.envelope.parse(text)
        if env is None:
            return None
        daemon = postfix.postfix_daemon(env.program)
        if daemon is None:
            return tuple(env)  # type: ignore[return-value]
        event = postfix.parse(daemon[1], env.body)
        if event is None:
            return None
        ts, tz, host, program, pid, _body = env
        return ts, tz, host, program, pid, daemon[0], daemon[1], event[0], event[1], event[2]


Builder = Callable[["re.Match[str]", str, str, int], postfix.PostfixEvent]


def _delivery(m: re.Match[str], daemon: str, text: str, body_at: int) -> postfix.PostfixEvent:
    return postfix.delivery_event(m.group(_QID_GROUP), *m.group(*range(_AT_DELIVERY, _AT_DELIVERY + 6)))


def _removed(m: re.Match[str], daemon: str, text: str, body_at: int) -> postfix.PostfixEvent:
    return postfix.removed_event(daemon, m.group(_QID_GROUP), m.group(_AT_REMOVED))


def _client(m: re.Match[str], daemon: str, text: str, body_at: int) -> postfix.PostfixEvent:
    return postfix.client_event(m.group(_QID_GROUP), *m.group(_AT_CLIENT, _AT_CLIENT + 1, _AT_CLIENT + 2))


def _qmgr(m: re.Match[str], daemon: str, text: str, body_at: int) -> postfix.PostfixEvent:
    found = m.group(_AT_QMGR, _AT_QMGR + 1, _AT_QMGR + 2, _AT_QMGR + 3)
    return postfix.qmgr_from_event(m.group(_QID_GROUP), *found)


def _message_id(m: re.Match[str], daemon: str, text: str, body_at: int) -> postfix.PostfixEvent:
    return postfix.message_id_event(m.group(_QID_GROUP), m.group(_AT_MSGID))


def _header(m: re.Match[str], daemon: str, text: str, body_at: int) -> postfix.PostfixEvent:
    return postfix.header_event(m.group(_QID_GROUP), *m.group(_AT_HEADER, _AT_HEADER + 1, _AT_HEADER + 2))


def _connect(m: re.Match[str], daemon: str, text: str, body_at: int) -> postfix.PostfixEvent:
    host, ip = m.group(_AT_CONNECT, _AT_CONNECT + 1)
    return postfix.connect_event(host or None, ip or None)


def _plain(m: re.Match[str], daemon: str, text: str, body_at: int) -> postfix.PostfixEvent:
    kind = "disconnect" if text.startswith("d", body_at) else "info"
    return postfix.PostfixEvent(kind, "", {"text": text[body_at:]})


def _builders() -> List[Optional[Builder]]:
    """The builder for each group number a match can end on (``Match.lastindex``)."""
    order = [_delivery, _removed, _client, _qmgr, _message_id, _header, _connect, _plain]
    table: List[Optional[Builder]] = [None] * (_LINE.groups + 1)
    for builder, first, end in zip(order, _FIRST, [*_FIRST[1:], _LINE.groups + 1]):
        table[first:end] = [builder] * (end - first)
    return table


_BUILDER = _builders()

"""Years that a log says by itself: queue ids that encode when they were made.

RFC 3164 timestamps have no year, and a file's mtime lies once the file was copied (scp, git
checkout, a ticket attachment). Two kinds of queue id carry their creation time:

* Postfix long ids (`enable_long_queue_ids`): seconds since the epoch in base 52, then 4 chars of
  microseconds, then `z`, then the inode (which never contains `z`): `4TtX213dSnzWt0C`.
* Sendmail 8.12+ ids: the first character is the year modulo 60 (alphabet `0-9A-Za-x`), the next
  ones month (0-11) and day: `s1KJ39AQ014274` was made in 2014 (or 1954, 2074...).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Iterable, Optional, Tuple

_BASE52 = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"
_SENDMAIL_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: i + 1 for i, name in enumerate(_MONTH_NAMES)}
_CLASSIC = re.compile(
    r"(?:<\d{1,3}>)?\s*(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[ \xa0]+(\d{1,2}) \d\d:"
)
#: A long id as this line's own queue id, or in a next hop's `queued as` reply (its clock, same year).
_POSTFIX_LONG = re.compile(
    r"(?:postfix[^ ]*\[\d+\]: |queued as )"
    r"([0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,})z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]+\b"
)
_SENDMAIL = re.compile(
    r"(?:sendmail|sm-mta|sm-msp-queue)\[\d+\]: ([0-9A-Za-x])([0-9AB])([0-9A-Va-x])(?:\w{5}\d{6}|\w{4}\d{5}): "
)


def _decode52(text: str) -> int:
    value = 0
    for char in text:
        value = value * 52 + _BASE52.index(char)
    return value


def _closest_year(month: int, day: int, moment: datetime) -> Optional[int]:
    """The year in which `month/day` lies nearest to `moment` (a line logged just after New Year...)."""
    best: Optional[Tuple[float, int]] = None
    for year in (moment.year - 1, moment.year, moment.year + 1):
        try:
            gap = abs((datetime(year, month, day, tzinfo=timezone.utc) - moment).total_seconds())
        except ValueError:
            continue
        if best is None or gap < best[0]:
            best = (gap, year)
    return None if best is None or best[0] > 40 * 86400 else best[1]


def _postfix_year(match: re.Match, month: int, day: int) -> Optional[int]:
    seconds = _decode52(match.group(1)[:-4])
    if not 631152000 <= seconds <= 4102444800:  # 1990..2100: anything else is not a real id
        return None
    return _closest_year(month, day, datetime.fromtimestamp(seconds, timezone.utc))


def _sendmail_year(match: re.Match, month: int, day: int, around: int) -> Optional[int]:
    year_index = _SENDMAIL_CHARS.index(match.group(1))
    id_month = _SENDMAIL_CHARS.index(match.group(2)) + 1
    # queue.c: QueueIdChars[tm_year % 60], tm_year counting from 1900. A log is never younger than
    # its file's mtime (copies only make mtimes newer), so take the latest such year up to then.
    latest = around - 1900 + 1
    year = 1900 + latest - ((latest - year_index) % 60)
    try:
        moment = datetime(year, id_month, 15, tzinfo=timezone.utc)
    except ValueError:
        return None
    return _closest_year(month, day, moment)


def first_line_year(lines: Iterable[str], around: int) -> Optional[int]:
    """The year of the first classic-syslog line, when a later id in `lines` proves it; else None.

    Args:
        lines: the first lines of a file.
        around: a year near the truth (from the file's mtime), to pick Sendmail's year modulo 60.
    """
    first: Optional[int] = None
    for line in lines:
        classic = _CLASSIC.match(line)
        if classic is None:
            continue
        month, day = _MONTHS[classic.group(1)], int(classic.group(2))
        if first is None:
            first = month
        postfix = _POSTFIX_LONG.search(line)
        year = _postfix_year(postfix, month, day) if postfix else None
        if year is None:
            sendmail = _SENDMAIL.search(line)
            year = _sendmail_year(sendmail, month, day, around) if sendmail else None
        if year is not None:
            # A New Year between the first line and this one: the first line is a year earlier.
            return year - 1 if first > month + 6 else year
    return None


def year_from_mtime(mtime: float) -> int:
    try:
        return date.fromtimestamp(mtime).year
    except (OverflowError, OSError, ValueError):
        return date.today().year

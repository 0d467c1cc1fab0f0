"""Split a syslog or journal line into its :class:`~mailtui.model.Envelope` (time, host, program, pid, body).

Formats are recognised per line, so one file may mix them:

* RFC 3164 (``Feb  3 01:01:12 host postfix/smtpd[16325]: ...``), optionally behind ``<PRI>``, with
  journalctl's ``short-precise`` fractions and Solaris ``[ID n facility.level]`` tags; no year, so
  the year is inferred from the file's mtime (or counted on from a given year at New Year);
* rsyslog / journalctl ``short-iso`` ISO 8601 (``2024-08-22T08:12:59.100443+00:00 host prog[pid]: ...``);
* RFC 5424 (``<34>1 2003-10-11T22:14:15.003Z host app procid msgid [sd] msg``);
* ``journalctl -o json`` objects;
* docker compose (``name  | ``) and Loghub (``- 1131566461 2005.11.09 node ...``) prefixes;
* bare MTA tags without time or host (``sm-mta[20900]: ...``), timed like the line before.

Every pattern is anchored at the line start and cannot backtrack badly on very long lines.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from typing import Dict, Optional, Sequence, Tuple

from mailtui.model import Envelope
from mailtui.sources import decode

_MONTHS: Dict[str, int] = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
#: "MM:SS" -> seconds into the hour (second 60 allowed for leap seconds).
_MINSEC: Dict[str, int] = {f"{m:02d}:{s:02d}": m * 60 + s for m in range(60) for s in range(61)}
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()

_TAG = r"([^\s\[\]:]+)(?:\[(\d+)\])?: ?"
#: "Mon dd hh" (one group: it is the hour cache's key), "MM:SS", fraction.
_CLASSIC_TS = r"([A-Z][a-z]{2} [ \d]?\d \d\d):(\d\d:\d\d)(?:\.(\d{1,9}))? +"

#: Fast path: classic timestamp, host, tag.
_CLASSIC = re.compile(_CLASSIC_TS + r"(\S+) " + _TAG, re.ASCII)
#: Classic timestamp alone (for the rarer shapes after it).
_CLASSIC_ONLY = re.compile(_CLASSIC_TS, re.ASCII)
_LEAD = re.compile(r"[ \t]*<\d{1,3}>[ \t]*|[ \t]+", re.ASCII)
_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(Z|z|[+-]\d\d(?::?\d\d)?)? +"
    r"(\S+) " + _TAG,
    re.ASCII,
)
_RFC5424 = re.compile(
    r"[ \t]*<\d{1,3}>1 "
    r"(?:-|(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:?\d\d)) "
    r"(\S+) (\S+) (\S+) \S+ (?:-|(?:\[[^\]\\]*(?:\\.[^\]\\]*)*\])+)(?: |\Z)",
    re.ASCII,
)
_TAG_ONLY = re.compile(_TAG, re.ASCII)
_HOST_TAG = re.compile(r"(\S+) " + _TAG, re.ASCII)
_FACILITY = re.compile(r"<[a-z0-9]+\.[a-z]+> ", re.ASCII)
#: MTA tags trusted without a time or host: `postfix[-name]/daemon[pid]:`, `sendmail[pid]:` and kin.
_BARE_MTA = re.compile(
    r"(postfix(?:-[\w.-]+)?(?:/[\w.-]+)+|(?:sendmail|sm-mta|sm-msp-queue)(?=\[))(?:\[(\d+)\])?: ?",
    re.ASCII,
)
_COMPOSE = re.compile(r"[A-Za-z0-9][\w.-]* *\| ", re.ASCII)
_LOGHUB = re.compile(
    r"\S+ (\d{9,11}) (\d{4})\.\d\d\.\d\d \S+ "
    r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d) +(\S+) ",
    re.ASCII,
)
_new_envelope = tuple.__new__
_SOLARIS_ID = re.compile(r"\[ID \d+ [\w.]+\] ?", re.ASCII)
_TAGLESS = re.compile(r"(?:last message repeated \d+ times?|-- MARK --)", re.ASCII)

#: Entry of the hour cache: (epoch of the hour's start, zone offset in minutes, the other reading
#: of an hour that happens twice at the end of summer time, or None).
_HourEntry = Tuple[float, int, Optional[Tuple[float, int]]]


def _zone_minutes(zone: str) -> int:
    """Minutes east of UTC for "Z", "+01:00", "+0100" or "+01"."""
    if zone in ("Z", "z"):
        return 0
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * (int(digits[:2]) * 60 + int(digits[2:4] or 0))


def _fraction(digits: Optional[str]) -> float:
    return float("0." + digits) if digits else 0.0


class EnvelopeParser:
    """Parse lines of one file into envelopes; keeps the per-file state (year, last time, caches)."""

    __slots__ = (
        "_amb_key",
        "_amb_sec",
        "_days",
        "_hours",
        "_last_mon",
        "_last_month",
        "_last_ts",
        "_last_tz",
        "_local_hours",
        "_offsets",
        "_ref_date",
        "_tz",
        "_year",
        "_years",
    )

    def __init__(
        self,
        reference_time: float,
        year: Optional[int] = None,
        local_tz: Optional[datetime.tzinfo] = None,
    ) -> None:
        """`reference_time`: the file's mtime (years of RFC 3164 lines are inferred from it);
        `year`: the year of the first RFC 3164 line, counted on at New Year, instead of inferring;
        `local_tz`: zone of timestamps without an offset (default: the system's local zone).
        """
        self._tz = local_tz
        self._year = year
        self._last_month = 0
        self._last_mon = ""  # the month name of the last line: most lines need no year check
        try:
            ref = self._from_timestamp(reference_time + 86400.0)
            self._ref_date = (ref.year, ref.month, ref.day)
        except (OverflowError, OSError, ValueError):
            now = datetime.datetime.now()
            self._ref_date = (now.year, now.month, now.day)
        self._years: Dict[Tuple[int, int], int] = {}
        self._hours: Dict[str, _HourEntry] = {}
        self._local_hours: Dict[Tuple[int, int, int, int], _HourEntry] = {}
        self._days: Dict[Tuple[str, str, str], float] = {}
        self._offsets: Dict[int, int] = {}
        self._last_ts = 0.0
        self._last_tz: Optional[int] = None
        self._amb_key: object = None
        self._amb_sec = 0

    # -- time helpers ------------------------------------------------------------------------------

    def _from_timestamp(self, ts: float) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(ts, self._tz)

    def _local_reading(self, y: int, m: int, d: int, h: int, fold: int) -> Tuple[float, int]:
        """Epoch and offset (minutes) of local hour start y-m-d h:00 in the parser's zone."""
        if self._tz is None:
            moment = datetime.datetime(y, m, d, h, fold=fold).astimezone()
        else:
            moment = datetime.datetime(y, m, d, h, fold=fold, tzinfo=self._tz)
        offset = moment.utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        return moment.timestamp(), minutes

    def _hour_entry(self, y: int, m: int, d: int, h: int) -> _HourEntry:
        """Hour start in the local zone; raises ValueError for an impossible date."""
        first = self._local_reading(y, m, d, h, 0)
        second = self._local_reading(y, m, d, h, 1)
        # A repeated hour (summer time ends) reads earlier with fold=0; a skipped one reads later.
        return first[0], first[1], second if second[0] > first[0] else None

    def _infer_year(self, month: int, day: int) -> int:
        year = self._years.get((month, day))
        if year is None:
            ref_year, ref_month, ref_day = self._ref_date
            year = ref_year if (month, day) <= (ref_month, ref_day) else ref_year - 1
            self._years[(month, day)] = year
        return year

    def _resolve(self, key: object, entry: _HourEntry, sec: int) -> Tuple[float, int]:
        """Time and offset for `sec` into a local hour, choosing the second reading of a repeated
        hour once the clock is seen going back (02:59 CEST, then 02:00 CET)."""
        alt = entry[2]
        if alt is None:
            return entry[0] + sec, entry[1]
        if key == self._amb_key and sec + 120 < self._amb_sec:
            folded: _HourEntry = (alt[0], alt[1], None)
            if isinstance(key, str):
                self._hours[key] = folded  # type: ignore[index]
            else:
                self._local_hours[key] = folded  # type: ignore[index]
            self._amb_key = None
            return alt[0] + sec, alt[1]
        self._amb_key = key
        self._amb_sec = sec
        return entry[0] + sec, entry[1]

    def _local_time(self, y: int, m: int, d: int, h: int, sec: int) -> Tuple[float, int]:
        """Local wall time to (epoch, offset minutes); raises ValueError when impossible."""
        key = (y, m, d, h)
        entry = self._local_hours.get(key)
        if entry is None:
            entry = self._local_hours[key] = self._hour_entry(y, m, d, h)
        return self._resolve(key, entry, sec)

    def _offset_at(self, ts: float) -> Optional[int]:
        """Local zone offset (minutes) at an epoch time."""
        bucket = int(ts // 900)
        minutes = self._offsets.get(bucket)
        if minutes is None:
            try:
                offset = self._from_timestamp(bucket * 900.0).utcoffset()
            except (OverflowError, OSError, ValueError):
                return None
            minutes = int(offset.total_seconds() // 60) if offset is not None else 0
            self._offsets[bucket] = minutes
        return minutes

    def _iso_time(
        self, y: str, mo: str, d: str, h: str, mi: str, s: str, frac: Optional[str], zone: Optional[str]
    ) -> Optional[Tuple[float, Optional[int]]]:
        """(epoch, offset minutes) of an ISO 8601 time; local zone when it has no offset."""
        try:
            hour, minute, second = int(h), int(mi), int(s)
            if hour > 23 or minute > 59 or second > 60:
                return None
            if zone is None:
                ts, tz = self._local_time(int(y), int(mo), int(d), hour, minute * 60 + second)
                return ts + _fraction(frac), tz
            day_key = (y, mo, d)
            day = self._days.get(day_key)
            if day is None:
                day = (datetime.date(int(y), int(mo), int(d)).toordinal() - _EPOCH_ORDINAL) * 86400.0
                self._days[day_key] = day
            tz = _zone_minutes(zone)
        except (ValueError, OverflowError):
            return None
        return day + hour * 3600 + minute * 60 + second + _fraction(frac) - tz * 60, tz

    # -- parsing -----------------------------------------------------------------------------------

    def parse(self, line: str) -> Optional[Envelope]:
        """Envelope for a syslog/journal line, or None when the line has no recognisable envelope."""
        m = _CLASSIC.match(line)
        if m is None:
            if "\xa0" in line[:40]:
                # Logs pasted from web pages and books carry no-break spaces in the header
                # (`Feb\xa0 3 01:01:12`, as in the seeds): read them as the spaces they were.
                head, sep, rest = line.partition(": ")
                # Only when the header has one: a no-break space after the first ": " (but within
                # 40 characters) recursed without end (found by the property tests, issue 4).
                if "\xa0" in head:
                    return self.parse(head.replace("\xa0", " ") + sep + rest)
            return self._parse_other(line, 0)
        return self._classic(m, line)

    def _roll_year(self, mon: str) -> bool:
        """With a given year: count it on when the month goes back by more than 6 (Dec -> Jan)."""
        month = _MONTHS.get(mon)
        if month is None:
            return False
        if month < self._last_month - 6:
            self._year += 1  # type: ignore[operator]
            self._hours.clear()
        self._last_month = month
        self._last_mon = mon
        return True

    def _classic(self, m: re.Match, line: str) -> Optional[Envelope]:  # type: ignore[type-arg]
        """Envelope from a fast-path RFC 3164 match."""
        key, minsec, frac, host, program, pid = m.groups()
        when = self.classic_time(key, minsec, frac)
        if when is None:
            return None
        body = line[m.end() :]
        if body[:4] == "[ID ":
            body = _strip_solaris(body)
        return _new_envelope(Envelope, (when[0], when[1], host, program, int(pid) if pid else None, body))

    def classic_time(self, key: str, minsec: str, frac: Optional[str] = None) -> Optional[Tuple[float, int]]:
        """(epoch, zone offset) of an RFC 3164 stamp split as "Mon dd hh", "MM:SS" and a fraction;
        None when the date is impossible. Counts the year on and remembers the time for the lines
        after, exactly as parsing the whole line does (:mod:`mailtui.fastpath` calls it directly)."""
        if self._year is not None and key[:3] != self._last_mon and not self._roll_year(key[:3]):
            return None
        entry = self._hours.get(key)
        if entry is None:
            entry = self._classic_hour(key)
            if entry is None:
                return None
        sec = _MINSEC.get(minsec)
        if sec is None:
            return None
        if entry[2] is None:
            ts = entry[0] + sec
            tz = entry[1]
        else:
            ts, tz = self._resolve(key, entry, sec)
        if frac:
            ts += float("0." + frac)
        self._last_ts = ts
        self._last_tz = tz
        return ts, tz

    def _classic_hour(self, key: str) -> Optional[_HourEntry]:
        """Hour cache entry for "Mon dd hh", or None when the date is impossible."""
        month = _MONTHS.get(key[:3])
        if month is None:
            return None
        _mon, day_text, hour_text = key.split()
        day, hour = int(day_text), int(hour_text)
        year = self._year if self._year is not None else self._infer_year(month, day)
        try:
            entry = self._hour_entry(year, month, day, hour)
        except (ValueError, OverflowError):
            return None
        self._hours[key] = entry
        return entry

    def _parse_at(self, line: str, depth: int) -> Optional[Envelope]:
        """:meth:`parse` for what is left after a prefix, with the recursion depth bounded."""
        m = _CLASSIC.match(line)
        if m is not None:
            return self._classic(m, line)
        return self._parse_other(line, depth)

    def _parse_other(self, line: str, depth: int) -> Optional[Envelope]:
        """Every format but the fast path's: ISO, RFC 5424, JSON, prefixes, bare tags."""
        if not line or depth > 3:
            return None
        if line[0] == "\ufeff":
            return self._parse_at(line[1:], depth + 1)
        lead = _LEAD.match(line)
        if lead is not None:  # leading blanks and/or <PRI>
            rest = line[lead.end() :]
            if "<" in line[: lead.end()]:
                env = self._parse_rfc5424(line)
                if env is not None:
                    return env
            return self._parse_at(rest, depth + 1)
        first = line[0]
        if first == "{":
            return self._parse_json(line)
        if "0" <= first <= "9":
            env = self._parse_iso(line)
            if env is not None:
                return env
        elif "A" <= first <= "Z":
            env = self._parse_classic_rare(line)
            if env is not None:
                return env
        if depth == 0:
            m = _COMPOSE.match(line)
            if m is not None:
                return self._parse_at(line[m.end() :], depth + 1)
            m = _LOGHUB.match(line)
            if m is not None:
                return self._parse_loghub(line, m)
        m = _BARE_MTA.match(line) if depth == 0 else None
        if m is not None:
            program, pid = m.groups()
            return Envelope(
                self._last_ts, self._last_tz, "", program, int(pid) if pid else None, line[m.end() :]
            )
        return None

    def _remember(self, env: Envelope) -> Envelope:
        self._last_ts = env.ts
        self._last_tz = env.tz
        return env

    def _parse_iso(self, line: str) -> Optional[Envelope]:
        m = _ISO.match(line)
        if m is None:
            return None
        y, mo, d, h, mi, s, frac, zone, host, program, pid = m.groups()
        when = self._iso_time(y, mo, d, h, mi, s, frac, zone)
        if when is None:
            return None
        body = line[m.end() :]
        if body[:4] == "[ID ":
            body = _strip_solaris(body)
        return self._remember(Envelope(when[0], when[1], host, program, int(pid) if pid else None, body))

    def _parse_rfc5424(self, line: str) -> Optional[Envelope]:
        m = _RFC5424.match(line)
        if m is None:
            return None
        y, mo, d, h, mi, s, frac, zone, host, app, procid = m.groups()
        if y is None:
            when: Optional[Tuple[float, Optional[int]]] = (self._last_ts, self._last_tz)
        else:
            when = self._iso_time(y, mo, d, h, mi, s, frac, zone)
        if when is None:
            return None
        body = line[m.end() :]
        if body[:1] == "\ufeff":
            body = body[1:]
        pid = int(procid) if procid.isdigit() and procid.isascii() else None
        return self._remember(
            Envelope(
                when[0],
                when[1],
                "" if host == "-" else host,
                "" if app == "-" else app,
                pid,
                body,
            )
        )

    def _parse_classic_rare(self, line: str) -> Optional[Envelope]:
        """RFC 3164 lines the fast path refuses: syslog-ng's `<facility.level>` before the host,
        no host, or a tag-less syslogd notice."""
        m = _CLASSIC_ONLY.match(line)
        if m is None:
            return None
        key, minsec, frac = m.groups()
        if self._year is not None and key[:3] != self._last_mon and not self._roll_year(key[:3]):
            return None
        rest = line[m.end() :]
        host = ""
        facility = _FACILITY.match(rest)
        if facility is not None:
            rest = rest[facility.end() :]
        with_host = _HOST_TAG.match(rest)
        tag = None if with_host is not None else _TAG_ONLY.match(rest)
        if tag is not None and tag.group(2) is None:
            tag = None  # "host: text" is too ambiguous without a pid
        if with_host is not None:
            host, program, pid = with_host.groups()
            body = rest[with_host.end() :]
        elif tag is not None:
            program, pid = tag.groups()
            body = rest[tag.end() :]
        else:
            host, _, after = rest.partition(" ")
            if not _TAGLESS.match(after):
                return None
            program, pid, body = "", None, after
        entry = self._hours.get(key) or self._classic_hour(key)
        sec = _MINSEC.get(minsec)
        if entry is None or sec is None:
            return None
        ts, tz = self._resolve(key, entry, sec)
        if body[:4] == "[ID ":
            body = _strip_solaris(body)
        return self._remember(
            Envelope(ts + _fraction(frac), tz, host, program, int(pid) if pid else None, body)
        )

    def _parse_loghub(self, line: str, m: re.Match) -> Optional[Envelope]:  # type: ignore[type-arg]
        """Loghub's `- EPOCH YYYY.MM.DD node Mon D hh:mm:ss host/host tag[pid]: msg` lines."""
        epoch, year, mon, day, hh, mi, ss, host = m.groups()
        month = _MONTHS.get(mon)
        if month is None:
            return None
        ts = float(epoch)
        try:
            wall = (datetime.date(int(year), month, int(day)).toordinal() - _EPOCH_ORDINAL) * 86400
        except ValueError:
            return None
        diff = wall + int(hh) * 3600 + int(mi) * 60 + int(ss) - ts
        tz: Optional[int] = round(diff / 900.0) * 15
        if abs(diff) > 15 * 3600:
            tz = None
        rest = line[m.end() :]
        tag = _TAG_ONLY.match(rest)
        if tag is None:
            program, pid, body = "", None, rest
        else:
            program, pid = tag.groups()
            body = rest[tag.end() :]
        return self._remember(
            Envelope(ts, tz, host.split("/", 1)[0], program, int(pid) if pid else None, body)
        )

    def _parse_json(self, line: str) -> Optional[Envelope]:
        """One `journalctl -o json` object."""
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(obj, dict):
            return None
        raw_ts = obj.get("__REALTIME_TIMESTAMP") or obj.get("_SOURCE_REALTIME_TIMESTAMP")
        if not isinstance(raw_ts, str) or not (raw_ts.isdigit() and raw_ts.isascii()) or len(raw_ts) > 20:
            return None
        ts = int(raw_ts) / 1e6
        tz = self._offset_at(ts)
        program = obj.get("SYSLOG_IDENTIFIER") or obj.get("_COMM") or ""
        host = obj.get("_HOSTNAME") or ""
        pid: Optional[int] = None
        for name in ("SYSLOG_PID", "_PID"):
            value = obj.get(name)
            if isinstance(value, str) and value.isdigit() and value.isascii():
                pid = int(value)
                break
        message = obj.get("MESSAGE")
        if isinstance(message, list):
            try:
                body = decode(bytes(message))
            except (TypeError, ValueError):
                body = ""
        elif isinstance(message, str):
            body = message
        else:
            body = ""
        # JSON may escape lone surrogates (`"\\ud800"`), which no encoder can write out again:
        # they would crash printing and exports later, so they become U+FFFD here.
        return self._remember(
            Envelope(
                ts, tz, _no_surrogates(str(host)), _no_surrogates(str(program)), pid, _no_surrogates(body)
            )
        )


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(text: str) -> str:
    """Lone surrogates (from JSON escapes) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _strip_solaris(body: str) -> str:
    """Drop Solaris' `[ID 801593 mail.info] ` message tag."""
    m = _SOLARIS_ID.match(body)
    return body[m.end() :] if m is not None else body


def detect_syslog(lines: Sequence[str]) -> Optional[str]:
    """'syslog' if the lines look like syslog/journal text (any of them parses),
    'journal-json' for journalctl -o json, else None."""
    parser = EnvelopeParser(time.time())
    json_lines = 0
    text_lines = 0
    for line in lines:
        if line.lstrip()[:1] == "{":
            if parser._parse_json(line.strip()) is not None:
                json_lines += 1
        elif parser.parse(line) is not None:
            text_lines += 1
    if json_lines and json_lines >= text_lines:
        return "journal-json"
    if text_lines or json_lines:
        return "syslog"
    return None

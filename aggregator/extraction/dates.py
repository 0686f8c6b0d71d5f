"""Date strings as news pages write them -> aware datetimes.


ISO 8601 and RFC 2822 (metadata) and the Vietnamese visible forms: "Thứ Ba, 04/02/2025 - 14:00",
"04/02/2025 14:00 (GMT+7)", "14:00 ngày 04/02/2025", "4/2/2025 2:00:00 PM",
"ngày 4 tháng 2 năm 2025".
Day comes before month; a time without an offset is local to the given zone; future dates, and
dates before 1900 (placeholders like 0001-01-01), are None.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime

# A page may be a little ahead of our clock; more than this is a wrong date, not a scoop.
FUTURE_TOLERANCE = timedelta(hours=1)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
"""Older than any web page: an earlier date is a placeholder or a typo (and date arithmetic on
0001-01-01 overflows)."""

_DMY = re.compile(r"(?<!\d)(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})(?!\d)")
_YMD = re.compile(r"(?<!\d)(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})(?!\d)")
_WORDS = re.compile(
    r"(?:ngày\s+)?(\d{1,2})\s+tháng\s+(\d{1,2})(?:\s*(?:năm|,)\s*|\s+)(\d{4})", re.IGNORECASE
)
_TIME = re.compile(
    r"(?<![\d:/])(\d{1,2})\s*(?::|h|giờ)\s*(\d{2})(?:\s*:\s*(\d{2}))?"
    r"(?:\s*(am|pm|sa|ch)\b)?",
    re.IGNORECASE,
)
_OFFSET = re.compile(
    r"(?:gmt|utc)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?|([+-])(\d{2}):?(\d{2})\b", re.I
)
# An RFC 2822 date names its month in English: email.utils finds no date in a text without one
# of these (the abbreviations are in the full names too).
_MONTH_NAME = re.compile(r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec", re.IGNORECASE)
_ISO = re.compile(
    r"^\s*\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?\s*$"
)


def _aware(value: datetime, tz: tzinfo) -> datetime:
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def plausible_date(
    value: datetime | None, now: datetime | None, tolerance: timedelta = FUTURE_TOLERANCE
) -> datetime | None:
    """An aware `value`, or None when it is before EARLIEST or after `now` plus `tolerance`."""
    if value is None:
        return None
    limit = (now or datetime.now(UTC)) + tolerance
    return value if EARLIEST <= value <= limit else None


def parse_iso_or_rfc(text: str, tz: tzinfo, now: datetime | None = None) -> datetime | None:
    """A machine-readable date (ISO 8601 or RFC 2822, as in metadata); None if it is neither."""
    text = text.strip()
    if not text:
        return None
    if _ISO.match(text):
        try:
            value = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            return None
        return plausible_date(_aware(value, tz), now)
    if not _MONTH_NAME.search(text):
        return None  # what parsedate_to_datetime says, without its exception
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return plausible_date(_aware(value, tz), now)


def _offset(text: str) -> tzinfo | None:
    match = _OFFSET.search(text)
    if not match:
        return None
    sign, hours, minutes = (match.group(1), match.group(2), match.group(3))
    if sign is None:
        sign, hours, minutes = match.group(4), match.group(5), match.group(6)
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if delta > timedelta(hours=14):
        return None
    return timezone(-delta if sign == "-" else delta)


def parse_date(text: str, tz: tzinfo, now: datetime | None = None) -> datetime | None:
    """The date and time a piece of page text states; None when it states none, or a future one."""
    machine = parse_iso_or_rfc(text, tz, now)
    if machine is not None:
        return machine
    match = _WORDS.search(text) or _DMY.search(text)
    if match:
        day, month, year = (int(g) for g in match.groups())
    else:
        match = _YMD.search(text)
        if not match:
            return None
        year, month, day = (int(g) for g in match.groups())
    rest = text[: match.start()] + " " + text[match.end() :]
    hour = minute = second = 0
    time_match = _TIME.search(rest)
    if time_match:
        hour, minute = int(time_match.group(1)), int(time_match.group(2))
        second = int(time_match.group(3) or 0)
        meridiem = (time_match.group(4) or "").lower()
        if meridiem in ("pm", "ch") and hour < 12:
            hour += 12
        elif meridiem in ("am", "sa") and hour == 12:
            hour = 0
    try:
        value = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return plausible_date(value.replace(tzinfo=_offset(rest) or tz), now)

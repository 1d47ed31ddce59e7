"""Reading dates and times as people write them in France.

``28/04``, ``28/04/2025``, ``28 avril``, ``mardi 1er avril 2025``, ``2025-04-28``,
``demain``; ``9h30``, ``14h``, ``14:00``, ``9 h 30``. A date without a year is the
next such day from today. Anything else raises a :class:`UserFacingError` that
shows how to write it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.core.errors import UserFacingError
from handlers.core.grammar import fold

_MONTHS = {
    "janvier": 1, "janv": 1, "jan": 1, "january": 1,
    "fevrier": 2, "fevr": 2, "fev": 2, "february": 2, "feb": 2,
    "mars": 3, "march": 3, "mar": 3,
    "avril": 4, "avr": 4, "april": 4, "apr": 4,
    "mai": 5, "may": 5,
    "juin": 6, "june": 6, "jun": 6,
    "juillet": 7, "juil": 7, "july": 7, "jul": 7,
    "aout": 8, "august": 8, "aug": 8,
    "septembre": 9, "sept": 9, "sep": 9, "september": 9,
    "octobre": 10, "oct": 10, "october": 10,
    "novembre": 11, "nov": 11, "november": 11,
    "decembre": 12, "dec": 12, "december": 12,
}
_WEEKDAYS = {"lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
             "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
_RELATIVE = {"aujourd'hui": 0, "aujourdhui": 0, "today": 0, "demain": 1, "tomorrow": 1,
             "apres-demain": 2}

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SLASH = re.compile(r"^(\d{1,2})[/.](\d{1,2})(?:[/.](\d{2}|\d{4}))?$")
_WORDS = re.compile(r"^(?:([a-z]+)\s+)?(\d{1,2})(?:er)?\s+([a-z]+)\.?(?:\s+(\d{4}))?$")
_TIME = re.compile(r"^(\d{1,2})\s*(?:h|:)\s*(\d{2})?$|^(\d{1,2})\s*h$")


def parse_date(text: str, today: date) -> date:
    """Read a calendar date; a date with no year is the next one on or after ``today``."""
    raw = " ".join(fold(text).replace("’", "'").split())
    if raw in _RELATIVE:
        return today + timedelta(days=_RELATIVE[raw])
    try:
        if m := _ISO.match(raw):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _SLASH.match(raw):
            day, month = int(m[1]), int(m[2])
            if m[3]:
                year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
                return date(year, month, day)
            return _next(day, month, today)
        if m := _WORDS.match(raw):
            weekday, day, month_word, year = m[1], int(m[2]), m[3], m[4]
            if weekday and weekday not in _WEEKDAYS:
                raise UserFacingError("errors/bad_date", text=text)
            month = _MONTHS.get(month_word)
            if month is None:
                raise UserFacingError("errors/bad_date", text=text)
            if year:
                return date(int(year), month, day)
            return _next(day, month, today)
    except ValueError:
        raise UserFacingError("errors/impossible_date", text=text) from None
    raise UserFacingError("errors/bad_date", text=text)


def _next(day: int, month: int, today: date) -> date:
    """The next ``day/month`` on or after today (29/02 looks up to four years ahead)."""
    for year in range(today.year, today.year + 5):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise ValueError(f"no {day}/{month}")


def parse_time(text: str) -> time:
    """Read a time of day: ``9h30``, ``14h``, ``14:00``, ``9 h 30``, ``midi``."""
    raw = fold(text).strip()
    if raw in ("midi", "noon"):
        return time(12, 0)
    if raw == "minuit":
        return time(0, 0)
    m = _TIME.match(raw)
    if not m:
        raise UserFacingError("errors/bad_time", text=text)
    hour = int(m[1] if m[1] is not None else m[3])
    minute = int(m[2]) if m[2] else 0
    if hour > 23 or minute > 59:
        raise UserFacingError("errors/bad_time", text=text)
    return time(hour, minute)


def looks_like_time(text: str) -> bool:
    """Whether ``text`` reads as a time of day (used to split ``28/04 14h``)."""
    raw = fold(text).strip()
    return raw in ("midi", "minuit", "noon") or bool(_TIME.match(raw))


def parse_datetime(text: str, now: datetime, tz: ZoneInfo, default_time: time = time(9, 0)
                   ) -> datetime:
    """Read ``<date> [à] <time>`` in the cohort's time zone; returns an aware datetime.

    ``2025-04-28T14:00`` is accepted too. A missing time means ``default_time``.
    """
    raw = " ".join(text.split())
    if "T" in raw and _ISO.match(raw.split("T")[0]):
        day_part, _, time_part = raw.partition("T")
        d = parse_date(day_part, now.astimezone(tz).date())
        t = parse_time(time_part[:5]) if time_part else default_time
        return _localize(datetime.combine(d, t), tz)
    words = raw.split(" ")
    time_words: list[str] = []
    for size in (3, 2, 1):
        if len(words) > size and looks_like_time(" ".join(words[-size:])):
            time_words = words[-size:]
            words = words[:-size]
            break
    if words and fold(words[-1]) in ("a", "at"):
        words = words[:-1]
    if not words:
        raise UserFacingError("errors/bad_date", text=text)
    d = parse_date(" ".join(words), now.astimezone(tz).date())
    t = parse_time(" ".join(time_words)) if time_words else default_time
    return _localize(datetime.combine(d, t), tz)


def _localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """Attach ``tz``; a wall time skipped by a DST change moves forward by the gap."""
    aware = naive.replace(tzinfo=tz)
    roundtrip = aware.astimezone(ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None)
    if roundtrip != naive:
        aware = (naive + timedelta(hours=1)).replace(tzinfo=tz)
    return aware

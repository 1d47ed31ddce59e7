"""Dates and times as a French (or English) reader expects them.

French: « mardi 1er avril 2025, 11 h – 13 h », « 9 h 30 ». English:
"Tuesday 1 April 2025, 11:00–13:00". Day and month names come from Babel (CLDR).
"""

from __future__ import annotations

from datetime import date, datetime, time, tzinfo

from babel.dates import format_date

NBSP = "\u00a0"
NNBSP = "\u202f"


def long_date(d: date | datetime, lang: str = "fr", *, weekday: bool = True,
              year: bool = True) -> str:
    """``mardi 1er avril 2025`` / ``Tuesday 1 April 2025``."""
    day = d.date() if isinstance(d, datetime) else d
    if lang == "fr":
        pattern = ("EEEE " if weekday else "") + "d MMMM" + (" y" if year else "")
        text = format_date(day, pattern, locale="fr_FR")
        if day.day == 1:
            text = text.replace(" 1 ", " 1er ", 1) if weekday else text.replace("1 ", "1er ", 1)
        return text
    pattern = ("EEEE " if weekday else "") + "d MMMM" + (" y" if year else "")
    return format_date(day, pattern, locale="en_GB")


def short_date(d: date | datetime, lang: str = "fr") -> str:
    """``28/04/2025`` / ``28/04/2025`` (both sides of the Channel write it so)."""
    day = d.date() if isinstance(d, datetime) else d
    return day.strftime("%d/%m/%Y")


def clock(t: time | datetime, lang: str = "fr") -> str:
    """``11 h``, ``9 h 30`` / ``11:00``, ``09:30``."""
    if lang == "fr":
        return f"{t.hour}{NBSP}h" + (f"{NBSP}{t.minute:02d}" if t.minute else "")
    return f"{t.hour:02d}:{t.minute:02d}"


def when(start: datetime, end: datetime | None = None, lang: str = "fr",
         tz: tzinfo | None = None) -> str:
    """``mardi 1er avril 2025, 11 h – 13 h`` in the given time zone."""
    if tz is not None:
        start = start.astimezone(tz)
        end = end.astimezone(tz) if end is not None else None
    text = f"{long_date(start, lang)}, {clock(start, lang)}"
    if end is None:
        return text
    if end.date() == start.date():
        sep = f"{NBSP}–{NBSP}" if lang == "fr" else "–"
        return f"{text}{sep}{clock(end, lang)}"
    return f"{text} – {long_date(end, lang)}, {clock(end, lang)}"


def short_day(d: date | datetime, lang: str = "fr") -> str:
    """``mar. 28/04`` / ``Tue 28/04``: a date as a grid's column head."""
    day = d.date() if isinstance(d, datetime) else d
    weekday = format_date(day, "EEE", locale="fr_FR" if lang == "fr" else "en_GB")
    return f"{weekday} {day.strftime('%d/%m')}"


def time_range(start: datetime, end: datetime | None, lang: str = "fr") -> str:
    """``14 h – 17 h`` / ``14:00–17:00`` (both already in the reader's time zone)."""
    if end is None:
        return clock(start, lang)
    sep = f"{NBSP}–{NBSP}" if lang == "fr" else "–"
    return f"{clock(start, lang)}{sep}{clock(end, lang)}"

"""Reading what coordinators type for events: when, until when, where, for whom."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.admin.lookup import find_delegation
from handlers.admin.members import parse_bool, parse_category
from handlers.calendar.model import KIND_WORDS
from handlers.calendar.recurrence import localize, wall
from handlers.core.context import Context
from handlers.core.dates import looks_like_time, parse_date, parse_time
from handlers.core.errors import UserFacingError
from handlers.core.grammar import fold
from storage.models_calendar import TargetKind

_DURATION = re.compile(
    r"^(?:(?P<days>\d+)\s*(?:j|jours?|d|days?))?\s*(?:(?P<hours>\d+)\s*(?:h|heures?|hours?))?"
    r"\s*(?P<minutes>\d+)?\s*(?:min|mn|m|minutes?)?$")
MAX_TITLE = 300
MAX_TEXT = 5000


@dataclass(frozen=True, slots=True)
class When:
    """A start typed by a person: an instant, or a whole day when no time was given."""

    start: datetime
    all_day: bool


def parse_when(text: str, now: datetime, tz: ZoneInfo) -> When:
    """``28/05 10h``, ``mardi 28 mai à 10h``, ``2025-05-28T10:00``, or a date alone (all day)."""
    raw = " ".join(text.split())
    if "T" in raw and re.match(r"^\d{4}-\d{1,2}-\d{1,2}T", raw):
        day_part, _, time_part = raw.partition("T")
        day = parse_date(day_part, wall(now, tz).date())
        return When(localize(datetime.combine(day, parse_time(time_part[:5])), tz), False)
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
    day = parse_date(" ".join(words), wall(now, tz).date())
    if not time_words:
        return When(localize(datetime.combine(day, time(0, 0)), tz), True)
    return When(localize(datetime.combine(day, parse_time(" ".join(time_words))), tz), False)


def parse_end(text: str, start: When, now: datetime, tz: ZoneInfo) -> datetime:
    """An end: a time on the start's day (``12h``), or a date and time, or a date (all day)."""
    raw = " ".join(text.split())
    if looks_like_time(raw):
        day = wall(start.start, tz).date()
        end = localize(datetime.combine(day, parse_time(raw)), tz)
    else:
        when = parse_when(raw, now, tz)
        end = when.start + (timedelta(days=1) if when.all_day and start.all_day else
                            timedelta(0))
    if end <= start.start:
        raise UserFacingError("calendar/end_before_start", start=start.start, end=end,
                              tz=tz.key)
    return end


def parse_duration(text: str) -> timedelta:
    """``2h``, ``1h30``, ``90min``, ``2j``."""
    raw = fold(text).replace(" ", "")
    match = _DURATION.match(raw)
    if not raw or not match or not any(match.group(g) for g in ("days", "hours", "minutes")):
        raise UserFacingError("calendar/bad_duration", text=text)
    duration = timedelta(days=int(match["days"] or 0), hours=int(match["hours"] or 0),
                         minutes=int(match["minutes"] or 0))
    if duration <= timedelta(0) or duration > timedelta(days=31):
        raise UserFacingError("calendar/bad_duration", text=text)
    return duration


def parse_link(text: str) -> str:
    link = text.strip()
    if not re.match(r"^https?://[^\s<>\"]+$", link) or len(link) > 1000:
        raise UserFacingError("calendar/bad_link", text=text)
    return link


def parse_kind(text: str) -> str:
    kind = KIND_WORDS.get(fold(text))
    if kind is None:
        raise UserFacingError("calendar/bad_kind", text=text)
    return kind


def parse_recorded(text: str) -> bool:
    return parse_bool(text, "enregistre")


def clean_text(text: str, limit: int, name: str) -> str:
    cleaned = text.strip()
    if len(cleaned) > limit:
        raise UserFacingError("calendar/text_too_long", name=name, limit=limit)
    return cleaned


_PLURALS = {"elus": "elu", "elues": "elu", "agents": "agent", "agentes": "agent",
            "techniciens": "agent", "partenaires": "socioeco", "etats": "etat"}
_WHOLE = ("cohorte", "tous", "toutes", "tout-le-monde", "all", "everyone", "cohort")
_REFERENTS = ("referents", "referentes", "referent", "referente", "referent-es", "referents-es")


async def parse_target(ctx: Context, text: str) -> tuple[TargetKind, str | None]:
    """``cohorte``, a category (``elus``, ``etat``…), ``referents``, or a delegation's name."""
    word = fold(text.strip()).replace("·", "-").replace(".", "-")
    if word in _WHOLE:
        return TargetKind.COHORT, None
    if word in _REFERENTS:
        return TargetKind.REFERENTS, None
    try:
        return TargetKind.CATEGORY, parse_category(_PLURALS.get(word, word)).value
    except UserFacingError:
        pass
    try:
        delegation = await find_delegation(ctx, text)
    except UserFacingError as error:
        if error.template == "errors/unknown_delegation":
            raise UserFacingError("calendar/bad_target", text=text,
                                  candidates=error.context.get("candidates", [])) from None
        raise
    return TargetKind.DELEGATION, str(delegation.id)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a local calendar day starts and ends."""
    start = localize(datetime.combine(day, time(0, 0)), tz)
    return start, localize(datetime.combine(day + timedelta(days=1), time(0, 0)), tz)

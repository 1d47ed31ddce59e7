"""Occurrences and reminder times, on the wall clock of the event's time zone.

A recurrence is expanded on naive local times and each occurrence is then placed in
its zone, so an 11:00 Europe/Paris permanence stays at 11:00 after a DST change. A
local time that does not exist (02:30 on the last Sunday of March) moves forward by
the gap, and one that exists twice (02:30 on the last Sunday of October) means its
first occurrence: both as RFC 5545 says (section 3.3.5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from handlers.core.errors import UserFacingError
from handlers.core.grammar import fold

MINUTES_PER_DAY = 24 * 60
ALL_DAY_ANCHOR = time(9, 0)
"""Reminders of an all-day event count from 09:00 local on its day."""
MAX_OFFSET_MINUTES = 60 * MINUTES_PER_DAY
MAX_OFFSETS = 6
DEFAULT_OFFSETS = (7 * MINUTES_PER_DAY, MINUTES_PER_DAY, 60)
"""J-7, J-1, H-1."""
ALLOWED_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")

_UNTIL = re.compile(r"UNTIL=(\d{8}(?:T\d{6}Z?)?)", re.IGNORECASE)
_GLUE = re.compile(r"(\d)\s+([a-z]+)(?=$|[\s,])")
_FREQ = re.compile(r"(?:^|;)FREQ=([A-Z]+)", re.IGNORECASE)
_OFFSET = re.compile(
    r"^(?:(?P<jd>[jd])-?(?P<days_pre>\d+)|(?P<hh>h)-?(?P<hours_pre>\d+)"
    r"|(?P<n>\d+)\s*(?P<unit>j|jours?|d|days?|sem|semaines?|w|weeks?|h|heures?|hours?"
    r"|min|mn|m|minutes?)(?P<rest>\d{1,2})?)$")


def localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """The instant a wall-clock time names in ``tz`` (UTC).

    ``fold=0`` gives, per PEP 495, the offset in force *before* a transition: a
    skipped time lands after the gap, a repeated time is its first occurrence.
    """
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive wall-clock time of an instant in ``tz``."""
    return instant.astimezone(tz).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence: ``original_start`` names it (RECURRENCE-ID), ``start`` is when it is."""

    original_start: datetime
    start: datetime
    end: datetime
    moved: bool = False


@dataclass(frozen=True, slots=True)
class Series:
    """What expansion needs to know about an event (decoupled from the ORM row)."""

    starts_at: datetime
    ends_at: datetime
    timezone: str
    rrule: str | None = None
    cancelled: frozenset[datetime] = frozenset()
    moved: tuple[tuple[datetime, datetime, datetime], ...] = ()
    """(original start, new start, new end)."""
    added: tuple[tuple[datetime, datetime], ...] = ()
    """(start, end) of RDATE occurrences."""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def compile_rule(rule: str, dtstart_local: datetime, tz: ZoneInfo) -> rrule:
    """A dateutil rule over naive local times; a UTC ``UNTIL`` is moved to the local clock."""

    def to_local(match: re.Match[str]) -> str:
        value = match.group(1).upper()
        if value.endswith("Z"):
            until = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            return "UNTIL=" + wall(until, tz).strftime("%Y%m%dT%H%M%S")
        return "UNTIL=" + value

    text = _UNTIL.sub(to_local, rule.strip())
    parsed = rrulestr(text, dtstart=dtstart_local, ignoretz=True)
    if not isinstance(parsed, rrule):
        raise ValueError("a single RRULE is expected")
    return parsed


def expand(series: Series, start: datetime, end: datetime) -> list[Occurrence]:
    """Occurrences whose start is in ``[start, end)``, in order (instants in UTC)."""
    tz = series.tz
    duration = series.ends_at - series.starts_at
    moved_from = {original: (new_start, new_end) for original, new_start, new_end in series.moved}
    found: dict[datetime, Occurrence] = {}
    originals: Iterable[datetime]
    if series.rrule:
        local_start = wall(series.starts_at, tz)
        rule = compile_rule(series.rrule, local_start, tz)
        slack = timedelta(days=1)
        lo = max(wall(start, tz) - slack, local_start)
        hi = wall(end, tz) + slack
        originals = (localize(n, tz) for n in rule.between(lo, hi, inc=True))
    else:
        originals = [series.starts_at]
    for original in originals:
        if original in series.cancelled:
            continue
        if original in moved_from:
            new_start, new_end = moved_from[original]
            occurrence = Occurrence(original, new_start, new_end, moved=True)
        else:
            occurrence = Occurrence(original, original, original + duration)
        if start <= occurrence.start < end:
            found[original] = occurrence
    for original, new_start, new_end in series.moved:
        if original not in found and original not in series.cancelled \
                and start <= new_start < end and _exists(series, original):
            found[original] = Occurrence(original, new_start, new_end, moved=True)
    for added_start, added_end in series.added:
        if added_start not in found and added_start not in series.cancelled \
                and start <= added_start < end:
            found[added_start] = Occurrence(added_start, added_start, added_end)
    return sorted(found.values(), key=lambda o: (o.start, o.original_start))


def _exists(series: Series, original: datetime) -> bool:
    """Whether the series really has an occurrence that starts at ``original``."""
    if not series.rrule:
        return original == series.starts_at
    tz = series.tz
    rule = compile_rule(series.rrule, wall(series.starts_at, tz), tz)
    local = wall(original, tz)
    return any(localize(n, tz) == original
               for n in rule.between(local - timedelta(days=1), local + timedelta(days=1),
                                     inc=True))


def occurs_at(series: Series, original: datetime) -> bool:
    """Whether ``original`` is the start of one of the series' own occurrences."""
    return _exists(series, original) or any(a == original for a, _ in series.added)


def next_occurrences(series: Series, after: datetime, limit: int,
                     horizon: timedelta = timedelta(days=800)) -> list[Occurrence]:
    """Up to ``limit`` occurrences starting at or after ``after``."""
    found: list[Occurrence] = []
    step = timedelta(days=62)
    lo = after
    while len(found) < limit and lo < after + horizon:
        found += expand(series, lo, lo + step)
        lo += step
    return found[:limit]


def reminder_anchor(occurrence_start: datetime, tz: ZoneInfo, all_day: bool) -> datetime:
    """The instant reminders count back from: the start, or 09:00 for an all-day event."""
    if not all_day:
        return occurrence_start
    day = wall(occurrence_start, tz).date()
    return localize(datetime.combine(day, ALL_DAY_ANCHOR), tz)


def due_at(anchor: datetime, offset_minutes: int, tz: ZoneInfo) -> datetime:
    """When a reminder ``offset_minutes`` before ``anchor`` is due.

    Whole days count on the wall clock (J-1 of an 11:00 event is 11:00 the day
    before, even across a DST change); the remaining minutes are real time.
    """
    days, minutes = divmod(offset_minutes, MINUTES_PER_DAY)
    base = anchor
    if days:
        base = localize(wall(anchor, tz) - timedelta(days=days), tz)
    return base - timedelta(minutes=minutes)


def parse_offsets(text: str) -> tuple[int, ...]:
    """``7j,1j,1h`` / ``J-7 J-1 H-1`` / ``2h30, 15min`` → minutes, largest first.

    ``aucun`` (none) gives an empty tuple: no reminders.
    """
    raw = fold(text).replace(";", ",").replace(" et ", ",").replace(" and ", ",")
    if raw.strip() in ("aucun", "aucune", "none", "0", "non"):
        return ()
    raw = _GLUE.sub(r"\1\2", raw)
    parts = [p for chunk in raw.split(",") for p in chunk.split()]
    if not parts:
        raise UserFacingError("calendar/bad_offsets", text=text)
    values: set[int] = set()
    for part in parts:
        values.add(_offset_minutes(part, text))
    if len(values) > MAX_OFFSETS:
        raise UserFacingError("calendar/too_many_offsets", text=text, limit=MAX_OFFSETS)
    return tuple(sorted(values, reverse=True))


def _offset_minutes(part: str, text: str) -> int:
    match = _OFFSET.match(part.strip())
    if not match:
        raise UserFacingError("calendar/bad_offsets", text=text)
    if match["jd"]:
        minutes = int(match["days_pre"]) * MINUTES_PER_DAY
    elif match["hh"]:
        minutes = int(match["hours_pre"]) * 60
    else:
        n = int(match["n"])
        unit = match["unit"]
        rest = int(match["rest"]) if match["rest"] else 0
        if unit[0] in "jd":
            minutes = n * MINUTES_PER_DAY
        elif unit.startswith(("sem", "w")):
            minutes = n * 7 * MINUTES_PER_DAY
        elif unit[0] == "h":
            if rest >= 60:
                raise UserFacingError("calendar/bad_offsets", text=text)
            minutes = n * 60 + rest
        else:
            minutes = n
        if rest and unit[0] != "h":
            raise UserFacingError("calendar/bad_offsets", text=text)
    if minutes <= 0 or minutes > MAX_OFFSET_MINUTES:
        raise UserFacingError("calendar/offset_out_of_range", text=part)
    return minutes


def check_rrule(text: str, starts_at: datetime, tz: ZoneInfo) -> str:
    """Validate an RRULE typed or imported; returns it normalised (no ``RRULE:`` prefix).

    Refused: what dateutil cannot read, rules more frequent than daily (a reminder
    storm), rules that produce no occurrence.
    """
    rule = text.strip()
    if rule.upper().startswith("RRULE:"):
        rule = rule[6:]
    rule = rule.upper().replace(" ", "")
    if not rule or "\n" in rule or len(rule) > 500:
        raise UserFacingError("calendar/bad_rrule", text=text)
    freq = _FREQ.search(rule)
    if freq is None:
        raise UserFacingError("calendar/bad_rrule", text=text)
    if freq.group(1) not in ALLOWED_FREQUENCIES:
        raise UserFacingError("calendar/rrule_too_frequent", text=text)
    try:
        compiled = compile_rule(rule, wall(starts_at, tz), tz)
        first = compiled.after(wall(starts_at, tz) - timedelta(seconds=1), inc=True)
    except (ValueError, TypeError, OverflowError, IndexError, KeyError):
        raise UserFacingError("calendar/bad_rrule", text=text) from None
    if first is None:
        raise UserFacingError("calendar/rrule_empty", text=text)
    return rule


def first_weekday_of_month(year: int, month: int, weekday: int) -> date:
    """The first ``weekday`` (0 = Monday) of a month."""
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7)


def distinct_sorted(values: Sequence[int]) -> tuple[int, ...]:
    return tuple(sorted(set(values), reverse=True))

"""iCalendar (RFC 5545) in and out, through the ``icalendar`` library.

:func:`parse_ics` reads a whole file (Framagenda/Nextcloud, Google, Outlook, Thunderbird
exports) into neutral :class:`ParsedEvent` values and validates every one of them
before anything is stored, so a bad file is refused as a whole, with the event at
fault named. :func:`build_ics` writes a cohort's events, with their recurrence,
cancelled (EXDATE) and moved (RECURRENCE-ID) occurrences and the time zones they use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handlers.calendar.recurrence import check_rrule, localize
from handlers.core.errors import UserFacingError
from storage.models_calendar import CalendarEvent, EventStatus, ExceptionKind, TargetKind

if TYPE_CHECKING:
    import icalendar

MAX_ICS_BYTES = 2 * 1024 * 1024
MAX_EVENTS = 2000
PRODID = "-//Fabrique des transitions//cohortbot//FR"
X_KIND = "X-COHORTBOT-KIND"
X_TARGET = "X-COHORTBOT-TARGET"
X_RECORDED = "X-COHORTBOT-RECORDED"
X_NOTE = "X-COHORTBOT-NOTE"
X_AGENDA = "X-COHORTBOT-AGENDA"


@dataclass(slots=True)
class ParsedEvent:
    """One VEVENT series as the calendar feature stores it (instants in UTC)."""

    uid: str
    title: str
    start: datetime
    end: datetime
    timezone: str
    all_day: bool = False
    rrule: str | None = None
    place: str | None = None
    link: str | None = None
    agenda: str | None = None
    cancelled: bool = False
    sequence: int = 0
    kind: str = "event"
    target_kind: TargetKind = TargetKind.COHORT
    target_value: str | None = None
    recorded: bool | None = None
    note: str | None = None
    exdates: list[datetime] = field(default_factory=list)
    rdates: list[tuple[datetime, datetime]] = field(default_factory=list)
    overrides: list[tuple[datetime, datetime, datetime, bool]] = field(default_factory=list)
    """(original start, new start, new end, cancelled) from VEVENTs with a RECURRENCE-ID."""


def parse_ics(data: bytes, default_tz: ZoneInfo) -> list[ParsedEvent]:
    """Read and validate an ICS file; raises :class:`UserFacingError` for any bad input."""
    import icalendar

    if len(data) > MAX_ICS_BYTES:
        raise UserFacingError("calendar/ics_too_big", size=len(data), limit=MAX_ICS_BYTES)
    if b"BEGIN:VCALENDAR" not in data[:4096].upper():
        raise UserFacingError("calendar/ics_malformed")
    try:
        calendars = icalendar.Calendar.from_ical(data, multiple=True)
        components = [c for cal in calendars for c in cal.walk("VEVENT")]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise UserFacingError("calendar/ics_malformed") from None
    if len(components) > MAX_EVENTS:
        raise UserFacingError("calendar/ics_too_many", count=len(components), limit=MAX_EVENTS)
    masters: dict[str, ParsedEvent] = {}
    overrides: list[tuple[str, Any]] = []
    for component in components:
        uid = _text(component.get("UID"))
        if not uid:
            raise UserFacingError("calendar/ics_bad_event", title=_title(component),
                                  reason="no_uid")
        if component.get("RECURRENCE-ID") is not None:
            overrides.append((uid, component))
            continue
        if uid in masters:
            raise UserFacingError("calendar/ics_bad_event", title=_title(component),
                                  reason="duplicate_uid")
        masters[uid] = _master(component, uid, default_tz)
    for uid, component in overrides:
        master = masters.get(uid)
        if master is None:
            continue
        original = _instant(_decoded(component, "RECURRENCE-ID", _title(component)),
                            default_tz)[0]
        start, end, _tz, _all_day = _span(component, default_tz)
        cancelled = _text(component.get("STATUS")).upper() == "CANCELLED"
        master.overrides.append((original, start, end, cancelled))
    if not masters:
        raise UserFacingError("calendar/ics_empty")
    return list(masters.values())


def _master(component: Any, uid: str, default_tz: ZoneInfo) -> ParsedEvent:
    title = _title(component)
    if len(uid) > 255:
        raise UserFacingError("calendar/ics_bad_event", title=title, reason="long_uid")
    start, end, tz_name, all_day = _span(component, default_tz)
    rrule = None
    rules = component.get("RRULE")
    if isinstance(rules, list):
        if len(rules) > 1:
            raise UserFacingError("calendar/ics_bad_event", title=title, reason="many_rrules")
        rules = rules[0]
    if rules is not None:
        text = rules.to_ical().decode("utf-8", "replace")
        try:
            rrule = check_rrule(text, start, ZoneInfo(tz_name))
        except UserFacingError:
            raise UserFacingError("calendar/ics_bad_event", title=title, reason="bad_rrule",
                                  rule=text) from None
    link = _text(component.get("URL")) or None
    place = _text(component.get("LOCATION")) or None
    if link and place == link:
        place = None
    if place and place.startswith(("http://", "https://")) and not link and " " not in place:
        link, place = place, None
    agenda = _text(component.get(X_AGENDA)) or _text(component.get("DESCRIPTION")) or None
    parsed = ParsedEvent(
        uid=uid, title=title, start=start, end=end, timezone=tz_name, all_day=all_day,
        rrule=rrule, place=_clip(place, 500), link=link if link and len(link) <= 1000 else None,
        agenda=_clip(agenda, 5000),
        cancelled=_text(component.get("STATUS")).upper() == "CANCELLED",
        sequence=_int(component.get("SEQUENCE")), kind=_text(component.get(X_KIND)) or "event",
        note=_clip(_text(component.get(X_NOTE)) or None, 2000))
    recorded = _text(component.get(X_RECORDED)).upper()
    parsed.recorded = True if recorded == "TRUE" else False if recorded == "FALSE" else None
    target = _text(component.get(X_TARGET))
    if target:
        kind, _, value = target.partition(":")
        try:
            parsed.target_kind = TargetKind(kind)
            parsed.target_value = value or None
        except ValueError:
            pass
    for prop, into in (("EXDATE", parsed.exdates), ("RDATE", None)):
        values = component.get(prop)
        if values is None:
            continue
        for group in values if isinstance(values, list) else [values]:
            for item in getattr(group, "dts", []):
                value = item.dt
                if isinstance(value, tuple):
                    value = value[0]
                instant = _instant(value, ZoneInfo(tz_name))[0]
                if into is not None:
                    into.append(instant)
                else:
                    parsed.rdates.append((instant, instant + (end - start)))
    return parsed


def _span(component: Any, default_tz: ZoneInfo) -> tuple[datetime, datetime, str, bool]:
    """(start, end, time zone name, all day) of a VEVENT; refuses an end before the start."""
    title = _title(component)
    raw_start = _decoded(component, "DTSTART", title)
    start, tz_name, all_day = _instant(raw_start, default_tz)
    if component.get("DTEND") is not None:
        end = _instant(_decoded(component, "DTEND", title), ZoneInfo(tz_name))[0]
    elif component.get("DURATION") is not None:
        duration = _decoded(component, "DURATION", title)
        if not isinstance(duration, timedelta):
            raise UserFacingError("calendar/ics_bad_event", title=title, reason="bad_date")
        end = start + duration
    else:
        end = start + (timedelta(days=1) if all_day else timedelta(0))
    if end < start:
        raise UserFacingError("calendar/ics_bad_event", title=title, reason="end_before_start")
    return start, end, tz_name, all_day


def _instant(value: Any, default_tz: ZoneInfo) -> tuple[datetime, str, bool]:
    """(UTC instant, zone name, all day) of a DATE or DATE-TIME value."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return localize(value, default_tz), default_tz.key, False
        return value.astimezone(UTC), _zone_name(value.tzinfo, default_tz), False
    if isinstance(value, date):
        return localize(datetime.combine(value, datetime.min.time()), default_tz), \
            default_tz.key, True
    raise ValueError(f"not a date: {value!r}")


def _zone_name(tz: tzinfo, default_tz: ZoneInfo) -> str:
    if isinstance(tz, ZoneInfo):
        return tz.key
    name = getattr(tz, "zone", None) or getattr(tz, "key", None)
    if isinstance(name, str):
        try:
            return ZoneInfo(name).key
        except (ZoneInfoNotFoundError, ValueError):
            pass
    if tz.utcoffset(None) == timedelta(0) and tz.tzname(None) in ("UTC", "Z", "GMT"):
        return "UTC"
    return default_tz.key


def _decoded(component: Any, name: str, title: str) -> Any:
    try:
        return component.decoded(name)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UserFacingError("calendar/ics_bad_event", title=title, reason="bad_date") from None


def _title(component: Any) -> str:
    return (_text(component.get("SUMMARY")) or "(sans titre)")[:300]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text[:limit]


def build_ics(events: Sequence[CalendarEvent], *, name: str, default_tz: str,
              now: datetime) -> bytes:
    """A VCALENDAR of the events (exceptions must be loaded), with their VTIMEZONEs."""
    import icalendar

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", default_tz)
    for event in events:
        if event.status is EventStatus.CANCELLED:
            continue
        tz = ZoneInfo(event.timezone)
        calendar.add_component(_vevent(event, tz, now))
        for exception in event.exceptions:
            if exception.kind is ExceptionKind.MOVED and exception.starts_at and \
                    exception.ends_at:
                override = icalendar.Event()
                override.add("uid", event.uid)
                override.add("dtstamp", now)
                override.add("recurrence-id", _local(exception.original_start, tz, event.all_day))
                override.add("dtstart", _local(exception.starts_at, tz, event.all_day))
                override.add("dtend", _local(exception.ends_at, tz, event.all_day))
                override.add("summary", event.title)
                override.add("sequence", event.sequence)
                calendar.add_component(override)
    calendar.add_missing_timezones()
    return calendar.to_ical()


def _vevent(event: CalendarEvent, tz: ZoneInfo, now: datetime) -> icalendar.Event:
    import icalendar

    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", now)
    vevent.add("last-modified", event.updated_at)
    vevent.add("sequence", event.sequence)
    vevent.add("summary", event.title)
    vevent.add("dtstart", _local(event.starts_at, tz, event.all_day))
    vevent.add("dtend", _local(event.ends_at, tz, event.all_day))
    if event.place or event.link:
        vevent.add("location", event.place or event.link)
    if event.link:
        vevent.add("url", event.link)
    description = "\n\n".join(p for p in (event.agenda, event.note) if p)
    if description:
        vevent.add("description", description)
    if event.agenda:
        vevent.add(X_AGENDA, event.agenda)
    if event.note:
        vevent.add(X_NOTE, event.note)
    if event.rrule:
        vevent.add("rrule", icalendar.vRecur.from_ical(event.rrule))
    cancelled = [x.original_start for x in event.exceptions if x.kind is ExceptionKind.CANCELLED]
    if cancelled:
        vevent.add("exdate", [_local(d, tz, event.all_day) for d in cancelled])
    added = [x.starts_at for x in event.exceptions
             if x.kind is ExceptionKind.ADDED and x.starts_at]
    if added:
        vevent.add("rdate", [_local(d, tz, event.all_day) for d in added])
    vevent.add(X_KIND, event.kind)
    if event.target_kind is not TargetKind.COHORT:
        vevent.add(X_TARGET, f"{event.target_kind.value}:{event.target_value or ''}")
    if event.recorded is not None:
        vevent.add(X_RECORDED, "TRUE" if event.recorded else "FALSE")
    return vevent


def _local(instant: datetime, tz: ZoneInfo, all_day: bool) -> date | datetime:
    local = instant.astimezone(tz)
    return local.date() if all_day else local

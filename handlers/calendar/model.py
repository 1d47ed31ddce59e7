"""Reading calendar rows the way the feature thinks about them: series, offsets, views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.calendar.recurrence import DEFAULT_OFFSETS, Occurrence, Series
from storage.models_calendar import (
    CalendarEvent,
    CalendarSettings,
    EventStatus,
    ExceptionKind,
    TargetKind,
)

KINDS = ("webinaire", "pleniere", "pairs", "permanence", "evenement")
"""Event kinds as typed in commands (``type=``), stored in English."""
KIND_WORDS = {
    "webinaire": "webinar", "webinar": "webinar", "visio": "webinar",
    "pleniere": "plenary", "plenary": "plenary", "journee": "plenary",
    "pairs": "peer", "peer": "peer", "groupe-de-pairs": "peer",
    "permanence": "permanence",
    "evenement": "event", "event": "event", "autre": "event",
}


def series_of(event: CalendarEvent) -> Series:
    """The recurrence of an event with its exceptions (exceptions must be loaded)."""
    cancelled = frozenset(x.original_start for x in event.exceptions
                          if x.kind is ExceptionKind.CANCELLED)
    moved = tuple((x.original_start, x.starts_at, x.ends_at) for x in event.exceptions
                  if x.kind is ExceptionKind.MOVED and x.starts_at and x.ends_at)
    added = tuple((x.starts_at, x.ends_at) for x in event.exceptions
                  if x.kind is ExceptionKind.ADDED and x.starts_at and x.ends_at)
    return Series(starts_at=event.starts_at, ends_at=event.ends_at, timezone=event.timezone,
                  rrule=event.rrule, cancelled=cancelled, moved=moved, added=added)


def cohort_offsets(settings: CalendarSettings | None) -> tuple[int, ...]:
    if settings is None or settings.offsets is None:
        return DEFAULT_OFFSETS
    return tuple(settings.offsets)


def offsets_for(event: CalendarEvent, settings: CalendarSettings | None) -> tuple[int, ...]:
    """The event's own offsets, else the cohort's, else J-7, J-1, H-1."""
    if event.offsets is not None:
        return tuple(event.offsets)
    return cohort_offsets(settings)


@dataclass(frozen=True, slots=True)
class EventView:
    """An event (or one occurrence of it) as templates show it, in the reader's language."""

    number: int
    title: str
    agenda: str | None
    kind: str
    place: str | None
    link: str | None
    recorded: bool | None
    note: str | None
    target_kind: str
    target_value: str | None
    target_name: str | None
    start: datetime
    end: datetime
    all_day: bool
    recurring: bool
    rrule: str | None
    status: str
    moved: bool
    offsets: tuple[int, ...]
    own_offsets: bool
    uid: str

    @property
    def paused(self) -> bool:
        return self.status == EventStatus.PAUSED.value

    @property
    def cancelled(self) -> bool:
        return self.status == EventStatus.CANCELLED.value


def view(event: CalendarEvent, lang: str, *, occurrence: Occurrence | None = None,
         settings: CalendarSettings | None = None, target_name: str | None = None
         ) -> EventView:
    translated = (event.i18n or {}).get(lang) or {}
    return EventView(
        number=event.id, title=translated.get("title") or event.title,
        agenda=translated.get("agenda") or event.agenda, kind=event.kind, place=event.place,
        link=event.link, recorded=event.recorded, note=translated.get("note") or event.note,
        target_kind=event.target_kind.value, target_value=event.target_value,
        target_name=target_name,
        start=occurrence.start if occurrence else event.starts_at,
        end=occurrence.end if occurrence else event.ends_at, all_day=event.all_day,
        recurring=bool(event.rrule), rrule=event.rrule, status=event.status.value,
        moved=bool(occurrence and occurrence.moved), offsets=offsets_for(event, settings),
        own_offsets=event.offsets is not None, uid=event.uid)


def zone(event: CalendarEvent) -> ZoneInfo:
    return ZoneInfo(event.timezone)


def is_targeted(event: CalendarEvent) -> bool:
    return event.target_kind is not TargetKind.COHORT

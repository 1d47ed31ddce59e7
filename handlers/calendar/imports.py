"""Applying an ICS import to a cohort: new UIDs are added, known UIDs updated in place.

The file is parsed and validated entirely (:func:`handlers.calendar.ics.parse_ics`)
before the first write, and everything happens in one transaction: a bad file
changes nothing. Events that came from the same source earlier and are no longer
in it are cancelled, so re-importing a calendar export keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.calendar.ics import ParsedEvent, parse_ics
from handlers.calendar.model import KIND_WORDS
from handlers.calendar.planner import plan_cohort
from storage.models import Category, Cohort
from storage.models_calendar import (
    CalendarEvent,
    EventException,
    EventStatus,
    ExceptionKind,
    TargetKind,
)
from storage.uow import Store

TRACKED = ("title", "starts_at", "ends_at", "timezone", "all_day", "rrule", "place", "link",
           "agenda", "kind", "recorded", "note", "target_kind", "target_value")


@dataclass(slots=True)
class ImportResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    cancelled: int = 0
    planned: int = 0
    timers: int = 0

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged


async def import_ics(store: Store, cohort: Cohort, data: bytes, *, source: str, now: datetime,
                     member_id: int | None) -> ImportResult:
    """Parse ``data`` and apply it to ``cohort`` (see the module docstring)."""
    parsed = parse_ics(data, ZoneInfo(cohort.timezone))
    delegations = {str(d.id) for d in await store.delegations.of_cohort(cohort.id)}
    result = ImportResult()
    seen: set[str] = set()
    for item in parsed:
        seen.add(item.uid)
        fields = _fields(item, delegations)
        existing = await store.calendar.by_uid(cohort.id, item.uid)
        if existing is None:
            if item.cancelled:
                continue
            event = CalendarEvent(cohort_id=cohort.id, uid=item.uid, source=source,
                                  sequence=item.sequence, status=EventStatus.ACTIVE,
                                  i18n={}, created_by=member_id, created_at=now,
                                  updated_at=now, **fields)
            await store.calendar.add_event(event)
            _set_exceptions(event, item, now)
            await store.session.flush()
            result.added += 1
            continue
        changed = [name for name, value in fields.items() if getattr(existing, name) != value]
        wanted_status = EventStatus.CANCELLED if item.cancelled else (
            existing.status if existing.status is EventStatus.PAUSED else EventStatus.ACTIVE)
        exceptions_changed = _exception_keys(existing.exceptions) != _wanted_keys(item)
        if not changed and wanted_status is existing.status and not exceptions_changed:
            result.unchanged += 1
            continue
        for name in changed:
            setattr(existing, name, fields[name])
        existing.status = wanted_status
        existing.source = source
        existing.sequence = max(existing.sequence + 1, item.sequence)
        existing.updated_at = now
        if exceptions_changed:
            existing.exceptions.clear()
            await store.session.flush()
            _set_exceptions(existing, item, now)
        await store.session.flush()
        result.updated += 1
    for event in await store.calendar.events_from_source(cohort.id, source):
        if event.uid not in seen:
            event.status = EventStatus.CANCELLED
            event.sequence += 1
            event.updated_at = now
            result.cancelled += 1
    await store.session.flush()
    stats = await plan_cohort(store, cohort, now)
    result.planned = stats.added + stats.revived
    result.timers = stats.timers
    return result


def _fields(item: ParsedEvent, delegations: set[str]) -> dict[str, object]:
    target_kind, target_value = item.target_kind, item.target_value
    if target_kind is TargetKind.DELEGATION and target_value not in delegations:
        target_kind, target_value = TargetKind.COHORT, None
    if target_kind is TargetKind.CATEGORY and target_value not in {c.value for c in Category}:
        target_kind, target_value = TargetKind.COHORT, None
    return {
        "title": item.title, "starts_at": item.start, "ends_at": item.end,
        "timezone": item.timezone, "all_day": item.all_day, "rrule": item.rrule,
        "place": item.place, "link": item.link, "agenda": item.agenda,
        "kind": KIND_WORDS.get(item.kind, "event"), "recorded": item.recorded, "note": item.note,
        "target_kind": target_kind, "target_value": target_value,
    }


def _wanted_keys(item: ParsedEvent) -> set[tuple[datetime, str, datetime | None]]:
    keys = {(d, ExceptionKind.CANCELLED.value, None) for d in item.exdates}
    keys |= {(start, ExceptionKind.ADDED.value, start) for start, _end in item.rdates}
    for original, start, _end, cancelled in item.overrides:
        keys.add((original, ExceptionKind.CANCELLED.value, None) if cancelled
                 else (original, ExceptionKind.MOVED.value, start))
    return keys


def _exception_keys(exceptions: list[EventException]) -> set[tuple[datetime, str,
                                                                   datetime | None]]:
    return {(x.original_start, x.kind.value, x.starts_at) for x in exceptions}


def _set_exceptions(event: CalendarEvent, item: ParsedEvent, now: datetime) -> None:
    by_start: dict[datetime, EventException] = {}
    for day in item.exdates:
        by_start[day] = EventException(original_start=day, kind=ExceptionKind.CANCELLED,
                                       created_at=now)
    for start, end in item.rdates:
        by_start.setdefault(start, EventException(original_start=start,
                                                  kind=ExceptionKind.ADDED, starts_at=start,
                                                  ends_at=end, created_at=now))
    for original, start, end, cancelled in item.overrides:
        by_start[original] = EventException(
            original_start=original,
            kind=ExceptionKind.CANCELLED if cancelled else ExceptionKind.MOVED,
            starts_at=None if cancelled else start, ends_at=None if cancelled else end,
            created_at=now)
    event.exceptions.extend(by_start.values())

"""The ``events:`` part of a cohort YAML file (the demo's webinars, plenary days, permanence).

Events are matched by a UID derived from the cohort and the event's title and start,
so loading the file twice changes nothing.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from handlers.admin.demo import DemoDataError
from handlers.calendar.model import KIND_WORDS
from handlers.calendar.planner import plan_cohort
from handlers.calendar.recurrence import check_rrule, localize
from handlers.core.errors import UserFacingError
from storage.models import Cohort
from storage.models_calendar import CalendarEvent, EventStatus, TargetKind
from storage.uow import Store


async def load_events(store: Store, cohort: Cohort, data: dict[str, Any], now: datetime) -> None:
    """Create the file's events that the cohort does not have yet, then plan reminders."""
    entries = data.get("events") or []
    if not isinstance(entries, list):
        raise DemoDataError("'events' must be a list")
    tz = ZoneInfo(cohort.timezone)
    added = 0
    for entry in entries:
        event = _event(cohort, entry, tz, now)
        if await store.calendar.by_uid(cohort.id, event.uid) is None:
            await store.calendar.add_event(event)
            added += 1
    if added:
        await plan_cohort(store, cohort, now)


def _event(cohort: Cohort, entry: dict[str, Any], tz: ZoneInfo, now: datetime) -> CalendarEvent:
    if not isinstance(entry, dict) or "start" not in entry or "title" not in entry:
        raise DemoDataError(f"an event needs a title and a start: {entry!r}")
    title, title_i18n = _text(entry["title"], cohort.language)
    agenda, agenda_i18n = _text(entry.get("agenda"), cohort.language)
    try:
        start = localize(datetime.fromisoformat(str(entry["start"])), tz)
        end = localize(datetime.fromisoformat(str(entry.get("end") or entry["start"])), tz)
    except ValueError as error:
        raise DemoDataError(f"{title}: {error}") from None
    if end < start:
        raise DemoDataError(f"{title}: end before start")
    rrule = None
    if entry.get("rrule"):
        try:
            rrule = check_rrule(str(entry["rrule"]), start, tz)
        except UserFacingError:
            raise DemoDataError(f"{title}: invalid rrule {entry['rrule']!r}") from None
    place = entry.get("place")
    link = place if isinstance(place, str) and place.startswith(("http://", "https://")) \
        else None
    i18n = {lang: {"title": title_i18n.get(lang), "agenda": agenda_i18n.get(lang)}
            for lang in set(title_i18n) | set(agenda_i18n) if lang != cohort.language}
    digest = hashlib.sha256(f"{cohort.slug}|{title}|{start.isoformat()}".encode()).hexdigest()
    return CalendarEvent(
        cohort_id=cohort.id, uid=f"demo-{digest[:24]}@cohortbot", title=title[:300],
        agenda=agenda or None, kind=KIND_WORDS.get(str(entry.get("kind", "event")), "event"),
        place=None if link else place, link=link, recorded=entry.get("recorded"), note=None,
        i18n=i18n, target_kind=TargetKind.COHORT, timezone=tz.key, all_day=False,
        starts_at=start, ends_at=end, rrule=rrule, status=EventStatus.ACTIVE, source="demo",
        sequence=0, created_at=now, updated_at=now)


def _text(value: Any, lang: str) -> tuple[str, dict[str, str]]:
    """(text in the cohort's language, all translations) of a ``{fr:…, en:…}`` value."""
    if value is None:
        return "", {}
    if isinstance(value, dict):
        texts = {str(k): str(v) for k, v in value.items() if v}
        return texts.get(lang) or texts.get("fr") or next(iter(texts.values()), ""), texts
    return str(value), {}


LIVE_DEMO_UID = "demo-live@cohortbot"


async def schedule_live_demo(store: Store, cohort: Cohort, now: datetime, *, title: str,
                             agenda: str, reminder_in: timedelta) -> CalendarEvent:
    """An event whose H-1-like reminder falls due ``reminder_in`` from now (``make demo``).

    The same event is moved forward at each launch, so the demo shows one reminder
    arriving every time without piling up events.
    """
    start = (now + reminder_in + timedelta(minutes=1)).replace(microsecond=0)
    event = await store.calendar.by_uid(cohort.id, LIVE_DEMO_UID)
    if event is None:
        event = await store.calendar.add_event(CalendarEvent(
            cohort_id=cohort.id, uid=LIVE_DEMO_UID, title=title, agenda=agenda, kind="event",
            timezone=cohort.timezone, all_day=False, starts_at=start,
            ends_at=start + timedelta(minutes=30), offsets=[1], i18n={},
            target_kind=TargetKind.COHORT, status=EventStatus.ACTIVE, source="demo",
            sequence=0, created_at=now, updated_at=now))
    else:
        event.starts_at, event.ends_at = start, start + timedelta(minutes=30)
        event.status = EventStatus.ACTIVE
        event.sequence += 1
        event.updated_at = now
        await store.session.flush()
    await plan_cohort(store, cohort, now, only=[event.id])
    return event

"""Planning reminders: from events, offsets and linked rooms to reminder rows and timers.

The database holds one row per event × occurrence start × offset × room for every
reminder due within a rolling window (:data:`PLAN_WINDOW`), and one durable timer
per distinct due instant. Planning is a reconciliation, safe to run any time and
as often as wanted: rows nobody wants any more are cancelled, rows wanted again
come back, rows that went out are never touched. It runs after each change, at
start-up and once a day (to move the window forward).

A reminder whose due time is already past when it is planned is kept only if it
was *missed* — due after the event (and the room) were in their present state,
i.e. the bot was down. One due before that (an event created three days ahead has
no J-7) is simply not planned.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.calendar.model import offsets_for, series_of
from handlers.calendar.recurrence import due_at, expand, reminder_anchor
from storage.models import Cohort, JobStatus, LinkedRoom
from storage.models_calendar import (
    CalendarEvent,
    CalendarSettings,
    EventStatus,
    Reminder,
    ReminderStatus,
)
from storage.uow import Store

log = logging.getLogger(__name__)

PLAN_WINDOW = timedelta(days=14)
REMIND_TIMER = "calendar.remind"
PLAN_TIMER = "calendar.plan"
REMIND_KEY = "calendar:remind:"
PLAN_KEY = "calendar:plan:"

Key = tuple[datetime, int, str, str]
"""(occurrence start, offset in minutes, platform, room id): a reminder within one event."""


@dataclass(slots=True)
class Wanted:
    due_at: datetime
    occurrence_end: datetime


@dataclass(slots=True)
class PlanStats:
    """What a planning pass did, for logs, the benchmark and tests."""

    events: int = 0
    added: int = 0
    cancelled: int = 0
    revived: int = 0
    timers: int = 0
    overdue: int = 0
    due_times: set[datetime] = field(default_factory=set)

    def merge(self, other: PlanStats) -> None:
        self.events += other.events
        self.added += other.added
        self.cancelled += other.cancelled
        self.revived += other.revived
        self.overdue += other.overdue
        self.due_times |= other.due_times


def wanted_reminders(event: CalendarEvent, offsets: Sequence[int], rooms: Sequence[LinkedRoom],
                     now: datetime, horizon: datetime) -> dict[Key, Wanted]:
    """Every reminder the event should have, due no later than ``horizon``."""
    if event.status is not EventStatus.ACTIVE or not offsets or not rooms:
        return {}
    tz = ZoneInfo(event.timezone)
    reach = horizon + timedelta(minutes=max(offsets)) + timedelta(days=2)
    wanted: dict[Key, Wanted] = {}
    for occurrence in expand(series_of(event), now - timedelta(days=1), reach):
        anchor = reminder_anchor(occurrence.start, tz, event.all_day)
        if anchor <= now:
            continue
        for offset in offsets:
            due = due_at(anchor, offset, tz)
            if due > horizon:
                continue
            for room in rooms:
                if due <= now and due < max(event.updated_at, room.linked_at):
                    continue
                wanted[(occurrence.start, offset, room.platform, room.room_id)] = Wanted(
                    due, occurrence.end)
    return wanted


async def plan_cohort(store: Store, cohort: Cohort, now: datetime, *,
                      window: timedelta = PLAN_WINDOW,
                      only: Sequence[int] | None = None) -> PlanStats:
    """Reconcile the reminders of a cohort's events (or of the events in ``only``)."""
    settings = await store.calendar.settings(cohort.id)
    rooms = list(await store.rooms.of_cohort(cohort.id))
    events = [e for e in await store.calendar.events(cohort.id)
              if only is None or e.id in only]
    stats = await _plan_events(store, events, settings, rooms, now, window)
    await schedule_timers(store, stats, now)
    return stats


async def plan_all(store: Store, now: datetime, *, window: timedelta = PLAN_WINDOW
                   ) -> PlanStats:
    """Plan every cohort (at start-up and once a day)."""
    total = PlanStats()
    cohorts = await store.cohorts.all()
    settings = await store.calendar.settings_for([c.id for c in cohorts])
    for cohort in cohorts:
        events = await store.calendar.events(cohort.id)
        if not events:
            continue
        rooms = list(await store.rooms.of_cohort(cohort.id))
        total.merge(await _plan_events(store, events, settings.get(cohort.id), rooms, now,
                                       window))
    await schedule_timers(store, total, now)
    return total


async def _plan_events(store: Store, events: Sequence[CalendarEvent],
                       settings: CalendarSettings | None, rooms: Sequence[LinkedRoom],
                       now: datetime, window: timedelta) -> PlanStats:
    stats = PlanStats()
    existing = await store.calendar.reminders_of_events([e.id for e in events], now)
    to_add: list[dict[str, object]] = []
    to_cancel: list[int] = []
    to_revive: dict[int, datetime] = {}
    for event in events:
        stats.events += 1
        rows = existing.get(event.id, [])
        horizon = max([now + window, *(r.due_at for r in rows
                                       if r.status is ReminderStatus.PLANNED)])
        wanted = wanted_reminders(event, offsets_for(event, settings), rooms, now, horizon)
        have: dict[Key, Reminder] = {
            (r.occurrence_start, r.offset_minutes, r.platform, r.room_id): r for r in rows}
        for key, row in have.items():
            if key not in wanted and row.status is ReminderStatus.PLANNED:
                to_cancel.append(row.id)
        for key, want in wanted.items():
            row = have.get(key)
            if row is None:
                to_add.append({
                    "event_id": event.id, "occurrence_start": key[0],
                    "occurrence_end": want.occurrence_end, "offset_minutes": key[1],
                    "platform": key[2], "room_id": key[3], "due_at": want.due_at,
                    "status": ReminderStatus.PLANNED, "late": False, "reason": None,
                    "created_at": now, "claimed_at": None, "sent_at": None,
                    "message_id": None})
            elif row.status is ReminderStatus.CANCELLED or (
                    row.status is ReminderStatus.PLANNED and row.due_at != want.due_at):
                to_revive[row.id] = want.due_at
            else:
                continue
            stats.due_times.add(want.due_at)
            if want.due_at <= now:
                stats.overdue += 1
    stats.added = await store.calendar.add_planned(to_add)
    stats.cancelled = await store.calendar.cancel(to_cancel, "changed")
    await store.calendar.replan(list(to_revive), to_revive)
    stats.revived = len(to_revive)
    return stats


async def schedule_timers(store: Store, stats: PlanStats, now: datetime) -> None:
    """One durable timer per due instant; overdue reminders get one timer due now."""
    future = sorted(d for d in stats.due_times if d > now)
    statuses = await store.calendar.job_states([remind_key(d) for d in future])
    new: list[dict[str, object]] = []
    for due in future:
        key = remind_key(due)
        state = statuses.get(key)
        if state is None:
            new.append({"key": key, "name": REMIND_TIMER, "due_at": due, "payload": {},
                        "status": JobStatus.PENDING, "attempts": 0, "last_error": None,
                        "created_at": now, "done_at": None})
            stats.timers += 1
        elif state == "cancelled":
            await store.jobs.schedule(key=key, name=REMIND_TIMER, due_at=due, now=now)
            stats.timers += 1
        elif state != "pending":
            await store.jobs.schedule(key=f"{key}:{now.isoformat()}", name=REMIND_TIMER,
                                      due_at=due, now=now)
            stats.timers += 1
    await store.calendar.add_timers(new)
    if stats.overdue:
        await store.jobs.schedule(key=f"{REMIND_KEY}catch-up:{now.isoformat()}",
                                  name=REMIND_TIMER, due_at=now, now=now)
        stats.timers += 1


def remind_key(due: datetime) -> str:
    return f"{REMIND_KEY}{due.isoformat()}"


async def schedule_daily_plan(store: Store, now: datetime, tz: ZoneInfo) -> None:
    """The next daily planning pass (03:00 in the bot's default zone), once per day."""
    from handlers.calendar.recurrence import localize

    local = now.astimezone(tz)
    when = localize(local.replace(hour=3, minute=0, second=0, microsecond=0, tzinfo=None)
                    + timedelta(days=1), tz)
    await store.jobs.schedule(key=f"{PLAN_KEY}{when.date().isoformat()}", name=PLAN_TIMER,
                              due_at=when, now=now)

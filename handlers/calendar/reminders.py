"""Sending reminders when they fall due, exactly once, and what happens to missed ones.

A durable timer per due instant wakes :func:`on_remind`. It takes every planned
reminder due by then, and for each occurrence and room:

- the event has started (or was cancelled or paused): every such reminder is
  skipped and logged — a reminder after the fact helps nobody;
- otherwise the one closest to the start is sent — marked *rappel tardif* if it is
  more than :data:`LATE_GRACE` late (the bot was down) — and any older one is
  skipped as superseded, so a restart never fires a burst of stale reminders.

Sending means: claim the row (planned → queued) and put the message in the outbox
under the key ``reminder:<row id>``, in the same transaction. The outbox delivers it
once per key, the platforms dedupe by that key, and the row becomes ``sent`` when
the platform accepted it (:func:`mark_delivered`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.calendar.model import offsets_for, view
from handlers.calendar.planner import REMIND_KEY, plan_all, schedule_daily_plan
from handlers.calendar.recurrence import due_at, reminder_anchor
from handlers.core.context import Context, person
from handlers.core.events import Reply, TimerEvent
from handlers.core.ids import Platform, RoomRef
from storage.models import Cohort, Member
from storage.models_calendar import (
    CalendarEvent,
    CalendarSettings,
    EventStatus,
    ExceptionKind,
    Reminder,
    TargetKind,
)
from storage.uow import Store

log = logging.getLogger(__name__)

LATE_GRACE = timedelta(minutes=2)
"""A reminder sent later than this after its due time carries the "rappel tardif" mark."""
BATCH = 2000
OUTBOX_PREFIX = "reminder:"


async def on_remind(ctx: Context, event: TimerEvent) -> None:
    """Send (or skip) every planned reminder due by this timer's instant.

    Decisions are made for the whole batch first, then applied with a few bulk
    updates whose ``RETURNING`` says which rows this run really claimed: another run
    racing on the same rows sends nothing twice.
    """
    now = ctx.now()
    store = ctx.store
    rows = await store.calendar.due(max(now, event.due_at), BATCH)
    if not rows:
        return
    events = await store.calendar.events_by_ids([row.event_id for row in rows])
    settings: dict[int, CalendarSettings | None] = {}
    groups: dict[tuple[int, datetime, str, str], list[Reminder]] = defaultdict(list)
    for row in rows:
        groups[(row.event_id, row.occurrence_start, row.platform, row.room_id)].append(row)
    skip: dict[str, list[Reminder]] = defaultdict(list)
    send: list[tuple[Reminder, bool]] = []
    for (event_id, start, _platform, _room), group in groups.items():
        calendar_event = events.get(event_id)
        if calendar_event is None or calendar_event.status is not EventStatus.ACTIVE:
            skip["inactive"] += group
            continue
        tz = ZoneInfo(calendar_event.timezone)
        anchor = reminder_anchor(start, tz, calendar_event.all_day)
        if anchor <= now:
            skip["started"] += group
            continue
        cohort_id = calendar_event.cohort_id
        if cohort_id not in settings:
            settings[cohort_id] = await store.calendar.settings(cohort_id)
        closer_due = [o for o in offsets_for(calendar_event, settings[cohort_id])
                      if due_at(anchor, o, tz) <= now]
        group.sort(key=lambda r: r.offset_minutes)
        if closer_due and min(closer_due) < group[0].offset_minutes:
            skip["superseded"] += group
            continue
        skip["superseded"] += group[1:]
        send.append((group[0], now - group[0].due_at > LATE_GRACE))
    for reason, skipped in skip.items():
        done = await store.calendar.skip_many([r.id for r in skipped], reason, now)
        if done:
            ctx.count("reminders_skipped", len(done), reason=reason)
        for row in skipped:
            if row.id in done and reason == "started":
                log.warning("reminder skipped: the event had already started", extra={
                    "reminder": row.id, "event": row.event_id, "due_at": row.due_at.isoformat(),
                    "occurrence": row.occurrence_start.isoformat(), "room": row.room_id})
            elif row.id in done:
                log.info("reminder skipped", extra={"reminder": row.id, "reason": reason})
    claimed = await store.calendar.claim_many([r.id for r, late in send if not late], now,
                                              late=False)
    claimed |= await store.calendar.claim_many([r.id for r, late in send if late], now,
                                               late=True)
    cohorts: dict[int, Cohort | None] = {}
    members: dict[int, Sequence[Member]] = {}
    for row, late in send:
        if row.id not in claimed:
            continue
        calendar_event = events[row.event_id]
        cohort_id = calendar_event.cohort_id
        if cohort_id not in cohorts:
            cohorts[cohort_id] = await store.cohorts.get(cohort_id)
        cohort = cohorts[cohort_id]
        assert cohort is not None
        if calendar_event.target_kind is not TargetKind.COHORT and cohort_id not in members:
            members[cohort_id] = await store.members.of_cohort(cohort_id)
        reply = await render_reminder(ctx, calendar_event, cohort, row, now=now, late=late,
                                      members=members.get(cohort_id, ()))
        ctx.send(RoomRef(Platform(row.platform), row.room_id), reply,
                 key=f"{OUTBOX_PREFIX}{row.id}")
        ctx.count("reminders_sent", lateness="late" if late else "on_time")
        ctx.observe("reminder_delay_seconds", max(0.0, (now - row.due_at).total_seconds()))
        if late:
            log.warning("late reminder sent", extra={
                "reminder": row.id, "event": row.event_id, "due_at": row.due_at.isoformat(),
                "late_seconds": int((now - row.due_at).total_seconds())})
    if len(rows) >= BATCH:
        await ctx.schedule(f"{REMIND_KEY}catch-up:{now.isoformat()}:more", event.name, now)


async def render_reminder(ctx: Context, calendar_event: CalendarEvent, cohort: Cohort,
                          row: Reminder, *, now: datetime, late: bool,
                          members: Sequence[Member] = (), preview: bool = False) -> Reply:
    """The reminder message in the cohort's language, for the room's platform."""
    from handlers.calendar.recurrence import Occurrence

    lang = cohort.language
    moved = any(x.kind is ExceptionKind.MOVED and x.starts_at == row.occurrence_start
                for x in calendar_event.exceptions)
    occurrence = Occurrence(row.occurrence_start, row.occurrence_start, row.occurrence_end,
                            moved=moved)
    delegation_name = await target_name(ctx.store, calendar_event)
    shown = view(calendar_event, lang, occurrence=occurrence, target_name=delegation_name)
    people = [person(m) for m in targeted(calendar_event, members)]
    platform = Platform(row.platform)
    minutes_left = max(0, round((row.occurrence_start - now).total_seconds() / 60))
    text = ctx.catalog.render(
        lang, "calendar/reminder", prefix=ctx.settings.prefix(platform), event=shown,
        tz=cohort.timezone, late=late, minutes_left=minutes_left, people=people[:20],
        more_people=max(0, len(people) - 20), offset=row.offset_minutes, preview=preview,
        days_left=_days_between(now, row.occurrence_start, ZoneInfo(cohort.timezone)))
    return Reply(text)


def _days_between(now: datetime, start: datetime, tz: ZoneInfo) -> int:
    """Calendar days from today to the day of ``start`` (0 = today, 1 = tomorrow)."""
    return (start.astimezone(tz).date() - now.astimezone(tz).date()).days


async def target_name(store: Store, calendar_event: CalendarEvent) -> str | None:
    if calendar_event.target_kind is TargetKind.DELEGATION and calendar_event.target_value:
        delegation = await store.delegations.get(int(calendar_event.target_value))
        return delegation.territory if delegation else None
    return None


def targeted(calendar_event: CalendarEvent, members: Sequence[Member]) -> list[Member]:
    """The members an event is meant for, when it is not the whole cohort."""
    kind = calendar_event.target_kind
    value = calendar_event.target_value
    if kind is TargetKind.CATEGORY:
        return [m for m in members if m.category is not None and m.category.value == value]
    if kind is TargetKind.REFERENTS:
        return [m for m in members if m.is_referent]
    if kind is TargetKind.DELEGATION:
        return [m for m in members if str(m.delegation_id) == value]
    return []


async def on_plan(ctx: Context, event: TimerEvent) -> None:
    """The daily planning pass: move the window forward, then book tomorrow's pass."""
    stats = await plan_all(ctx.store, ctx.now())
    await schedule_daily_plan(ctx.store, ctx.now(), ZoneInfo(ctx.settings.default_timezone))
    ctx.changed.add("jobs")
    log.info("calendar planned", extra={"events": stats.events, "added": stats.added,
                                        "cancelled": stats.cancelled,
                                        "overdue": stats.overdue})


async def mark_delivered(store: Store, key: str, message_id: str | None, now: datetime) -> bool:
    """After the outbox delivered ``reminder:<id>``: the row is ``sent``."""
    if not key.startswith(OUTBOX_PREFIX):
        return False
    try:
        reminder_id = int(key[len(OUTBOX_PREFIX):])
    except ValueError:
        return False
    await store.calendar.mark_sent(reminder_id, now, message_id)
    return True

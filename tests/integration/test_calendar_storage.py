"""Reminders on SQLite and on PostgreSQL alike: planned once, claimed once, sent once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.bootstrap import App
from handlers.calendar.planner import REMIND_TIMER, plan_all
from handlers.core.events import TimerEvent
from handlers.core.ids import Platform
from storage.models import OutboxMessage
from storage.models_calendar import Reminder, ReminderStatus
from storage.uow import Store
from tests.support.calendar import deliver, demo_with_rooms
from tests.support.chat import operator
from tests.support.fakes import FakeClock

pytestmark = pytest.mark.postgres


async def test_planning_twice_and_concurrent_timers_give_one_reminder_per_room(
        any_app: App, clock: FakeClock) -> None:
    rooms = await demo_with_rooms(any_app, operator(any_app))
    await rooms.coordinator.say('agenda ajouter "Atelier" debut="10/03 14h" rappels=1h,1j')

    async def plan() -> None:
        async with any_app.db.session() as session:
            await plan_all(Store(session), clock.now())

    await asyncio.gather(plan(), plan(), plan())
    async with any_app.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(Reminder))
    before = count
    await plan()
    async with any_app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Reminder)) == before
    clock.set(datetime(2025, 3, 9, 13, tzinfo=UTC))
    event = TimerEvent(name=REMIND_TIMER, due_at=clock.now())
    await asyncio.gather(*(any_app.dispatcher.handle(event) for _ in range(6)))
    await deliver(any_app)
    assert len(rooms.reminders("Atelier")) == 2
    async with any_app.db.session() as session:
        keys = (await session.scalars(select(OutboxMessage.key).where(
            OutboxMessage.key.startswith("reminder:")))).all()
        sent = await session.scalar(select(func.count()).select_from(Reminder).where(
            Reminder.status == ReminderStatus.SENT))
    assert len(keys) == len(set(keys)) == 2 and sent == 2


async def test_a_crash_after_delivery_is_settled_at_start_up(any_app: App,
                                                             clock: FakeClock) -> None:
    rooms = await demo_with_rooms(any_app, operator(any_app))
    await rooms.coordinator.say('agenda ajouter "Atelier" debut="10/03 14h" rappels=1h')
    clock.set(datetime(2025, 3, 10, 12, tzinfo=UTC))
    runtime = any_app.services.calendar
    runtime.on_delivered = _forget  # the process "dies" before marking reminders sent
    any_app.delivery.listeners[:] = [runtime.on_delivered]
    await deliver(any_app)
    async with any_app.db.session() as session:
        queued = await session.scalar(select(func.count()).select_from(Reminder).where(
            Reminder.status == ReminderStatus.QUEUED))
    assert queued == 2
    await runtime.on_scheduler_start()
    async with any_app.db.session() as session:
        rows = (await session.scalars(select(Reminder).where(
            Reminder.offset_minutes == 60))).all()
    atelier = [r for r in rows if r.platform in (Platform.MATRIX, Platform.SLACK)
               and r.sent_at is not None]
    assert len(atelier) >= 2 and {r.status for r in atelier} == {ReminderStatus.SENT}


async def _forget(item: object, sent: object) -> None:
    return None

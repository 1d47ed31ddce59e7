"""Durable timers: a job scheduled by a handler runs once, when due, and survives failures."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.bootstrap import App
from bot.scheduler import Scheduler
from handlers.core.clock import SystemClock
from handlers.core.commands import CohortScope, CommandGroup, Role
from handlers.core.ids import Platform, RoomRef
from storage.models import JobStatus, ScheduledJob
from storage.uow import Store
from tests.support.chat import Speaker
from tests.support.fakes import FakeClock, RecordingSender


def _install(app: App, fail_times: int = 0) -> list[str]:
    ran: list[str] = []
    failures = {"left": fail_times}
    group = CommandGroup("minuteur")

    @group.command(None, role=Role.ANYONE, cohort=CohortScope.NONE)
    async def plan(ctx, args):  # type: ignore[no-untyped-def]
        await ctx.schedule("test:ping", "test.ping", ctx.now() + timedelta(minutes=5),
                           {"room": "console"})
        await ctx.schedule("test:ping", "test.ping", ctx.now() + timedelta(minutes=10),
                           {"room": "console"})
        return None

    async def ping(ctx, event):  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("boom")
        ran.append(event.key)
        ctx.send(RoomRef(Platform.CONSOLE, event.payload["room"]),
                 ctx.reply("errors/unknown_action"), key=f"ping:{event.job_id}")

    app.router.include(group)
    app.router.on_timer("test.ping", ping)
    return ran


async def test_a_rescheduled_job_runs_once_when_due(app: App, op: Speaker, clock: FakeClock
                                                   ) -> None:
    ran = _install(app)
    await op.say("minuteur")
    clock.advance(minutes=6)
    assert await app.scheduler.run_due() == 0
    clock.advance(minutes=5)
    assert await app.scheduler.run_due() == 1
    assert await app.scheduler.run_due() == 0
    await op.say("minuteur")
    clock.advance(minutes=30)
    assert await app.scheduler.run_due() == 0
    assert ran == ["test:ping"]
    await app.delivery.flush(Platform.CONSOLE)
    sender = app.delivery.senders[Platform.CONSOLE]
    assert isinstance(sender, RecordingSender)
    assert len([m for m in sender.sent if m.key.startswith("ping:")]) == 1


async def test_a_failing_job_is_retried_later_then_runs(app: App, op: Speaker,
                                                        clock: FakeClock) -> None:
    ran = _install(app, fail_times=1)
    await op.say("minuteur")
    clock.advance(minutes=11)
    assert await app.scheduler.run_due() == 0
    async with app.db.session() as session:
        job = await session.scalar(select(ScheduledJob))
        assert job is not None and job.status is JobStatus.PENDING and job.attempts == 1
    clock.advance(minutes=1)
    assert await app.scheduler.run_due() == 1
    assert ran == ["test:ping"]


async def _stop_while_under_way(scheduler: Scheduler, under_way: asyncio.Event,
                                gate: asyncio.Event, what: str) -> None:
    """Stop the scheduler once ``what`` is under way; ``stop`` must wait until the gate
    lets it finish."""
    await asyncio.wait_for(under_way.wait(), 10)
    stopping = asyncio.create_task(scheduler.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done(), f"stop waits for {what} under way"
    gate.set()
    await asyncio.wait_for(stopping, 10)


async def test_stopping_lets_a_job_under_way_finish(app: App) -> None:
    """The timer (APScheduler) runs the job; ``stop`` waits for it instead of cancelling it."""
    scheduler = Scheduler(app.db, app.dispatcher, SystemClock())
    under_way, gate, finished = asyncio.Event(), asyncio.Event(), []

    async def slow(ctx, event):  # type: ignore[no-untyped-def]
        under_way.set()
        await gate.wait()
        finished.append(event.key)

    app.router.on_timer("test.slow", slow)
    await scheduler.start()
    async with app.db.session() as session:
        await Store(session).jobs.schedule(key="test:slow", name="test.slow",
                                           due_at=SystemClock().now(), now=SystemClock().now())
    await scheduler.replan()
    await _stop_while_under_way(scheduler, under_way, gate, "the job")
    assert finished == ["test:slow"]
    async with app.db.session() as session:
        job = await Store(session).jobs.by_key("test:slow")
        assert job is not None and job.status is JobStatus.DONE


async def test_stopping_during_a_timed_replan_waits_for_it_and_logs_no_error(
        app: App, caplog: pytest.LogCaptureFixture) -> None:
    """The periodic re-plan (run by APScheduler) met by ``stop`` finishes; it used to be
    cancelled mid-query and logged as an APScheduler error at shutdown."""
    scheduler = Scheduler(app.db, app.dispatcher, SystemClock(), poll=timedelta(seconds=0.2))
    await scheduler.start()
    replan = scheduler.replan
    under_way, gate, finished = asyncio.Event(), asyncio.Event(), []

    async def slow_replan() -> None:  # a re-plan whose query takes a while
        under_way.set()
        await gate.wait()
        await replan()
        finished.append(True)

    scheduler.replan = slow_replan  # type: ignore[method-assign]
    await _stop_while_under_way(scheduler, under_way, gate, "the re-plan")
    assert finished == [True]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []

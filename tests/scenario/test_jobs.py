"""Durable timers: a job scheduled by a handler runs once, when due, and survives failures."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.bootstrap import App
from handlers.core.commands import CohortScope, CommandGroup, Role
from handlers.core.ids import Platform, RoomRef
from storage.models import JobStatus, ScheduledJob
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

"""Two instances on one database: both answer, one delivers and runs the timers.

In-process here (two apps on one database, each with its own leadership lock as two
processes would have); the same with real processes and a real Synapse is in
``test_failover.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from bot.bootstrap import App, bootstrap
from bot.leader import Role, lead, leadership_for
from bot.runtime import prepare_leadership
from handlers.core.context import Context
from handlers.core.events import TimerEvent
from handlers.core.ids import Platform
from handlers.registry import build_router
from storage.uow import Store
from tests.conftest import make_config
from tests.support.chat import operator
from tests.support.fakes import RecordingSender

pytestmark = pytest.mark.postgres


class Instance:
    """One app with its role loop running, as ``cohortbot run`` would have it."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.sender = RecordingSender(Platform.CONSOLE)
        app.delivery.add_sender(self.sender)
        self.timers: list[str] = []
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        parts = prepare_leadership(self.app)
        self.task = asyncio.create_task(lead(leadership_for(self.app.db), parts.start,
                                             parts.stop, stopping=self.stopping,
                                             state=self.app.leader, retry=0.1))

    async def stop(self) -> None:
        self.stopping.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 15)
        await self.app.close()


@pytest_asyncio.fixture(loop_scope="session")
async def pair(any_db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Instance, Instance]]:
    instances: list[Instance] = []
    fired: list[str] = []

    async def ping(ctx: Context, event: TimerEvent) -> None:
        fired.append(event.key or "")

    for index in range(2):
        router = build_router()
        router.on_timer("test.ping", ping)
        app = await bootstrap(make_config(tmp_path / str(index), any_db_url), router=router,
                              migrate=index == 0)
        instance = Instance(app)
        instance.timers = fired
        instances.append(instance)
    instances[0].start()
    await _until(lambda: instances[0].app.leader.role is Role.LEADING, 10)
    instances[1].start()
    await _until(lambda: instances[1].app.leader.role is Role.STANDBY, 10)
    try:
        yield instances[0], instances[1]
    finally:
        for instance in reversed(instances):
            await instance.stop()


async def _until(predicate, limit: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until ``predicate()`` holds (polled every 5 ms); fails after ``limit``."""
    started = time.monotonic()
    while not predicate():  # noqa: ASYNC110 — a condition on another task's state
        if time.monotonic() - started > limit:
            raise AssertionError("timed out")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def test_what_the_standby_instance_commits_leaves_from_the_leader_at_once(
        pair: tuple[Instance, Instance]) -> None:
    leader, standby = pair
    assert leader.app.leader.role is Role.LEADING
    assert standby.app.leader.role is Role.STANDBY
    await operator(standby.app).say('cohorte creer "Deux instances"')
    waited = await _until(lambda: len(leader.sender.sent) == 1, 5)
    assert standby.sender.sent == []
    assert "Deux instances" in leader.sender.texts()[0]
    assert waited < 2, f"delivered {waited:.2f} s after the commit (poll fallback is 30 s)"

    now = datetime.now(UTC)
    async with standby.app.db.session() as session:
        await Store(session).jobs.schedule(key="ping:1", name="test.ping", due_at=now, now=now)
    standby.app.scheduler.notify({"jobs"})
    waited = await _until(lambda: leader.timers == ["ping:1"], 5)
    assert waited < 2, f"timer ran {waited:.2f} s after it was written by the other instance"
    print(f"\n[measure] wake-up across instances: timer ran {waited * 1000:.0f} ms later")

"""The in-memory timer over the ``scheduled_job`` table.

APScheduler 3 (``AsyncIOScheduler``) only wakes us up: what is due, and whether
it already ran, lives in the database. At start-up everything overdue runs
first (features decide what "late" means for them), then the next jobs within a
horizon are planned; any change to jobs re-plans. One instance in a deployment
runs this (see :mod:`bot.leader`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from handlers.core.clock import Clock
from handlers.core.dispatch import Dispatcher, Outcome
from handlers.core.events import TimerEvent
from storage.db import Database
from storage.models import JobStatus, ScheduledJob
from storage.uow import Store

log = logging.getLogger(__name__)

HORIZON = timedelta(hours=6)
POLL = timedelta(seconds=30)
"""At most this long between two looks at the table: jobs written by another process
(which cannot wake this one) are planned in time."""
RETRY_LIMIT = 5
STOP_GRACE_SECONDS = 10.0
REPLAN_JOB = "cohortbot-replan"


class Scheduler:
    def __init__(self, db: Database, dispatcher: Dispatcher, clock: Clock, *,
                 horizon: timedelta = HORIZON, poll: timedelta = POLL) -> None:
        self.db = db
        self.dispatcher = dispatcher
        self.clock = clock
        self.horizon = horizon
        self.poll = poll
        self.on_start: list[Callable[[], Awaitable[None]]] = []
        """Run at each start, before overdue jobs (features re-plan from the database here)."""
        self._aps: AsyncIOScheduler | None = None
        self._planned: dict[str, datetime] = {}
        self._running: set[int] = set()
        self._tasks: set[asyncio.Task[object]] = set()
        self._replan_pending = False
        self._lock = asyncio.Lock()
        self.fired = 0
        self.elsewhere: Callable[[set[str]], None] | None = None
        """Told of job changes while the timer does not run in this process (another
        process leads: :mod:`bot.wake` passes the word on)."""

    async def start(self) -> None:
        """Run what is overdue, then plan the next jobs (a second call does nothing)."""
        if self._aps is not None:
            return
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.start()
        for hook in self.on_start:
            try:
                await hook()
            except Exception:
                log.exception("scheduler start-up hook failed")
        await self.run_due()
        await self.replan()

    async def stop(self) -> None:
        """Stop the timer and let jobs already running finish (their work commits whole).

        APScheduler's ``shutdown`` cancels the coroutines it is running, so it comes last:
        the timer is paused (nothing new starts), the jobs and re-plans under way are
        waited for, and only what outlasts the grace period is cancelled. A re-plan
        cancelled mid-query would otherwise be logged as an error at every stop that
        meets one.
        """
        aps, self._aps = self._aps, None
        if aps is not None:
            aps.pause()
            self._planned.clear()
        current = asyncio.current_task()
        running = [t for t in self._tasks if t is not current and not t.done()]
        if running:
            await asyncio.wait(running, timeout=STOP_GRACE_SECONDS)
        if aps is not None:
            aps.shutdown(wait=False)

    def notify(self, changed: set[str]) -> None:
        """Called after a commit that touched jobs: re-plan soon (coalesced)."""
        if "jobs" not in changed:
            return
        if self._aps is None and self.elsewhere is not None:
            self.elsewhere(changed)
            return
        if self._aps is None or self._replan_pending:
            return
        self._replan_pending = True
        asyncio.get_running_loop().call_soon(self._replan_soon)

    def _replan_soon(self) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(self.replan())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def replan(self) -> None:
        self._replan_pending = False
        if self._aps is None:
            return
        aps = self._aps
        now = self.clock.now()
        async with self.db.session() as session:
            jobs = await Store(session).jobs.upcoming(now + self.horizon)
            later = await Store(session).jobs.next_due()
        if self._aps is not aps:
            return
        for job in jobs:
            run_at = max(job.due_at, now)
            aps_id = f"job-{job.id}"
            if job.id in self._running or (self._planned.get(aps_id) == job.due_at
                                           and self._aps.get_job(aps_id)):
                continue
            self._planned[aps_id] = job.due_at
            self._aps.add_job(self._fire, "date", run_date=run_at, args=[job.id],
                              id=aps_id, replace_existing=True,
                              misfire_grace_time=None, coalesce=True)
        wake = now + min(self.horizon, self.poll)
        if later is not None and later > now:
            wake = min(wake, max(later, now + timedelta(seconds=1)))
        self._aps.add_job(self._timed_replan, "date", run_date=wake, id=REPLAN_JOB,
                          replace_existing=True, misfire_grace_time=None)

    async def _timed_replan(self) -> None:
        """The periodic re-plan as APScheduler runs it, tracked so that `stop` waits for it."""
        with self._tracked():
            await self.replan()

    async def run_due(self) -> int:
        """Run every job due now, oldest first; returns how many ran. Used at start-up
        and by tests driving a fake clock."""
        ran = 0
        while True:
            async with self.db.session() as session:
                due = [(j.id) for j in await Store(session).jobs.due(self.clock.now())]
            if not due:
                return ran
            progressed = False
            for job_id in due:
                outcome = await self._fire(job_id)
                if outcome is not None and outcome.handled and not outcome.failed:
                    ran += 1
                    progressed = True
            if not progressed:
                return ran

    @contextmanager
    def _tracked(self) -> Iterator[None]:
        """The current task is one `stop` waits for while it runs."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _fire(self, job_id: int) -> Outcome | None:
        self._running.add(job_id)
        try:
            with self._tracked():
                return await self._fire_once(job_id)
        finally:
            self._running.discard(job_id)

    async def _fire_once(self, job_id: int) -> Outcome | None:
        async with self.db.session() as session:
            job = await session.get(ScheduledJob, job_id)
            if job is None or job.status is not JobStatus.PENDING:
                return None
            if job.due_at > self.clock.now() + timedelta(seconds=1):
                return None
            event = TimerEvent(name=job.name, due_at=job.due_at, payload=dict(job.payload),
                               job_id=job.id, key=job.key)
        outcome = await self.dispatcher.handle(event)
        self.fired += 1
        if outcome.failed:
            delay = timedelta(seconds=min(300, 5 * 2 ** (await self._attempts(job_id))))
            async with self.db.session() as session:
                await Store(session).jobs.failed_attempt(
                    job_id, "handler failed (see log)", self.clock.now() + delay, RETRY_LIMIT)
            self.notify({"jobs"})
        return outcome

    async def _attempts(self, job_id: int) -> int:
        async with self.db.session() as session:
            job = await session.get(ScheduledJob, job_id)
            return job.attempts if job else 0



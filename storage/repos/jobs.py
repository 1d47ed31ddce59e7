"""Durable timers: schedule, reschedule, cancel, find what is due, claim once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import JobStatus, ScheduledJob


class JobRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def schedule(self, *, key: str, name: str, due_at: datetime, now: datetime,
                       payload: dict[str, Any] | None = None) -> ScheduledJob:
        """Create the job, or move a pending one with the same key to ``due_at``.

        A job already done keeps its state: scheduling it again is a no-op, which is
        what makes "send once per occurrence" hold when plans are recomputed.
        """
        existing = await self.by_key(key)
        if existing is not None:
            if existing.status in (JobStatus.PENDING, JobStatus.CANCELLED):
                existing.due_at = due_at
                existing.payload = payload or {}
                existing.status = JobStatus.PENDING
                existing.attempts = 0
            return existing
        job = ScheduledJob(key=key, name=name, due_at=due_at, payload=payload or {},
                           status=JobStatus.PENDING, attempts=0, created_at=now)
        try:
            async with self.session.begin_nested():
                self.session.add(job)
                await self.session.flush()
        except IntegrityError:
            found = await self.by_key(key)
            assert found is not None
            return found
        return job

    async def by_key(self, key: str) -> ScheduledJob | None:
        return await self.session.scalar(select(ScheduledJob).where(ScheduledJob.key == key))

    async def cancel(self, key: str) -> bool:
        result = await self.session.execute(update(ScheduledJob).where(
            ScheduledJob.key == key, ScheduledJob.status == JobStatus.PENDING)
            .values(status=JobStatus.CANCELLED))
        return bool(result.rowcount)

    async def cancel_prefix(self, prefix: str) -> int:
        result = await self.session.execute(update(ScheduledJob).where(
            ScheduledJob.key.startswith(prefix, autoescape=True),
            ScheduledJob.status == JobStatus.PENDING).values(status=JobStatus.CANCELLED))
        return int(result.rowcount or 0)

    async def due(self, now: datetime, limit: int = 500) -> Sequence[ScheduledJob]:
        return (await self.session.scalars(select(ScheduledJob).where(
            ScheduledJob.status == JobStatus.PENDING, ScheduledJob.due_at <= now)
            .order_by(ScheduledJob.due_at, ScheduledJob.id).limit(limit))).all()

    async def upcoming(self, until: datetime, limit: int = 5000) -> Sequence[ScheduledJob]:
        return (await self.session.scalars(select(ScheduledJob).where(
            ScheduledJob.status == JobStatus.PENDING, ScheduledJob.due_at <= until)
            .order_by(ScheduledJob.due_at).limit(limit))).all()

    async def next_due(self) -> datetime | None:
        return await self.session.scalar(select(func.min(ScheduledJob.due_at)).where(
            ScheduledJob.status == JobStatus.PENDING))

    async def claim(self, job_id: int, now: datetime) -> bool:
        """Mark a pending job done; False if another run already did (run it not)."""
        result = await self.session.execute(update(ScheduledJob).where(
            ScheduledJob.id == job_id, ScheduledJob.status == JobStatus.PENDING)
            .values(status=JobStatus.DONE, done_at=now))
        return bool(result.rowcount)

    async def failed_attempt(self, job_id: int, error: str, retry_at: datetime,
                             give_up_after: int) -> None:
        job = await self.session.get(ScheduledJob, job_id)
        if job is None or job.status is not JobStatus.PENDING:
            return
        job.attempts += 1
        job.last_error = error[:2000]
        if job.attempts >= give_up_after:
            job.status = JobStatus.FAILED
        else:
            job.due_at = retry_at

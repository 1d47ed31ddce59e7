"""Events, their exceptions, calendar settings, reminder occurrences and URL imports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import Cohort, OutboxMessage, OutboxStatus, ScheduledJob
from storage.models_calendar import (
    CalendarEvent,
    CalendarImport,
    CalendarSettings,
    EventException,
    EventStatus,
    ExceptionKind,
    ImportStatus,
    Reminder,
    ReminderStatus,
)
from storage.repos.cohorts import AlreadyExists

OPEN_STATUSES = (ReminderStatus.PLANNED, ReminderStatus.CANCELLED)
"""Reminders that planning may still change (the others went out or were decided)."""


class CalendarRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- events ---------------------------------------------------------------------------

    async def add_event(self, event: CalendarEvent) -> CalendarEvent:
        """Insert an event; :class:`AlreadyExists` when the cohort has one with its UID."""
        try:
            async with self.session.begin_nested():
                self.session.add(event)
                await self.session.flush()
        except IntegrityError:
            raise AlreadyExists(event.uid) from None
        await self.session.refresh(event, ["exceptions"])
        return event

    async def event(self, cohort_id: int, event_id: int) -> CalendarEvent | None:
        return await self.session.scalar(
            select(CalendarEvent).where(CalendarEvent.cohort_id == cohort_id,
                                        CalendarEvent.id == event_id)
            .options(selectinload(CalendarEvent.exceptions)))

    async def event_by_id(self, event_id: int) -> CalendarEvent | None:
        return await self.session.scalar(
            select(CalendarEvent).where(CalendarEvent.id == event_id)
            .options(selectinload(CalendarEvent.exceptions)))

    async def events_by_ids(self, ids: Sequence[int]) -> dict[int, CalendarEvent]:
        found: dict[int, CalendarEvent] = {}
        for chunk in _chunks(sorted(set(ids)), 500):
            rows = (await self.session.scalars(
                select(CalendarEvent).where(CalendarEvent.id.in_(chunk))
                .options(selectinload(CalendarEvent.exceptions)))).all()
            found.update({e.id: e for e in rows})
        return found

    async def by_uid(self, cohort_id: int, uid: str) -> CalendarEvent | None:
        return await self.session.scalar(
            select(CalendarEvent).where(CalendarEvent.cohort_id == cohort_id,
                                        CalendarEvent.uid == uid)
            .options(selectinload(CalendarEvent.exceptions)))

    async def events(self, cohort_id: int, statuses: Iterable[EventStatus] | None = None
                     ) -> Sequence[CalendarEvent]:
        query = select(CalendarEvent).where(CalendarEvent.cohort_id == cohort_id)
        if statuses is not None:
            query = query.where(CalendarEvent.status.in_(list(statuses)))
        return (await self.session.scalars(
            query.options(selectinload(CalendarEvent.exceptions))
            .order_by(CalendarEvent.starts_at, CalendarEvent.id))).all()

    async def events_from_source(self, cohort_id: int, source: str) -> Sequence[CalendarEvent]:
        return (await self.session.scalars(select(CalendarEvent).where(
            CalendarEvent.cohort_id == cohort_id, CalendarEvent.source == source,
            CalendarEvent.status != EventStatus.CANCELLED))).all()

    async def cohorts_with_events(self) -> Sequence[Cohort]:
        return (await self.session.scalars(
            select(Cohort).where(Cohort.id.in_(
                select(CalendarEvent.cohort_id).where(
                    CalendarEvent.status == EventStatus.ACTIVE).distinct()))
            .order_by(Cohort.id))).all()

    async def set_exception(self, event: CalendarEvent, original_start: datetime,
                            kind: ExceptionKind, now: datetime, *,
                            starts_at: datetime | None = None,
                            ends_at: datetime | None = None) -> EventException:
        """Cancel, move or add one occurrence; a second change of it replaces the first."""
        for existing in event.exceptions:
            if existing.original_start == original_start:
                existing.kind = kind
                existing.starts_at = starts_at
                existing.ends_at = ends_at
                await self.session.flush()
                return existing
        exception = EventException(event_id=event.id, original_start=original_start, kind=kind,
                                   starts_at=starts_at, ends_at=ends_at, created_at=now)
        event.exceptions.append(exception)
        await self.session.flush()
        return exception

    # -- settings -------------------------------------------------------------------------

    async def settings(self, cohort_id: int) -> CalendarSettings | None:
        return await self.session.scalar(select(CalendarSettings).where(
            CalendarSettings.cohort_id == cohort_id))

    async def settings_for(self, cohort_ids: Sequence[int]) -> dict[int, CalendarSettings]:
        if not cohort_ids:
            return {}
        rows = (await self.session.scalars(select(CalendarSettings).where(
            CalendarSettings.cohort_id.in_(list(cohort_ids))))).all()
        return {row.cohort_id: row for row in rows}

    async def ensure_settings(self, cohort_id: int, now: datetime) -> CalendarSettings:
        """The cohort's settings row, created on first use (the unique key settles races)."""
        found = await self.settings(cohort_id)
        if found is not None:
            return found
        row = CalendarSettings(cohort_id=cohort_id, updated_at=now)
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError:
            found = await self.settings(cohort_id)
            assert found is not None
            return found
        return row

    async def by_feed(self, slug: str) -> tuple[Cohort, CalendarSettings] | None:
        row = (await self.session.execute(
            select(Cohort, CalendarSettings).join(
                CalendarSettings, CalendarSettings.cohort_id == Cohort.id)
            .where(Cohort.slug == slug, CalendarSettings.feed_token.is_not(None)))).first()
        return (row[0], row[1]) if row else None

    # -- reminders ------------------------------------------------------------------------

    async def reminders_of(self, event_id: int, since: datetime) -> Sequence[Reminder]:
        """Reminders of occurrences that start after ``since`` (what planning reconciles)."""
        return (await self.session.scalars(select(Reminder).where(
            Reminder.event_id == event_id, Reminder.occurrence_start > since))).all()

    async def reminders_of_events(self, event_ids: Sequence[int], since: datetime
                                  ) -> dict[int, list[Reminder]]:
        found: dict[int, list[Reminder]] = {i: [] for i in event_ids}
        for chunk in _chunks(list(event_ids), 500):
            rows = (await self.session.scalars(select(Reminder).where(
                Reminder.event_id.in_(chunk), Reminder.occurrence_start > since))).all()
            for row in rows:
                found[row.event_id].append(row)
        return found

    async def add_planned(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert planned reminders, ignoring any that already exist (the unique key settles
        a concurrent planning pass); returns how many were offered."""
        if not rows:
            return 0
        statement = self._insert(Reminder).on_conflict_do_nothing(
            index_elements=["event_id", "occurrence_start", "offset_minutes", "platform",
                            "room_id"])
        for chunk in _chunks(list(rows), 2000):
            await self.session.execute(statement, chunk)
        return len(rows)

    def _insert(self, table: Any) -> Any:
        """INSERT with ``ON CONFLICT DO NOTHING`` support, for SQLite and PostgreSQL."""
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)

    async def add_timers(self, timers: Sequence[dict[str, Any]]) -> None:
        """Create durable timers whose keys do not exist yet (a bulk ``JobRepo.schedule``)."""
        if not timers:
            return
        statement = self._insert(ScheduledJob).on_conflict_do_nothing(index_elements=["key"])
        for chunk in _chunks(list(timers), 2000):
            await self.session.execute(statement, chunk)

    async def replan(self, ids: Sequence[int], due: dict[int, datetime]) -> None:
        """Put cancelled-but-wanted-again reminders back to planned, with their due time."""
        for reminder_id in ids:
            await self.session.execute(_update(Reminder).where(
                Reminder.id == reminder_id, Reminder.status.in_(OPEN_STATUSES))
                .values(status=ReminderStatus.PLANNED, reason=None, due_at=due[reminder_id]))

    async def cancel(self, ids: Sequence[int], reason: str) -> int:
        count = 0
        for chunk in _chunks(list(ids), 500):
            result = await self.session.execute(_update(Reminder).where(
                Reminder.id.in_(chunk), Reminder.status == ReminderStatus.PLANNED)
                .values(status=ReminderStatus.CANCELLED, reason=reason))
            count += int(result.rowcount or 0)
        return count

    async def due(self, cutoff: datetime, limit: int) -> Sequence[Reminder]:
        """Planned reminders due at or before ``cutoff``, oldest first."""
        return (await self.session.scalars(select(Reminder).where(
            Reminder.status == ReminderStatus.PLANNED, Reminder.due_at <= cutoff)
            .order_by(Reminder.due_at, Reminder.id).limit(limit))).all()

    async def claim(self, reminder_id: int, now: datetime, late: bool) -> bool:
        """planned → queued; False when another run claimed it first (then send nothing)."""
        result = await self.session.execute(_update(Reminder).where(
            Reminder.id == reminder_id, Reminder.status == ReminderStatus.PLANNED)
            .values(status=ReminderStatus.QUEUED, claimed_at=now, late=late))
        return bool(result.rowcount)

    async def claim_many(self, ids: Sequence[int], now: datetime, *, late: bool) -> set[int]:
        """planned → queued for several reminders; returns the ids this call claimed."""
        claimed: set[int] = set()
        for chunk in _chunks(list(ids), 500):
            result = await self.session.execute(
                _update(Reminder)
                .where(Reminder.id.in_(chunk), Reminder.status == ReminderStatus.PLANNED)
                .values(status=ReminderStatus.QUEUED, claimed_at=now, late=late)
                .returning(Reminder.id))
            claimed.update(result.scalars().all())
        return claimed

    async def skip_many(self, ids: Sequence[int], reason: str, now: datetime) -> set[int]:
        """planned → skipped for several reminders; returns the ids this call skipped."""
        skipped: set[int] = set()
        for chunk in _chunks(list(ids), 500):
            result = await self.session.execute(
                _update(Reminder)
                .where(Reminder.id.in_(chunk), Reminder.status == ReminderStatus.PLANNED)
                .values(status=ReminderStatus.SKIPPED, reason=reason, claimed_at=now)
                .returning(Reminder.id))
            skipped.update(result.scalars().all())
        return skipped

    async def skip(self, reminder_id: int, reason: str, now: datetime) -> bool:
        result = await self.session.execute(_update(Reminder).where(
            Reminder.id == reminder_id, Reminder.status == ReminderStatus.PLANNED)
            .values(status=ReminderStatus.SKIPPED, reason=reason, claimed_at=now))
        return bool(result.rowcount)

    async def mark_sent(self, reminder_id: int, now: datetime, message_id: str | None) -> None:
        await self.session.execute(_update(Reminder).where(
            Reminder.id == reminder_id, Reminder.status == ReminderStatus.QUEUED)
            .values(status=ReminderStatus.SENT, sent_at=now, message_id=message_id))

    async def mark_sent_keys(self, delivered: Sequence[tuple[str, str | None, datetime]],
                             prefix: str) -> None:
        """Mark sent the reminders whose outbox keys (``<prefix><id>``) were delivered."""
        for key, message_id, at in delivered:
            try:
                reminder_id = int(key[len(prefix):])
            except ValueError:
                continue
            await self.mark_sent(reminder_id, at, message_id)

    async def settle_delivered(self, prefix: str = "reminder:") -> int:
        """Queued reminders whose outbox message went out before a crash: mark them sent."""
        rows = (await self.session.execute(
            select(Reminder.id, OutboxMessage.sent_at, OutboxMessage.message_id)
            .join(OutboxMessage, OutboxMessage.key == literal(prefix) + cast(Reminder.id, String))
            .where(Reminder.status == ReminderStatus.QUEUED,
                   OutboxMessage.status == OutboxStatus.SENT))).all()
        for reminder_id, sent_at, message_id in rows:
            await self.session.execute(_update(Reminder).where(Reminder.id == reminder_id)
                                       .values(status=ReminderStatus.SENT, sent_at=sent_at,
                                               message_id=message_id))
        return len(rows)

    async def planned_due_times(self, after: datetime) -> list[datetime]:
        return list((await self.session.scalars(select(Reminder.due_at).where(
            Reminder.status == ReminderStatus.PLANNED, Reminder.due_at > after)
            .distinct())).all())

    async def job_states(self, keys: Sequence[str]) -> dict[str, str]:
        """The status of the durable timers with these keys (absent keys are not there)."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(keys), 500):
            rows = (await self.session.execute(select(ScheduledJob.key, ScheduledJob.status)
                                               .where(ScheduledJob.key.in_(chunk)))).all()
            found.update({key: str(status) for key, status in rows})
        return found

    async def overdue_count(self, now: datetime) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(Reminder).where(
            Reminder.status == ReminderStatus.PLANNED, Reminder.due_at <= now)) or 0)

    async def of_cohort(self, cohort_id: int, *, statuses: Iterable[ReminderStatus],
                        since: datetime | None = None, until: datetime | None = None,
                        limit: int = 50, newest_first: bool = False
                        ) -> Sequence[tuple[Reminder, CalendarEvent]]:
        query = select(Reminder, CalendarEvent).join(
            CalendarEvent, CalendarEvent.id == Reminder.event_id).where(
            CalendarEvent.cohort_id == cohort_id, Reminder.status.in_(list(statuses)))
        if since is not None:
            query = query.where(Reminder.due_at >= since)
        if until is not None:
            query = query.where(Reminder.due_at <= until)
        order = (Reminder.due_at.desc(), Reminder.id.desc()) if newest_first else (
            Reminder.due_at, Reminder.id)
        return [(r, e) for r, e in (await self.session.execute(
            query.order_by(*order).limit(limit))).all()]

    async def sent_for_occurrence(self, event_id: int, occurrence_start: datetime
                                  ) -> Sequence[Reminder]:
        """Reminders of one occurrence that went out (or are on their way)."""
        return (await self.session.scalars(select(Reminder).where(and_(
            Reminder.event_id == event_id, Reminder.occurrence_start == occurrence_start,
            Reminder.status.in_((ReminderStatus.QUEUED, ReminderStatus.SENT)))))).all()

    # -- URL imports ----------------------------------------------------------------------

    async def add_import(self, row: CalendarImport) -> CalendarImport:
        self.session.add(row)
        await self.session.flush()
        return row

    async def get_import(self, import_id: int) -> CalendarImport | None:
        return await self.session.get(CalendarImport, import_id)

    async def imports_to_fetch(self) -> Sequence[CalendarImport]:
        return (await self.session.scalars(select(CalendarImport).where(
            CalendarImport.status == ImportStatus.FETCHING).order_by(CalendarImport.id))).all()

    async def imports_fetched(self) -> Sequence[int]:
        return (await self.session.scalars(select(CalendarImport.id).where(
            CalendarImport.status == ImportStatus.FETCHED).order_by(CalendarImport.id))).all()

    async def fetched(self, import_id: int, content: bytes | None, error: str | None) -> None:
        await self.session.execute(_update(CalendarImport).where(
            CalendarImport.id == import_id, CalendarImport.status == ImportStatus.FETCHING)
            .values(status=ImportStatus.FETCHED, content=content, error=error))

    async def finish_import(self, import_id: int, now: datetime, failed: bool) -> bool:
        """fetched → done/failed, once; the content is dropped (it is in the events now)."""
        result = await self.session.execute(_update(CalendarImport).where(
            CalendarImport.id == import_id, CalendarImport.status == ImportStatus.FETCHED)
            .values(status=ImportStatus.FAILED if failed else ImportStatus.DONE, done_at=now,
                    content=None))
        return bool(result.rowcount)


def _update(model: Any) -> Any:
    """An UPDATE that does not scan the session's objects (bulk statements on big batches)."""
    return update(model).execution_options(synchronize_session=False)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

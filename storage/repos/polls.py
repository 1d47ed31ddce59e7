"""Polls, answers and campaigns; the batched vote writes of the lean vote path."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, any_, bindparam, delete, func, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from storage.models import (
    Cohort,
    CoordinatorRole,
    Delegation,
    JobStatus,
    Member,
    OutboxMessage,
    OutboxStatus,
    PlatformIdentity,
    ProcessedEvent,
    ScheduledJob,
)
from storage.models_polls import Campaign, Poll, PollAnswer, PollOption, PollStatus
from storage.repos.cohorts import AlreadyExists


def _is_pg(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_PG_UPSERT = """
INSERT INTO poll_answer (poll_id, scope_key, member_id, delegation_id, category, value, comment,
                         platform, changes, created_at, updated_at)
SELECT u.poll_id, u.scope_key, u.member_id, u.delegation_id, u.category, CAST(u.value AS json),
       u.comment, u.platform, 0, CAST(:now AS timestamptz), CAST(:now AS timestamptz)
FROM unnest(CAST(:poll_id AS integer[]), CAST(:scope_key AS varchar[]),
            CAST(:member_id AS integer[]), CAST(:delegation_id AS integer[]),
            CAST(:category AS varchar[]), CAST(:value AS text[]), CAST(:comment AS text[]),
            CAST(:platform AS varchar[]))
     AS u(poll_id, scope_key, member_id, delegation_id, category, value, comment, platform)
ON CONFLICT (poll_id, scope_key) DO UPDATE SET
    member_id = EXCLUDED.member_id, delegation_id = EXCLUDED.delegation_id,
    category = EXCLUDED.category, value = EXCLUDED.value, platform = EXCLUDED.platform,
    updated_at = EXCLUDED.updated_at, changes = poll_answer.changes + 1{comment}
"""
_PG_CLAIM = """
INSERT INTO processed_event (platform, event_id, at)
SELECT u.platform, u.event_id, CAST(:now AS timestamptz)
FROM unnest(CAST(:platform AS varchar[]), CAST(:event_id AS varchar[])) AS u(platform, event_id)
ON CONFLICT (platform, event_id) DO NOTHING
RETURNING platform, event_id
"""
_PG_ENQUEUE = """
INSERT INTO outbox (key, platform, destination, thread_id, private_to, hints, payload, edit_of,
                    status, attempts, created_at, not_before)
SELECT u.key, u.platform, u.destination, u.thread_id, u.private_to, CAST(u.hints AS json),
       CAST(u.payload AS json), NULL, 'pending', 0, CAST(:now AS timestamptz), NULL
FROM unnest(CAST(:key AS varchar[]), CAST(:platform AS varchar[]),
            CAST(:destination AS varchar[]), CAST(:thread_id AS varchar[]),
            CAST(:private_to AS varchar[]), CAST(:hints AS text[]), CAST(:payload AS text[]))
     AS u(key, platform, destination, thread_id, private_to, hints, payload)
ON CONFLICT (key) DO NOTHING
"""
"""On PostgreSQL a batch is sent as arrays and expanded by ``unnest``: one statement, one
plan, whatever the batch size (an executemany costs one execution per row)."""


def _insert(session: AsyncSession, table: Any) -> Any:
    """A dialect ``INSERT`` that knows ``ON CONFLICT`` (SQLite and PostgreSQL alike)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@dataclass(frozen=True, slots=True)
class VoterRow:
    """What the vote path needs to know about the account behind a vote."""

    member_id: int
    name: str
    delegation_id: int | None
    delegation_cohort_id: int | None
    territory: str | None
    category: str | None
    is_referent: bool
    language: str | None


@dataclass(slots=True)
class AnswerWrite:
    poll_id: int
    scope_key: str
    member_id: int
    delegation_id: int | None
    category: str | None
    value: dict[str, Any]
    comment: str | None
    platform: str
    keep_comment: bool = True


class PollRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, poll: Poll, options: Sequence[PollOption]) -> Poll:
        poll.options = list(options)
        try:
            async with self.session.begin_nested():
                self.session.add(poll)
                await self.session.flush()
        except IntegrityError:
            raise AlreadyExists(poll.title) from None
        return poll

    async def get(self, poll_id: int) -> Poll | None:
        return await self.session.scalar(
            select(Poll).where(Poll.id == poll_id).options(selectinload(Poll.options)))

    async def many(self, poll_ids: Iterable[int]) -> dict[int, Poll]:
        ids = sorted(set(poll_ids))
        if not ids:
            return {}
        polls = (await self.session.scalars(
            select(Poll).where(Poll.id.in_(ids)).options(joinedload(Poll.options)))).unique().all()
        return {p.id: p for p in polls}

    async def of_cohort(self, cohort_id: int, *, open_only: bool = False,
                        campaign_id: int | None = None) -> Sequence[Poll]:
        query = select(Poll).where(Poll.cohort_id == cohort_id).options(
            selectinload(Poll.options))
        if open_only:
            query = query.where(Poll.status == PollStatus.OPEN)
        if campaign_id is not None:
            query = query.where(Poll.campaign_id == campaign_id)
        return (await self.session.scalars(query.order_by(Poll.id))).all()

    async def answers(self, poll_id: int) -> Sequence[PollAnswer]:
        return (await self.session.scalars(select(PollAnswer).where(
            PollAnswer.poll_id == poll_id).order_by(PollAnswer.id))).all()

    async def answers_of_polls(self, poll_ids: Sequence[int]) -> dict[int, list[PollAnswer]]:
        found: dict[int, list[PollAnswer]] = {pid: [] for pid in poll_ids}
        if not poll_ids:
            return found
        for answer in (await self.session.scalars(select(PollAnswer).where(
                PollAnswer.poll_id.in_(list(poll_ids))).order_by(PollAnswer.id))).all():
            found[answer.poll_id].append(answer)
        return found

    async def answer(self, poll_id: int, scope_key: str, *, for_update: bool = False
                     ) -> PollAnswer | None:
        query = select(PollAnswer).where(PollAnswer.poll_id == poll_id,
                                         PollAnswer.scope_key == scope_key)
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def current_values(self, keys: Sequence[tuple[int, str]]
                             ) -> dict[tuple[int, str], PollAnswer]:
        """Answers standing for these (poll, scope key) pairs, locked until commit."""
        if not keys:
            return {}
        rows = (await self.session.scalars(select(PollAnswer).where(
            tuple_(PollAnswer.poll_id, PollAnswer.scope_key).in_(list(set(keys))))
            .with_for_update())).all()
        return {(a.poll_id, a.scope_key): a for a in rows}

    async def upsert_answers(self, writes: Sequence[AnswerWrite], now: datetime) -> None:
        """Insert or replace answers, one statement; the unique key (poll, scope key) makes
        concurrent writers meet on one row instead of adding a second one."""
        if not writes:
            return
        rows = [{"poll_id": w.poll_id, "scope_key": w.scope_key, "member_id": w.member_id,
                 "delegation_id": w.delegation_id, "category": w.category, "value": w.value,
                 "comment": w.comment, "platform": w.platform, "changes": 0,
                 "created_at": now, "updated_at": now} for w in writes]
        if any(w.keep_comment for w in writes) and any(not w.keep_comment for w in writes):
            await self.upsert_answers([w for w in writes if w.keep_comment], now)
            await self.upsert_answers([w for w in writes if not w.keep_comment], now)
            return
        if _is_pg(self.session):
            comment = "" if writes[0].keep_comment else ", comment = EXCLUDED.comment"
            await self.session.execute(text(_PG_UPSERT.format(comment=comment)), {
                "now": now, "poll_id": [w.poll_id for w in writes],
                "scope_key": [w.scope_key for w in writes],
                "member_id": [w.member_id for w in writes],
                "delegation_id": [w.delegation_id for w in writes],
                "category": [w.category for w in writes],
                "value": [_json(w.value) for w in writes],
                "comment": [w.comment for w in writes],
                "platform": [w.platform for w in writes]})
            return
        table = PollAnswer.__table__
        statement = _insert(self.session, table)
        excluded = statement.excluded
        values: dict[str, Any] = {
            "member_id": excluded.member_id, "delegation_id": excluded.delegation_id,
            "category": excluded.category, "value": excluded.value,
            "platform": excluded.platform, "updated_at": excluded.updated_at,
            "changes": table.c.changes + 1,
        }
        if not writes[0].keep_comment:
            values["comment"] = excluded.comment
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=[table.c.poll_id, table.c.scope_key], set_=values), rows)

    async def set_comment(self, poll_id: int, scope_key: str, comment: str | None,
                          now: datetime) -> bool:
        result = await self.session.execute(update(PollAnswer).where(
            PollAnswer.poll_id == poll_id, PollAnswer.scope_key == scope_key)
            .values(comment=comment, updated_at=now))
        return bool(result.rowcount)

    async def delete_answer(self, poll_id: int, scope_key: str) -> bool:
        result = await self.session.execute(delete(PollAnswer).where(
            PollAnswer.poll_id == poll_id, PollAnswer.scope_key == scope_key))
        return bool(result.rowcount)

    async def mark_dirty(self, poll_ids: Sequence[int]) -> list[tuple[int, int]]:
        """Flag polls whose room messages need an update; returns (poll, next refresh number)
        for those that were not flagged yet, so only one refresh is planned per burst."""
        if not poll_ids:
            return []
        result = await self.session.execute(
            update(Poll).where(Poll.id.in_(list(poll_ids)), Poll.refresh_pending.is_(False))
            .values(refresh_pending=True).returning(Poll.id, Poll.refresh_seq))
        return [(row[0], row[1] + 1) for row in result.all()]

    async def take_refresh(self, poll_id: int) -> int | None:
        """Clear the flag and return the refresh number to use, or None if none is due."""
        result = await self.session.execute(
            update(Poll).where(Poll.id == poll_id, Poll.refresh_pending.is_(True))
            .values(refresh_pending=False, refresh_seq=Poll.refresh_seq + 1)
            .returning(Poll.refresh_seq))
        row = result.first()
        return int(row[0]) if row else None

    async def bump_refresh(self, poll_id: int) -> int:
        result = await self.session.execute(
            update(Poll).where(Poll.id == poll_id)
            .values(refresh_pending=False, refresh_seq=Poll.refresh_seq + 1)
            .returning(Poll.refresh_seq))
        return int(result.scalar_one())

    # --- the lean vote path: a few statements for a whole batch of votes -----------------

    async def voters(self, accounts: Sequence[tuple[str, str]]
                     ) -> dict[tuple[str, str], VoterRow]:
        """The members behind these (platform, user id) accounts, with their delegation."""
        if not accounts:
            return {}
        query = select(
            PlatformIdentity.platform, PlatformIdentity.user_id, Member.id, Member.display_name,
            Member.delegation_id, Delegation.cohort_id, Delegation.territory, Member.category,
            Member.is_referent, Member.language,
        ).join(Member, Member.id == PlatformIdentity.member_id).outerjoin(
            Delegation, Delegation.id == Member.delegation_id).where(Member.erased_at.is_(None))
        if _is_pg(self.session):
            by_platform: dict[str, list[str]] = {}
            for platform, user_id in set(accounts):
                by_platform.setdefault(platform, []).append(user_id)
            results = []
            for platform, ids in by_platform.items():
                results += (await self.session.execute(query.where(
                    PlatformIdentity.platform == platform,
                    PlatformIdentity.user_id == any_(bindparam(
                        "user_ids", ids, type_=postgresql.ARRAY(String)))))).all()
        else:
            results = (await self.session.execute(query.where(
                tuple_(PlatformIdentity.platform, PlatformIdentity.user_id)
                .in_(list(set(accounts)))))).all()
        found = {}
        for r in results:
            category = r[7].value if r[7] is not None and hasattr(r[7], "value") else r[7]
            found[(r[0], r[1])] = VoterRow(r[2], r[3], r[4], r[5], r[6], category, bool(r[8]),
                                           r[9])
        return found

    async def coordinator_cohorts(self, member_ids: Sequence[int]) -> dict[int, set[int]]:
        found: dict[int, set[int]] = {}
        if not member_ids:
            return found
        for member_id, cohort_id in (await self.session.execute(select(
                CoordinatorRole.member_id, CoordinatorRole.cohort_id).where(
                CoordinatorRole.member_id.in_(list(set(member_ids)))))).all():
            found.setdefault(member_id, set()).add(cohort_id)
        return found

    async def cohort_languages(self, cohort_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        rows = await self.session.execute(select(Cohort.id, Cohort.language, Cohort.timezone)
                                          .where(Cohort.id.in_(list(set(cohort_ids)))))
        return {r[0]: (r[1], r[2]) for r in rows.all()}

    async def handled_events(self, events: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (platform, event id) were handled already."""
        if not events:
            return set()
        rows = await self.session.execute(select(
            ProcessedEvent.platform, ProcessedEvent.event_id).where(
            tuple_(ProcessedEvent.platform, ProcessedEvent.event_id).in_(list(events))))
        return {(r[0], r[1]) for r in rows.all()}

    async def claim_events(self, events: Sequence[tuple[str, str]], now: datetime
                           ) -> set[tuple[str, str]]:
        """Record platform events as handled; returns those that were new (others are
        retries already handled)."""
        if not events:
            return set()
        if _is_pg(self.session):
            result = await self.session.execute(text(_PG_CLAIM), {
                "now": now, "platform": [p for p, _ in events],
                "event_id": [e for _, e in events]})
            return {(r[0], r[1]) for r in result.all()}
        table = ProcessedEvent.__table__
        statement = _insert(self.session, table).on_conflict_do_nothing(
            index_elements=[table.c.platform, table.c.event_id]).returning(
            table.c.platform, table.c.event_id)
        result = await self.session.execute(
            statement, [{"platform": p, "event_id": e, "at": now} for p, e in events])
        return {(r[0], r[1]) for r in result.all()}

    async def release_events(self, events: Sequence[tuple[str, str]]) -> None:
        """Forget claims of events this batch will not handle (the ordinary path will)."""
        for platform, event_id in events:
            await self.session.execute(delete(ProcessedEvent).where(
                ProcessedEvent.platform == platform, ProcessedEvent.event_id == event_id))

    async def enqueue_many(self, rows: Sequence[dict[str, Any]], now: datetime) -> None:
        """Queue several outbox messages at once (each under its unique key)."""
        if not rows:
            return
        if _is_pg(self.session) and not any(r.get("edit_of") or r.get("not_before")
                                             for r in rows):
            await self.session.execute(text(_PG_ENQUEUE), {
                "now": now, "key": [r["key"] for r in rows],
                "platform": [r["platform"] for r in rows],
                "destination": [r["destination"] for r in rows],
                "thread_id": [r.get("thread_id") for r in rows],
                "private_to": [r.get("private_to") for r in rows],
                "hints": [_json(r.get("hints") or {}) for r in rows],
                "payload": [_json(r["payload"]) for r in rows]})
            return
        values = [{"hints": {}, "thread_id": None, "private_to": None, "edit_of": None,
                   "not_before": None, **row, "created_at": now,
                   "status": OutboxStatus.PENDING, "attempts": 0} for row in rows]
        table = OutboxMessage.__table__
        await self.session.execute(_insert(self.session, table).on_conflict_do_nothing(
            index_elements=[table.c.key]), values)

    async def schedule_many(self, jobs: Sequence[dict[str, Any]], now: datetime) -> None:
        """Create timers at once; a key that exists already is left as it is."""
        if not jobs:
            return
        values = [{"payload": {}, **job, "status": JobStatus.PENDING, "attempts": 0,
                   "created_at": now} for job in jobs]
        table = ScheduledJob.__table__
        await self.session.execute(_insert(self.session, table).on_conflict_do_nothing(
            index_elements=[table.c.key]), values)


class CampaignRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, campaign: Campaign) -> Campaign:
        try:
            async with self.session.begin_nested():
                self.session.add(campaign)
                await self.session.flush()
        except IntegrityError:
            raise AlreadyExists(campaign.slug) from None
        return campaign

    async def by_slug(self, cohort_id: int, slug: str) -> Campaign | None:
        return await self.session.scalar(select(Campaign).where(
            Campaign.cohort_id == cohort_id, Campaign.slug == slug))

    async def get(self, campaign_id: int) -> Campaign | None:
        return await self.session.get(Campaign, campaign_id)

    async def of_cohort(self, cohort_id: int) -> Sequence[Campaign]:
        return (await self.session.scalars(select(Campaign).where(
            Campaign.cohort_id == cohort_id).order_by(Campaign.id))).all()

    async def count_answers(self, poll_ids: Sequence[int]) -> int:
        if not poll_ids:
            return 0
        return int(await self.session.scalar(select(func.count()).select_from(PollAnswer).where(
            PollAnswer.poll_id.in_(list(poll_ids)))) or 0)


__all__ = ["AnswerWrite", "CampaignRepo", "PollRepo", "VoterRow"]

"""What the runtime needs to deliver exactly once: processed events, the outbox, DM rooms,
one-time codes and the audit log."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import (
    AuditEntry,
    DirectRoom,
    OneTimeCode,
    OutboxMessage,
    OutboxStatus,
    ProcessedEvent,
)
from storage.upsert import insert_ignore

DM_PREFIX = "@dm:"


class ProcessedEventRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, platform: str, event_id: str, now: datetime) -> bool:
        """Record that an event is being handled; False if it was already (a retry, a replay)."""
        return await insert_ignore(self.session, ProcessedEvent.__table__,
                                   {"platform": platform, "event_id": event_id, "at": now}
                                   ) is not None

    async def seen(self, platform: str, event_id: str) -> bool:
        return await self.session.scalar(select(ProcessedEvent.id).where(
            ProcessedEvent.platform == platform, ProcessedEvent.event_id == event_id)) is not None

    async def forget_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.at < cutoff))
        return int(result.rowcount or 0)


@lru_cache(maxsize=2)
def _mark_sent_statement(with_room: bool) -> Any:
    """Built once (delivery marks messages sent after every pass)."""
    table = OutboxMessage.__table__
    values: dict[str, Any] = {"status": OutboxStatus.SENT.value,
                              "message_id": bindparam("b_message"),
                              "sent_at": bindparam("b_now"), "last_error": None}
    if with_room:
        values["destination"] = bindparam("b_room")
    return update(table).where(table.c.id == bindparam("b_id")).values(**values)


class OutboxRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(self, *, key: str, platform: str, destination: str, payload: dict[str, Any],
                      now: datetime, thread_id: str | None = None, private_to: str | None = None,
                      hints: dict[str, Any] | None = None, edit_of: str | None = None,
                      not_before: datetime | None = None) -> int | None:
        """Queue a message under a unique ``key``; returns its id, or None when that key
        was queued already."""
        return await insert_ignore(self.session, OutboxMessage.__table__, {
            "key": key, "platform": platform, "destination": destination, "payload": payload,
            "thread_id": thread_id, "private_to": private_to, "hints": hints or {},
            "edit_of": edit_of, "created_at": now, "not_before": not_before,
            "status": OutboxStatus.PENDING.value, "attempts": 0}, returning=OutboxMessage.id)

    async def enqueue_many(self, rows: Sequence[dict[str, Any]], now: datetime) -> None:
        """Queue several messages in one statement; a key queued already is skipped, as
        with :meth:`enqueue`. Each row has ``key``, ``platform``, ``destination``,
        ``payload`` and optionally ``thread_id``, ``private_to``, ``hints``, ``edit_of``,
        ``not_before``."""
        if not rows:
            return
        table = OutboxMessage.__table__
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        params = [{"key": r["key"], "platform": str(r["platform"]),
                   "destination": r["destination"], "payload": r["payload"],
                   "thread_id": r.get("thread_id"), "private_to": r.get("private_to"),
                   "hints": r.get("hints") or {}, "edit_of": r.get("edit_of"),
                   "not_before": r.get("not_before"), "status": OutboxStatus.PENDING,
                   "attempts": 0, "last_error": None, "message_id": None, "created_at": now,
                   "sent_at": None} for r in rows]
        await self.session.execute(insert.on_conflict_do_nothing(index_elements=["key"]),
                                   params)

    async def pending(self, platform: str, now: datetime, limit: int = 200
                      ) -> Sequence[OutboxMessage]:
        """Pending messages of a platform due now, oldest first.

        A message waiting for a retry (rate limit, network) holds back the later
        messages to its destination, so a room never sees them out of order.
        """
        held = aliased(OutboxMessage)
        waiting_retry = exists().where(
            held.platform == OutboxMessage.platform,
            held.destination == OutboxMessage.destination,
            held.status == OutboxStatus.PENDING, held.attempts > 0, held.not_before > now,
            held.id < OutboxMessage.id)
        return (await self.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.platform == platform,
                or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now),
                ~waiting_retry)
            .order_by(OutboxMessage.id).limit(limit))).all()

    async def next_due(self, platform: str) -> datetime | None:
        return await self.session.scalar(select(func.min(OutboxMessage.not_before)).where(
            OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.platform == platform))

    async def get(self, outbox_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, outbox_id)

    async def by_key(self, key: str) -> OutboxMessage | None:
        return await self.session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))

    async def mark_sent(self, outbox_id: int, message_id: str | None, now: datetime,
                        destination: str | None = None) -> None:
        values: dict[str, Any] = {"status": OutboxStatus.SENT, "message_id": message_id,
                                  "sent_at": now, "last_error": None}
        if destination is not None:
            values["destination"] = destination
        await self.session.execute(
            update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(**values))

    async def mark_sent_many(self, sent: Sequence[tuple[int, str | None, str | None]],
                             now: datetime) -> None:
        """Mark several messages sent at once: (outbox id, message id, resolved DM room)."""
        plain = [{"b_id": i, "b_message": m, "b_now": now} for i, m, room in sent
                 if room is None]
        rooms = [{"b_id": i, "b_message": m, "b_now": now, "b_room": room}
                 for i, m, room in sent if room is not None]
        if plain:
            await self.session.execute(_mark_sent_statement(False), plain)
        if rooms:
            await self.session.execute(_mark_sent_statement(True), rooms)

    async def mark_retry(self, outbox_id: int, error: str, retry_at: datetime) -> None:
        await self.session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id)
                                   .values(attempts=OutboxMessage.attempts + 1,
                                           last_error=error[:2000], not_before=retry_at))

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        await self.session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id)
                                   .values(status=OutboxStatus.FAILED,
                                           attempts=OutboxMessage.attempts + 1,
                                           last_error=error[:2000]))

    async def sent_message_id(self, key: str) -> tuple[str, str, str | None] | None:
        """(platform, room id, message id) of a sent message, for edits in place."""
        row = await self.session.execute(select(
            OutboxMessage.platform, OutboxMessage.destination, OutboxMessage.message_id).where(
            and_(OutboxMessage.key == key, OutboxMessage.status == OutboxStatus.SENT)))
        found = row.first()
        return (found[0], found[1], found[2]) if found else None

    async def count(self, status: OutboxStatus | None = None) -> int:
        query = select(func.count()).select_from(OutboxMessage)
        if status is not None:
            query = query.where(OutboxMessage.status == status)
        return int(await self.session.scalar(query) or 0)


class DirectRoomRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, platform: str, user_id: str) -> str | None:
        return await self.session.scalar(select(DirectRoom.room_id).where(
            DirectRoom.platform == platform, DirectRoom.user_id == user_id))

    async def remember(self, platform: str, user_id: str, room_id: str, now: datetime) -> None:
        try:
            async with self.session.begin_nested():
                self.session.add(DirectRoom(platform=platform, user_id=user_id, room_id=room_id,
                                            created_at=now))
                await self.session.flush()
        except IntegrityError:
            await self.session.execute(update(DirectRoom).where(
                DirectRoom.platform == platform, DirectRoom.user_id == user_id)
                .values(room_id=room_id))

    async def is_direct(self, platform: str, room_id: str) -> bool:
        return await self.session.scalar(select(DirectRoom.id).where(
            DirectRoom.platform == platform, DirectRoom.room_id == room_id)) is not None


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


class CodeRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def issue(self, code: str, *, purpose: str, member_id: int, created_by: int | None,
                    now: datetime, ttl: timedelta) -> None:
        self.session.add(OneTimeCode(code_hash=hash_code(code), purpose=purpose,
                                     member_id=member_id, created_by=created_by,
                                     expires_at=now + ttl))
        await self.session.flush()

    async def redeem(self, code: str, *, purpose: str, now: datetime,
                     member_id: int | None = None) -> int | None:
        """Use a code once; returns its member id, or None if unknown, used or expired."""
        row = await self.session.scalar(select(OneTimeCode).where(
            OneTimeCode.code_hash == hash_code(code), OneTimeCode.purpose == purpose))
        if row is None or row.used_at is not None or row.expires_at <= now:
            return None
        if member_id is not None and row.member_id != member_id:
            return None
        result = await self.session.execute(update(OneTimeCode).where(
            OneTimeCode.id == row.id, OneTimeCode.used_at.is_(None)).values(used_at=now))
        return row.member_id if result.rowcount else None


class AuditRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, *, actor: str, action: str, now: datetime,
                     actor_member_id: int | None = None, cohort_id: int | None = None,
                     **details: Any) -> None:
        self.session.add(AuditEntry(at=now, actor=actor, actor_member_id=actor_member_id,
                                    cohort_id=cohort_id, action=action, details=details))

    async def of_cohort(self, cohort_id: int, limit: int = 50) -> Sequence[AuditEntry]:
        return (await self.session.scalars(select(AuditEntry).where(
            AuditEntry.cohort_id == cohort_id).order_by(AuditEntry.id.desc()).limit(limit))).all()

    async def by_actor(self, member_id: int) -> Sequence[AuditEntry]:
        return (await self.session.scalars(select(AuditEntry).where(
            AuditEntry.actor_member_id == member_id).order_by(AuditEntry.id))).all()

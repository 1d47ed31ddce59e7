"""Repositories of the bridge: cohort switches (``store.bridge``) and relayed messages
(``store.relays``). See :mod:`storage.models_bridge`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Cohort, LinkedRoom, OutboxMessage, OutboxStatus
from storage.models_bridge import Bridge, BridgeCursor, RelayMessage
from storage.upsert import insert_ignore

RELAY_KEY_PREFIX = "relay:"
BRIDGED_PLATFORMS = ("slack", "matrix")


@dataclass(frozen=True, slots=True)
class BridgedRoom:
    """A room whose messages are relayed, and the rooms they are relayed to."""

    platform: str
    room_id: str
    cohort: Cohort
    targets: tuple[tuple[str, str], ...]
    """(platform, room id) of every linked room of the cohort on another platform."""


@dataclass(frozen=True, slots=True)
class RelayBacklog:
    """What is still on its way for a cohort, and the latest delivery problem."""

    pending: int
    oldest_pending: datetime | None
    last_error: str | None
    last_error_at: datetime | None


class BridgeRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, cohort_id: int) -> Bridge | None:
        return await self.session.scalar(select(Bridge).where(Bridge.cohort_id == cohort_id))

    async def set_enabled(self, cohort_id: int, enabled: bool, now: datetime,
                          member_id: int | None) -> Bridge:
        """Switch a cohort's bridge on or off (one row per cohort, created on first use)."""
        await insert_ignore(self.session, Bridge.__table__, {
            "cohort_id": cohort_id, "enabled": enabled, "changed_at": now,
            "changed_by": member_id})
        await self.session.execute(update(Bridge).where(Bridge.cohort_id == cohort_id).values(
            enabled=enabled, changed_at=now, changed_by=member_id))
        bridge = await self.get(cohort_id)
        assert bridge is not None
        return bridge

    async def enabled_rooms(self) -> list[tuple[str, str]]:
        """(platform, room id) of every Slack channel and Matrix room whose cohort is bridged."""
        rows = await self.session.execute(
            select(LinkedRoom.platform, LinkedRoom.room_id)
            .join(Bridge, Bridge.cohort_id == LinkedRoom.cohort_id)
            .where(Bridge.enabled.is_(True), LinkedRoom.platform.in_(BRIDGED_PLATFORMS)))
        return [(p, r) for p, r in rows.all()]

    async def room(self, platform: str, room_id: str) -> BridgedRoom | None:
        """The bridged room ``room_id`` with its targets, or None when its cohort is not
        bridged (or it has no room on another platform). One query: it runs for every
        message of a bridged room."""
        rows = (await self.session.execute(_bridged_room(), {
            "b_platform": platform, "b_room": room_id})).all()
        if not rows:
            return None
        return BridgedRoom(platform, room_id, rows[0][0], tuple((p, r) for _, p, r in rows))

    async def record_error(self, cohort_id: int, error: str, now: datetime) -> None:
        await self.session.execute(update(Bridge).where(Bridge.cohort_id == cohort_id).values(
            last_error=error[:2000], last_error_at=now))

    async def record_relayed(self, marks: Sequence[tuple[int, datetime, int | None]]) -> None:
        """Note deliveries: (cohort id, when, lag in ms); the latest of each cohort stays."""
        latest: dict[int, tuple[datetime, int | None]] = {}
        for cohort_id, at, lag in marks:
            if cohort_id not in latest or latest[cohort_id][0] <= at:
                latest[cohort_id] = (at, lag)
        for cohort_id, (at, lag) in latest.items():
            await self.session.execute(update(Bridge).where(Bridge.cohort_id == cohort_id)
                                       .values(last_relayed_at=at, last_lag_ms=lag))

    async def cursor(self, platform: str, room_id: str) -> str | None:
        return await self.session.scalar(select(BridgeCursor.position).where(
            BridgeCursor.platform == platform, BridgeCursor.room_id == room_id))

    async def set_cursor(self, platform: str, room_id: str, position: str,
                         now: datetime) -> None:
        """Move a history cursor forward (never back)."""
        inserted = await insert_ignore(self.session, BridgeCursor.__table__, {
            "platform": platform, "room_id": room_id, "position": position, "updated_at": now})
        if inserted is None:
            current = await self.cursor(platform, room_id)
            if current is None or _ts(position) > _ts(current):
                await self.session.execute(update(BridgeCursor).where(
                    BridgeCursor.platform == platform, BridgeCursor.room_id == room_id)
                    .values(position=position, updated_at=now))


@lru_cache(maxsize=1)
def _bridged_room() -> Select[Any]:
    """The query of :meth:`BridgeRepo.room`, built once: it runs for every message of a
    bridged room, and building it took longer than running it."""
    source = aliased(LinkedRoom)
    platform = bindparam("b_platform", type_=String)
    return (select(Cohort, LinkedRoom.platform, LinkedRoom.room_id)
            .join(source, source.cohort_id == Cohort.id)
            .join(Bridge, Bridge.cohort_id == Cohort.id)
            .join(LinkedRoom, LinkedRoom.cohort_id == Cohort.id)
            .where(source.platform == platform,
                   source.room_id == bindparam("b_room", type_=String),
                   Bridge.enabled.is_(True), LinkedRoom.platform != platform,
                   LinkedRoom.platform.in_(BRIDGED_PLATFORMS))
            .order_by(LinkedRoom.id))


def _ts(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


class RelayRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, values: dict[str, Any]) -> bool:
        """Record that a source message goes to a target room; False when it already went
        (or is on its way): the unique key keeps it once."""
        return await insert_ignore(self.session, RelayMessage.__table__, values) is not None

    async def find(self, source_platform: str, source_room: str, source_id: str,
                   target_platform: str, target_room: str) -> RelayMessage | None:
        return await self.session.scalar(select(RelayMessage).where(
            RelayMessage.source_platform == source_platform,
            RelayMessage.source_room == source_room, RelayMessage.source_id == source_id,
            RelayMessage.target_platform == target_platform,
            RelayMessage.target_room == target_room))

    async def by_target(self, platform: str, room_id: str, target_id: str
                        ) -> RelayMessage | None:
        """The relay whose copy is message ``target_id`` (looked up in the outbox too, for a
        copy delivered just now whose id is not recorded here yet)."""
        found = await self.session.scalar(select(RelayMessage).where(
            RelayMessage.target_platform == platform, RelayMessage.target_room == room_id,
            RelayMessage.target_id == target_id).limit(1))
        if found is not None:
            return found
        return await self.session.scalar(
            select(RelayMessage).join(OutboxMessage, OutboxMessage.key == RelayMessage.outbox_key)
            .where(RelayMessage.target_platform == platform, RelayMessage.target_room == room_id,
                   OutboxMessage.message_id == target_id,
                   OutboxMessage.status == OutboxStatus.SENT).limit(1))

    async def target_id(self, relay: RelayMessage) -> str | None:
        """The copy's message id: recorded, or read from its delivered outbox row."""
        if relay.target_id:
            return relay.target_id
        return await self.session.scalar(select(OutboxMessage.message_id).where(
            OutboxMessage.key == relay.outbox_key, OutboxMessage.status == OutboxStatus.SENT))

    async def set_target_ids(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Record delivered copies' ids: (outbox key, target message id)."""
        if not pairs:
            return
        table = RelayMessage.__table__
        await self.session.execute(
            update(table).where(table.c.outbox_key == bindparam("b_key"))
            .values(target_id=bindparam("b_target")),
            [{"b_key": k, "b_target": t} for k, t in pairs])

    async def repair_target_ids(self) -> int:
        """Fill the ids of copies delivered before a crash cut the recording short."""
        delivered = select(OutboxMessage.message_id).where(
            OutboxMessage.key == RelayMessage.outbox_key,
            OutboxMessage.status == OutboxStatus.SENT).scalar_subquery()
        result = await self.session.execute(
            update(RelayMessage).where(
                RelayMessage.target_id.is_(None),
                RelayMessage.outbox_key.in_(select(OutboxMessage.key).where(
                    OutboxMessage.key.startswith(RELAY_KEY_PREFIX),
                    OutboxMessage.status == OutboxStatus.SENT,
                    OutboxMessage.message_id.is_not(None))))
            .values(target_id=delivered).execution_options(synchronize_session=False))
        return int(result.rowcount or 0)

    async def set_last_change(self, relay_id: int, change_id: str) -> bool:
        """Remember the latest edit relayed; False when this edit was relayed already."""
        result = await self.session.execute(update(RelayMessage).where(
            RelayMessage.id == relay_id,
            or_(RelayMessage.last_change.is_(None), RelayMessage.last_change != change_id))
            .values(last_change=change_id))
        return bool(result.rowcount)

    async def mark_deleted(self, relay_id: int) -> bool:
        """Flag a relayed message as deleted; False when it already was."""
        result = await self.session.execute(update(RelayMessage).where(
            RelayMessage.id == relay_id, RelayMessage.deleted.is_(False)).values(deleted=True))
        return bool(result.rowcount)

    async def withdraw(self, outbox_keys: Sequence[str], reason: str) -> int:
        """Stop copies not delivered yet (their source was deleted first)."""
        if not outbox_keys:
            return 0
        result = await self.session.execute(update(OutboxMessage).where(
            OutboxMessage.key.in_(list(outbox_keys)),
            OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.attempts == 0)
            .values(status=OutboxStatus.FAILED, last_error=reason))
        return int(result.rowcount or 0)

    async def reactions(self, platform: str, room_id: str, annotates: str, reaction: str,
                        target_room: str) -> Sequence[RelayMessage]:
        """Live reactions with this key on one message, relayed to ``target_room``."""
        return (await self.session.scalars(select(RelayMessage).where(
            RelayMessage.kind == "reaction", RelayMessage.source_platform == platform,
            RelayMessage.source_room == room_id, RelayMessage.annotates == annotates,
            RelayMessage.reaction == reaction, RelayMessage.target_room == target_room,
            RelayMessage.deleted.is_(False)))).all()

    async def reaction_sent(self, relay: RelayMessage) -> RelayMessage | None:
        """Of the reactions like ``relay`` (same message, key and target room), the one whose
        copy was actually sent (the first; later ones only counted)."""
        return await self.session.scalar(
            select(RelayMessage).join(OutboxMessage, OutboxMessage.key == RelayMessage.outbox_key)
            .where(RelayMessage.kind == "reaction",
                   RelayMessage.source_platform == relay.source_platform,
                   RelayMessage.source_room == relay.source_room,
                   RelayMessage.annotates == relay.annotates,
                   RelayMessage.reaction == relay.reaction,
                   RelayMessage.target_room == relay.target_room)
            .order_by(RelayMessage.id.desc()).limit(1))

    async def of_source(self, platform: str, room_id: str, source_id: str
                        ) -> Sequence[RelayMessage]:
        return (await self.session.scalars(select(RelayMessage).where(
            RelayMessage.source_platform == platform, RelayMessage.source_room == room_id,
            RelayMessage.source_id == source_id).order_by(RelayMessage.id))).all()

    async def count(self, cohort_id: int) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(RelayMessage)
                                              .where(RelayMessage.cohort_id == cohort_id,
                                                     RelayMessage.kind == "message")) or 0)

    async def backlog(self, rooms: Sequence[tuple[str, str]]) -> RelayBacklog:
        """Copies still pending towards ``rooms`` and the latest delivery error among them."""
        if not rooms:
            return RelayBacklog(0, None, None, None)
        towards = or_(*(and_(OutboxMessage.platform == p, OutboxMessage.destination == r)
                        for p, r in rooms))
        relays = and_(OutboxMessage.key.startswith(RELAY_KEY_PREFIX), towards)
        pending, oldest = (await self.session.execute(
            select(func.count(), func.min(OutboxMessage.created_at)).where(
                relays, OutboxMessage.status == OutboxStatus.PENDING))).one()
        error = (await self.session.execute(
            select(OutboxMessage.last_error, OutboxMessage.sent_at, OutboxMessage.created_at)
            .where(relays, OutboxMessage.last_error.is_not(None),
                   OutboxMessage.status != OutboxStatus.SENT)
            .order_by(OutboxMessage.id.desc()).limit(1))).first()
        if oldest is not None and oldest.tzinfo is None:
            from datetime import UTC

            oldest = oldest.replace(tzinfo=UTC)
        return RelayBacklog(int(pending or 0), oldest, error[0] if error else None,
                            error[2] if error else None)

    async def forget_before(self, cutoff: datetime) -> int:
        """Retention: forget relays older than ``cutoff``. Their copies stay where they are;
        later edits, deletions and thread replies of those messages are no longer matched."""
        result = await self.session.execute(delete(RelayMessage).where(
            RelayMessage.created_at < cutoff))
        return int(result.rowcount or 0)

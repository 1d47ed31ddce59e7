"""The Matrix adapter's own state: device, sync position, rooms."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DirectRoom
from storage.models_matrix import MatrixPollEvent, MatrixRoomState, MatrixSession
from storage.upsert import insert_ignore


class MatrixStateRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def session_of(self, user_id: str) -> MatrixSession | None:
        return await self.session.scalar(
            select(MatrixSession).where(MatrixSession.user_id == user_id))

    async def save_device(self, user_id: str, device_id: str, now: datetime) -> None:
        """Remember the device the bot logs in with, so the next start reuses it."""
        row = await self.session_of(user_id)
        if row is None:
            try:
                async with self.session.begin_nested():
                    self.session.add(MatrixSession(user_id=user_id, device_id=device_id,
                                                   created_at=now))
                    await self.session.flush()
                return
            except IntegrityError:
                row = await self.session_of(user_id)
        assert row is not None
        row.device_id = device_id

    async def save_sync_token(self, user_id: str, token: str, now: datetime) -> None:
        """Record that every event up to ``token`` was handled."""
        result = await self.session.execute(
            update(MatrixSession).where(MatrixSession.user_id == user_id)
            .values(next_batch=token, synced_at=now))
        if not result.rowcount:
            self.session.add(MatrixSession(user_id=user_id, next_batch=token, synced_at=now,
                                           created_at=now))
            await self.session.flush()

    async def rooms(self, user_id: str) -> Sequence[MatrixRoomState]:
        return (await self.session.scalars(select(MatrixRoomState).where(
            MatrixRoomState.user_id == user_id).order_by(MatrixRoomState.id))).all()

    async def room(self, user_id: str, room_id: str) -> MatrixRoomState | None:
        return await self.session.scalar(select(MatrixRoomState).where(
            MatrixRoomState.user_id == user_id, MatrixRoomState.room_id == room_id))

    async def put_room(self, user_id: str, room_id: str, now: datetime, **values: Any
                       ) -> MatrixRoomState:
        """Create or update a room's row with the given columns."""
        row = await self.room(user_id, room_id)
        if row is None:
            row = MatrixRoomState(user_id=user_id, room_id=room_id, updated_at=now,
                                  membership=values.pop("membership", "joined"))
            for key, value in values.items():
                setattr(row, key, value)
            try:
                async with self.session.begin_nested():
                    self.session.add(row)
                    await self.session.flush()
                return row
            except IntegrityError:
                found = await self.room(user_id, room_id)
                assert found is not None
                row = found
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = now
        await self.session.flush()
        return row

    async def forget_direct_room(self, platform: str, room_id: str) -> int:
        """Stop reusing a DM room (the person left it): the next DM opens a new one."""
        result = await self.session.execute(delete(DirectRoom).where(
            DirectRoom.platform == platform, DirectRoom.room_id == room_id))
        return int(result.rowcount or 0)

    async def remember_poll_event(self, event_id: str, room_id: str, poll_id: int, kind: str,
                                  now: datetime) -> None:
        """Remember an event posted for a poll (once: a re-send after a crash gets the same
        event id from the homeserver and changes nothing)."""
        await insert_ignore(self.session, MatrixPollEvent.__table__, {
            "event_id": event_id, "room_id": room_id, "poll_id": poll_id, "kind": kind,
            "ended_at": None, "created_at": now})

    async def poll_events(self, event_ids: Sequence[str]) -> dict[str, MatrixPollEvent]:
        """The poll events among ``event_ids`` (what a response or a reply points at)."""
        if not event_ids:
            return {}
        rows = await self.session.scalars(select(MatrixPollEvent).where(
            MatrixPollEvent.event_id.in_(list(set(event_ids)))))
        return {row.event_id: row for row in rows}

    async def open_poll_starts(self, *, poll_id: int | None = None,
                               room_ids: Sequence[str] | None = None
                               ) -> Sequence[MatrixPollEvent]:
        """Native polls not ended yet, of one poll or in some rooms, oldest first."""
        query = select(MatrixPollEvent).where(MatrixPollEvent.kind == "start",
                                              MatrixPollEvent.ended_at.is_(None))
        if poll_id is not None:
            query = query.where(MatrixPollEvent.poll_id == poll_id)
        if room_ids is not None:
            query = query.where(MatrixPollEvent.room_id.in_(list(room_ids)))
        return (await self.session.scalars(query.order_by(MatrixPollEvent.id))).all()

    async def mark_poll_ended(self, event_id: str, now: datetime) -> None:
        await self.session.execute(update(MatrixPollEvent).where(
            MatrixPollEvent.event_id == event_id).values(ended_at=now))

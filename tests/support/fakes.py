"""Fakes for tests: a clock that moves only when told, a sender that records deliveries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.delivery import Outbound, Sent
from handlers.core.ids import Platform
from messages.render.plain import reply_to_plain


class FakeClock:
    """A controllable clock (UTC). ``advance`` moves it; nothing sleeps."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = when.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now


class RecordingSender:
    """Stands for a platform: keeps every message it is asked to deliver, in order."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.sent: list[Outbound] = []
        self.arrived = asyncio.Event()
        self._count = 0

    async def send(self, message: Outbound) -> Sent:
        self.sent.append(message)
        self._count += 1
        self.arrived.set()
        room = message.destination
        if message.direct_user:
            room = f"dm-{message.direct_user}"
        return Sent(message_id=f"{self.platform}-msg-{self._count}", room_id=room)

    def texts(self, destination: str | None = None) -> list[str]:
        return [reply_to_plain(m.reply) for m in self.sent
                if destination is None or m.destination == destination]

    def clear(self) -> None:
        self.sent.clear()

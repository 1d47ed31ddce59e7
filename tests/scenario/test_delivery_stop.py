"""A clean stop lets the delivery pass in progress record what it sent."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.bootstrap import App
from bot.delivery import Outbound, Sent
from handlers.core.events import Reply
from handlers.core.ids import Platform
from storage.models import OutboxMessage, OutboxStatus
from storage.uow import Store


class SlowPlatform:
    """Takes the message at once, answers when the test says so."""

    platform = Platform.SLACK

    def __init__(self) -> None:
        self.taken = asyncio.Event()
        self.answer = asyncio.Event()

    async def send(self, message: Outbound) -> Sent:
        self.taken.set()
        await self.answer.wait()
        return Sent("1700000000.000100")


async def test_a_stop_during_a_send_still_marks_the_message_sent(app: App) -> None:
    platform = SlowPlatform()
    app.delivery.add_sender(platform)
    async with app.db.session() as session:
        await Store(session).outbox.enqueue(key="stop:1", platform="slack", destination="C1",
                                            payload=Reply("Bonjour").to_dict(),
                                            now=app.clock.now())
    app.delivery.start()
    await platform.taken.wait()
    stopping = asyncio.create_task(app.delivery.stop())
    await asyncio.sleep(0)
    platform.answer.set()
    await stopping
    async with app.db.session() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.key == "stop:1"))
    assert row is not None and row.status is OutboxStatus.SENT, "not left to be sent again"


async def test_a_stop_does_not_wait_for_ever_on_a_stuck_send(app: App) -> None:
    platform = SlowPlatform()
    app.delivery.add_sender(platform)
    async with app.db.session() as session:
        await Store(session).outbox.enqueue(key="stop:2", platform="slack", destination="C1",
                                            payload=Reply("Bonjour").to_dict(),
                                            now=app.clock.now())
    app.delivery.start()
    await platform.taken.wait()
    await app.delivery.stop(grace=0.05)
    async with app.db.session() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.key == "stop:2"))
    assert row is not None and row.status is OutboxStatus.PENDING, "sent again after a restart"

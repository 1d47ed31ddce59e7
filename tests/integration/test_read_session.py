"""Read-only sessions (dashboard pages): they see committed data and never hold writers up."""

from __future__ import annotations

import asyncio

from bot.bootstrap import App
from storage.uow import Store


async def test_a_page_reading_does_not_hold_up_a_vote_being_written(any_app: App) -> None:
    db = any_app.db
    async with db.session() as session:
        await Store(session).cohorts.add(slug="a", name="A", language="fr",
                                         timezone="Europe/Paris", now=any_app.clock.now())
    async with db.read_session() as session:
        assert (await Store(session).cohorts.by_slug("a")) is not None

        async def write() -> None:
            async with db.session() as other:
                await Store(other).cohorts.add(slug="b", name="B", language="fr",
                                               timezone="Europe/Paris", now=any_app.clock.now())

        await asyncio.wait_for(write(), timeout=5)
    async with db.read_session() as session:
        assert (await Store(session).cohorts.by_slug("b")) is not None

"""Slack's storage needs, on SQLite and on PostgreSQL alike: post attempts noted once,
and a message waiting for a retry holding back the ones queued after it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.bootstrap import App
from storage.uow import Store

pytestmark = pytest.mark.postgres


async def test_a_post_attempt_is_noted_once_even_when_raced(any_app: App) -> None:
    now = any_app.clock.now()

    async def begin() -> object:
        async with any_app.db.session() as session:
            return await Store(session).slack_posts.begin("reply:slack:Ev1:0", "C1", now)

    results = await asyncio.gather(*(begin() for _ in range(6)))
    assert results.count(None) == 1, "exactly one attempt is the first"
    assert all(r == now for r in results if r is not None)
    async with any_app.db.session() as session:
        store = Store(session)
        await store.slack_posts.settle("reply:slack:Ev1:0")
        assert await store.slack_posts.begin("reply:slack:Ev1:0", "C1", now) is None
        assert await store.slack_posts.forget_before(now + timedelta(seconds=1)) == 1


async def test_a_message_waiting_for_a_retry_holds_back_its_destination(any_app: App) -> None:
    now = any_app.clock.now()
    async with any_app.db.session() as session:
        store = Store(session)
        ids = {}
        for key, destination, not_before in (
                ("first", "C1", None), ("second", "C1", None), ("other", "C2", None),
                ("later", "C3", now + timedelta(hours=1)), ("after-later", "C3", None)):
            row = await store.outbox.enqueue(key=key, platform="slack", destination=destination,
                                             payload={"text": key}, now=now,
                                             not_before=not_before)
            assert row is not None
            ids[key] = row
        await store.outbox.mark_retry(ids["first"], "ratelimited", now + timedelta(seconds=3))
    async with any_app.db.session() as session:
        due = [r.key for r in await Store(session).outbox.pending("slack", now)]
    assert due == ["other", "after-later"], \
        "a retry holds its queue back; a message scheduled for later does not"
    async with any_app.db.session() as session:
        due = [r.key for r in await Store(session).outbox.pending(
            "slack", now + timedelta(seconds=3))]
    assert due == ["first", "second", "other", "after-later"]

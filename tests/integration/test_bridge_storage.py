"""The bridge's storage, on SQLite and on PostgreSQL alike: a copy claimed once even when
raced, copies found back from their platform id, withdrawn before delivery, forgotten
after the retention."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.bootstrap import App
from handlers.core.events import RoomChange, RoomMessageEvent
from handlers.core.ids import Platform
from storage.models import OutboxStatus
from storage.repos.retention import RetentionPolicy
from storage.uow import Store
from tests.conftest import load_demo
from tests.support.bridge import MATRIX_ROOM, SLACK_CHANNEL, Poster, link_rooms

pytestmark = pytest.mark.postgres


async def bridged(app: App) -> None:
    await load_demo(app)
    await link_rooms(app, [("slack", SLACK_CHANNEL), ("matrix", MATRIX_ROOM)])
    async with app.db.session() as session:
        await Store(session).bridge.set_enabled(1, True, app.clock.now(), None)


async def test_the_same_message_handled_six_times_at_once_is_copied_once(any_app: App) -> None:
    await bridged(any_app)
    poster = Poster(any_app, Platform.SLACK, "U2", SLACK_CHANNEL, "Bob")
    base = poster._origin(None)
    events = [RoomMessageEvent(base.__class__(user=base.user, room=base.room,
                                              event_id=f"Ev{n}"), "1700000000.000100",
                               RoomChange.POST, text="bonjour") for n in range(6)]
    await asyncio.gather(*(any_app.dispatcher.handle(e) for e in events))
    async with any_app.db.session() as session:
        store = Store(session)
        [relay] = await store.relays.of_source("slack", SLACK_CHANNEL, "1700000000.000100")
        assert await store.outbox.count(OutboxStatus.PENDING) == 1
        await store.outbox.mark_sent((await store.outbox.by_key(relay.outbox_key)).id,
                                     "$copy", any_app.clock.now())
    async with any_app.db.session() as session:
        store = Store(session)
        found = await store.relays.by_target("matrix", MATRIX_ROOM, "$copy")
        assert found is not None and found.source_id == "1700000000.000100"
        assert await store.relays.repair_target_ids() == 1
    async with any_app.db.session() as session:
        [relay] = await Store(session).relays.of_source("slack", SLACK_CHANNEL,
                                                        "1700000000.000100")
        assert relay.target_id == "$copy"


async def test_withdrawn_copies_and_retention(any_app: App) -> None:
    await bridged(any_app)
    poster = Poster(any_app, Platform.MATRIX, "@zoe:localhost", MATRIX_ROOM, "Zoé")
    event = await poster.post("oups")
    await poster.delete(event)
    async with any_app.db.session() as session:
        store = Store(session)
        [relay] = await store.relays.of_source("matrix", MATRIX_ROOM, event)
        assert relay.deleted
        row = await store.outbox.by_key(relay.outbox_key)
        assert row is not None and row.status is OutboxStatus.FAILED
        backlog = await store.relays.backlog([("slack", SLACK_CHANNEL)])
        assert backlog.pending == 1
        later = any_app.clock.now() + timedelta(days=91)
        assert await store.relays.forget_before(later) == 1
        assert await store.relays.of_source("matrix", MATRIX_ROOM, event) == []
        await store.bridge.set_cursor("slack", SLACK_CHANNEL, "1700000002.000000", later)
        await store.bridge.set_cursor("slack", SLACK_CHANNEL, "1700000001.000000", later)
        assert await store.bridge.cursor("slack", SLACK_CHANNEL) == "1700000002.000000"


async def test_the_daily_purge_forgets_relays_after_relay_days(any_app: App) -> None:
    await bridged(any_app)
    poster = Poster(any_app, Platform.MATRIX, "@zoe:localhost", MATRIX_ROOM, "Zoé")
    old = await poster.post("ancien message")
    any_app.clock.advance(days=20)
    recent = await poster.post("message récent")
    async with any_app.db.session() as session:
        store = Store(session)
        touched = await store.retention.purge(RetentionPolicy(relay_days=30),
                                              any_app.clock.now() + timedelta(days=11))
        assert touched["relay_message"] == 1
        assert await store.relays.of_source("matrix", MATRIX_ROOM, old) == []
        assert len(await store.relays.of_source("matrix", MATRIX_ROOM, recent)) == 1
        kept = await store.retention.purge(RetentionPolicy(relay_days=0),
                                           any_app.clock.now() + timedelta(days=400))
        assert "relay_message" not in kept
        assert len(await store.relays.of_source("matrix", MATRIX_ROOM, recent)) == 1

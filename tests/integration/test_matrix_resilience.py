"""The bot keeps its promises when things go wrong: restarts, gaps, rate limits, a homeserver
that goes away."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import update

from bot.devtools.local_synapse import LocalSynapse
from handlers.core.events import Reply
from handlers.core.ids import Platform
from storage.models_matrix import MatrixSession
from storage.uow import Store
from tests.support.matrix_bot import BotHarness, answers
from tests.support.matrix_user import MatrixUser, matching

pytestmark = pytest.mark.synapse

Bots = Callable[..., Awaitable[BotHarness]]
Users = Callable[..., Awaitable[MatrixUser]]


def replies_to(user: MatrixUser, room: str, bot: BotHarness, command: str) -> list[dict]:
    return [e for e in user.events(room) if answers(bot.user_id, command)(e)]


async def test_commands_sent_while_the_bot_is_down_are_answered_once_after_a_limited_sync(
        matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot(timeline_limit=5)
    camille = await matrix_users("camille")
    await bot.link("Camille Martin", camille)
    room = await bot.room_with(camille)
    await camille.wait_for(room, matching(sender=bot.user_id, msgtype="m.notice"))
    await bot.stop()

    commands = [await camille.send_text(room, f"!cohorte aide cohorte {i}") for i in range(12)]
    await bot.start()
    for command in commands:
        await bot.answer_to(camille, room, command, timeout=20)
    marker = await camille.send_text(room, "!cohorte delegation lister")
    await bot.answer_to(camille, room, marker)

    assert bot.adapter is not None and bot.adapter.gaps_filled >= 1
    assert [len(replies_to(camille, room, bot, c)) for c in commands] == [1] * 12


async def test_a_sync_replayed_after_a_crash_is_not_answered_twice(
        matrix_bot: Bots, matrix_users: Users) -> None:
    """The crash window: events handled, token not yet stored. Rewinding the stored token
    replays them; the dispatcher recognises every event id."""
    bot = await matrix_bot()
    camille = await matrix_users("camille")
    await bot.link("Camille Martin", camille)
    room = await bot.room_with(camille)
    await camille.wait_for(room, matching(sender=bot.user_id, msgtype="m.notice"))
    assert bot.adapter is not None and bot.app is not None
    rewind_to = bot.adapter.token
    commands = [await camille.send_text(room, f"!cohorte aide cohorte {i}") for i in range(3)]
    for command in commands:
        await bot.answer_to(camille, room, command)
    async with bot.app.db.session() as session:
        await session.execute(update(MatrixSession).values(next_batch=rewind_to))
    await bot.restart()

    marker = await camille.send_text(room, "!cohorte delegation lister")
    await bot.answer_to(camille, room, marker)

    assert [len(replies_to(camille, room, bot, c)) for c in commands] == [1, 1, 1]


async def test_rate_limits_are_honoured_in_order_without_losing_a_reply(
        synapse: LocalSynapse, matrix_bot: Bots, matrix_users: Users) -> None:
    admin = await synapse.register("overseer", "overseer-password", admin=True)
    bot = await matrix_bot()
    camille = await matrix_users("camille")
    await bot.link("Camille Martin", camille)
    room = await bot.room_with(camille)
    await camille.wait_for(room, matching(sender=bot.user_id, msgtype="m.notice"))
    await synapse.admin_override_ratelimit(bot.user_id, admin.access_token,
                                           messages_per_second=1, burst_count=1)
    try:
        commands = [await camille.send_text(room, f"!cohorte aide cohorte {i}")
                    for i in range(5)]
        for command in commands:
            await bot.answer_to(camille, room, command, timeout=30)
    finally:
        await synapse.admin_delete_ratelimit_override(bot.user_id, admin.access_token)

    order = [((e["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {})
             .get("event_id") for e in camille.events(room) if e["sender"] == bot.user_id
             and e["type"] == "m.room.message"]
    assert [c for c in order if c in commands] == commands
    assert bot.sender.rate_limited >= 1


async def test_the_bot_survives_a_homeserver_restart(synapse: LocalSynapse, matrix_bot: Bots,
                                                     matrix_users: Users) -> None:
    bot = await matrix_bot()
    camille = await matrix_users("camille")
    await bot.link("Camille Martin", camille)
    room = await bot.room_with(camille)
    before = await camille.send_text(room, "!cohorte delegation lister")
    await bot.answer_to(camille, room, before)
    assert bot.app is not None and bot.adapter is not None

    await synapse.stop()
    async with bot.app.db.session() as session:
        await Store(session).outbox.enqueue(
            key="test:queued-while-down", platform="matrix", destination=room,
            payload=Reply("Rappel : permanence mardi").to_dict(), now=bot.app.clock.now())
    bot.app.delivery.notify({Platform.MATRIX})
    await synapse.start()
    queued = await camille.wait_for(room, matching(sender=bot.user_id,
                                                   body="Rappel : permanence mardi"),
                                    timeout=40)
    after = await camille.send_text(room, "!cohorte delegation lister")
    answered = await bot.answer_to(camille, room, after, timeout=40)

    assert queued["content"]["msgtype"] == "m.notice"
    assert "Barre-des-Cévennes" in answered["content"]["body"]
    assert (await bot.adapter.health())[0] is True
    assert (await bot.app.web.health_checks["matrix"]())[0] is True

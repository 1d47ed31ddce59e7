"""The dispatcher's promises: once per platform event, errors answered, never a traceback."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from bot.bootstrap import App
from handlers.core.commands import CohortScope, CommandGroup, Role
from handlers.core.ids import Platform
from storage.models import Delegation, OutboxMessage, OutboxStatus
from tests.support.chat import Speaker
from tests.support.fakes import RecordingSender


async def test_a_retried_platform_event_is_handled_once(app: App, op: Speaker) -> None:
    await op.say('cohorte creer "A"')
    first = await op.command("delegation ajouter Brest", event_id="$ev1")
    again = await op.command("delegation ajouter Brest", event_id="$ev1")
    assert first.replies and not again.replies and again.duplicate
    async with app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Delegation)) == 1


async def test_an_internal_error_is_logged_and_answered_with_an_apology(
        app: App, op: Speaker, caplog: pytest.LogCaptureFixture) -> None:
    group = CommandGroup("casse")

    @group.command(None, role=Role.ANYONE, cohort=CohortScope.NONE)
    async def broken(ctx, args):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret detail")

    app.router.include(group)
    with caplog.at_level(logging.ERROR):
        text = await op.say("casse")
    assert "Désolé, quelque chose s'est mal passé" in text
    assert "secret detail" not in text and "RuntimeError" not in text
    assert any("handler failed" in r.message and r.exc_info for r in caplog.records)


async def test_replies_are_delivered_in_order_and_marked_sent(app: App, op: Speaker) -> None:
    await op.say('cohorte creer "A"')
    for i in range(5):
        await op.say(f"delegation ajouter Territoire {i}")
    await app.delivery.flush(Platform.CONSOLE)
    sender = app.delivery.senders[Platform.CONSOLE]
    assert isinstance(sender, RecordingSender)
    texts = [t for t in sender.texts() if "Territoire" in t]
    assert [t.split("Territoire ")[1][0] for t in texts] == ["0", "1", "2", "3", "4"]
    async with app.db.session() as session:
        pending = await session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.PENDING))
    assert pending == 0


async def test_a_failing_destination_is_retried_without_losing_order(app: App, op: Speaker
                                                                     ) -> None:
    from bot.delivery import TransientSendError

    sender = app.delivery.senders[Platform.CONSOLE]
    assert isinstance(sender, RecordingSender)
    real_send = sender.send
    failures = {"left": 1}

    async def flaky(message):  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            raise TransientSendError("429", retry_after=0)
        return await real_send(message)

    sender.send = flaky  # type: ignore[method-assign]
    await op.say('cohorte creer "A"')
    await op.say("delegation ajouter Un")
    await app.delivery.flush(Platform.CONSOLE)
    await app.delivery.flush(Platform.CONSOLE)
    texts = sender.texts()
    assert len(texts) == 2 and "créée" in texts[0] and "Un" in texts[1]


async def test_a_message_waiting_for_a_retry_holds_back_the_later_ones(app: App, op: Speaker
                                                                       ) -> None:
    """A rate-limited reply is retried later; the replies after it must not overtake it."""
    from bot.delivery import TransientSendError

    sender = app.delivery.senders[Platform.CONSOLE]
    assert isinstance(sender, RecordingSender)
    real_send = sender.send
    failures = {"left": 1}

    async def limited(message):  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            raise TransientSendError("429", retry_after=30)
        return await real_send(message)

    sender.send = limited  # type: ignore[method-assign]
    await op.say('cohorte creer "A"')
    await app.delivery.flush(Platform.CONSOLE)
    await op.say("delegation ajouter Un")
    await app.delivery.flush(Platform.CONSOLE)
    assert sender.texts() == []
    app.clock.advance(seconds=31)  # type: ignore[attr-defined]
    await app.delivery.flush(Platform.CONSOLE)
    texts = sender.texts()
    assert len(texts) == 2 and "créée" in texts[0] and "Un" in texts[1]

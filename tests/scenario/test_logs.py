"""Logs at INFO, as ``cohortbot run`` writes them: no message body, no secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot import logs
from bot.bootstrap import App
from handlers.core.ids import Platform
from tests.support.calendar import demo_with_rooms
from tests.support.chat import Speaker
from tests.support.fakes import FakeClock
from tests.support.notes import member

MARK = "Quetzalcoatl"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    logs.setup("INFO", "json", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


async def test_nothing_people_write_reaches_the_log_at_info(
        app: App, op: Speaker, clock: FakeClock, captured: io.StringIO) -> None:
    rooms = await demo_with_rooms(app, op)
    lea = await member(app, "Léa Fournier")
    await op.say(f'sondage creer "{MARK} : visio ?"')
    await lea.say(f'sondage voter 1 oui commentaire="{MARK} en train"')
    await lea.click("poll.vote", "1:2", form={"comment": f"{MARK} bis"})
    await lea.dm().say("note commencer intention")
    await lea.dm().message(f"{MARK} cantine.\nfin")
    await lea.dm().message(f"Bonjour {MARK}")
    await lea.say(f"{MARK} commande inconnue")
    await lea.say(f'sondage voter 99 "{MARK}"')
    await lea.say("moi")
    await rooms.coordinator.say(f'agenda ajouter "{MARK} café" debut="10/03 10h" rappels=1h')
    clock.set(datetime(2025, 3, 10, 8, 10, tzinfo=UTC))
    await app.scheduler.run_due()
    for platform in Platform:
        await app.delivery.flush(platform)
    assert rooms.reminders(MARK), "the reminder went out"
    logging.getLogger("cohortbot.test").warning(
        "connect postgresql+asyncpg://bot:hunter2@db/cohortbot with xoxb-1234-secret")

    lines = captured.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert {"calendar planned", "late reminder sent"} <= {r["msg"] for r in records}
    assert MARK not in captured.getvalue()
    assert "hunter2" not in captured.getvalue() and "xoxb-1234" not in captured.getvalue()
    assert "postgresql+asyncpg://bot:***@db/cohortbot" in captured.getvalue()

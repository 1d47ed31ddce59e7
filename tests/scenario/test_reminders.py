"""Reminders: on time, once per occurrence × offset × room, and what happens to missed ones."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.bootstrap import App
from storage.models import OutboxMessage
from storage.models_calendar import Reminder, ReminderStatus
from tests.support.calendar import deliver, demo_with_rooms
from tests.support.chat import Speaker
from tests.support.fakes import FakeClock


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def test_a_webinar_gets_j7_j1_h1_in_every_room_once(app: App, op: Speaker,
                                                            clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    text = await rooms.coordinator.say(
        'agenda ajouter "Webinaire 7 — Bilan" debut="20/03 10h" duree=2h '
        'lien=https://visio.example.org/w7 type=webinaire enregistre=non '
        'programme="Bilan de l\'année ; suites."')
    assert "Événement n°" in text and "Webinaire 7" in text
    for due, needle in ((utc(2025, 3, 13, 9), "dans 7 jours"), (utc(2025, 3, 19, 9), "demain"),
                        (utc(2025, 3, 20, 8), "dans 1 h")):
        clock.set(due)
        await deliver(app)
        await deliver(app)
        got = rooms.reminders("Webinaire 7")
        assert len([t for t in got if needle in t]) == 2, got
    texts = rooms.reminders("Webinaire 7")
    assert len(texts) == 6
    assert "jeudi 20 mars 2025, 10\u00a0h\u00a0–\u00a012\u00a0h" in texts[0]
    assert "https://visio.example.org/w7" in texts[0] and "Non enregistré" in texts[0]
    assert "Bilan de l'année" in texts[0]
    assert not any("tardif" in t for t in texts)
    async with app.db.session() as session:
        statuses = (await session.scalars(select(Reminder.status))).all()
        keys = (await session.scalars(select(OutboxMessage.key).where(
            OutboxMessage.key.startswith("reminder:")))).all()
    assert len(keys) == len(set(keys)) == 6
    assert statuses.count(ReminderStatus.SENT) == 6


async def test_reminders_are_not_sent_early(app: App, op: Speaker, clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    await rooms.coordinator.say('agenda ajouter "Point d\'étape" debut="20/03 10h"')
    clock.set(utc(2025, 3, 13, 8, 59))
    await deliver(app)
    assert rooms.reminders("Point d'étape") == []
    clock.advance(minutes=1)
    await deliver(app)
    assert len(rooms.reminders("Point d'étape")) == 2


async def test_count_of_rows_is_bounded_by_the_window(app: App, op: Speaker,
                                                      clock: FakeClock) -> None:
    await demo_with_rooms(app, op)
    async with app.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(Reminder))
    assert count is not None and count < 20

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


async def statuses(app: App, title_part: str = "") -> list[tuple[int, str, str | None, bool]]:
    from storage.models_calendar import CalendarEvent

    async with app.db.session() as session:
        rows = (await session.execute(
            select(Reminder.offset_minutes, Reminder.status, Reminder.reason, Reminder.late)
            .join(CalendarEvent, CalendarEvent.id == Reminder.event_id)
            .where(CalendarEvent.title.contains(title_part))
            .order_by(Reminder.due_at, Reminder.platform))).all()
    return [(o, s.value, r, late) for o, s, r, late in rows]


async def test_down_at_due_time_the_reminder_goes_late_with_a_mark(
        app: App, op: Speaker, clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    await rooms.coordinator.say('agenda ajouter "Journée #4" debut="20/03 9h30" rappels=1j,1h')
    clock.set(utc(2025, 3, 19, 8, 30))
    await deliver(app)
    assert len(rooms.reminders("Journée #4")) == 2
    clock.set(utc(2025, 3, 20, 7, 50))
    await deliver(app)
    late = rooms.reminders("Rappel tardif : Journée #4")
    assert len(late) == 2 and all("dans 40 min" in t for t in late)
    await deliver(app)
    assert len(rooms.reminders("Journée #4")) == 4
    assert [s for s in await statuses(app, "Journée #4") if s[0] == 60] == [
        (60, "sent", None, True), (60, "sent", None, True)]


async def test_a_week_down_sends_only_the_closest_missed_reminder(
        app: App, op: Speaker, clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    await rooms.coordinator.say('agenda ajouter "Atelier" debut="20/03 14h"')
    clock.set(utc(2025, 3, 20, 12, 30))
    await deliver(app)
    texts = rooms.reminders("Atelier")
    assert len(texts) == 2 and all("Rappel tardif" in t and "dans 30 min" in t for t in texts)
    assert sorted({(o, s, r) for o, s, r, _late in await statuses(app, "Atelier")}) == [
        (60, "sent", None), (1440, "skipped", "superseded"), (10080, "skipped", "superseded")]


async def test_once_the_event_has_started_missed_reminders_are_skipped_and_logged(
        app: App, op: Speaker, clock: FakeClock, caplog) -> None:  # type: ignore[no-untyped-def]
    rooms = await demo_with_rooms(app, op)
    await rooms.coordinator.say('agenda ajouter "Webinaire 8" debut="05/03 10h" duree=2h')
    clock.set(utc(2025, 3, 5, 9, 30))
    with caplog.at_level("WARNING"):
        await deliver(app)
        await deliver(app)
    assert rooms.reminders("Webinaire 8") == []
    skipped = [r for r in caplog.records if "already started" in r.getMessage()]
    rows = await statuses(app)
    assert len(skipped) == len([r for r in rows if r[2] == "started"]) == 8
    assert {(o, s, r) for o, s, r, _ in await statuses(app, "Webinaire 8")} == {
        (1440, "skipped", "started"), (60, "skipped", "started")}
    caplog.clear()
    clock.advance(days=1)
    with caplog.at_level("WARNING"):
        await deliver(app)
    assert not [r for r in caplog.records if "already started" in r.getMessage()]


async def test_two_timers_firing_together_send_once(app: App, op: Speaker,
                                                    clock: FakeClock) -> None:
    import asyncio

    from handlers.calendar.planner import REMIND_TIMER
    from handlers.core.events import TimerEvent

    rooms = await demo_with_rooms(app, op)
    await rooms.coordinator.say('agenda ajouter "Café" debut="10/03 10h" rappels=1h')
    clock.set(utc(2025, 3, 10, 8, 0))
    event = TimerEvent(name=REMIND_TIMER, due_at=clock.now())
    await asyncio.gather(*(app.dispatcher.handle(event) for _ in range(5)))
    await deliver(app)
    assert len(rooms.reminders("Café")) == 2


async def follow_timers(app: App, clock: FakeClock, rooms, needle: str,  # type: ignore[no-untyped-def]
                        until: datetime) -> list[datetime]:
    """Jump from timer to timer (as APScheduler would) and note when reminders arrive."""
    arrivals: list[datetime] = []
    while True:
        async with app.db.session() as session:
            from storage.uow import Store

            next_due = await Store(session).jobs.next_due()
        if next_due is None or next_due > until:
            clock.set(until)
            return arrivals
        clock.set(max(next_due, clock.now()))
        before = len(rooms.reminders(needle))
        await deliver(app)
        arrivals += [clock.now()] * (len(rooms.reminders(needle)) - before)


async def test_dst_the_j1_of_a_monday_0230_meeting_fires_once_each_transition(
        app: App, op: Speaker, clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    clock.set(utc(2025, 3, 24, 12))
    await rooms.coordinator.say('agenda ajouter "Veille de nuit" debut="31/03 2h30" '
                                'regle="FREQ=WEEKLY;COUNT=40" rappels=1j')
    spring = await follow_timers(app, clock, rooms, "Veille de nuit", utc(2025, 3, 31, 12))
    assert spring == [utc(2025, 3, 30, 1, 30)] * 2
    clock.set(utc(2025, 10, 24, 12))
    autumn = await follow_timers(app, clock, rooms, "Veille de nuit", utc(2025, 10, 27, 12))
    assert autumn == [utc(2025, 10, 26, 0, 30)] * 2


async def test_the_permanence_j1_stays_at_11_after_the_spring_change(
        app: App, op: Speaker, clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    clock.set(utc(2025, 3, 30, 8, 59))
    await deliver(app)
    assert rooms.reminders("Permanence") and not any("demain" in t
                                                     for t in rooms.reminders("Permanence"))
    clock.set(utc(2025, 3, 31, 9, 0))
    await deliver(app)
    assert len([t for t in rooms.reminders("Permanence") if "demain" in t]) == 2
    assert "mardi 1er avril 2025, 11\u00a0h\u00a0–\u00a013\u00a0h" in rooms.reminders(
        "Permanence")[-1]

"""Reminders delivered to a real Synapse room by the bot as a process, killed with SIGKILL
twice around the due times: each reminder is in the room exactly once (counted as
events seen by a member of the room)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.devtools.local_synapse import LocalSynapse
from handlers.calendar.planner import plan_cohort
from storage.models_calendar import CalendarEvent, EventStatus, TargetKind
from tests.support.bot_process import MatrixBotProcess
from tests.support.matrix_user import MatrixUser, matching

pytestmark = pytest.mark.synapse

Users = Callable[..., Awaitable[MatrixUser]]
EVENTS = 12
SESSION = re.compile(r"Rappel : (Session \d+)")


def reminders(user: MatrixUser, room: str, bot_id: str) -> Counter[str]:
    """How many times each session's reminder is in the room."""
    found: Counter[str] = Counter()
    for event in user.events(room):
        match = SESSION.search(str(event["content"].get("body", "")))
        if event["sender"] == bot_id and match:
            found[match[1]] += 1
    return found


def is_reminder(bot_id: str) -> Callable[[dict[str, object]], bool]:
    return lambda event: event["sender"] == bot_id and bool(
        SESSION.search(str(event["content"].get("body", ""))))  # type: ignore[union-attr]


async def test_sigkill_around_due_times_each_reminder_once_in_the_room(
        synapse: LocalSynapse, matrix_users: Users, tmp_path: Path) -> None:
    bot = MatrixBotProcess(synapse, tmp_path / "bot", "reminder-crash-bot")
    await bot.prepare(demo=False)
    camille = await matrix_users("camille")
    room = await camille.create_room(name="Cohorte crash", invite=[bot.user_id])
    async with bot.store() as (store, now):
        cohort = await store.cohorts.add(slug="crash", name="Cohorte crash", language="fr",
                                         timezone="Europe/Paris", now=now)
        await store.rooms.link("matrix", room, cohort.id, now, None)
    bot.start()
    try:
        await camille.wait_for(room, matching(type="m.room.member", sender=bot.user_id),
                               timeout=60)
        assert bot.stop() == 0, bot.log_text()

        first_due = datetime.now(UTC) + timedelta(seconds=5)
        async with bot.store() as (store, now):
            cohort = await store.cohorts.by_slug("crash")
            assert cohort is not None
            for index in range(EVENTS):
                start = first_due + timedelta(milliseconds=250) * index + timedelta(minutes=1)
                await store.calendar.add_event(CalendarEvent(
                    cohort_id=cohort.id, uid=f"crash-{index}@test", title=f"Session {index}",
                    timezone="Europe/Paris", all_day=False, starts_at=start,
                    ends_at=start + timedelta(hours=1), offsets=[1], status=EventStatus.ACTIVE,
                    source="test", sequence=0, i18n={}, kind="event",
                    target_kind=TargetKind.COHORT, created_at=now, updated_at=now))
            planned = (await plan_cohort(store, cohort, now)).added
        assert planned == EVENTS

        sent = is_reminder(bot.user_id)
        bot.start()
        await camille.wait_for(room, sent, timeout=60)
        bot.kill()
        after_first = sum(reminders(camille, room, bot.user_id).values())
        bot.start()
        await camille.wait_for_count(room, sent, after_first + 1, timeout=60)
        bot.kill()
        bot.start()
        await camille.wait_for_count(room, sent, EVENTS, timeout=60)
        marker = await camille.send_text(room, "!cohorte aide")
        await camille.wait_for(room, matching(sender=bot.user_id), since=marker, timeout=30)
    finally:
        code = bot.stop()

    counts = reminders(camille, room, bot.user_id)
    assert code == 0, bot.log_text()
    assert after_first < EVENTS, "the first kill came after the burst: nothing was tested"
    assert counts == Counter({f"Session {i}": 1 for i in range(EVENTS)})
    assert "Traceback" not in bot.log_text()
    print(f"\n[measure] {EVENTS} reminders, {after_first} in the room at the first SIGKILL, "
          f"{bot.runs} runs, each reminder once")

"""Reminders posted to Slack by ``cohortbot run``, killed with SIGKILL around their due time.

The bot runs as an operator starts it (Slack in HTTP mode, its Web API pointed at
the emulator). A burst of reminders comes due a few seconds after start in three
channels; the first process is killed right after Slack stored one of them but
before the bot heard back (the emulator holds its answer), so that message is
neither lost nor marked sent. The restarted process finishes the burst. Counting
the emulator's messages: every reminder once in each channel. A reminder missed
while the bot was down goes out once, marked « Rappel tardif », and an older one
of the same session is not fired in a burst with it.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.bootstrap import bootstrap
from handlers.calendar.planner import plan_cohort
from storage.models_calendar import (
    CalendarEvent,
    EventStatus,
    Reminder,
    ReminderStatus,
    TargetKind,
)
from storage.uow import Store
from tests.conftest import make_config
from tests.support.slack_app import people
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_process import SlackBotProcess, said

pytestmark = pytest.mark.slack

CHANNELS = ("C1", "C2", "C3")
SESSIONS = 5
TITLE = re.compile(r"Rappel(?: tardif)? : (Session \d+|Séance manquée)")


def event(cohort_id: int, uid: str, title: str, start: datetime, offsets: list[int],
          at: datetime) -> CalendarEvent:
    return CalendarEvent(
        cohort_id=cohort_id, uid=uid, title=title, timezone="Europe/Paris", all_day=False,
        starts_at=start, ends_at=start + timedelta(hours=1), offsets=offsets,
        status=EventStatus.ACTIVE, source="test", sequence=0, i18n={}, kind="event",
        target_kind=TargetKind.COHORT, created_at=at, updated_at=at)


async def prepare(db_url: str, tmp_path: Path, first_due: datetime) -> int:
    """A cohort in three Slack channels: ``SESSIONS`` sessions reminded one minute ahead,
    due 150 ms apart from ``first_due``, and a session in 30 minutes whose reminders
    (H-1, then 45 minutes ahead) fell due while the bot was down."""
    app = await bootstrap(make_config(tmp_path, db_url))
    now = datetime.now(UTC)
    long_ago = now - timedelta(hours=2)
    try:
        async with app.db.session() as session:
            store = Store(session)
            cohort = await store.cohorts.add(slug="crash", name="Cohorte crash", language="fr",
                                             timezone="Europe/Paris", now=long_ago)
            for channel in CHANNELS:
                await store.rooms.link("slack", channel, cohort.id, long_ago, None)
            for index in range(SESSIONS):
                start = first_due + timedelta(milliseconds=150 * index, minutes=1)
                await store.calendar.add_event(event(cohort.id, f"crash-{index}@test",
                                                     f"Session {index}", start, [1], now))
            await store.calendar.add_event(event(
                cohort.id, "missed@test", "Séance manquée", now + timedelta(minutes=30),
                [60, 45], long_ago))
            stats = await plan_cohort(store, cohort, now)
        return stats.added
    finally:
        await app.close()


def reminders_in(emu: SlackEmulator, channel: str) -> list[str]:
    return [m["text"] for m in emu.messages(channel)
            if m.get("user") == emu.bot_user_id and TITLE.search(m["text"])]


async def test_sigkill_around_due_times_posts_each_reminder_once_in_each_channel(
        tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    first_due = datetime.now(UTC) + timedelta(seconds=5)
    planned = await prepare(db_url, tmp_path, first_due)
    assert planned == (SESSIONS + 2) * len(CHANNELS)
    async with SlackEmulator() as emu:
        people(emu)
        emu.add_channel("C3", "pairs", members=["U1"])
        bot = SlackBotProcess(tmp_path, emu, db_url)
        try:
            emu.delay_next("chat.postMessage", 0, count=len(CHANNELS) + 3)
            emu.delay_next("chat.postMessage", 30)
            await bot.start()
            await emu.wait_for_call("chat.postMessage", lambda c: len(
                emu.calls_to("chat.postMessage")) > len(CHANNELS) + 3, timeout=30)
            bot.kill()
            held = emu.calls_to("chat.postMessage")[len(CHANNELS) + 3]
            before_restart = sum(len(reminders_in(emu, c)) for c in CHANNELS)
            assert before_restart < SESSIONS * len(CHANNELS) + len(CHANNELS), \
                "the first process should die in the middle of the burst"

            await bot.start()
            for channel in CHANNELS:
                await said(emu, channel, f"Session {SESSIONS - 1}", timeout=30)
            assert await bot.stop() == 0, bot.output()[-3000:]
            restarted = bot.output()
        finally:
            await bot.close()
    assert "message found after an unsettled attempt; not posted again" in restarted
    assert "Traceback" not in restarted

    for channel in CHANNELS:
        texts = reminders_in(emu, channel)
        counted = Counter(TITLE.search(t).group(1) for t in texts)  # type: ignore[union-attr]
        assert counted == {**{f"Session {i}": 1 for i in range(SESSIONS)},
                           "Séance manquée": 1}, (channel, texts)
        [missed] = [t for t in texts if "Séance manquée" in t]
        assert "Rappel tardif : Séance manquée" in missed
        assert "je n'étais pas disponible" in missed
        assert not any("tardif" in t for t in texts if "Session" in t)
    title = TITLE.search(held.args["text"])
    assert title is not None and held.ok
    assert [t for t in reminders_in(emu, held.args["channel"]) if title.group(0) in t] == [
        held.args["text"]], "the reminder Slack took unacknowledged is not posted again"

    check = await bootstrap(make_config(tmp_path, db_url), migrate=False)
    try:
        async with check.db.session() as session:
            rows = (await session.scalars(select(Reminder))).all()
    finally:
        await check.close()
    statuses = Counter((r.status, r.late) for r in rows)
    assert statuses == {(ReminderStatus.SENT, False): SESSIONS * len(CHANNELS),
                        (ReminderStatus.SENT, True): len(CHANNELS),
                        (ReminderStatus.SKIPPED, False): len(CHANNELS)}, statuses
    print(f"\nSlack crash test: {len(rows)} reminders in {len(CHANNELS)} channels, "
          f"{before_restart} posted before SIGKILL (one of them unacknowledged), the rest "
          f"after the restart; each once", file=sys.stderr)

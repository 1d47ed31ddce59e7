"""The daily retention job on SQLite and PostgreSQL: old bookkeeping goes, the record stays,
and a poll's message still updates in place after its old text was purged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.bootstrap import App
from handlers.core.ids import Platform
from handlers.retention import PURGE_TIMER, next_run, plan
from storage.models import AuditEntry, Member, OutboxMessage, ProcessedEvent, ScheduledJob
from tests.conftest import load_demo
from tests.support.chat import operator
from tests.support.fakes import FakeClock, RecordingSender
from tests.support.polls import member, poll_number

pytestmark = pytest.mark.postgres


async def _count(app: App, model: object, *where: object) -> int:
    async with app.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)  # type: ignore[arg-type]
                                         .where(*where)) or 0)


async def _deliver(app: App) -> None:
    for platform in Platform:
        await app.delivery.flush(platform)


def test_the_purge_runs_at_half_past_three_local_time_also_across_dst() -> None:
    assert next_run(datetime(2025, 3, 29, 3, 0, tzinfo=UTC), "Europe/Paris") == \
        datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert next_run(datetime(2025, 10, 25, 12, 0, tzinfo=UTC), "Europe/Paris") == \
        datetime(2025, 10, 26, 2, 30, tzinfo=UTC)


async def test_old_bookkeeping_is_purged_and_polls_keep_editing_in_place(
        any_app: App, clock: FakeClock) -> None:
    app = any_app
    await load_demo(app)
    op = operator(app)
    async with app.db.session() as session:
        from storage.uow import Store

        await Store(session).rooms.link("matrix", "!cohort:localhost", 1, clock.now(), None)
    n = poll_number(await op.say('sondage creer "Visio ou présentiel ?" '
                                 'options="Visio|Présentiel"'))
    await op.say("delegation lister")
    await _deliver(app)
    members = await _count(app, Member)
    early_events = await _count(app, ProcessedEvent)
    assert early_events >= 2

    await plan(app.db, clock.now(), "Europe/Paris")
    clock.advance(days=31)
    await app.scheduler.run_due()
    assert await _count(app, ProcessedEvent) == 0
    blanked = await _count(app, OutboxMessage, OutboxMessage.payload.is_not(None))
    async with app.db.session() as session:
        payloads = (await session.scalars(select(OutboxMessage.payload))).all()
    assert blanked > 0 and all(p == {"text": ""} for p in payloads)
    assert await _count(app, ScheduledJob, ScheduledJob.name == PURGE_TIMER,
                        ScheduledJob.status == "pending") == 1

    voter = await member(app, op, "Nathalie Fabre", Platform.MATRIX)
    await voter.click("poll.vote", f"{n}:1")
    clock.advance(seconds=3)
    await app.scheduler.run_due()
    await _deliver(app)
    matrix = app.delivery.senders[Platform.MATRIX]
    assert isinstance(matrix, RecordingSender)
    edits = [m for m in matrix.sent if m.key.startswith(f"poll:{n}:") and m.edit_message_id]
    assert len(edits) == 1, "the poll message is edited in place, not posted again"
    original = next(m for m in matrix.sent if m.key == f"poll:{n}:matrix:!cohort:localhost")
    assert matrix.sent.index(original) == 0
    assert edits[0].edit_message_id == "matrix-msg-1"

    audit = await _count(app, AuditEntry)
    clock.advance(days=400)
    await app.scheduler.run_due()
    assert audit > 0 and await _count(app, AuditEntry) == 0
    assert await _count(app, OutboxMessage) == 0
    assert await _count(app, Member) == members

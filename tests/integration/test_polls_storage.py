"""Poll storage on SQLite and on a throwaway PostgreSQL cluster alike: one answer per
(poll, scope key), concurrent voters through the real dispatcher, retries and the same
person on two platforms, the whole Note d'arbitrage flow."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.bootstrap import App
from handlers.core.events import ActionEvent, Origin
from handlers.core.ids import Platform, RoomRef, UserRef
from storage.models import ProcessedEvent
from storage.models_polls import PollAnswer
from storage.repos.polls import AnswerWrite
from storage.uow import Store
from tests.conftest import load_demo
from tests.support.chat import operator
from tests.support.polls import answers, poll_number

pytestmark = pytest.mark.postgres


async def _everyone(app: App) -> list[tuple[int, str]]:
    async with app.db.session() as session:
        store = Store(session)
        members = await store.members.of_cohort(1)
        for m in members:
            await store.identities.link("slack", f"US{m.id}", m.id, app.clock.now())
            await store.identities.link("matrix", f"@m{m.id}:localhost", m.id, app.clock.now())
        return [(m.id, f"US{m.id}") for m in members]


def _click(user: UserRef, event_id: str, value: str, form: dict | None = None) -> ActionEvent:
    return ActionEvent(Origin(user, RoomRef(user.platform, "C1"), event_id=event_id),
                       "poll.vote", value, form or {})


async def test_one_answer_row_per_poll_and_scope_key(any_app: App) -> None:
    await load_demo(any_app)
    n = poll_number(await operator(any_app).say('sondage creer "Oui ?"'))
    now = any_app.clock.now()
    write = AnswerWrite(n, "m:1", 1, None, None, {"choices": [1]}, None, "slack")
    async with any_app.db.session() as session:
        store = Store(session)
        await store.polls.upsert_answers([write], now)
        await store.polls.upsert_answers([AnswerWrite(n, "m:1", 1, None, None, {"choices": [2]},
                                                      "ok", "matrix", keep_comment=False)],
                                         now + timedelta(seconds=1))
    rows = await answers(any_app, n)
    assert len(rows) == 1 and rows[0].value == {"choices": [2]} and rows[0].changes == 1
    assert rows[0].comment == "ok" and rows[0].platform == "matrix"
    with pytest.raises(IntegrityError):
        async with any_app.db.session() as session:
            session.add(PollAnswer(poll_id=n, scope_key="m:1", member_id=1, value={},
                                   changes=0, created_at=now, updated_at=now))


async def test_concurrent_voters_retries_and_two_platforms_never_double_or_lose(
        any_app: App) -> None:
    await load_demo(any_app)
    n = poll_number(await operator(any_app).say(
        'sondage creer "Thèmes ?" type=multiple options="A|B|C|D" max=3'))
    people = await _everyone(any_app)
    clicks = []
    for index, (member_id, account) in enumerate(people):
        slack = UserRef(Platform.SLACK, account)
        matrix = UserRef(Platform.MATRIX, f"@m{member_id}:localhost")
        clicks.append(_click(slack, f"E{index}-1", f"{n}:1"))
        clicks.append(_click(slack, f"E{index}-1", f"{n}:1"))
        clicks.append(_click(matrix, f"$E{index}-2", f"{n}:3"))
    outcomes = await asyncio.gather(*(any_app.dispatcher.handle(c) for c in clicks))
    assert sum(1 for o in outcomes if o.duplicate) == len(people)
    assert not any(o.failed for o in outcomes)
    rows = await answers(any_app, n)
    assert len(rows) == len(people) == 32
    assert all(r.value == {"choices": [1, 3]} for r in rows)
    async with any_app.db.session() as session:
        wanted = [c.origin.event_id for c in clicks]
        events = await session.scalar(select(func.count()).select_from(ProcessedEvent).where(
            ProcessedEvent.event_id.in_(wanted)))
    assert events == 2 * len(people)
    grid = await any_app.dispatcher.handle(_click(
        UserRef(Platform.SLACK, people[0][1]), "grid-1", f"{n}", {"options": ["2", "4"]}))
    assert not grid.failed
    mine = [r for r in await answers(any_app, n) if r.scope_key == f"m:{people[0][0]}"]
    assert mine[0].value == {"choices": [2, 4]}

"""Notes storage on SQLite and on a throwaway PostgreSQL cluster: no lost update, no double."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.bootstrap import App
from storage.models_notes import NoteAnswerHistory, NoteConversation, PilotNote
from storage.uow import Store
from tests.conftest import load_demo
from tests.support.notes import member, stored_answers

pytestmark = pytest.mark.postgres


async def _note(app: App) -> tuple[int, int]:
    now = app.clock.now()
    async with app.db.session() as session:
        store = Store(session)
        cohort = await store.cohorts.add(slug="c", name="C", language="fr",
                                         timezone="Europe/Paris", now=now)
        delegation = await store.delegations.add(cohort.id, "Brest", now)
        people = [await store.members.add(display_name=f"P{i}", now=now,
                                          delegation_id=delegation.id) for i in range(2)]
        return cohort.id, delegation.id if people else 0


async def test_concurrent_answers_to_one_question_are_all_in_the_history(any_app: App) -> None:
    cohort_id, delegation_id = await _note(any_app)
    now = any_app.clock.now()

    async def create() -> int:
        async with any_app.db.session() as session:
            note = await Store(session).notes.get_or_create(
                cohort_id=cohort_id, delegation_id=delegation_id, questionnaire="intention",
                version=1, now=now, by=None)
            return note.id

    note_ids = await asyncio.gather(*(create() for _ in range(10)))
    assert len(set(note_ids)) == 1

    async def answer(i: int) -> int:
        async with any_app.db.session() as session:
            saved = await Store(session).notes.save_answer(
                note_id=note_ids[0], question_id="nature_projet", value=f"réponse {i}",
                by=None, now=now)
            return saved.version

    versions = await asyncio.gather(*(answer(i) for i in range(20)))
    assert sorted(versions) == list(range(1, 21))
    async with any_app.db.session() as session:
        rows = (await session.execute(select(
            NoteAnswerHistory.version, NoteAnswerHistory.previous, NoteAnswerHistory.value)
            .order_by(NoteAnswerHistory.version))).all()
        notes = await session.scalar(select(func.count()).select_from(PilotNote))
    assert notes == 1
    assert [r.version for r in rows] == list(range(1, 21))
    assert rows[0].previous is None
    assert all(rows[i].previous == rows[i - 1].value for i in range(1, 20))
    assert {r.value for r in rows} == {f"réponse {i}" for i in range(20)}


async def test_two_people_and_two_messages_at_once_through_the_dispatcher(any_app: App
                                                                          ) -> None:
    await load_demo(any_app)
    lea = await member(any_app, "Léa Fournier")
    jean_marc = await member(any_app, "Jean-Marc Cros")
    await lea.dm().say("note commencer cadrage")
    await jean_marc.dm().say("note commencer cadrage")
    replies = await asyncio.gather(
        lea.dm().message("- Services techniques"), lea.dm().message("- Parents d'élèves"),
        jean_marc.dm().message("- La région\nfin"))
    assert all("Traceback" not in r and "Désolé" not in r for r in replies)
    finished = await lea.dm().message("fin")
    assert "Réponse 1 enregistrée" in finished
    async with any_app.db.session() as session:
        history = (await session.execute(select(NoteAnswerHistory.version,
                                                NoteAnswerHistory.value)
                                         .order_by(NoteAnswerHistory.version))).all()
        current = await session.scalar(select(func.count()).select_from(NoteConversation)
                                       .where(NoteConversation.current_for.is_not(None)))
    assert [h.version for h in history] == [1, 2]
    assert ["La région"] in [h.value for h in history]
    lea_value = next(h.value for h in history if h.value != ["La région"])
    assert sorted(lea_value) == ["Parents d'élèves", "Services techniques"]
    assert (await stored_answers(any_app, "Commune de Gruissan", "cadrage"))[
        "parties_prenantes"] == history[-1].value
    assert current == 2

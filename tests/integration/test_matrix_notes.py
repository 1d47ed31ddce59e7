"""Pilot-project notes filled in a real Synapse DM, as a member does it from Element; and the
bot killed with SIGKILL in the middle of the questionnaire, then started again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.devtools.local_synapse import LocalSynapse
from storage.models import Delegation
from storage.models_notes import NoteAnswer, NoteAnswerHistory, PilotNote
from tests.support.bot_process import MatrixBotProcess
from tests.support.matrix_bot import BotHarness
from tests.support.matrix_user import Event, MatrixUser, matching

pytestmark = pytest.mark.synapse

Bots = Callable[..., Awaitable[BotHarness]]
Users = Callable[..., Awaitable[MatrixUser]]
GRUISSAN = "Commune de Gruissan"
ANSWERS = {
    "nature_projet": "Une cantine scolaire approvisionnée en circuit court.",
    "enjeux_territoire": "Maintenir l'agriculture locale\net fédérer les parents.",
    "recommandation_diagnostic": True,
    "sert_transition": "Moins de transport, plus de lien social.",
}


def from_bot(bot_id: str, contains: str) -> Callable[[Event], bool]:
    return matching(sender=bot_id, msgtype="m.notice", body_contains=contains)


async def answer(user: MatrixUser, dm: str, bot_id: str, lines: list[str], expect: str,
                 timeout: float = 20) -> Event:  # noqa: ASYNC109
    """Send ``lines`` one by one, then wait for the bot's message containing ``expect``."""
    first = None
    for line in lines:
        sent = await user.send_text(dm, line)
        first = first or sent
    return await user.wait_for(dm, from_bot(bot_id, expect), since=first, timeout=timeout)


async def stored(db_session_factory: object, questionnaire: str) -> dict[str, object]:
    async with db_session_factory() as session:  # type: ignore[operator]
        rows = (await session.execute(
            select(NoteAnswer.question_id, NoteAnswer.value).join(PilotNote)
            .join(Delegation, Delegation.id == PilotNote.delegation_id)
            .where(Delegation.territory == GRUISSAN,
                   PilotNote.questionnaire == questionnaire))).all()
    return dict(rows)


async def test_a_whole_note_filled_in_a_real_dm(matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot()
    lea = await matrix_users("lea", displayname="Léa Fournier")
    await bot.link("Léa Fournier", lea)
    dm = await lea.create_room(invite=[bot.user_id], is_direct=True)
    await lea.wait_for(dm, matching(sender=bot.user_id, msgtype="m.notice"), timeout=20)

    first = await answer(lea, dm, bot.user_id, ["!cohorte note commencer intention"],
                         "question 1/4")
    assert "Nature du projet" in first["content"]["body"]
    await answer(lea, dm, bot.user_id, [ANSWERS["nature_projet"], "fin"], "question 2/4")
    await answer(lea, dm, bot.user_id,
                 [ANSWERS["enjeux_territoire"] + "\nfin"], "question 3/4")
    await answer(lea, dm, bot.user_id, ["oui"], "question 4/4")
    done = await answer(lea, dm, bot.user_id, [ANSWERS["sert_transition"], "fin"],
                        "est complète")

    assert "Note d'intention de Commune de Gruissan est complète (4/4" in done["content"]["body"]
    assert bot.app is not None
    assert await stored(bot.app.db.session, "intention") == ANSWERS
    prompts = [e for e in lea.events(dm) if e["sender"] == bot.user_id
               and "question " in e["content"].get("body", "")]
    assert len(prompts) == 4


async def test_sigkill_in_the_middle_of_a_questionnaire_loses_and_doubles_nothing(
        synapse: LocalSynapse, matrix_users: Users, tmp_path: Path) -> None:
    bot = MatrixBotProcess(synapse, tmp_path / "bot", "notes-crash-bot")
    await bot.prepare()
    lea = await matrix_users("lea", displayname="Léa Fournier")
    await bot.link("Léa Fournier", lea.user_id)
    bot.start()
    try:
        dm = await lea.create_room(invite=[bot.user_id], is_direct=True)
        await lea.wait_for(dm, matching(sender=bot.user_id, msgtype="m.notice"), timeout=60)
        await answer(lea, dm, bot.user_id, ["!cohorte note commencer intention"],
                     "question 1/4", timeout=30)
        await answer(lea, dm, bot.user_id, [ANSWERS["nature_projet"], "fin"], "question 2/4")

        await lea.send_text(dm, ANSWERS["enjeux_territoire"] + "\nfin")
        bot.kill()
        await lea.send_text(dm, "oui")
        bot.start()
        await lea.wait_for(dm, from_bot(bot.user_id, "question 4/4"), timeout=60)
        await answer(lea, dm, bot.user_id, [ANSWERS["sert_transition"]], "fin")
        bot.kill()
        await lea.send_text(dm, "fin")
        bot.start()
        await lea.wait_for(dm, from_bot(bot.user_id, "est complète"), timeout=60)
        status = await lea.send_text(dm, "!cohorte aide")
        await lea.wait_for(dm, matching(sender=bot.user_id), since=status, timeout=30)
    finally:
        code = bot.stop()

    log = bot.log_text()
    assert code == 0, log
    assert "Traceback" not in log
    bodies = [e["content"].get("body", "") for e in lea.events(dm) if e["sender"] == bot.user_id]
    for number in range(1, 5):
        assert sum(f"question {number}/4" in b for b in bodies) == 1, bodies
    assert sum("est complète" in b for b in bodies) == 1
    async with bot.store() as (store, _now):
        session = store.session
        answers = dict((await session.execute(
            select(NoteAnswer.question_id, NoteAnswer.value).join(PilotNote)
            .join(Delegation, Delegation.id == PilotNote.delegation_id)
            .where(Delegation.territory == GRUISSAN))).all())
        versions = await session.scalar(select(func.count()).select_from(NoteAnswerHistory))
    assert answers == ANSWERS
    assert versions == 4

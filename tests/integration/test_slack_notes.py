"""Pilot-project notes on Slack: the questionnaire in a Slack DM, over real HTTP.

The person starts a note with the slash command in the cohort channel, the bot
opens the DM (``conversations.open``) and asks there (``chat.postMessage``); the
person answers in the DM (``message.im`` events, signed like Slack's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.bootstrap import bootstrap
from tests.conftest import load_demo, make_config
from tests.support.fakes import FakeClock
from tests.support.notes import stored_answers
from tests.support.slack_app import SlackRig, bot_texts, people
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_process import SlackBotProcess, said

pytestmark = pytest.mark.slack

GRUISSAN = "Commune de Gruissan"


@pytest_asyncio.fixture(loop_scope="session")
async def rig(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SlackRig]:
    """The demo cohort linked to #general; Léa Fournier (Gruissan) is Bob's Slack account."""
    async with SlackRig.started(tmp_path, clock) as started:
        await load_demo(started.app)
        for command in ("cohorte lier occitanie", 'membre lier "Léa Fournier" <@U2|bob>'):
            await started.command(command)
        await started.settle()
        said = "\n".join(bot_texts(started.emu, "C1"))
        assert "Cohorte Occitanie" in said and "Compte lié" in said, said
        yield started


async def say(rig: SlackRig, *lines: str, user: str = "U2") -> str:
    """Write each line as one DM message; what the bot answered to the last one."""
    before = len(rig.dm_texts(user))
    for line in lines:
        before = len(rig.dm_texts(user))
        answer = await rig.dm(line, user=user)
        assert answer.status == 200
        await rig.settle()
    said = rig.dm_texts(user)[before:]
    assert said, f"no answer to {lines[-1]!r}"
    text = "\n".join(said)
    assert "Traceback" not in text and "Désolé" not in text, text
    return text


async def test_a_whole_note_is_filled_in_a_slack_dm(rig: SlackRig) -> None:
    _, url = await rig.command("note commencer intention", user="U2")
    await rig.settle()
    [started] = rig.emu.responses(url)
    assert started["response_type"] == "ephemeral"
    assert "en message privé" in started["text"]
    [opened] = rig.emu.calls_to("conversations.open")
    assert opened.args["users"] == "U2"
    dm = rig.emu.im_id("U2")
    [first] = rig.dm_texts("U2")
    assert "Note d'intention — question 1/4" in first and "Nature du projet" in first
    assert "`fin`" in first, "the question says how to finish a long answer"

    assert "C'est noté (1 message)" in await say(rig, "Une cantine en circuit court.")
    assert "C'est noté (2 messages)" in await say(rig, "Thèmes : *alimentation*, éducation.")
    out = await say(rig, "fin")
    assert "Réponse 1 enregistrée" in out and "question 2/4" in out

    out = await say(rig, "passer")
    assert "question 3/4" in out and "Répondez `oui` ou `non`" in out
    out = await say(rig, "peut-être")
    assert "Répondez par `oui` ou par `non`" in out and "rien n'a été enregistré" in out

    out = await say(rig, "retour")
    assert "question 2/4" in out and "Enjeux sur le territoire" in out
    out = await say(rig, "Maintenir l'agriculture locale\net fédérer les parents.\nfin")
    assert "Réponse 2 enregistrée" in out and "question 3/4" in out
    out = await say(rig, "oui")
    assert "question 4/4" in out
    out = await say(rig, "Moins de camions.", "fin")
    assert "Note d'intention de Commune de Gruissan est complète (4/4 questions)" in out

    answers = await stored_answers(rig.app, GRUISSAN, "intention")
    assert answers == {
        "nature_projet": "Une cantine en circuit court.\n\nThèmes : *alimentation*, éducation.",
        "enjeux_territoire": "Maintenir l'agriculture locale\net fédérer les parents.",
        "recommandation_diagnostic": True,
        "sert_transition": "Moins de camions.",
    }
    posted = [c for c in rig.emu.calls_to("chat.postMessage") if c.args["channel"] == dm]
    assert all(c.ok for c in posted)
    assert len(rig.emu.calls_to("conversations.open")) == 1, "the DM is opened once"
    assert [m for m in rig.emu.messages(dm) if m.get("user") == "UBOT"] and \
        rig.emu.ephemerals(dm) == []

    await say(rig, "cohorte note exporter intention format=docx")
    [document] = [f for f in rig.emu.files.values() if f.completed]
    assert document.filename == "note-intention-commune-de-gruissan.docx"
    assert document.channels == [dm], "a note's export stays in the person's DM"
    assert rig.emu.file_bytes(document.id)[:2] == b"PK"


async def test_sigkill_in_the_middle_of_a_questionnaire_loses_nothing(tmp_path: Path) -> None:
    """``cohortbot run`` killed twice: once with a long answer half written, once right after
    Slack took its question but before it heard back; each restart resumes on the next message,
    nothing is lost and no question is posted twice."""
    db_url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    demo = await bootstrap(make_config(tmp_path, db_url))
    try:
        await load_demo(demo)
    finally:
        await demo.close()
    async with SlackEmulator() as emu:
        people(emu)
        bot = SlackBotProcess(tmp_path, emu, db_url)
        try:
            await bot.start()
            await bot.command("cohorte lier occitanie")
            await bot.command('membre lier "Léa Fournier" <@U2|bob>')
            await said(emu, "C1", "Compte lié")
            await bot.command("note commencer cadrage", user="U2")
            dm = emu.im_id("U2")
            await said(emu, dm, "question 1/5")
            await bot.dm("Services techniques (directe)", user="U2")
            await said(emu, dm, "C'est noté (1 message)")
            await bot.dm("Parents d'élèves (indirecte)\nfin", user="U2")
            await said(emu, dm, "question 2/5")
            await bot.dm("50 % de produits locaux", user="U2")
            await said(emu, dm, "C'est noté (1 message)", times=2)
            bot.kill()

            await bot.start()
            await bot.dm("Un comité de suivi", user="U2")
            await said(emu, dm, "C'est noté (2 messages)")
            emu.delay_next("chat.postMessage", 60)
            await bot.dm("fin", user="U2")
            await emu.wait_for_call("chat.postMessage", lambda c: "question 3/5" in c.args["text"])
            bot.kill()

            await bot.start()
            await bot.dm("statut", user="U2")
            texts = await said(emu, dm, "Nous en sommes à la question 3/5")
            assert "40\u00a0% des questions obligatoires" in texts[-1]
            assert await bot.stop() == 0
        finally:
            await bot.close()
    assert sum("question 3/5" in t and "Réponse 2 enregistrée" in t for t in texts) == 1, \
        "the question Slack took before the kill is not posted again"
    assert sum("question 2/5" in t for t in texts) == 1
    logs = "".join((tmp_path / f"bot-{n}.log").read_text() for n in (1, 2, 3))
    assert "Traceback" not in logs
    check = await bootstrap(make_config(tmp_path, db_url), migrate=False)
    try:
        answers = await stored_answers(check, GRUISSAN, "cadrage")
    finally:
        await check.close()
    assert answers == {
        "parties_prenantes": ["Services techniques (directe)", "Parents d'élèves (indirecte)"],
        "objectifs": ["50 % de produits locaux", "Un comité de suivi"]}

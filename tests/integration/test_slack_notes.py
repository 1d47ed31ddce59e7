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

from tests.conftest import load_demo
from tests.support.fakes import FakeClock
from tests.support.notes import stored_answers
from tests.support.slack_app import SlackRig, bot_texts

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

"""A poll on Slack, end to end: the poll message's buttons, the answer form as a modal,
and the submitted modal recorded as the person's answer (the polls card contract)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from storage.models_polls import PollAnswer
from tests.support.fakes import FakeClock
from tests.support.slack_app import FORM, SlackRig
from tests.support.slack_emulator import block_actions_form, view_errors

pytestmark = pytest.mark.slack


@pytest_asyncio.fixture(loop_scope="session")
async def rig(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SlackRig]:
    async with SlackRig.started(tmp_path, clock) as started:
        for command in ('cohorte creer "Cohorte Occitanie"', "cohorte lier cohorte-occitanie",
                        "delegation ajouter Gruissan",
                        "membre ajouter Bob Durand delegation=Gruissan categorie=agent",
                        'membre lier "Bob Durand" <@U2|bob>'):
            await started.command(command)
        await started.settle()
        yield started


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["text"]["text"]: e for b in message.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]}


async def test_an_availability_poll_is_answered_in_a_modal(rig: SlackRig) -> None:
    await rig.command('sondage creer "Quelle date pour la plénière ?" type=dispo '
                      'options="28/04 14h-17h|29/04 9h-12h"')
    await rig.settle()
    poll_message = rig.emu.messages("C1")[-1]
    assert "Quelle date pour la plénière ?" in poll_message["text"]
    answer = buttons(poll_message)["Répondre"]

    await rig.click(poll_message, answer["action_id"], answer["value"], user="U2")
    await rig.settle()
    [opened] = rig.emu.calls_to("views.open")
    assert opened.ok and view_errors(opened.args["view"]) == []
    view = opened.response["view"]
    slots = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in slots] == ["availability.1", "availability.2", "comment"]
    assert [o["text"]["text"] for o in slots[0]["element"]["options"]] == [
        "Oui", "Si besoin", "Non"]
    assert view["submit"]["text"] == "Envoyer"

    def radio(value: str) -> dict[str, Any]:
        return {"value": {"type": "radio_buttons", "selected_option": {"value": value}}}

    submitted = await rig.submit(view, {
        "availability.1": radio("yes"), "availability.2": radio("no"),
        "comment": {"value": {"type": "plain_text_input", "value": "Le matin, en visio"}},
    }, user="U2")
    assert submitted.status == 200
    await rig.settle()
    async with rig.app.db.session() as session:
        answers = (await session.scalars(select(PollAnswer))).all()
    assert [a.value for a in answers] == [{"availability": {"1": "yes", "2": "no"}}]
    assert answers[0].comment == "Le matin, en visio"
    assert any(e["user"] == "U2" for e in rig.emu.ephemerals("C1")), "confirmed to Bob only"


async def test_a_yes_no_poll_is_answered_with_one_click(rig: SlackRig) -> None:
    await rig.command('sondage creer "Plénière le 28/04 ?" type=ouinon')
    await rig.settle()
    poll_message = rig.emu.messages("C1")[-1]
    yes = next(b for label, b in buttons(poll_message).items() if label.lower() == "oui")
    await rig.click(poll_message, yes["action_id"], yes["value"], user="U2")
    await rig.click(poll_message, yes["action_id"], yes["value"], user="U2")
    await rig.settle()
    async with rig.app.db.session() as session:
        answers = (await session.scalars(select(PollAnswer))).all()
    assert [a.value for a in answers] == [{"choices": [1]}], "a double click is one vote"


async def test_the_answer_modal_speaks_the_readers_language(rig: SlackRig) -> None:
    await rig.command('membre modifier "Bob Durand" langue=en')
    await rig.command('sondage creer "Quelle date pour la plénière ?" type=dispo '
                      'options="28/04 14h-17h|29/04 9h-12h"')
    await rig.settle()
    poll_message = rig.emu.messages("C1")[-1]
    answer = buttons(poll_message)["Répondre"]
    await rig.click(poll_message, answer["action_id"], answer["value"], user="U2")
    await rig.settle()
    [opened] = rig.emu.calls_to("views.open")
    view = opened.response["view"]
    slots = [b for b in view["blocks"] if b["type"] == "input"]
    assert [o["text"]["text"] for o in slots[0]["element"]["options"]] == [
        "Yes", "If need be", "No"]
    assert view["submit"]["text"] == "Send"


async def test_slack_resending_the_same_click_counts_it_once(rig: SlackRig) -> None:
    """A multiple-choice click toggles: the same click applied twice would undo itself."""
    await rig.command('sondage creer "Quels thèmes pour la plénière ?" type=multiple '
                      'options="Alimentation|Mobilité|Énergie"')
    await rig.settle()
    poll_message = rig.emu.messages("C1")[-1]
    mobility = buttons(poll_message)["Mobilité"]
    await rig.click(poll_message, mobility["action_id"], mobility["value"], user="U2")
    food = buttons(poll_message)["Alimentation"]
    url = rig.emu.new_response_url(channel="C1", user="U2", message_ts=poll_message["ts"])
    body = block_actions_form(user_id="U2", channel_id="C1", message_ts=poll_message["ts"],
                              action_id=food["action_id"], value=food["value"],
                              response_url=url, message=poll_message,
                              trigger_id=rig.emu.new_trigger_id())
    first = await rig.post(body, FORM)
    resent = await rig.post(body, FORM, timestamp=int(time.time()) + 1)
    assert first.status == resent.status == 200, "a new signature: not refused as a replay"
    await rig.settle()
    async with rig.app.db.session() as session:
        answers = (await session.scalars(select(PollAnswer))).all()
    assert [a.value for a in answers] == [{"choices": [1, 2]}], "sent twice, counted once"
    assert len(rig.emu.responses(url)) == 1, "one confirmation"

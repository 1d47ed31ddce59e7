"""Buttons, forms (modals), DMs, edits and files between Slack and the bot, over real HTTP.

The foundation has no feature with buttons yet, so these tests add a small one
next to the real ones: a counter posted in the channel, whose buttons add one
(editing the message in place), open a form, send the clicker a DM or a file.
Everything else is the real app: signed requests to the bot's endpoint, the
dispatcher and database, the outbox, and the Slack sender against the emulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from handlers.core.commands import Args, CohortScope, CommandGroup, Role, Router
from handlers.core.context import Context
from handlers.core.events import Action, ActionEvent, ActionStyle, Attachment, Reply, Visibility
from handlers.core.ids import Platform, UserRef
from handlers.registry import build_router
from storage.models import DirectRoom, ProcessedEvent
from tests.support.fakes import FakeClock
from tests.support.slack_app import SlackRig
from tests.support.slack_emulator import block_kit_errors, view_errors

pytestmark = pytest.mark.slack

counter = CommandGroup("compteur")
clicks: dict[str, int] = {}


@counter.command(None, role=Role.ANYONE, cohort=CohortScope.NONE, hidden=True)
async def show_counter(ctx: Context, args: Args) -> None:
    assert ctx.origin is not None
    clicks.clear()
    ctx.send(ctx.origin.room, counter_message(0), key="counter:message")


def counter_message(value: int) -> Reply:
    return Reply(f"**Compteur** : {value}", actions=(
        Action("Plus un", "counter.add", "1", ActionStyle.PRIMARY),
        Action("Donner un avis", "counter.ask", "avis"),
        Action("M'écrire", "counter.dm", "dm"),
        Action("Exporter", "counter.export", "csv"),
    ))


async def on_counter(ctx: Context, event: ActionEvent) -> Reply | None:
    user = event.origin.user.user_id
    if event.action == "counter.add":
        clicks[user] = clicks.get(user, 0) + int(event.value)
        total = sum(clicks.values())
        ctx.send(event.origin.room, counter_message(total), key=f"counter:edit:{total}",
                 edit_of="counter:message")
        return Reply(f"Merci, le compteur est à {total}.", visibility=Visibility.PRIVATE)
    if event.action == "counter.ask":
        return Reply("Votre avis ?", visibility=Visibility.PRIVATE, card={
            "type": "form", "title": "Votre avis sur la séance", "submit": "Envoyer",
            "action": "counter.opinion", "value": event.value, "intro": "Deux questions.",
            "fields": [
                {"name": "note", "label": "Note", "kind": "choice",
                 "options": [{"value": str(n), "label": f"{n} / 5"} for n in range(1, 6)]},
                {"name": "commentaire", "label": "Commentaire", "kind": "long_text",
                 "optional": True},
            ]})
    if event.action == "counter.opinion":
        return Reply(f"Avis reçu : {event.form['note']}/5, « {event.form['commentaire']} ».",
                     visibility=Visibility.PRIVATE)
    if event.action == "counter.dm":
        ctx.send(UserRef(Platform.SLACK, user), Reply("Un message rien que pour vous."),
                 key=f"counter:dm:{event.origin.event_id}")
        return None
    if event.action == "counter.export":
        return Reply("Voici l'export.", attachments=(
            Attachment("compteur.csv", "text/csv", b"personne;clics\nU1;1\n", "export"),))
    return None


def router_with_counter() -> Router:
    router = build_router()
    router.include(counter)
    router.on_action("counter", on_counter)
    return router


@pytest_asyncio.fixture(loop_scope="session")
async def rig(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SlackRig]:
    async with SlackRig.started(tmp_path, clock, router=router_with_counter()) as started:
        yield started


async def posted_counter(rig: SlackRig) -> dict[str, Any]:
    await rig.command("compteur")
    await rig.settle()
    message = rig.emu.messages("C1")[-1]
    assert "*Compteur* : 0" in message["text"]
    return message


def button(message: dict[str, Any], action: str) -> dict[str, Any]:
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id", "").startswith(action + "#"):
                return element
    raise AssertionError(f"no {action} button in {message['blocks']}")


async def test_buttons_are_valid_block_kit_and_a_click_edits_the_message(rig: SlackRig) -> None:
    message = await posted_counter(rig)
    assert block_kit_errors(message["blocks"]) == []
    plus = button(message, "counter.add")
    assert plus["style"] == "primary"

    answer, url = await rig.click(message, plus["action_id"], plus["value"])
    assert answer.status == 200 and answer.text == ""
    await rig.settle()
    assert rig.emu.responses(url)[0]["response_type"] == "ephemeral"
    assert "le compteur est à 1" in rig.emu.responses(url)[0]["text"]
    edited = rig.emu.message("C1", message["ts"])
    assert edited is not None and "*Compteur* : 1" in edited["text"]
    assert "edited" in edited
    assert len(rig.emu.messages("C1")) == 1, "edited in place, not posted again"


async def test_a_double_click_counts_twice_but_a_replayed_click_once(rig: SlackRig) -> None:
    message = await posted_counter(rig)
    plus = button(message, "counter.add")
    await rig.click(message, plus["action_id"], plus["value"])
    replayed = await rig.replay()
    await rig.click(message, plus["action_id"], plus["value"], user="U2")
    await rig.settle()
    assert replayed.status == 401
    assert clicks == {"U1": 1, "U2": 1}
    assert "*Compteur* : 2" in rig.emu.message("C1", message["ts"])["text"]


async def test_a_form_opens_as_a_modal_and_its_submission_comes_back(rig: SlackRig) -> None:
    message = await posted_counter(rig)
    ask = button(message, "counter.ask")
    await rig.click(message, ask["action_id"], ask["value"])
    await rig.settle()
    [opened] = rig.emu.calls_to("views.open")
    view = opened.response["view"]
    assert view_errors(opened.args["view"]) == []
    assert view["title"]["text"] == "Votre avis sur la séance"[:24]
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [
        "note", "commentaire"]

    answer = await rig.submit(view, {
        "note": {"value": {"type": "radio_buttons",
                           "selected_option": {"value": "4", "text": {"type": "plain_text",
                                                                       "text": "4 / 5"}}}},
        "commentaire": {"value": {"type": "plain_text_input", "value": "Très utile"}},
    })
    assert answer.status == 200 and answer.text == ""
    await rig.settle()
    [ephemeral] = [e for e in rig.emu.ephemerals("C1") if "Avis reçu" in e["text"]]
    assert ephemeral["user"] == "U1"
    assert "4/5" in ephemeral["text"] and "Très utile" in ephemeral["text"]


async def test_an_expired_trigger_shows_the_form_as_a_message_instead(rig: SlackRig) -> None:
    message = await posted_counter(rig)
    ask = button(message, "counter.ask")
    rig.emu.strict_triggers = True
    rig.emu.fail_next("views.open", error="expired_trigger_id")
    _, url = await rig.click(message, ask["action_id"], ask["value"])
    await rig.settle()
    assert "Votre avis ?" in rig.emu.responses(url)[0]["text"]


async def test_a_dm_is_opened_once_and_remembered(rig: SlackRig) -> None:
    message = await posted_counter(rig)
    dm = button(message, "counter.dm")
    await rig.click(message, dm["action_id"], dm["value"], user="U2")
    await rig.click(message, dm["action_id"], dm["value"], user="U2")
    await rig.settle()
    channel = rig.emu.im_id("U2")
    assert [m["text"] for m in rig.emu.messages(channel)] == ["Un message rien que pour vous."] * 2
    assert len(rig.emu.calls_to("conversations.open")) == 1
    async with rig.app.db.session() as session:
        rooms = await session.scalar(select(func.count()).select_from(DirectRoom))
    assert rooms == 1


async def test_a_file_goes_up_with_its_message(rig: SlackRig) -> None:
    message = await posted_counter(rig)
    export = button(message, "counter.export")
    await rig.click(message, export["action_id"], export["value"])
    await rig.settle()
    assert "Voici l'export." in [m["text"] for m in rig.emu.messages("C1")]
    [file] = [f for f in rig.emu.files.values() if f.completed]
    assert file.filename == "compteur.csv" and file.channels == ["C1"]
    assert rig.emu.file_bytes(file.id) == b"personne;clics\nU1;1\n"


async def test_a_click_on_an_unknown_button_is_explained(rig: SlackRig) -> None:
    message = await posted_counter(rig)
    _, url = await rig.click(message, "poll.vote#0", "12:oui")
    await rig.settle()
    assert "Ce bouton n'est plus valable" in rig.emu.responses(url)[0]["text"]
    async with rig.app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 2

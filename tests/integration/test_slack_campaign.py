"""The Note d'arbitrage as a campaign on Slack, over real HTTP with real signatures.

Several Slack users answer the campaign's polls in the cohort channel, with buttons
and modals (the référent for the delegation, each actor category for itself); the
coordinator nudges, and only those who still owe an answer get a DM, with buttons
that work there too; closing edits every poll message in place (``chat.update``),
and the exports arrive as files (``files_upload_v2``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from storage.models_polls import Poll, PollAnswer
from tests.conftest import load_demo
from tests.support.fakes import FakeClock
from tests.support.slack_app import SlackRig, bot_texts
from tests.support.slack_emulator import view_errors

pytestmark = pytest.mark.slack

PEOPLE = {  # Slack user → demo member (delegation, category)
    "U2": "Bernard Roux",      # Barre-des-Cévennes, elu, référent
    "U3": "Nathalie Fabre",    # Barre-des-Cévennes, agent
    "U4": "Lucas Chabert",     # Barre-des-Cévennes, socioeco
    "U5": "Julien Ferrer",     # Canohès, agent, référent
    "U6": "Martine Sola",      # Canohès, elu: stays silent
}


@pytest_asyncio.fixture(loop_scope="session")
async def rig(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SlackRig]:
    async with SlackRig.started(tmp_path, clock) as started:
        for user in ("U4", "U5", "U6"):
            started.emu.add_user(user, user.lower(), real_name=PEOPLE[user])
        started.emu.channels["C1"].members.extend(["U4", "U5", "U6"])
        await load_demo(started.app)
        await started.command("cohorte lier occitanie")
        for user, name in PEOPLE.items():
            await started.command(f'membre lier "{name}" <@{user}|{user.lower()}>')
        await started.settle()
        assert sum("Compte lié" in t for t in bot_texts(started.emu, "C1")) == len(PEOPLE)
        yield started


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["text"]["text"]: e for b in message.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]}


def radio(value: str) -> dict[str, Any]:
    return {"value": {"type": "radio_buttons", "selected_option": {"value": value}}}


def typed(value: str) -> dict[str, Any]:
    return {"value": {"type": "plain_text_input", "value": value}}


async def refreshed(rig: SlackRig, clock: FakeClock) -> None:
    """Let the coalesced refresh of poll messages run (2 s after the last vote)."""
    clock.advance(seconds=3)
    await rig.app.scheduler.run_due()
    await rig.settle()


async def answers(rig: SlackRig, poll_id: int) -> dict[str, Any]:
    async with rig.app.db.session() as session:
        rows = (await session.scalars(select(PollAnswer).where(
            PollAnswer.poll_id == poll_id))).all()
    return {r.scope_key: r.value for r in rows}


async def in_modal(rig: SlackRig, message: dict[str, Any], user: str,
                   values: dict[str, Any]) -> dict[str, Any]:
    """``user`` clicks « Répondre » under ``message`` and submits the modal with ``values``."""
    answer = buttons(message)["Répondre"]
    opened_before = len(rig.emu.calls_to("views.open"))
    await rig.click(message, answer["action_id"], answer["value"], user=user)
    await rig.settle()
    opened = rig.emu.calls_to("views.open")[opened_before:]
    assert len(opened) == 1 and opened[0].ok, [c.response for c in opened]
    assert view_errors(opened[0].args["view"]) == []
    view = opened[0].response["view"]
    submitted = await rig.submit(view, values, user=user)
    assert submitted.status == 200
    await rig.settle()
    return view


async def test_a_campaign_answered_nudged_closed_and_exported_on_slack(
        rig: SlackRig, clock: FakeClock) -> None:
    await rig.command('campagne envoyer note-arbitrage echeance="20/03 18h"')
    await rig.settle()
    async with rig.app.db.session() as session:
        polls = {p.question_key: p for p in (await session.scalars(
            select(Poll).where(Poll.campaign_id.is_not(None)))).all()}
    messages = {}
    for key, poll in polls.items():
        [message] = [m for m in rig.emu.messages("C1") if m.get("metadata", {}).get(
            "event_payload", {}).get("key") == f"poll:{poll.id}:slack:C1"]
        messages[key] = message
    a1, a2, a3 = polls["a1"].id, polls["a2"].id, polls["a3"].id
    posted_before_votes = len(rig.emu.messages("C1"))

    # a1: availability per actor category, in a modal with one radio group per session
    view = await in_modal(rig, messages["a1"], "U2", {
        "availability.1": radio("yes"), "availability.2": radio("yes"),
        "availability.3": radio("maybe"), "comment": typed("Le jeudi nous va bien")})
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [
        "availability.1", "availability.2", "availability.3", "comment"]
    await in_modal(rig, messages["a1"], "U3", {
        "availability.1": radio("yes"), "availability.2": radio("no"),
        "availability.3": radio("yes")})
    await in_modal(rig, messages["a1"], "U5", {"availability.1": radio("no")})
    barre, canohes = await delegation_ids(rig)
    assert await answers(rig, a1) == {
        f"c:{barre}:elu": {"availability": {"1": "yes", "2": "yes", "3": "maybe"}},
        f"c:{barre}:agent": {"availability": {"1": "yes", "2": "no", "3": "yes"}},
        f"c:{canohes}:agent": {"availability": {"1": "no"}}}

    # a2: yes/no on behalf of the delegation, by its référent only
    yes = buttons(messages["a2"])["Oui"]
    _, refused = await rig.click(messages["a2"], yes["action_id"], yes["value"], user="U3")
    _, accepted = await rig.click(messages["a2"], yes["action_id"], yes["value"], user="U2")
    await rig.settle()
    assert "c'est le ou la référent·e" in rig.emu.responses(refused)[0]["text"]
    assert "au nom de votre délégation" in rig.emu.responses(accepted)[0]["text"]
    assert await answers(rig, a2) == {f"d:{barre}": {"choices": [1]}}

    # a3: free text in a modal, by any member of the delegation
    await in_modal(rig, messages["a3"], "U3", {"text": typed("Notre cantine scolaire en régie")})
    assert await answers(rig, a3) == {f"d:{barre}": {"text": "Notre cantine scolaire en régie"}}

    await refreshed(rig, clock)
    assert len(rig.emu.messages("C1")) == posted_before_votes, "votes post nothing in the channel"
    a2_shown = rig.emu.message("C1", messages["a2"]["ts"])
    assert a2_shown is not None and "edited" in a2_shown
    assert "*Ont répondu (1/8)* : Commune de Barre-des-Cévennes (par Bernard Roux)" \
        in a2_shown["text"]

    # nudging one poll: a DM only to whoever may still give a missing answer
    opened_before = {c.args["users"] for c in rig.emu.calls_to("conversations.open")}
    _, url = await rig.command(f"sondage relancer {a2}")
    await rig.settle()
    assert "1 personne" in rig.emu.responses(url)[0]["text"]
    dm_of = {user: rig.emu.im_id(user) for user in PEOPLE}
    reached = {u for u, dm in dm_of.items() if rig.emu.messages(dm)}
    assert reached == {"U5"}, "only Canohès's référent still owes arbitrage 2"
    assert opened_before == set()
    [nudge] = rig.emu.messages(dm_of["U5"])
    assert f"n°{a2}" in nudge["text"] or "Arbitrage 2" in nudge["text"]
    no = buttons(nudge)["Non"]
    await rig.click(nudge, no["action_id"], no["value"], user="U5", channel=dm_of["U5"])
    await rig.settle()
    assert await answers(rig, a2) == {f"d:{barre}": {"choices": [1]},
                                      f"d:{canohes}": {"choices": [2]}}

    # nudging the campaign: one DM per person, listing only what they still owe
    _, url = await rig.command("campagne relancer note-arbitrage")
    await rig.settle()
    assert "Relance envoyée en message privé à 5 personnes" in rig.emu.responses(url)[0]["text"]
    campaign_dms = {u: bot_texts(rig.emu, dm)[-1] for u, dm in dm_of.items()}
    assert set(campaign_dms) == set(PEOPLE)
    assert f"n°{a2} " not in campaign_dms["U2"] and f"n°{polls['a4'].id} " in campaign_dms["U2"]
    assert f"n°{a1} " not in campaign_dms["U3"], "Nathalie gave the agents' answer for Barre"
    assert f"n°{a1} " in campaign_dms["U4"] and f"n°{a1} " in campaign_dms["U6"]
    assert rig.emu.messages(rig.emu.im_id("U1")) == [], "the coordinator owes nothing"

    # closing edits every poll message in place and shows the results
    updates_before = len(rig.emu.calls_to("chat.update"))
    _, url = await rig.command("campagne fermer note-arbitrage")
    await rig.settle()
    await refreshed(rig, clock)
    updated = {c.args["ts"] for c in rig.emu.calls_to("chat.update")[updates_before:]}
    assert {m["ts"] for m in messages.values()} <= updated
    closed_a2 = rig.emu.message("C1", messages["a2"]["ts"])
    assert closed_a2 is not None
    assert set(buttons(closed_a2)) == {"Résultats"}, "no more answer buttons once closed"
    assert "clos" in closed_a2["text"].lower()

    # exports are files, posted where only the coordinator sees them
    clock.advance(minutes=1)
    _, url = await rig.command("campagne exporter note-arbitrage")
    await rig.settle()
    uploaded = {f.filename.rsplit(".", 1)[1]: f for f in rig.emu.files.values() if f.completed}
    assert set(uploaded) == {"csv", "xlsx"}, rig.emu.calls_to("files.completeUploadExternal")
    assert all(f.channels == [rig.emu.im_id("U1")] for f in uploaded.values()), \
        "a coordinator's export is not posted in the cohort channel"
    table = list(csv.reader(io.StringIO(rig.emu.file_bytes(uploaded["csv"].id)
                                        .decode("utf-8-sig")), delimiter=";"))
    assert table[0] == ["Délégation", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"]
    assert ["Commune de Barre-des-Cévennes", "2/4", "1/1", "1/1", "0/1", "0/1", "0/1", "0/1",
            "0/1"] in table
    assert any("Export de la campagne `note-arbitrage`" in t
               for t in bot_texts(rig.emu, rig.emu.im_id("U1")))
    assert rig.emu.responses(url)[-1]["response_type"] == "ephemeral"
    assert "Je vous ai envoyé les fichiers en message privé" in rig.emu.responses(url)[-1]["text"]


async def delegation_ids(rig: SlackRig) -> tuple[int, int]:
    from storage.models import Delegation

    async with rig.app.db.session() as session:
        rows = dict((await session.execute(select(Delegation.territory, Delegation.id))).all())
    return rows["Commune de Barre-des-Cévennes"], rows["Commune de Canohès"]

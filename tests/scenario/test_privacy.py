"""``moi``: a person sees everything the bot stores about them, across features."""

from __future__ import annotations

import json

from bot.bootstrap import App
from handlers.core.ids import Platform
from messages.render.plain import reply_to_plain
from tests.conftest import load_demo
from tests.support.chat import Speaker
from tests.support.fakes import FakeClock
from tests.support.notes import member
from tests.support.polls import poll_number


async def test_moi_shows_answers_notes_reminders_sessions_and_attaches_the_whole_record(
        app: App, op: Speaker, clock: FakeClock) -> None:
    await load_demo(app)
    await op.say("cohorte lier occitanie")
    lea = await member(app, "Léa Fournier")
    n = poll_number(await op.say('sondage creer "Plénière le 12 ?"'))
    await lea.say(f'sondage voter {n} oui commentaire="en train"')
    await lea.dm().say("note commencer intention")
    await lea.dm().message("Une cantine en circuit court.\nfin")
    await op.say('agenda ajouter "Atelier des agents" debut="12/03 10h" duree=2h pour=agent')
    await op.say('agenda ajouter "Réunion des élus" debut="13/03 10h" duree=2h pour=elu')
    await lea.say("cohorte tableau")

    outcome = await lea.command("moi")
    (reply,) = outcome.replies
    shown = reply_to_plain(reply)
    assert reply.sensitive
    assert "Léa Fournier" in shown and "Commune de Gruissan" in shown
    assert "« Plénière le 12 ? » (Cohorte Occitanie) : Oui — commentaire : « en train »" in shown
    assert "1 réponse(s) en cours de validité" in shown
    assert "Atelier des agents — mercredi 12 mars 2025" in shown
    assert "Réunion des élus" not in shown
    assert "Liens et sessions du tableau de bord : 1" in shown

    (attached,) = reply.attachments
    assert attached.filename == "mes-donnees.json"
    record = json.loads(attached.content)
    assert record["profile"]["name"] == "Léa Fournier"
    assert record["accounts"] == [{"platform": "matrix", "user_id": "@lea:localhost",
                                   "linked_at": record["accounts"][0]["linked_at"]}]
    assert record["poll_answers"][0]["comment"] == "en train"
    assert record["note_answers"][0]["value"] == "Une cantine en circuit court."
    assert record["note_history"][0]["question"] == "nature_projet"
    assert record["note_conversations"][0]["note"] == "intention"
    assert {r["event"] for r in record["reminders"]} == {"Atelier des agents"}
    assert record["dashboard_sessions"][0]["kind"] == "link"
    assert any("Plénière" in m["text"] or "Réponse" in m["text"]
               for m in record["messages_to_you"])


async def test_moi_in_english_for_an_english_speaker(app: App, op: Speaker) -> None:
    await load_demo(app)
    hugo = await member(app, "Hugo Perrin", Platform.SLACK)
    shown = await hugo.say("me")
    assert "What I know about you" in shown and "Everything is in the attached file" in shown

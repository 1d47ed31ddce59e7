"""Pilot-project notes through the real router, dispatcher and database, as people use them."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import docx
from sqlalchemy import func, select

from bot.bootstrap import App, bootstrap
from bot.config import NotesConfig
from handlers.core.ids import Platform
from storage.models_notes import ConversationState, NoteAnswerHistory, NoteConversation
from tests.conftest import load_demo, make_config
from tests.support.chat import Speaker, operator
from tests.support.fakes import FakeClock, RecordingSender
from tests.support.notes import dm_files, dm_texts, history, member, stored_answers

GRUISSAN = "Commune de Gruissan"


async def _fill(dm: Speaker, lines: list[str]) -> str:
    out = ""
    for line in lines:
        out = await dm.message(line)
        assert "Traceback" not in out and "Désolé, quelque chose" not in out, out
    return out


async def test_a_delegation_fills_its_three_notes_in_chat_and_the_coordination_exports_them(
        app: App) -> None:
    await load_demo(app)
    lea = await member(app, "Léa Fournier")
    jean_marc = await member(app, "Jean-Marc Cros", Platform.SLACK)
    romain = await member(app, "Romain Estève")
    camille = await member(app, "Camille Martin", Platform.SLACK)

    assert "en message privé" in await lea.say("note commencer intention")
    first = (await dm_texts(app, lea))[-1]
    assert "Note d'intention — question 1/4" in first and "Nature du projet" in first
    assert "fin" in first
    last = await _fill(lea.dm(), [
        "Une cantine scolaire approvisionnée en circuit court.",
        "Thèmes : alimentation, agriculture, éducation.", "fin",
        "Maintenir l'agriculture locale\net fédérer les parents.\nfin",
        "oui",
        "Moins de transport, plus de lien social.", "fin"])
    assert "Note d'intention de Commune de Gruissan est complète (4/4" in last

    await jean_marc.say("note commencer cadrage")
    last = await _fill(jean_marc.dm(), [
        "- Services techniques (directe)\n- Parents d'élèves (indirecte)\nfin",
        "50 % de produits locaux\nUn comité de suivi\nfin",
        "Un portage politique fort.\nfin",
        "Part de produits locaux servis\nfin",
        "Atouts : un cuisinier motivé. Freins : le budget.\nfin"])
    assert "Note de cadrage de Commune de Gruissan est complète" in last

    await romain.say("note commencer faisabilite")
    last = await _fill(romain.dm(), [
        "Un agent à mi-temps.\nfin", "L'appui du CAUE.\nfin",
        "1. Diagnostic\n2. Travaux\n3. Ouverture\nfin", "La mairie pilote.\nfin"])
    assert "Note de faisabilité de Commune de Gruissan est complète" in last

    cadrage = await stored_answers(app, GRUISSAN, "cadrage")
    assert cadrage["parties_prenantes"] == ["Services techniques (directe)",
                                            "Parents d'élèves (indirecte)"]
    intention = await stored_answers(app, GRUISSAN, "intention")
    assert intention["recommandation_diagnostic"] is True
    assert intention["nature_projet"] == ("Une cantine scolaire approvisionnée en circuit court."
                                          "\n\nThèmes : alimentation, agriculture, éducation.")

    board = await camille.say("note tableau")
    assert f"{GRUISSAN} : intention 100\u00a0% · cadrage 100\u00a0% · faisabilite 100\u00a0%" \
        in board
    assert "Note d'intention : 1/8 complète" in board

    assert "message privé" in await camille.say("note exporter livret")
    files = await dm_files(app, camille)
    assert set(files) == {"livret-occitanie.docx", "livret-occitanie.md",
                          "livret-occitanie.csv"}
    document = docx.Document(io.BytesIO(files["livret-occitanie.docx"].content))
    body = "\n".join(p.text for p in document.paragraphs)
    assert "Livret des projets pilotes — Cohorte Occitanie" in body
    assert "Une cantine scolaire approvisionnée en circuit court." in body
    assert "Un agent à mi-temps." in body and "Commune de Canohès" in body
    assert "— Léa Fournier" in body
    markdown = files["livret-occitanie.md"].content.decode()
    assert "#### 3. Le projet correspond-il à une recommandation" in markdown
    assert "- Parents d'élèves (indirecte)" in markdown
    rows = list(csv.reader(io.StringIO(files["livret-occitanie.csv"].content.decode("utf-8-sig")),
                           delimiter=";"))
    assert rows[0][:3] == ["Cohorte", "Délégation", "Note"]
    lea_rows = [r for r in rows if r[1] == GRUISSAN and r[2] == "Note d'intention"]
    assert [r[6] for r in lea_rows][2] == "oui" and lea_rows[0][7] == "Léa Fournier"
    assert len(rows) == 1 + 8 * (4 + 5 + 4 + 3 + 9)


async def test_wrong_answers_are_asked_again_with_the_expected_form(app: App) -> None:
    await load_demo(app)
    lea = await member(app, "Léa Fournier")
    dm = lea.dm()
    await dm.say("note commencer fiche")
    text = await dm.message("Aude, Occitanie")
    assert "question 2/9" in text and "Population" in text
    text = await dm.message("environ deux mille")
    assert "Ce n'est pas un nombre" in text and "6575" in text and "question 2/9" not in text
    assert "rien n'a été enregistré" in text
    assert "question 3/9" in await dm.message("5 400 habitants")
    text = await dm.message("-3")
    assert "au moins 0" in text
    assert "question 4/9" in await dm.message("8,56 km²")
    text = await dm.message("passer")
    assert "Question 4 laissée vide" in text and "question 5/9" in text
    answers = await stored_answers(app, GRUISSAN, "fiche_projet")
    assert answers == {"localisation": "Aude, Occitanie", "population": 5400,
                       "superficie": 8.56}


async def test_dates_and_choices_are_checked(tmp_path: Path, clock: FakeClock) -> None:
    folder = tmp_path / "questionnaires"
    folder.mkdir()
    (folder / "essai.yaml").write_text("""
id: essai
version: 1
title: {fr: "Essai", en: "Trial"}
questions:
  - {id: lancement, type: date, required: true, prompt: {fr: "Date de lancement", en: "Start"}}
  - id: theme
    type: choice
    required: true
    prompt: {fr: "Thème principal", en: "Main theme"}
    choices:
      - {id: alim, label: {fr: "Alimentation", en: "Food"}}
      - {id: mobilite, label: {fr: "Mobilité", en: "Mobility"}}
  - id: publics
    type: multi_choice
    required: false
    max_choices: 2
    prompt: {fr: "Publics", en: "Audiences"}
    choices:
      - {id: enfants, label: {fr: "Enfants", en: "Children"}}
      - {id: aines, label: {fr: "Aînés", en: "Elders"}}
      - {id: agents, label: {fr: "Agents", en: "Staff"}}
""", encoding="utf-8")
    config = make_config(tmp_path)
    config = type(config)(bot=config.bot, database=config.database, http=config.http,
                          notes=NotesConfig(questionnaires_dir=str(folder)))
    app = await bootstrap(config, clock=clock)
    for platform in Platform:
        app.delivery.add_sender(RecordingSender(platform))
    try:
        await load_demo(app)
        dm = (await member(app, "Léa Fournier")).dm()
        assert "Date de lancement" in await dm.say("note commencer essai")
        assert "n'existe pas dans le calendrier" in await dm.message("31/02/2025")
        assert "Je ne lis pas cette date" in await dm.message("bientôt")
        text = await dm.message("15/09/2025")
        assert "1. Alimentation" in text and "2. Mobilité" in text
        text = await dm.message("Énergie")
        assert "ne fait pas partie de la liste" in text and "2. Mobilité" in text
        assert "Publics" in await dm.message("mobi")
        assert "2 choix au plus" in await dm.message("1, 2, 3")
        assert "complète" in await dm.message("enfants et agents")
        assert await stored_answers(app, GRUISSAN, "essai") == {
            "lancement": "2025-09-15", "theme": "mobilite", "publics": ["enfants", "agents"]}
    finally:
        await app.close()


async def test_skip_back_edit_pause_resume_status_and_show(app: App) -> None:
    await load_demo(app)
    dm = (await member(app, "Léa Fournier")).dm()
    await dm.say("note commencer qualification")
    text = await dm.message("passer")
    assert "Question 1 laissée pour plus tard" in text and "question 2/3" in text
    assert "C'est noté (1 message)" in await dm.message("Parce que l'APFDT connaît le terrain.")
    text = await dm.message("retour")
    assert "Réponse 2 enregistrée" in text and "question 1/3" in text
    assert "déjà à la première question" in await dm.message("retour")
    assert "C'est noté (1 message)" in await dm.message("Un projet de compostage.")
    text = await dm.message("pause")
    assert "en pause" in text and "(1 message) est gardée" in text
    assert "écrivez reprendre pour continuer" in await dm.message("Et des jardins partagés.")
    text = await dm.message("reprendre")
    assert "On reprend" in text and "1 message gardé" in text and "question 1/3" in text
    text = await dm.message("Et des jardins partagés.\nfin")
    assert "Réponse 1 enregistrée" in text and "question 3/3" in text
    text = await dm.message("statut")
    assert "67\u00a0%" in text and "Obligatoires sans réponse : 3" in text
    assert "Nous en sommes à la question 3/3" in text
    text = await dm.message("voir")
    assert "Un projet de compostage.\n\nEt des jardins partagés." in text
    assert "pas encore de réponse" in text
    assert "Il n'y a pas de question 7" in await dm.message("modifier 7")
    text = await dm.message("modifier 2")
    assert "question 2/3" in text and "Réponse actuelle (de Léa Fournier" in text
    assert "connaît le terrain" in text
    text = await dm.message("Parce que l'APFDT connaît bien le terrain.\nfin")
    assert "question 3/3" in text
    text = await dm.message("annuler")
    assert "Les réponses déjà données sont gardées" in text
    answers = await stored_answers(app, GRUISSAN, "qualification")
    assert answers == {
        "presentation": "Un projet de compostage.\n\nEt des jardins partagés.",
        "pourquoi": "Parce que l'APFDT connaît bien le terrain."}
    assert "Je n'ai pas compris" in await dm.message("Encore un message")


async def test_a_long_answer_started_before_a_restart_is_finished_after_it(
        app: App, tmp_path: Path, clock: FakeClock) -> None:
    await load_demo(app)
    dm = (await member(app, "Léa Fournier")).dm()
    await dm.say("note commencer intention")
    await dm.message("Première partie de la réponse.")
    await dm.message("Deuxième partie.")
    await app.close()

    again = await bootstrap(make_config(tmp_path), clock=clock)
    for platform in Platform:
        again.delivery.add_sender(RecordingSender(platform))
    try:
        dm.app = again
        text = await dm.message("fin")
        assert "Réponse 1 enregistrée" in text and "question 2/4" in text
        answers = await stored_answers(again, GRUISSAN, "intention")
        assert answers["nature_projet"] == "Première partie de la réponse.\n\nDeuxième partie."
    finally:
        await again.close()


async def test_answering_in_a_room_is_told_where_to_answer_once(app: App) -> None:
    await load_demo(app)
    lea = await member(app, "Léa Fournier")
    await lea.say("note commencer fiche")
    await lea.dm().message("Aude")
    text = await lea.message("6575")
    assert "en message privé" in text and "question 2" in text
    assert await lea.message("6576") == ""
    assert await lea.message("On se voit demain à la plénière ?") == ""
    assert await stored_answers(app, GRUISSAN, "fiche_projet") == {"localisation": "Aude"}


async def test_someone_outside_the_delegation_is_refused(app: App) -> None:
    await load_demo(app)
    karim = await member(app, "Karim Benali")
    lea = await member(app, "Léa Fournier")
    text = await karim.say(f"note commencer intention {GRUISSAN}")
    assert "réservées à sa délégation et à la coordination" in text
    assert "réservées à sa délégation" in await karim.say("note voir intention Gruissan")
    assert "réservées à sa délégation" in await karim.say("note exporter intention Gruissan")

    await lea.say("note commencer intention")
    await operator(app).say("membre modifier Léa Fournier delegation=Canohès")
    text = await lea.dm().message("Notre projet.")
    assert "réservées à sa délégation" in text
    assert await stored_answers(app, GRUISSAN, "intention") == {}


async def test_two_contributors_answering_at_once_both_land_in_the_history(app: App) -> None:
    await load_demo(app)
    lea = await member(app, "Léa Fournier")
    jean_marc = await member(app, "Jean-Marc Cros")
    await lea.dm().say("note commencer fiche")
    await jean_marc.dm().say("note commencer fiche")
    first, second = await asyncio.gather(lea.dm().message("Aude, Occitanie"),
                                         jean_marc.dm().message("Aude (11), Occitanie"))
    assert "Réponse 1 enregistrée" in first and "Réponse 1 enregistrée" in second
    overwritten = [t for t in (first, second) if "a répondu à la question 1 pendant" in t]
    assert len(overwritten) == 1
    rows = await history(app, "localisation")
    assert [r[0] for r in rows] == [1, 2]
    assert rows[1][1] == rows[0][2]
    assert {rows[0][2], rows[1][2]} == {"Aude, Occitanie", "Aude (11), Occitanie"}
    final = await stored_answers(app, GRUISSAN, "fiche_projet")
    assert final["localisation"] == rows[1][2]
    text = await lea.say("note historique fiche 1")
    assert "message privé" in text
    assert any("Version 2" in t for t in await dm_texts(app, lea))


async def test_a_silent_note_is_reminded_after_n_days_at_most_twice(
        app: App, clock: FakeClock) -> None:
    await load_demo(app)
    lea = await member(app, "Léa Fournier")
    await lea.dm().say("note commencer intention")
    await lea.dm().message("Un début.\nfin")

    def reminders(texts: list[str]) -> list[str]:
        return [t for t in texts if "Petit rappel" in t]

    clock.advance(days=6)
    await app.scheduler.run_due()
    assert reminders(await dm_texts(app, lea)) == []
    await lea.dm().message("statut")
    clock.advance(days=6)
    await app.scheduler.run_due()
    assert reminders(await dm_texts(app, lea)) == []
    clock.advance(days=1, hours=1)
    await app.scheduler.run_due()
    sent = reminders(await dm_texts(app, lea))
    assert len(sent) == 1 and "question 2" in sent[0] and "25\u00a0%" in sent[0]
    clock.advance(days=7, hours=1)
    await app.scheduler.run_due()
    clock.advance(days=30)
    await app.scheduler.run_due()
    assert len(reminders(await dm_texts(app, lea))) == 2
    await lea.dm().message("Des enjeux.\nfin")
    clock.advance(days=7, hours=1)
    await app.scheduler.run_due()
    assert len(reminders(await dm_texts(app, lea))) == 3
    await lea.dm().message("annuler")
    clock.advance(days=60)
    await app.scheduler.run_due()
    assert len(reminders(await dm_texts(app, lea))) == 3


async def test_privacy_of_notes_in_rooms_and_exports(app: App) -> None:
    await load_demo(app)
    lea = await member(app, "Léa Fournier")
    karim = await member(app, "Karim Benali")
    await lea.dm().say("note commencer intention")
    await lea.dm().message("Le secret de Gruissan.\nfin")
    await karim.dm().say("note commencer intention")
    await karim.dm().message("Le projet de Montpellier.\nfin")

    text = await lea.say("note voir intention")
    assert "message privé" in text and "secret" not in text
    assert any("Le secret de Gruissan." in t for t in await dm_texts(app, lea))

    assert "réservé à la coordination" in await lea.say("note tableau")
    await lea.say("note exporter livret format=md")
    files = await dm_files(app, lea)
    assert list(files) == ["livret-occitanie-commune-de-gruissan.md"]
    content = files["livret-occitanie-commune-de-gruissan.md"].content.decode()
    assert "Le secret de Gruissan." in content and "Montpellier" not in content


async def test_newcomer_digest_and_delegation_status(app: App) -> None:
    await load_demo(app)
    lea = await member(app, "Léa Fournier")
    valerie = await member(app, "Valérie Guiraud", Platform.SLACK)
    await lea.dm().say("note commencer intention")
    await _fill(lea.dm(), ["Une cantine.\nfin", "passer", "non"])
    status = await valerie.say("note statut")
    assert "Notes de Commune de Gruissan" in status
    assert "Note d'intention : 50\u00a0% — obligatoires sans réponse : 2, 4 ; par Léa Fournier" \
        in status
    assert "Note de cadrage : pas commencée" in status
    await valerie.say("note synthese")
    digest = (await dm_texts(app, valerie))[-1]
    assert "Mise à niveau — les notes de Commune de Gruissan" in digest
    assert "Une cantine." in digest and "— non" in digest
    assert "Note de cadrage" not in digest


async def test_everything_reads_in_english_for_an_english_speaker(app: App) -> None:
    await load_demo(app)
    lea = await member(app, "Léa Fournier", Platform.SLACK)
    await lea.say("me language en")
    dm = lea.dm()
    text = await dm.say("note start intention")
    assert "Intention note — question 1/4" in text and "then send end" in text
    assert "Noted (1 message)" in await dm.message("Our project.")
    text = await dm.message("end")
    assert "Answer 1 saved" in text and "question 2/4" in text
    assert "Question 2 left for later" in await dm.message("skip")
    assert "Answer yes or no" in await dm.message("maybe")


async def test_state_and_answers_are_rows_not_memory(app: App) -> None:
    await load_demo(app)
    dm = (await member(app, "Léa Fournier")).dm()
    await dm.say("note commencer cadrage")
    await dm.message("- Services techniques")
    async with app.db.session() as session:
        conv = await session.scalar(select(NoteConversation))
        assert conv is not None
        assert conv.state is ConversationState.COLLECTING
        assert conv.question_id == "parties_prenantes" and conv.buffer == ["- Services techniques"]
        assert conv.current_for == f"{Platform.MATRIX}:@lea:localhost"
    await dm.message("pause")
    await dm.say("note commencer intention")
    async with app.db.session() as session:
        states = dict((await session.execute(select(NoteConversation.question_id,
                                                    NoteConversation.state))).all())
        assert states == {"parties_prenantes": ConversationState.PAUSED,
                          "nature_projet": ConversationState.ASKING}
    text = await dm.say("note reprendre cadrage")
    assert "1 message gardé" in text and "question 1/5" in text
    async with app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(NoteAnswerHistory)) == 0


async def test_help_lists_the_note_commands_and_the_dashboard_for_coordinators(app: App) -> None:
    await load_demo(app)
    lea = await member(app, "Léa Fournier")
    camille = await member(app, "Camille Martin", Platform.SLACK)
    mine = await lea.say("aide note")
    assert "note commencer" in mine and "note tableau" not in mine
    assert "note tableau" in await camille.say("aide note")
    listing = await lea.say("note lister")
    assert "fiche_projet" in listing and "Fiche projet pilote" in listing
    text = await lea.say("note commencer faisabilté")
    assert "Je ne connais pas la note" in text and "faisabilite" in text


async def test_erasure_forgets_the_conversation_and_keeps_the_delegations_answers(app: App
                                                                                   ) -> None:
    await load_demo(app)
    lea = await member(app, "Léa Fournier")
    await lea.dm().say("note commencer intention")
    await lea.dm().message("Notre projet.\nfin")
    code = (await lea.say("moi effacer")).split("moi effacer ")[-1].strip()
    assert "effacées" in await lea.say(f"moi effacer {code}")
    async with app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(NoteConversation)) == 0
    assert await stored_answers(app, GRUISSAN, "intention") == {"nature_projet": "Notre projet."}
    camille = await member(app, "Camille Martin", Platform.SLACK)
    await camille.say("note voir intention Gruissan")
    shown = (await dm_texts(app, camille))[-1]
    assert "Notre projet." in shown and "Léa" not in shown and "Membre effacé" in shown


async def test_a_note_put_aside_for_another_is_reminded_with_the_command_to_resume_it(
        app: App, clock: FakeClock) -> None:
    await load_demo(app)
    lea = await member(app, "Léa Fournier")
    await lea.dm().say("note commencer cadrage")
    await lea.dm().message("- Services techniques")
    await lea.dm().say("note commencer intention")
    await lea.dm().message("Aude\nfin")
    clock.advance(days=7, minutes=1)
    await app.scheduler.run_due()
    reminders = [t for t in await dm_texts(app, lea) if "Petit rappel" in t]
    assert len(reminders) == 2
    cadrage = next(t for t in reminders if "Note de cadrage" in t)
    assert "!cohorte note reprendre cadrage" in cadrage
    intention = next(t for t in reminders if "Note d'intention" in t)
    assert "question 2 : répondez ici" in intention
    text = await lea.dm().say("note reprendre cadrage")
    assert "1 message gardé" in text

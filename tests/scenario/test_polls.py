"""Polls through the real router, dispatcher and database: every kind and scope, as people
use them from the console, Slack and Matrix (neutral events)."""

from __future__ import annotations

import asyncio
import io

from sqlalchemy import select

from bot.bootstrap import App
from handlers.core.events import ActionEvent, Reply
from handlers.core.ids import Platform
from storage.models import OutboxMessage, ProcessedEvent
from storage.models_polls import Poll, PollAnswer
from tests.conftest import load_demo
from tests.support.chat import Speaker, person
from tests.support.fakes import FakeClock, RecordingSender
from tests.support.polls import answers, count_rows, member, outbox, poll_number


async def _setup(app: App, op: Speaker) -> None:
    await load_demo(app)
    await op.say("cohorte lier occitanie")


async def test_yes_no_member_poll_vote_twice_keeps_one_answer(app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say('sondage creer "Venez-vous à la plénière ?"'))
    zoe = await member(app, op, "Nathalie Fabre")
    assert "Réponse enregistrée" in await zoe.say(f"sondage voter {n} oui")
    assert "Réponse enregistrée" in await zoe.click("poll.vote", f"{n}:2")
    rows = await answers(app, n)
    assert len(rows) == 1 and rows[0].value == {"choices": [2]} and rows[0].changes == 1
    results = await op.say(f"sondage resultats {n}")
    assert "Non — 1 ⭐ (Nathalie Fabre (Commune de Barre-des-Cévennes))" in results
    assert "Ont répondu (1/32)" in results


async def test_single_choice_refuses_an_option_not_in_the_poll(app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say(
        'sondage creer "Quel format ?" options="Visio|Présentiel|Hybride"'))
    karim = await member(app, op, "Karim Benali")
    text = await karim.say(f"sondage voter {n} 7")
    assert "n'a pas d'option" in text and "de 1 à 3" in text
    assert "n'a pas d'option" in await karim.click("poll.vote", f"{n}:9")
    assert await answers(app, n) == []
    assert "Présentiel" in await karim.say(f"sondage voter {n} présentiel")
    assert (await answers(app, n))[0].value == {"choices": [2]}


async def test_multiple_choice_toggles_and_keeps_the_maximum(app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say(
        'sondage creer "Quels thèmes ?" type=multiple options="Énergie|Eau|Mobilité|Alimentation" '
        "max=2"))
    lea = await member(app, op, "Léa Fournier")
    await lea.click("poll.vote", f"{n}:1")
    await lea.click("poll.vote", f"{n}:3")
    refused = await lea.click("poll.vote", f"{n}:4")
    assert "au plus 2 choix" in refused
    assert (await answers(app, n))[0].value == {"choices": [1, 3]}
    await lea.click("poll.vote", f"{n}:1")
    assert (await answers(app, n))[0].value == {"choices": [3]}
    assert "au plus 2 choix" in await lea.say(f"sondage voter {n} 1,2,4")
    await lea.say(f"sondage voter {n} 2,4")
    assert (await answers(app, n))[0].value == {"choices": [2, 4]}


async def test_availability_best_date_is_most_yes_then_yes_and_if_need_be(
        app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say(
        'sondage creer "Date du webinaire ?" type=dispo '
        'options="28/04 14h-17h|29/04 9h-12h|30/04"'))
    votes = {"Bernard Roux": "oui si-besoin non", "Julien Ferrer": "non oui si-besoin",
             "Karim Benali": "oui si-besoin oui", "Léa Fournier": "si besoin oui non"}
    for name, line in votes.items():
        speaker = await member(app, op, name)
        assert "Réponse enregistrée" in await speaker.say(f"sondage voter {n} {line}")
    results = await op.say(f"sondage resultats {n}")
    assert "Meilleure date : mardi 29 avril 2025, 9 h – 12 h (2 oui, 2 si besoin)" in \
        results.replace("\u00a0", " ")
    bad = await (await member(app, op, "Sophie Castel")).say(f"sondage voter {n} oui non")
    assert "propose 3 dates et j'ai lu 2 réponses" in bad
    grid = await (await member(app, op, "Sophie Castel")).click(
        "poll.submit", str(n), form={"availability": {"1": "no", "2": "yes", "3": "maybe"}})
    assert "Réponse enregistrée" in grid
    assert len(await answers(app, n)) == 5


async def test_delegation_poll_by_any_member_latest_answer_stands_and_shows_who(
        app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say(
        'sondage creer "Un retour d\'expérience à partager ?" type=texte portee=delegation '
        "repond=tous"))
    martine = await member(app, op, "Martine Sola")
    anais = await member(app, op, "Anaïs Pujol")
    await martine.say(f'sondage voter {n} "Notre cantine bio"')
    await anais.say(f'sondage voter {n} "La cantine bio et le marché de producteurs"')
    rows = await answers(app, n)
    assert len(rows) == 1 and rows[0].value["text"].startswith("La cantine bio")
    results = await op.say(f"sondage resultats {n}")
    assert "Commune de Canohès (par Anaïs Pujol) : La cantine bio" in results
    assert "Notre cantine" not in results


async def test_referent_answers_for_the_delegation_others_are_told_politely(
        app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say(
        'sondage creer "AGORA à Paris le 28 avril ?" portee=delegation repond=referent'))
    nathalie = await member(app, op, "Nathalie Fabre")
    text = await nathalie.click("poll.vote", f"{n}:1")
    assert "c'est le ou la référent·e de la délégation Commune de Barre-des-Cévennes" in text
    assert await answers(app, n) == []
    bernard = await member(app, op, "Bernard Roux", Platform.MATRIX)
    assert "au nom de votre délégation" in await bernard.click("poll.vote", f"{n}:1")
    assert [a.scope_key for a in await answers(app, n)] == [
        f"d:{(await answers(app, n))[0].delegation_id}"]


async def test_category_scope_is_one_answer_per_category_in_each_delegation(
        app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say(
        'sondage creer "Sessions entre pairs" type=dispo options="10/03 9h-12h|24/03 14h-17h" '
        "portee=categorie"))
    for name in ("Bernard Roux", "Nathalie Fabre", "Lucas Chabert", "Isabelle Vidal"):
        await (await member(app, op, name)).say(f"sondage voter {n} oui oui")
    results = await op.say(f"sondage resultats {n}")
    assert "Ont répondu (4/32)" in results
    assert "Commune de Barre-des-Cévennes — services de l'État (par Isabelle Vidal)" in results
    rows = await answers(app, n)
    assert sorted(r.category for r in rows) == ["agent", "elu", "etat", "socioeco"]


async def test_restricted_polls_refuse_others_and_expect_only_their_people(
        app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say('sondage creer "Pour les élu·es" categorie=elu'))
    assert "réservé aux élu·e" in await (await member(app, op, "Léa Fournier")).say(
        f"sondage voter {n} oui")
    assert "Ont répondu (0/8)" in await op.say(f"sondage resultats {n}")
    m = poll_number(await op.say(
        'sondage creer "Gruissan et Canohès" delegations="Gruissan|Canohès" portee=delegation'))
    assert "ne s'adresse qu'à certaines délégations" in await (
        await member(app, op, "Karim Benali")).say(f"sondage voter {m} oui")
    assert "Ont répondu (0/2)" in await op.say(f"sondage resultats {m}")
    assert await count_rows(app, PollAnswer) == 0


async def test_anonymous_poll_never_shows_who(app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say('sondage creer "Satisfait·e du parcours ?" anonyme=oui'))
    karim = await member(app, op, "Karim Benali")
    await karim.click("poll.vote", f"{n}:1")
    text = await op.say(f"sondage resultats {n}") + await karim.say(f"sondage resultats {n}")
    assert "Karim" not in text and "Montpellier" not in text
    assert "Réponses : 1 sur 32 attendues" in text
    export = await op.command(f"sondage exporter {n} format=csv")
    csv_text = export.replies[0].attachments[0].content.decode("utf-8-sig")
    assert "Karim" not in csv_text and "Montpellier" not in csv_text and "x" in csv_text


async def test_hidden_results_show_only_participation_until_close(app: App, op: Speaker,
                                                                  clock: FakeClock) -> None:
    await _setup(app, op)
    n = poll_number(await op.say('sondage creer "Budget ?" resultats=cloture'))
    karim = await member(app, op, "Karim Benali")
    await karim.click("poll.vote", f"{n}:2")
    seen = await karim.say(f"sondage resultats {n}")
    assert "Résultats affichés à la clôture" in seen and "Ont répondu (1/32)" in seen
    assert "Non — 1" in await op.say(f"sondage resultats {n}")
    await op.say(f"sondage fermer {n}")
    assert "Non — 1" in await karim.say(f"sondage resultats {n}")


async def test_deadline_closes_the_poll_and_late_voters_get_the_results(
        app: App, op: Speaker, clock: FakeClock) -> None:
    await _setup(app, op)
    n = poll_number(await op.say('sondage creer "Plénière le 15 ?" echeance="04/03 18h"'))
    karim = await member(app, op, "Karim Benali")
    await karim.click("poll.vote", f"{n}:1")
    clock.advance(days=1, hours=12)
    await app.scheduler.run_due()
    late = await (await member(app, op, "Léa Fournier")).click("poll.vote", f"{n}:2")
    assert "est clos : il ne prend plus de réponse" in late and "Oui — 1" in late
    assert len(await answers(app, n)) == 1
    notices = await outbox(app, f"poll:{n}:closed:")
    assert len(notices) == 1 and "est clos" in notices[0].payload["text"]
    reopened = await op.say(f'sondage rouvrir {n} echeance="10/03 18h"')
    assert "rouvert jusqu'au lundi 10 mars 2025" in reopened.replace("\u00a0", " ")
    assert "Réponse enregistrée" in await (await member(app, op, "Léa Fournier")).click(
        "poll.vote", f"{n}:2")
    clock.advance(days=7)
    await app.scheduler.run_due()
    assert len(await outbox(app, f"poll:{n}:closed:")) == 2


async def test_nudges_go_by_dm_only_to_those_who_still_owe(app: App, op: Speaker,
                                                            clock: FakeClock) -> None:
    await _setup(app, op)
    n = poll_number(await op.say(
        'sondage creer "AGORA ?" portee=delegation repond=referent echeance="10/03 18h" '
        "relances=J-2,H-3"))
    bernard = await member(app, op, "Bernard Roux")
    julien = await member(app, op, "Julien Ferrer", Platform.MATRIX)
    await member(app, op, "Nathalie Fabre")
    await bernard.click("poll.vote", f"{n}:1")
    clock.set(clock.now().replace(day=8, hour=17, minute=1))
    assert await app.scheduler.run_due() >= 1
    dms = await outbox(app, f"nudge:{n}:")
    assert [m.destination for m in dms] == [f"@dm:{julien.user.user_id}"]
    assert "attend encore votre réponse" in dms[0].payload["text"]
    text = await op.say(f"sondage relancer {n}")
    assert "Relance envoyée en message privé à 1 personne" in text
    assert "Sans compte lié, à relancer autrement (6) : Agnès Mercadier, Gilles Cabanis" in text
    assert len(await outbox(app, f"nudge:{n}:")) == 2
    await julien.click("poll.vote", f"{n}:2")
    assert "Personne n'a pu être relancé·e" in await op.say(f"sondage relancer {n}")


async def test_comments_go_with_the_answer(app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say('sondage creer "Visio le 12 ?"'))
    karim = await member(app, op, "Karim Benali")
    assert "Répondez d'abord" in await karim.say(f'sondage commenter {n} "plutôt le matin"')
    await karim.say(f'sondage voter {n} oui commentaire="si possible le matin"')
    await karim.click("poll.vote", f"{n}:1")
    assert (await answers(app, n))[0].comment == "si possible le matin"
    assert "Commentaire ajouté" in await karim.say(f'sondage commenter {n} "le matin !"')
    assert "Karim Benali (Montpellier Méditerranée Métropole) : le matin !" in await op.say(
        f"sondage resultats {n}")
    m = poll_number(await op.say('sondage creer "Sans commentaire" commentaires=non'))
    assert "ne prend pas de commentaires" in await karim.say(
        f'sondage voter {m} oui commentaire="x"')


async def test_bad_input_is_explained_in_french_and_stores_nothing(app: App, op: Speaker
                                                                  ) -> None:
    await _setup(app, op)
    polls_before = await count_rows(app, Poll)
    for line, expected in [
        ('sondage creer "Date ?" type=dispo options="01/01/2020 14h|28/04"', "est passée"),
        ('sondage creer "Date ?" echeance="01/03/2025 18h"', "déjà passée"),
        ('sondage creer "Date ?" type=dispo options="28/04 17h-14h"',
         "Je ne comprends pas la date"),
        ('sondage creer "Date ?" type=sondage', "Je ne connais pas le type"),
        ('sondage creer "Choix ?" type=choix', "a besoin d'options"),
        ('sondage creer "Choix ?" type=multiple options="A|B" max=3', "max="),
        ('sondage creer "X ?" relances=J-1', "ajoutez"),
        ('sondage creer "X ?" echeance="28/04" relances=demain', "Je ne comprends pas la relance"),
        ('sondage creer "X ?" portee=planete', "Je ne comprends pas la portée"),
        ('sondage creer "X ?" options="A|A"', "apparaît deux fois"),
    ]:
        text = await op.say(line)
        assert expected in text, (line, text)
        assert "Traceback" not in text
    assert await count_rows(app, Poll) == polls_before
    n = poll_number(await op.say('sondage creer "Plénière ?"'))
    stranger = person(app, Platform.SLACK, "UNOBODY", "C-GENERAL")
    assert "Vous ne faites encore partie d'aucune cohorte" in await stranger.say(
        f"sondage voter {n} oui")
    assert "réservé aux membres" in await stranger.click("poll.vote", f"{n}:1")
    karim = await member(app, op, "Karim Benali")
    assert "pas de sondage n°999" in await karim.say("sondage voter 999 oui")
    assert "Ce bouton n'est plus valable" in await karim.click("poll.vote", "999:1")
    assert "Pour ce sondage, répondez" in await karim.say(f"sondage voter {n} peut-être")
    assert await count_rows(app, PollAnswer) == 0


async def test_a_poll_of_another_cohort_is_unknown_here(app: App, op: Speaker) -> None:
    await _setup(app, op)
    await op.say('cohorte creer "Cohorte Bretagne" slug=bretagne')
    await op.say("delegation ajouter Brest cohorte=bretagne")
    await op.say("membre ajouter Yann Le Gall delegation=Brest categorie=agent cohorte=bretagne")
    await op.say('membre lier "Yann Le Gall" slack:UYANN cohorte=bretagne')
    n = poll_number(await op.say('sondage creer "Occitanie seulement ?" cohorte=occitanie'))
    yann = person(app, Platform.SLACK, "UYANN", "C-BZH")
    assert f"pas de sondage n°{n}" in await yann.say(f"sondage voter {n} oui")
    assert "réservé aux membres" in await yann.click("poll.vote", f"{n}:1")
    assert await answers(app, n) == []


async def test_poll_message_in_every_room_updated_in_place_once_per_burst(
        app: App, op: Speaker, clock: FakeClock) -> None:
    await load_demo(app)
    async with app.db.session() as session:
        from storage.uow import Store

        for platform, room in (("slack", "C-SLACK"), ("slack", "C-SLACK-2"),
                               ("matrix", "!cohort:localhost")):
            await Store(session).rooms.link(platform, room, 1, clock.now(), None)
    n = poll_number(await op.say('sondage creer "Visio ou présentiel ?" '
                                 'options="Visio|Présentiel"'))
    for platform in (Platform.CONSOLE, Platform.SLACK, Platform.MATRIX):
        await app.delivery.flush(platform)
    names = ["Bernard Roux", "Nathalie Fabre", "Lucas Chabert", "Isabelle Vidal",
             "Martine Sola", "Julien Ferrer", "Anaïs Pujol", "Thierry Marty"]
    voters = [await member(app, op, name) for name in names]
    await asyncio.gather(*(v.click("poll.vote", f"{n}:{1 + i % 2}")
                           for i, v in enumerate(voters)))
    clock.advance(seconds=3)
    await app.scheduler.run_due()
    for platform in (Platform.SLACK, Platform.MATRIX):
        await app.delivery.flush(platform)
    matrix = app.delivery.senders[Platform.MATRIX]
    slack = app.delivery.senders[Platform.SLACK]
    assert isinstance(matrix, RecordingSender) and isinstance(slack, RecordingSender)
    edits = [m for m in matrix.sent + slack.sent if m.key.startswith(f"poll:{n}:") and
             m.edit_message_id]
    assert sorted(m.destination for m in edits) == ["!cohort:localhost", "C-SLACK",
                                                     "C-SLACK-2"]
    card = edits[0].reply.card
    assert card is not None and card["counts"] == {"1": 4, "2": 4} and card["answered"] == 8


async def test_same_person_on_slack_and_matrix_has_one_vote(app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say('sondage creer "Venez-vous ?"'))
    on_slack = await member(app, op, "Karim Benali", Platform.SLACK)
    on_matrix = await member(app, op, "Karim Benali", Platform.MATRIX)
    await asyncio.gather(on_slack.click("poll.vote", f"{n}:1"),
                         on_matrix.click("poll.vote", f"{n}:2"))
    rows = await answers(app, n)
    assert len(rows) == 1 and rows[0].value == {"choices": [2]} and rows[0].platform == "matrix"
    await on_slack.click("poll.vote", f"{n}:1")
    rows = await answers(app, n)
    assert len(rows) == 1 and rows[0].value == {"choices": [1]}


async def test_double_clicks_and_slack_retries_are_one_vote(app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say('sondage creer "Multi" type=multiple options="A|B|C"'))
    lea = await member(app, op, "Léa Fournier")
    outcomes = await asyncio.gather(*(app.dispatcher.handle(ActionEvent(
        lea.origin(event_id="Ev-retry-1"), "poll.vote", f"{n}:2")) for _ in range(5)))
    assert sum(1 for o in outcomes if not o.duplicate) == 1
    assert (await answers(app, n))[0].value == {"choices": [2]}
    retry_later = await app.dispatcher.handle(ActionEvent(lea.origin(event_id="Ev-retry-1"),
                                                          "poll.vote", f"{n}:2"))
    assert retry_later.duplicate and (await answers(app, n))[0].value == {"choices": [2]}
    replies = await outbox(app, "reply:slack:Ev-retry-1")
    assert len(replies) == 1


async def test_concurrent_voters_lose_nothing(app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say('sondage creer "Tous ?" portee=membre'))
    async with app.db.session() as session:
        from storage.uow import Store

        store = Store(session)
        everyone = await store.members.of_cohort(1)
        for m in everyone:
            await store.identities.link("slack", f"U-BULK-{m.id}", m.id, app.clock.now())
    speakers = [person(app, Platform.SLACK, f"U-BULK-{m.id}", "C-GENERAL") for m in everyone]
    await asyncio.gather(*(s.click("poll.vote", f"{n}:{1 + i % 2}")
                           for i, s in enumerate(speakers)))
    rows = await answers(app, n)
    assert len(rows) == len(everyone) == 32
    async with app.db.session() as session:
        events = await session.scalar(select(ProcessedEvent.id).order_by(
            ProcessedEvent.id.desc()).limit(1))
    assert events is not None
    assert app.services.votes.batches < 32


async def test_open_form_and_card_carry_what_a_renderer_needs(app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say(
        'sondage creer "Dates ?" type=dispo options="28/04 14h-17h|29/04" portee=categorie'))
    karim = await member(app, op, "Karim Benali")
    await karim.click("poll.vote", f"{n}:1:yes")
    outcome = await app.dispatcher.handle(ActionEvent(karim.origin(), "poll.open_form", str(n)))
    card = outcome.replies[0].card
    assert card is not None and card["type"] == "poll_form"
    assert card["current"] == {"availability": {"1": "yes"}}
    assert [o["id"] for o in card["options"]] == ["1", "2"]
    assert card["options"][0]["start"] == "2025-04-28T12:00:00+00:00"
    assert card["availability_values"] == ["yes", "maybe", "no"]
    assert card["actions"]["submit"] == {"action": "poll.submit", "value": str(n)}
    assert card["native"] is False
    posted = [m for m in await outbox(app, f"poll:{n}:console:")]
    reply = Reply.from_dict(posted[0].payload)
    assert reply.card is not None and reply.card["kind"] == "availability"
    silent = await app.dispatcher.handle(ActionEvent(karim.origin(), "poll.vote", f"{n}:2:no",
                                                     {"silent": True}))
    assert silent.replies == ()


async def test_exports_open_as_csv_and_spreadsheet(app: App, op: Speaker) -> None:
    from openpyxl import load_workbook

    await _setup(app, op)
    n = poll_number(await op.say(
        'sondage creer "Dates ?" type=dispo options="28/04|29/04" portee=delegation'))
    await (await member(app, op, "Karim Benali")).say(f"sondage voter {n} oui non")
    outcome = await op.command(f"sondage exporter {n}")
    files = {a.filename.rsplit(".", 1)[1]: a for a in outcome.replies[0].attachments}
    csv_text = files["csv"].content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("Délégation;Réponse donnée par;Mise à jour")
    assert "Montpellier Méditerranée Métropole;Karim Benali;03/03/2025 10:00;oui;non" in \
        csv_text
    assert "Commune de Gruissan;;;(pas de réponse)" in csv_text
    book = load_workbook(io.BytesIO(files["xlsx"].content))
    assert book.sheetnames == ["Réponses", "Synthèse"]
    summary = list(book["Synthèse"].values)
    assert summary[0][:4] == ("Option", "oui", "si besoin", "non")
    assert summary[1][1:] == (1, 0, 0, "★")


async def test_english_members_read_english(app: App, op: Speaker) -> None:
    await _setup(app, op)
    n = poll_number(await op.say('sondage creer "Plénière ?"'))
    karim = await member(app, op, "Karim Benali")
    await karim.say("moi langue en")
    assert "Answer saved for poll" in await karim.say(f"poll vote {n} yes")
    assert "Poll #" in await karim.say("poll list") or "Polls of the cohort" in \
        await karim.say("poll list")


async def test_records_of_the_outbox_never_double(app: App, op: Speaker) -> None:
    await _setup(app, op)
    before = await count_rows(app, OutboxMessage)
    n = poll_number(await op.say('sondage creer "Oui ?"'))
    assert await count_rows(app, OutboxMessage) == before + 2
    assert len(await outbox(app, f"poll:{n}:console:console")) == 1


async def test_an_edit_read_with_its_original_still_edits_it(app: App, op: Speaker,
                                                             clock: FakeClock) -> None:
    await load_demo(app)
    async with app.db.session() as session:
        from storage.uow import Store

        await Store(session).rooms.link("slack", "C-ONE", 1, clock.now(), None)
    n = poll_number(await op.say('sondage creer "Oui ?"'))
    await (await member(app, op, "Karim Benali")).click("poll.vote", f"{n}:1")
    clock.advance(seconds=3)
    await app.scheduler.run_due()
    await app.delivery.flush(Platform.SLACK)
    slack = app.delivery.senders[Platform.SLACK]
    assert isinstance(slack, RecordingSender)
    original, edit = [m for m in slack.sent if m.key.startswith(f"poll:{n}:slack:C-ONE")]
    assert edit.edit_message_id is not None and edit.edit_of == original.key

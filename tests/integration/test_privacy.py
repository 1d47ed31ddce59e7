"""GDPR erasure on SQLite and PostgreSQL: after ``moi effacer`` no cell of any table holds
the person's name or account ids, and the delegation's record (votes, note answers) stays."""

from __future__ import annotations

import re

import pytest

from bot.bootstrap import App
from handlers.core.ids import Platform
from tests.conftest import load_demo
from tests.support.chat import operator, person
from tests.support.fakes import FakeClock
from tests.support.notes import member, stored_answers
from tests.support.polls import poll_number
from tests.support.privacy import traces

pytestmark = pytest.mark.postgres

NAME = "Léa Fournier"
NEEDLES = [NAME, "@lea:localhost", "ULEAF"]


async def deliver(app: App) -> None:
    for platform in Platform:
        await app.delivery.flush(platform)


async def test_after_erasure_no_table_names_the_person_and_the_delegation_keeps_its_record(
        any_app: App, clock: FakeClock) -> None:
    app = any_app
    await load_demo(app)
    op = operator(app)
    await op.say("cohorte lier occitanie")
    lea = await member(app, NAME)
    await op.say(f'membre lier "{NAME}" slack:ULEAF')
    lea_slack = person(app, Platform.SLACK, "ULEAF", "C-COHORTE", name=NAME)
    jean_marc = await member(app, "Jean-Marc Cros")

    n = poll_number(await op.say('sondage creer "Plénière le 12 ?"'))
    d = poll_number(await op.say('sondage creer "La délégation vient-elle ?" portee=delegation'))
    assert "Réponse enregistrée" in await lea.say(
        f'sondage voter {n} oui commentaire="{NAME} viendra en train"')
    assert "Réponse enregistrée" in await lea_slack.say(f"sondage voter {d} oui")
    await lea.dm().say("note commencer intention")
    await lea.dm().message(f"Un projet porté par {NAME} et l'équipe.\nfin")
    await jean_marc.dm().say("note commencer cadrage")
    await jean_marc.dm().message(f"- Contact : {NAME} (@lea:localhost)")
    await op.say(f'agenda ajouter "Atelier" debut="10/03 10h" duree=2h '
                 f'programme="animé par {NAME}"')
    await lea.say("cohorte tableau")
    await lea.say("moi")
    await op.say(f'membre modifier "{NAME}" referent=oui')
    await deliver(app)
    before = await traces(app.db, NEEDLES)
    assert any(line.startswith("poll_answer.comment") for line in before)
    assert any(line.startswith("outbox.") for line in before)

    asked = await lea.say("moi effacer")
    code = re.search(r"moi effacer ([A-Z0-9-]+)", asked)
    assert code is not None, asked
    assert "effacées" in await lea.say(f"moi effacer {code[1]}")
    await deliver(app)
    clock.advance(minutes=16)
    await app.scheduler.run_due()
    await deliver(app)

    assert await traces(app.db, NEEDLES) == []
    results = await op.say(f"sondage resultats {n}")
    assert "Oui — 1" in results and "Membre effacé" in results
    assert "Ont répondu (1/" in await op.say(f"sondage resultats {d}")
    kept = await stored_answers(app, "Commune de Gruissan", "intention")
    assert kept == {"nature_projet": "Un projet porté par (donnée effacée) et l'équipe."}
    assert "Je ne connais pas encore votre compte" in await lea.say("moi")

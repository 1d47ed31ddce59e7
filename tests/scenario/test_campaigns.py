"""The Note d'arbitrage as an arbitrage campaign, end to end: loaded with the demo, sent to
every delegation, answered per référent, per category and in free text, nudged only for
what is missing, closed on its deadline and exported."""

from __future__ import annotations

import io
from datetime import datetime

from sqlalchemy import select

from bot.bootstrap import App
from handlers.core.ids import Platform
from storage.models_polls import Campaign, Poll, PollOption
from tests.conftest import load_demo
from tests.support.chat import Speaker
from tests.support.fakes import FakeClock
from tests.support.polls import answers, member, outbox


async def _polls(app: App) -> dict[str, Poll]:
    async with app.db.session() as session:
        polls = (await session.scalars(select(Poll).where(Poll.campaign_id.is_not(None)))).all()
        return {p.question_key: p for p in polls}


async def test_the_demo_loads_the_note_as_a_draft_with_its_dates_ahead(
        app: App, clock: FakeClock) -> None:
    await load_demo(app)
    await load_demo(app)
    async with app.db.session() as session:
        campaigns = (await session.scalars(select(Campaign))).all()
    assert [c.slug for c in campaigns] == ["note-arbitrage"]
    definition = campaigns[0].definition
    assert [q["id"] for q in definition["questions"]] == [f"a{i}" for i in range(1, 9)]
    a1 = definition["questions"][0]
    first = datetime.fromisoformat(a1["options"][0]["start"])
    assert first > clock.now() and first.weekday() == 3
    assert a1["options"][0]["label"].startswith("Première session entre pairs : jeudi ")
    assert "10 mars" not in a1["options"][0]["label"]


async def test_note_arbitrage_end_to_end(app: App, op: Speaker, clock: FakeClock) -> None:
    from openpyxl import load_workbook

    await load_demo(app)
    await op.say("cohorte lier occitanie")
    refused = await op.say("campagne envoyer note-arbitrage echeance=01/01/2020")
    assert "déjà passée" in refused
    sent = await op.say('campagne envoyer note-arbitrage echeance="20/03 18h" relances=J-2')
    assert "8 sondages (n°1 à n°8)" in sent
    assert "a déjà été envoyée" in await op.say("campagne envoyer note-arbitrage")
    polls = await _polls(app)
    assert polls["a1"].scope == "category" and polls["a2"].answered_by == "referent"
    intro = await outbox(app, "campaign:1:intro:")
    assert len(intro) == 1 and "8 arbitrages attendus" in intro[0].payload["text"]

    bernard = await member(app, op, "Bernard Roux")          # elu, référent of Barre
    nathalie = await member(app, op, "Nathalie Fabre", Platform.MATRIX)  # agent of Barre
    lucas = await member(app, op, "Lucas Chabert")           # socioeco of Barre
    julien = await member(app, op, "Julien Ferrer")          # agent, référent of Canohès
    await member(app, op, "Martine Sola")                    # elu of Canohès, stays silent
    a1, a2, a3, a5 = polls["a1"].id, polls["a2"].id, polls["a3"].id, polls["a5"].id

    for speaker in (bernard, nathalie, lucas):
        assert "Réponse enregistrée" in await speaker.say(f"sondage voter {a1} oui oui si-besoin")
    assert "Réponse enregistrée" in await julien.click("poll.vote", f"{a1}:1:no")
    assert "c'est le ou la référent·e" in await nathalie.click("poll.vote", f"{a2}:1")
    assert "au nom de votre délégation" in await bernard.click("poll.vote", f"{a2}:1")
    await nathalie.say(f'sondage voter {a3} "Notre cantine scolaire en régie"')
    await lucas.say(f'sondage voter {a3} "La cantine en régie et le marché paysan"')
    await julien.click("poll.submit", str(a5), form={
        "availability": {"1": "yes", "2": "no", "3": "maybe", "4": "yes", "5": "no"},
        "comment": "Le 19 de préférence"})

    todo = await nathalie.say("campagne afaire")
    assert "Ce que Commune de Barre-des-Cévennes doit encore" in todo
    assert f"n°{a2}" not in todo.split("Déjà rendu")[0]
    assert "à faire par Bernard Roux" in todo
    table = await op.say("campagne suivi note-arbitrage")
    barre = next(line for line in table.splitlines() if "Barre-des-Cévennes" in line)
    assert barre.split()[-8:] == ["3/4", "✓", "✓", "·", "·", "·", "·", "·"]
    canohes = next(line for line in table.splitlines() if "Canohès" in line)
    assert canohes.split()[-8:] == ["1/4", "·", "·", "·", "✓", "·", "·", "·"]

    nudged = await op.say("campagne relancer note-arbitrage")
    assert "Relance envoyée en message privé à 5 personnes" in nudged
    dms = {m.destination: m.payload["text"] for m in await outbox(app, "nudge:campaign:1:")}
    assert set(dms) == {f"@dm:{s.user.user_id}" for s in (bernard, nathalie, lucas, julien)} | {
        "@dm:UMARTINESOL"}
    assert f"n°{a2} " not in dms[f"@dm:{bernard.user.user_id}"]
    assert f"n°{polls['a4'].id} " in dms[f"@dm:{bernard.user.user_id}"]
    assert f"n°{a1} " not in dms[f"@dm:{lucas.user.user_id}"]
    assert f"n°{a1} " in dms["@dm:UMARTINESOL"]

    clock.set(datetime.fromisoformat("2025-03-18T17:30:00+00:00"))
    await app.scheduler.run_due()
    assert len(await outbox(app, "nudge:campaign:1:")) > len(dms)
    clock.set(datetime.fromisoformat("2025-03-20T17:30:00+00:00"))
    await app.scheduler.run_due()
    late = await julien.click("poll.vote", f"{a2}:2")
    assert "est clos" in late
    assert len(await answers(app, a2)) == 1
    assert "n'est pas en cours" in await op.say("campagne relancer note-arbitrage")

    exported = await op.command("campagne exporter note-arbitrage")
    files = {a.filename.rsplit(".", 1)[1]: a for a in exported.replies[0].attachments}
    table_csv = files["csv"].content.decode("utf-8-sig").splitlines()
    assert table_csv[0] == "Délégation;a1;a2;a3;a4;a5;a6;a7;a8"
    assert "Commune de Barre-des-Cévennes;3/4;1/1;1/1;0/1;0/1;0/1;0/1;0/1" in table_csv
    book = load_workbook(io.BytesIO(files["xlsx"].content))
    assert len(book.sheetnames) == 9 and book.sheetnames[0] == "Tableau"
    a3_rows = list(book[book.sheetnames[3]].values)
    assert any("La cantine en régie" in str(cell) for row in a3_rows for cell in row)
    a5_rows = list(book[book.sheetnames[5]].values)
    assert any(row[0] == "Commune de Canohès" and "Le 19 de préférence" in row
               for row in a5_rows)


async def test_a_campaign_with_past_dates_is_refused_whole(app: App, op: Speaker) -> None:
    await load_demo(app)
    async with app.db.session() as session:
        poll_count = len((await session.scalars(select(Poll))).all())
        campaign = (await session.scalars(select(Campaign))).one()
        definition = dict(campaign.definition)
        definition["questions"] = [dict(q) for q in definition["questions"]]
        definition["questions"][4]["options"] = [
            {**o, "start": "2020-01-01T09:00:00+01:00"} for o in
            definition["questions"][4]["options"]]
        campaign.definition = definition
    text = await op.say("campagne envoyer note-arbitrage")
    assert "propose une date passée" in text and "Rien n'a été envoyé" in text
    async with app.db.session() as session:
        assert len((await session.scalars(select(Poll))).all()) == poll_count
        assert len((await session.scalars(select(PollOption))).all()) == 0


async def test_campaign_commands_explain_mistakes(app: App, op: Speaker) -> None:
    await load_demo(app)
    assert "Je ne trouve pas de campagne" in await op.say("campagne suivi note-arbitrag")
    assert "n'est pas encore envoyée" in await op.say("campagne suivi note-arbitrage")
    assert "Fichiers disponibles : note_arbitrage" in await op.say("campagne charger nimporte")
    assert "déjà chargée" in await op.say("campagne charger note_arbitrage")
    assert "note-arbitrage" in await op.say("campagne lister")
    karim = await member(app, op, "Karim Benali")
    assert "réservé à la coordination" in await karim.say("campagne envoyer note-arbitrage")

"""Campaigns on the dashboard: the delegation × arbitrage table, the composer (the Note
d'arbitrage as the model) with its preview, and the coordinators' buttons — each doing
what ``campagne …`` does in chat."""

from __future__ import annotations

import csv
import io
import re

from PIL import Image
from sqlalchemy import select

from bot.bootstrap import App
from messages.render.grid_png import Layout
from storage.models_polls import Campaign, CampaignStatus, Poll
from tests.support.chat import Speaker
from tests.support.polls import member, outbox
from tests.support.web import Browser, count, csrf_of, demo, signed_in

BASE = "/tableau/cohortes/occitanie"


def cells_of(html: str, territory: str) -> list[str]:
    """The state class of each cell of a delegation's row in the campaign table."""
    row = re.search(rf'<th scope="row">{re.escape(territory)}.*?</tr>', html, re.S)
    assert row is not None, territory
    return re.findall(r'<td class="state (\w+)">', row.group(0))


async def sent_campaign(app: App, op: Speaker, people: dict[str, Speaker]) -> None:
    """The Note d'arbitrage sent in chat; Bernard (élu, référent of Barre) answers a1 and a2."""
    await op.say('campagne envoyer note-arbitrage echeance="20/03 18h"')
    assert "Réponse enregistrée" in await people["bernard"].say(
        "sondage voter 1 oui oui si-besoin")
    assert "Réponse enregistrée" in await people["bernard"].say("sondage voter 2 oui")


async def test_the_campaign_table_shows_who_answered_and_the_category_grid(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    await sent_campaign(app, op, people)
    nathalie = await member(app, op, "Nathalie Fabre")
    assert "Réponse enregistrée" in await nathalie.say("sondage voter 1 non oui oui")
    client, _ = await signed_in(browser, people["camille"])
    response = await client.get(f"{BASE}/campagnes/note-arbitrage")
    html = await response.text()
    assert response.status == 200
    assert "<h1>Note d&#39;arbitrage des prochains temps du parcours Territoires Pilotes</h1>" \
        in html
    assert cells_of(html, "Commune de Barre-des-Cévennes") == \
        ["partly", "yes", "no", "no", "no", "no", "no", "no"]
    assert cells_of(html, "Commune de Canohès") == ["no"] * 8
    barre = re.search(r'<th scope="row">Commune de Barre-des-Cévennes.*?</tr>', html, re.S)
    assert barre is not None
    categories = re.search(r'<ul class="cats">(.*?)</ul>', barre.group(0), re.S)
    assert categories is not None
    items = re.findall(r'<li class="(\w+)">.*?title="([^"]+)"', categories.group(1))
    assert [state for state, _ in items] == ["yes", "yes", "no", "no"]
    assert "<small>Bernard Roux</small>" in categories.group(1)
    assert "<small>Nathalie Fabre</small>" in categories.group(1)
    assert "par Bernard Roux" in barre.group(0)
    assert "0 délégation sur 8" in html
    for key in ("a1", "a5", "a8"):
        assert f">{key}</a>" in html


async def test_a_member_sees_their_delegations_row_only(app: App, op: Speaker,
                                                        browser: Browser) -> None:
    people = await demo(app, op)
    await sent_campaign(app, op, people)
    client, _ = await signed_in(browser, people["bernard"])
    html = await (await client.get(f"{BASE}/campagnes/note-arbitrage")).text()
    assert "Commune de Barre-des-Cévennes" in html and "Canohès" not in html
    assert "Actions de la coordination" not in html
    overview = await (await client.get(BASE)).text()
    assert "votre délégation doit encore" in overview


async def test_a_coordinator_composes_the_note_d_arbitrage_from_the_model_and_sends_it(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    client, _ = await signed_in(browser, people["camille"])
    form = await client.get(f"{BASE}/campagnes/composer?modele=note_arbitrage")
    html = await form.text()
    assert form.status == 200
    assert 'name="slug" type="text" maxlength="64" value="note-arbitrage-2"' in html
    assert html.count('<fieldset class="question">') == 9
    assert "Première session entre pairs" in html
    fields = _form_fields(html)
    preview = await client.post(f"{BASE}/campagnes/composer",
                                data={**fields, "echeance": "2030-06-01T18:00",
                                      "relances": "J-2", "etape": "apercu"})
    page = await preview.text()
    assert preview.status == 200, page[:3000]
    assert "Aperçu : Note d&#39;arbitrage" in page and "8 sondages seront publiés" in page
    assert "1er juin 2030" in page
    assert await count(app, Campaign) == 1 and await count(app, Poll) == 0
    sent = await client.post(f"{BASE}/campagnes/composer",
                             data={**_form_fields(page), "etape": "envoyer"})
    landed = await sent.text()
    assert sent.status == 200 and sent.url.path == f"{BASE}/campagnes/note-arbitrage-2"
    assert "La campagne est envoyée : 8 sondages" in landed
    async with app.db.session() as session:
        campaign = await session.scalar(select(Campaign).where(
            Campaign.slug == "note-arbitrage-2"))
        polls = (await session.scalars(select(Poll).where(
            Poll.campaign_id == campaign.id))).all()  # type: ignore[union-attr]
    assert campaign is not None and campaign.status is CampaignStatus.SENT
    assert [p.question_key for p in polls] == [f"a{i}" for i in range(1, 9)]
    assert polls[0].scope == "category" and polls[1].answered_by == "referent"
    intro = await outbox(app, f"campaign:{campaign.id}:intro:")
    assert len(intro) == 1 and "8 arbitrages attendus" in intro[0].payload["text"]
    assert "a déjà été envoyée" in await op.say("campagne envoyer note-arbitrage-2")
    todo = await people["bernard"].say("campagne afaire")
    assert "Arbitrage 1" in todo


def _form_fields(html: str) -> dict[str, object]:
    """The fields a browser would post from this page (inputs, textareas, selects, checks)."""
    import html as html_lib

    fields: dict[str, list[str]] = {}

    def add(name: str, value: str) -> None:
        fields.setdefault(name, []).append(html_lib.unescape(value))

    for tag in re.findall(r"<input [^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name is None or name.group(1) == "etape":
            continue
        if 'type="checkbox"' in tag and " checked" not in tag:
            continue
        add(name.group(1), value.group(1) if value else "")
    for name, value in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html,
                                  re.S):
        add(name, value)
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body) or \
            re.search(r'<option value="([^"]*)"', body)
        add(name, chosen.group(1) if chosen else "")
    return {k: v if len(v) > 1 else v[0] for k, v in fields.items()}


async def test_the_demo_draft_is_reviewed_and_sent_from_the_form(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    client, _ = await signed_in(browser, people["camille"])
    draft = await (await client.get(f"{BASE}/campagnes/note-arbitrage")).text()
    assert "brouillon" in draft and "Relire, modifier et envoyer" in draft
    form = await (await client.get(f"{BASE}/campagnes/composer?brouillon=note-arbitrage")
                  ).text()
    fields = _form_fields(form)
    fields["q2_titre"] = "Arbitrage 3 — Retour d’expérience (alimentation)"
    saved = await client.post(f"{BASE}/campagnes/composer",
                              data={**fields, "etape": "brouillon"})
    assert "Le brouillon est enregistré" in await saved.text()
    async with app.db.session() as session:
        campaign = await session.scalar(select(Campaign))
    assert campaign is not None and campaign.status is CampaignStatus.DRAFT
    assert campaign.definition["questions"][2]["title"] == \
        "Arbitrage 3 — Retour d’expérience (alimentation)"
    sent = await client.post(f"{BASE}/campagnes/composer", data={**fields, "etape": "envoyer"})
    assert "La campagne est envoyée" in await sent.text()
    assert await count(app, Campaign) == 1 and await count(app, Poll) == 8
    again = await client.post(f"{BASE}/campagnes/composer", data={**fields, "etape": "envoyer"})
    assert again.status == 422 and await count(app, Poll) == 8


async def test_the_composer_marks_mistakes_and_keeps_nothing(app: App, op: Speaker,
                                                             browser: Browser) -> None:
    people = await demo(app, op)
    client, html = await signed_in(browser, people["camille"])
    base = {"csrf": csrf_of(html), "titre": "Campagne d’automne", "slug": "", "intro": "",
            "nombre": "2", "q0_titre": "Date du séminaire", "q0_type": "availability",
            "q0_portee": "delegation", "q0_repond": "referent", "q0_options": "12/10 9h-12h",
            "q1_titre": "", "q1_type": "yes_no", "q1_portee": "member", "q1_repond": "any",
            "q1_options": "", "etape": "apercu"}
    cases = [
        ({"titre": " "}, "titre", "nécessaire"),
        ({"slug": "Pas Bien!"}, "slug", "minuscules"),
        ({"q0_titre": "", "q0_question": "Sans titre ?"}, "q0_titre", "nécessaire"),
        ({"q0_options": "45/10 9h"}, "q0_options", "45/10 9h"),
        ({"q0_options": "01/01/2020 9h"}, "q0_options", "passé"),
        ({"q0_type": "single", "q0_options": "Une seule"}, "q0_options", "au moins"),
        ({"q0_type": "multi", "q0_options": "A\nB", "q0_max": "9"}, "q0_max", "entre 1"),
        ({"q0_type": "piege"}, "q0_type", "Choisissez une valeur"),
        ({"q1_titre": "Deux", "q1_id": "a1", "q0_id": "a1"}, "q1_id", "propre identifiant"),
        ({"echeance": "2020-01-01T10:00"}, "echeance", "passée"),
        ({"q0_titre": "", "q0_options": ""}, "q0_titre", "au moins une question"),
        ({"slug": "note-arbitrage", "etape": "envoyer"}, "slug", "porte déjà l’identifiant"),
    ]
    for fields, field, message in cases:
        response = await client.post(f"{BASE}/campagnes/composer", data={**base, **fields})
        page = await response.text()
        assert response.status == 422, (fields, page[:1500])
        error = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
        assert error is not None and message in error.group(1), (fields, error and error.group(1))
        assert f'aria-describedby="{field}-error"' in page or f"{field}-error" in page
    assert await count(app, Campaign) == 1 and await count(app, Poll) == 0
    ok = await client.post(f"{BASE}/campagnes/composer", data={**base, "etape": "envoyer"})
    assert ok.status == 200 and ok.url.path == f"{BASE}/campagnes/campagne-dautomne"
    assert await count(app, Poll) == 1


async def test_coordinators_nudge_close_and_export_a_campaign(app: App, op: Speaker,
                                                              browser: Browser) -> None:
    from openpyxl import load_workbook

    people = await demo(app, op)
    await sent_campaign(app, op, people)
    await op.say('membre lier "Nathalie Fabre" matrix:@nathalie:localhost')
    client, html = await signed_in(browser, people["camille"])
    token = csrf_of(html)
    nudged = await client.post(f"{BASE}/campagnes/note-arbitrage/relancer",
                               data={"csrf": token})
    assert "3 personnes relancées" in await nudged.text()
    dms = await outbox(app, "nudge:campaign:")
    assert {m.destination for m in dms} == {"@dm:@nathalie:localhost", "@dm:@karim:localhost",
                                            "@dm:@bernard:localhost"}
    csv_file = await client.post(f"{BASE}/campagnes/note-arbitrage/exporter",
                                 data={"csrf": token, "format": "csv"})
    rows = list(csv.reader(io.StringIO((await csv_file.read()).decode("utf-8-sig")),
                           delimiter=";"))
    assert rows[0][1:] == [f"a{i}" for i in range(1, 9)] and len(rows) == 9
    xlsx = await client.post(f"{BASE}/campagnes/note-arbitrage/exporter",
                             data={"csrf": token, "format": "xlsx"})
    assert len(load_workbook(io.BytesIO(await xlsx.read())).sheetnames) == 9
    png = await client.post(f"{BASE}/campagnes/note-arbitrage/exporter",
                            data={"csrf": token, "format": "png"})
    assert Image.open(io.BytesIO(await png.read())).size == Layout().size(8, 8)
    closed = await client.post(f"{BASE}/campagnes/note-arbitrage/fermer", data={"csrf": token})
    assert "La campagne est close" in await closed.text()
    assert len(await outbox(app, "campaign:1:closed:")) == 1
    again = await client.post(f"{BASE}/campagnes/note-arbitrage/fermer", data={"csrf": token})
    assert again.status == 409 and "Rien n’a été modifié" in await again.text()


async def test_members_cannot_compose_send_or_see_drafts(app: App, op: Speaker,
                                                         browser: Browser) -> None:
    people = await demo(app, op)
    client, html = await signed_in(browser, people["bernard"])
    assert (await client.get(f"{BASE}/campagnes/note-arbitrage")).status == 404
    assert (await client.get(f"{BASE}/campagnes/composer")).status == 403
    response = await client.post(f"{BASE}/campagnes/composer", data={
        "csrf": csrf_of(html), "titre": "Intrus", "nombre": "1", "q0_titre": "Q",
        "q0_type": "yes_no", "q0_portee": "member", "q0_repond": "any", "etape": "envoyer"})
    assert response.status == 403
    assert await count(app, Campaign) == 1 and await count(app, Poll) == 0
    listing = await (await client.get(f"{BASE}/sondages")).text()
    assert "note-arbitrage" not in listing


async def test_another_cohorts_campaign_and_delegation_are_not_found(
        app: App, op: Speaker, browser: Browser) -> None:
    from storage.models import Delegation

    people = await demo(app, op)
    await op.say('cohorte creer "Cohorte Bretagne" slug=bretagne')
    await op.say("delegation ajouter Brest cohorte=bretagne")
    await op.say("campagne charger note_arbitrage cohorte=bretagne")
    async with app.db.session() as session:
        brest = await session.scalar(select(Delegation.id).where(Delegation.territory == "Brest"))
    client, html = await signed_in(browser, people["camille"])
    assert (await client.get("/tableau/cohortes/bretagne/campagnes/note-arbitrage")).status \
        == 404
    assert (await client.get(f"{BASE}/notes/{brest}/intention")).status == 404
    refused = await client.post(f"{BASE}/notes/exporter", data={
        "csrf": csrf_of(html), "note": "intention", "delegation": str(brest), "format": "md"})
    assert refused.status == 404
    for slug in ("inconnue", "Pas-Un-Slug!", "x" * 80):
        assert (await client.get(f"{BASE}/campagnes/{slug}")).status == 404, slug

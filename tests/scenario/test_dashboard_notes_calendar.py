"""Notes, the calendar and the overview on the dashboard: note completion and each note's
answers with their history (private to the delegation and the coordination), the cohort
calendar with its ICS file, and the overview's blocks."""

from __future__ import annotations

import csv
import io
import re

import docx
import icalendar

from bot.bootstrap import App
from tests.support.chat import Speaker
from tests.support.web import Browser, csrf_of, demo, signed_in

BASE = "/tableau/cohortes/occitanie"


async def fill_intention(bernard: Speaker) -> None:
    """Bernard fills his delegation's note d'intention in his DM, then changes answer 1."""
    dm = bernard.dm()
    assert "en message privé" in await bernard.say("note commencer intention") or True
    for line in ("Une cantine <b>scolaire</b> en circuit court.", "fin",
                 "Maintenir l'agriculture locale.", "fin", "oui",
                 "Moins de transport.", "fin"):
        out = await dm.message(line)
        assert "Désolé" not in out, out
    await dm.say("note commencer intention")
    for line in ("modifier 1", "Une cuisine centrale <script>x()</script>.", "fin", "fin"):
        await dm.message(line)


async def delegation_id(client, territory: str) -> int:  # type: ignore[no-untyped-def]
    html = await (await client.get(f"{BASE}/notes")).text()
    found = re.search(rf'/notes/(\d+)/intention"[^>]*>(?:(?!</tr>).)*?{re.escape(territory)}',
                      html, re.S)
    assert found is not None, territory
    return int(found.group(1))


async def test_note_completion_and_a_notes_answers_with_their_history(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    await fill_intention(people["bernard"])
    client, _ = await signed_in(browser, people["camille"])
    table = await (await client.get(f"{BASE}/notes")).text()
    assert "Notes des projets pilotes" in table
    barre = re.search(r'<th scope="row">Commune de Barre-des-Cévennes</th>(.*?)</tr>', table,
                      re.S)
    assert barre is not None and "complète" in barre.group(1)
    assert table.count('<th scope="row">') == 8 + 1
    assert "1&nbsp;/&nbsp;8" in table
    number = await delegation_id(client, "Commune de Barre-des-Cévennes")
    page = await (await client.get(f"{BASE}/notes/{number}/intention")).text()
    assert "Une cuisine centrale &lt;script&gt;x()&lt;/script&gt;." in page
    assert "<script>x()" not in page and "<b>scolaire</b>" not in page
    assert "Historique (2 versions)" in page
    assert "Une cantine &lt;b&gt;scolaire&lt;/b&gt; en circuit court." in page
    assert "Réponse de Bernard Roux" in page
    overview = await (await client.get(BASE)).text()
    assert "Note d&#39;intention : complète pour 1 délégation sur 8" in overview


async def test_a_note_is_private_to_its_delegation_and_the_coordination(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    await fill_intention(people["bernard"])
    coordinator, _ = await signed_in(browser, people["camille"])
    barre = await delegation_id(coordinator, "Commune de Barre-des-Cévennes")
    karim, html = await signed_in(browser, people["karim"])
    table = await (await karim.get(f"{BASE}/notes")).text()
    assert "Barre-des-Cévennes" not in table and table.count('<th scope="row">') == 1
    refused = await karim.get(f"{BASE}/notes/{barre}/intention")
    assert refused.status == 403 and "Cuisine" not in await refused.text()
    export = await karim.post(f"{BASE}/notes/exporter", data={
        "csrf": csrf_of(html), "note": "intention", "delegation": str(barre), "format": "md"})
    assert export.status == 403
    livret = await karim.post(f"{BASE}/notes/exporter", data={
        "csrf": csrf_of(html), "note": "livret", "format": "csv"})
    rows = list(csv.reader(io.StringIO((await livret.read()).decode("utf-8-sig")),
                           delimiter=";"))
    assert {r[1] for r in rows[1:]} == {"Montpellier Méditerranée Métropole"}
    own = re.search(r"/notes/(\d+)/intention", table)
    assert own is not None
    for path in (f"{BASE}/notes/{own.group(1)}/inconnue", f"{BASE}/notes/999999/intention",
                 f"{BASE}/notes/abc/intention"):
        assert (await karim.get(path)).status == 404, path
    bernard, _ = await signed_in(browser, people["bernard"])
    own = await bernard.get(f"{BASE}/notes/{barre}/intention")
    assert own.status == 200 and "Une cuisine centrale" in await own.text()


async def test_the_coordination_downloads_a_note_and_the_livret(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    await fill_intention(people["bernard"])
    client, html = await signed_in(browser, people["camille"])
    barre = await delegation_id(client, "Commune de Barre-des-Cévennes")
    note = await client.post(f"{BASE}/notes/exporter", data={
        "csrf": csrf_of(html), "note": "intention", "delegation": str(barre), "format": "docx"})
    assert note.status == 200
    assert "note-intention-commune-de-barre-des-cevennes.docx" in \
        note.headers["Content-Disposition"]
    document = docx.Document(io.BytesIO(await note.read()))
    assert any("Une cuisine centrale" in p.text for p in document.paragraphs)
    livret = await client.post(f"{BASE}/notes/exporter", data={
        "csrf": csrf_of(html), "note": "livret", "format": "md"})
    text = (await livret.read()).decode()
    assert "Montpellier Méditerranée Métropole" in text and "Une cuisine centrale" in text
    bad = await client.post(f"{BASE}/notes/exporter", data={
        "csrf": csrf_of(html), "note": "livret", "format": "exe"})
    assert bad.status == 404


async def test_the_calendar_page_lists_the_coming_events_and_gives_the_ics(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    added = await op.say('agenda ajouter "Webinaire <i>spécial</i>" debut="10/03 10h" '
                         'duree=1h lien=https://visio.example.org/salle?x=1&y=2')
    assert "Ajouté" in added or "ajouté" in added, added
    client, html = await signed_in(browser, people["bernard"])
    page = await (await client.get(f"{BASE}/agenda")).text()
    assert "Agenda de la cohorte" in page and "Permanence" in page
    assert "Webinaire &lt;i&gt;spécial&lt;/i&gt;" in page and "<i>spécial" not in page
    assert 'href="https://visio.example.org/salle?x=1&amp;y=2"' in page
    assert re.search(r"<h2 id=\"month-1\">[A-ZÉ][a-zéû]+ \d{4}</h2>", page)
    ics = await client.post(f"{BASE}/agenda/ics", data={"csrf": csrf_of(html)})
    assert ics.status == 200 and ics.headers["Content-Type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(await ics.read())
    titles = [str(e.get("SUMMARY")) for e in calendar.walk("VEVENT")]
    assert "Webinaire <i>spécial</i>" in titles
    assert (await client.post(f"{BASE}/agenda/ics", data={})).status == 403


async def test_the_overview_shows_events_polls_and_notes_at_a_glance(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    await op.say('sondage creer "Venez-vous ?"')
    coordinator, _ = await signed_in(browser, people["camille"])
    html = await (await coordinator.get(BASE)).text()
    order = [html.index(title) for title in ("Prochains rendez-vous",
                                             "Sondages et campagnes en cours",
                                             "Notes des projets pilotes",
                                             "Délégations et membres")]
    assert order == sorted(order)
    assert "n°1 — Venez-vous ?" in html and "0&nbsp;/&nbsp;32" in html
    assert "brouillon" in html
    assert "complète pour 0 délégation sur 8" in html
    nav = html.split("<nav", 1)[1].split("</nav>", 1)[0]
    assert [n for n in ("Vue d’ensemble", "Agenda", "Sondages", "Notes", "Comptes à lier")
            if n in nav] == ["Vue d’ensemble", "Agenda", "Sondages", "Notes", "Comptes à lier"]
    member, _ = await signed_in(browser, people["bernard"])
    mine = await (await member.get(BASE)).text()
    assert "brouillon" not in mine
    assert "4 réponses attendues de votre délégation" in mine
    assert "pas commencée" in mine


def test_only_web_addresses_become_links() -> None:
    from handlers.calendar.web import safe_link

    assert safe_link(" https://visio.example.org/a ") == "https://visio.example.org/a"
    for link in ("javascript:alert(1)", "JAVASCRIPT:x", "data:text/html,x", "ftp://x", None, ""):
        assert safe_link(link) is None


async def test_every_page_reads_in_the_members_language(app: App, op: Speaker,
                                                        browser: Browser) -> None:
    from tests.support.polls import poll_number

    people = await demo(app, op)
    await fill_intention(people["bernard"])
    await op.say('campagne envoyer note-arbitrage echeance="20/03 18h"')
    n = poll_number(await op.say('sondage creer "Quand ?" type=dispo options="28/04|29/04"'))
    hugo, html = await signed_in(browser, people["hugo"])
    barre = await delegation_id(hugo, "Commune de Barre-des-Cévennes")
    pages = {BASE: "Polls and campaigns under way", f"{BASE}/agenda": "Download the calendar (ICS)",
             f"{BASE}/sondages": "Open polls", f"{BASE}/sondages/{n}": "Who answered what",
             f"{BASE}/sondages/nouveau": "Kind of answer",
             f"{BASE}/campagnes/note-arbitrage": "Coordination actions",
             f"{BASE}/campagnes/composer": "Compose a campaign",
             f"{BASE}/campagnes/composer?modele=note_arbitrage": "Start from",
             f"{BASE}/notes": "Pilot-project notes",
             f"{BASE}/notes/{barre}/intention": "History (2 versions)"}
    for path, words in pages.items():
        response = await hugo.get(path)
        text = await response.text()
        assert response.status == 200, (path, text[:500])
        assert '<html lang="en">' in text and words in text, path
    preview = await hugo.post(f"{BASE}/sondages/nouveau", data={
        "csrf": csrf_of(html), "question": "Which day?", "type": "ouinon", "portee": "membre",
        "repond": "tous", "resultats": "direct", "etape": "apercu"})
    assert "Poll preview" in await preview.text()

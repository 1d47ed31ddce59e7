"""Polls on the dashboard through the real aiohttp app: the poll page with live counts and
the availability grid, the composer with its preview, and the coordinators' buttons.

Votes are cast in chat (as people do); what the page shows, and what the forms do to the
chat (the same poll, the same messages), is checked from both sides.
"""

from __future__ import annotations

import csv
import io
import re

from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select

from bot.bootstrap import App
from handlers.core.events import Reply
from messages.render.grid_png import Layout
from storage.models import OutboxMessage
from storage.models_polls import Poll, PollStatus
from tests.support.chat import Speaker
from tests.support.polls import outbox, poll_number
from tests.support.web import Browser, count, csrf_of, demo, signed_in

BASE = "/tableau/cohortes/occitanie"


async def dated_poll(app: App, op: Speaker, people: dict[str, Speaker]) -> int:
    """An availability poll over three dates, answered by Bernard and Karim in chat."""
    n = poll_number(await op.say(
        'sondage creer "Date du webinaire ?" type=dispo '
        'options="28/04 14h-17h|29/04 9h-12h|30/04"'))
    assert "Réponse enregistrée" in await people["bernard"].say(
        f"sondage voter {n} oui si-besoin non")
    assert "Réponse enregistrée" in await people["karim"].say(f"sondage voter {n} non oui oui")
    return n


def grid_rows(html: str) -> list[tuple[str, list[str]]]:
    """(who, [answer class per date]) for each row of the page's availability grid."""
    table = html.split('<table class="grid">', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        who = re.search(r'<th scope="row">(.*?)</th>', row, re.S)
        assert who is not None
        rows.append((who.group(1), re.findall(r'<td class="answer (\w+)">', row)))
    return rows


async def test_the_poll_page_shows_live_counts_and_the_framadate_grid(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    n = await dated_poll(app, op, people)
    client, _ = await signed_in(browser, people["camille"])
    response = await client.get(f"{BASE}/sondages/{n}")
    html = await response.text()
    assert response.status == 200
    assert "<h1>Date du webinaire ?</h1>" in html
    rows = dict(grid_rows(html))
    assert len(rows) == 32
    assert rows["Bernard Roux"] == ["yes", "maybe", "no"]
    assert rows["Karim Benali"] == ["no", "yes", "yes"]
    assert rows["Nathalie Fabre"] == ["none", "none", "none"]
    heads = html.split('<table class="grid">', 1)[1].split("</thead>", 1)[0]
    assert heads.count('class="best"') == 1 and "29/04" in heads.split('class="best"')[1]
    assert "1 oui <small>(+1 si besoin)</small>" in html
    assert "2&nbsp;/&nbsp;32" in html
    assert "Relancer les 30 en attente" in html


async def test_a_member_sees_the_counts_and_their_own_delegations_answers_only(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    n = await dated_poll(app, op, people)
    client, _ = await signed_in(browser, people["bernard"])
    html = await (await client.get(f"{BASE}/sondages/{n}")).text()
    rows = dict(grid_rows(html))
    assert set(rows) == {"Bernard Roux", "Nathalie Fabre", "Lucas Chabert", "Isabelle Vidal"}
    assert "Karim Benali" not in html
    counts = html.split('aria-label="Décompte par date"', 1)[1].split("</table>", 1)[0]
    assert re.search(r"29 avril.*?<td>1</td><td>1</td><td>0</td>", counts.replace("\n", ""), re.S)
    assert "Actions de la coordination" not in html and "/fermer" not in html


async def test_a_vote_cast_in_chat_appears_after_a_reload(app: App, op: Speaker,
                                                          browser: Browser) -> None:
    people = await demo(app, op)
    n = poll_number(await op.say('sondage creer "Venez-vous à la plénière ?"'))
    client, _ = await signed_in(browser, people["camille"])
    before = await (await client.get(f"{BASE}/sondages/{n}")).text()
    assert "0&nbsp;/&nbsp;32" in before and "Bernard Roux" not in before.split(
        "Ont répondu")[1].split("En attente")[0]
    await people["bernard"].click("poll.vote", f"{n}:1")
    after = await (await client.get(f"{BASE}/sondages/{n}")).text()
    assert "1&nbsp;/&nbsp;32" in after
    assert "Bernard Roux" in after.split("Ont répondu")[1].split("En attente")[0]


async def test_a_coordinator_composes_a_poll_sees_the_preview_then_sends_it(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    client, _ = await signed_in(browser, people["camille"])
    form = await client.get(f"{BASE}/sondages/nouveau")
    html = await form.text()
    assert form.status == 200 and "Nouveau sondage" in html
    fields = {"csrf": csrf_of(html), "question": "Quelle date pour la plénière ?",
              "type": "dispo", "options": "12/05 9h-12h\n13/05 14h-17h\n",
              "portee": "delegation", "repond": "referent", "resultats": "direct",
              "echeance": "2030-05-01T18:00", "relances": ["J-1"], "modifiable": "oui",
              "commentaires": "oui"}
    preview = await client.post(f"{BASE}/sondages/nouveau", data={**fields, "etape": "apercu"})
    page = await preview.text()
    assert preview.status == 200 and "Aperçu du sondage" in page
    assert "Quelle date pour la plénière ?" in page and "13 mai" in page
    assert "publié dans le salon de la cohorte" in page
    assert await count(app, Poll) == 0 and not await outbox(app, "poll:")
    edit = await client.post(f"{BASE}/sondages/nouveau",
                             data={**_resubmit(page), "etape": "modifier"})
    assert "12/05 9h-12h\n13/05 14h-17h" in await edit.text()
    sent = await client.post(f"{BASE}/sondages/nouveau",
                             data={**_resubmit(page), "etape": "envoyer"})
    landed = await sent.text()
    assert sent.status == 200 and re.search(r"/sondages/\d+$", sent.url.path)
    assert "est créé et publié" in landed
    async with app.db.session() as session:
        poll = (await session.scalars(select(Poll))).one()
    assert (poll.kind, poll.scope, poll.answered_by) == ("availability", "delegation",
                                                         "referent")
    assert poll.nudge_offsets == [1440] and poll.deadline is not None
    (message,) = await outbox(app, f"poll:{poll.id}:console:")
    assert "Quelle date pour la plénière ?" in message.payload["text"]
    listing = await people["bernard"].say("sondage lister")
    assert f"n°{poll.id}" in listing
    assert "Réponse enregistrée" in await people["bernard"].say(
        f"sondage voter {poll.id} oui non")


def _resubmit(page: str) -> dict[str, object]:
    """The hidden fields of a preview page, as the browser posts them back."""
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page):
        fields.setdefault(name, []).append(_unescape(value))
    for name, value in re.findall(r'<textarea name="([^"]+)" hidden>(.*?)</textarea>', page,
                                  re.S):
        fields.setdefault(name, []).append(_unescape(value))
    return {k: v if len(v) > 1 else v[0] for k, v in fields.items()}


def _unescape(value: str) -> str:
    import html

    return html.unescape(value)


async def test_the_poll_form_marks_each_mistake_and_keeps_nothing(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    client, html = await signed_in(browser, people["camille"])
    base = {"csrf": csrf_of(html), "question": "Quand ?", "type": "dispo",
            "options": "12/05 9h-12h", "portee": "membre", "repond": "tous",
            "resultats": "direct", "etape": "apercu"}
    cases = [
        ({"question": "   "}, "question", "Écrivez la question posée."),
        ({"options": "32/13 9h"}, "options", "32/13 9h"),
        ({"options": "01/01/2020 9h-12h"}, "options", "passé"),
        ({"options": ""}, "options", "option"),
        ({"type": "choix", "options": "Visio | Présentiel"}, "options", "caractère « | »"),
        ({"type": "multiple", "options": "A\nB", "max": "5"}, "max", "entre 1 et le nombre"),
        ({"type": "multiple", "options": "A\nB", "max": "deux"}, "max", "nombre entier"),
        ({"echeance": "2020-01-01T10:00"}, "echeance", "passée"),
        ({"echeance": "n'importe quand"}, "echeance", "Je ne comprends pas la date"),
        ({"relances": "J-1"}, "relances", "échéance"),
        ({"type": "sondage-piege"}, "type", "sondage-piege"),
        ({"delegations": "999999"}, "delegations", "Choisissez des délégations"),
        ({"portee": "<script>"}, "portee", "&lt;script&gt;"),
    ]
    for fields, field, message in cases:
        response = await client.post(f"{BASE}/sondages/nouveau", data={**base, **fields})
        page = await response.text()
        assert response.status == 422, (fields, page[:2000])
        assert f'aria-describedby="{field}-error"' in page or \
            f'{field}-error"' in page, fields
        error = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
        assert error is not None and message in error.group(1), (fields, error)
        assert "rien n’a été enregistré" in page
        assert "<script>" not in page
    assert await count(app, Poll) == 0
    assert await count(app, OutboxMessage, OutboxMessage.key.startswith("poll:")) == 0


async def test_html_in_a_poll_is_shown_as_text(app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    n = poll_number(await op.say(
        'sondage creer "<script>alert(1)</script> ?" type=texte'))
    await people["bernard"].say(f'sondage voter {n} "<img src=x onerror=alert(2)> merci"')
    client, html = await signed_in(browser, people["camille"])
    page = await (await client.get(f"{BASE}/sondages/{n}")).text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt; merci" in page
    preview = await client.post(f"{BASE}/sondages/nouveau", data={
        "csrf": csrf_of(html), "question": '<b onclick="x()">Gras</b> ?', "type": "ouinon",
        "portee": "membre", "repond": "tous", "resultats": "direct", "etape": "apercu"})
    text = await preview.text()
    assert preview.status == 200 and "<b onclick" not in text
    assert "&lt;b onclick=" in text


async def test_coordinators_close_reopen_and_nudge_from_the_poll_page(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    n = await dated_poll(app, op, people)
    await op.say('membre lier "Nathalie Fabre" matrix:@nathalie:localhost')
    await op.say('membre lier "Lucas Chabert" slack:ULUCAS')
    client, html = await signed_in(browser, people["camille"])
    token = csrf_of(html)
    nudged = await client.post(f"{BASE}/sondages/{n}/relancer", data={"csrf": token})
    assert nudged.status == 200
    assert "2 personnes relancées en message privé" in await nudged.text()
    dms = await outbox(app, f"nudge:{n}:")
    assert {m.destination for m in dms} == {"@dm:@nathalie:localhost", "@dm:ULUCAS"}
    closed = await client.post(f"{BASE}/sondages/{n}/fermer", data={"csrf": token})
    page = await closed.text()
    assert closed.status == 200 and "Le sondage est clos" in page and "Rouvrir" in page
    async with app.db.session() as session:
        assert (await session.get(Poll, n)).status is PollStatus.CLOSED  # type: ignore[union-attr]
    (notice,) = await outbox(app, f"poll:{n}:closed:")
    picture = Reply.from_dict(notice.payload).attachments[0]
    assert Image.open(io.BytesIO(picture.content)).size == Layout().size(3, 32)
    again = await client.post(f"{BASE}/sondages/{n}/fermer", data={"csrf": token})
    assert again.status == 409 and "déjà clos" in await again.text()
    bad = await client.post(f"{BASE}/sondages/{n}/rouvrir",
                            data={"csrf": token, "echeance": "2020-01-01T10:00"})
    assert bad.status == 409 and "Rien n’a été modifié" in await bad.text()
    reopened = await client.post(f"{BASE}/sondages/{n}/rouvrir",
                                 data={"csrf": token, "echeance": "2031-01-01T10:00"})
    assert "Le sondage est rouvert" in await reopened.text()
    assert "Réponse enregistrée" in await people["bernard"].say(
        f"sondage voter {n} non non non")


async def test_members_and_forged_forms_change_nothing(app: App, op: Speaker,
                                                       browser: Browser) -> None:
    people = await demo(app, op)
    n = await dated_poll(app, op, people)
    member, html = await signed_in(browser, people["bernard"])
    for path in ("fermer", "relancer", "exporter"):
        response = await member.post(f"{BASE}/sondages/{n}/{path}",
                                     data={"csrf": csrf_of(html), "format": "csv"})
        assert response.status == 403, path
    assert (await member.get(f"{BASE}/sondages/nouveau")).status == 403
    coordinator, _ = await signed_in(browser, people["camille"])
    for data in ({}, {"csrf": "0" * 64}, {"csrf": csrf_of(html)}):
        response = await coordinator.post(f"{BASE}/sondages/{n}/fermer", data=data)
        assert response.status == 403 and "Formulaire expiré" in await response.text()
    async with app.db.session() as session:
        assert (await session.get(Poll, n)).status is PollStatus.OPEN  # type: ignore[union-attr]
    assert not await outbox(app, "nudge:")


async def test_another_cohorts_poll_and_junk_ids_are_not_found(app: App, op: Speaker,
                                                                browser: Browser) -> None:
    people = await demo(app, op)
    await op.say('cohorte creer "Cohorte Bretagne" slug=bretagne')
    other = poll_number(await op.say('sondage creer "Secret breton ?" cohorte=bretagne'))
    client, html = await signed_in(browser, people["camille"])
    for path in (f"{BASE}/sondages/{other}", f"{BASE}/sondages/abc", f"{BASE}/sondages/" +
                 "9" * 30, "/tableau/cohortes/bretagne/sondages"):
        response = await client.get(path)
        assert response.status == 404, path
        assert "Secret breton" not in await response.text()
    closing = await client.post(f"{BASE}/sondages/{other}/fermer", data={"csrf": csrf_of(html)})
    assert closing.status == 404
    async with app.db.session() as session:
        assert (await session.get(Poll, other)).status is PollStatus.OPEN  # type: ignore[union-attr]


async def test_poll_exports_download_the_chat_files_and_the_picture(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    n = await dated_poll(app, op, people)
    client, html = await signed_in(browser, people["camille"])
    token = csrf_of(html)
    csv_file = await client.post(f"{BASE}/sondages/{n}/exporter",
                                 data={"csrf": token, "format": "csv"})
    assert csv_file.status == 200
    assert csv_file.headers["Content-Disposition"].startswith("attachment;")
    text = (await csv_file.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert len(rows) == 33 and any("Bernard Roux" in r for r in rows)
    xlsx = await client.post(f"{BASE}/sondages/{n}/exporter",
                             data={"csrf": token, "format": "xlsx"})
    book = load_workbook(io.BytesIO(await xlsx.read()))
    assert len(book.sheetnames) == 2
    png = await client.post(f"{BASE}/sondages/{n}/exporter", data={"csrf": token,
                                                                   "format": "png"})
    assert png.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(await png.read())).size == Layout().size(3, 32)
    junk = await client.post(f"{BASE}/sondages/{n}/exporter", data={"csrf": token,
                                                                    "format": "exe"})
    assert junk.status == 404


async def test_an_anonymous_date_poll_names_nobody(app: App, op: Speaker,
                                                   browser: Browser) -> None:
    people = await demo(app, op)
    n = poll_number(await op.say(
        'sondage creer "Quand ?" type=dispo options="28/04|29/04" anonyme=oui'))
    await people["bernard"].say(f"sondage voter {n} oui non")
    for who in ("camille", "karim"):
        client, _ = await signed_in(browser, people[who])
        html = await (await client.get(f"{BASE}/sondages/{n}")).text()
        assert dict(grid_rows(html)) == {"Réponse 1": ["yes", "no"]}, who
        assert "Bernard Roux" not in html and "Ont répondu" not in html

"""The feature pages in a real headless Chromium: the campaign table, composing and sending a
poll in the form, a chat vote seen after reload, the composer from the Note d'arbitrage,
notes and the calendar; a screenshot of each main page (desktop and phone width)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from bot.bootstrap import App
from handlers.core.ids import Platform
from tests.conftest import load_demo
from tests.support.browser import screenshot
from tests.support.chat import Speaker, person
from tests.support.web import ask_link

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


async def cohort(app: App, op: Speaker) -> dict[str, Speaker]:
    await load_demo(app)
    people = {"camille": ("Camille Martin", Platform.MATRIX, "@camille:localhost"),
              "bernard": ("Bernard Roux", Platform.SLACK, "UBERNARD"),
              "nathalie": ("Nathalie Fabre", Platform.MATRIX, "@nathalie:localhost"),
              "karim": ("Karim Benali", Platform.SLACK, "UKARIM")}
    speakers = {}
    for key, (name, platform, user_id) in people.items():
        await op.say(f'membre lier "{name}" {platform}:{user_id}')
        speakers[key] = person(app, platform, user_id, "C-OCC", name=name)
    await op.elsewhere("!occitanie:localhost").say("cohorte lier occitanie")
    return speakers


async def sign_in(page: Page, base: str, speaker: Speaker) -> None:
    await page.goto(base + await ask_link(speaker))
    await page.get_by_role("button", name="Ouvrir mon tableau de bord").click()
    await page.wait_for_load_state()


async def both_widths(page: Page, name: str) -> None:
    """A screenshot at desktop width, then at a phone's, then back."""
    await screenshot(page, name)
    await page.set_viewport_size(PHONE)
    await screenshot(page, f"{name}-phone")
    await page.set_viewport_size({"width": 1100, "height": 800})


async def test_a_coordinator_reads_the_campaign_table(
        app: App, op: Speaker, browser_page: Page, live_dashboard: str) -> None:
    people = await cohort(app, op)
    await op.say('campagne envoyer note-arbitrage echeance="20/03 18h"')
    await people["bernard"].say("sondage voter 2 oui")
    await people["bernard"].say("sondage voter 1 oui oui non")
    await people["nathalie"].say("sondage voter 1 non oui si-besoin")
    await sign_in(browser_page, live_dashboard, people["camille"])
    await both_widths(browser_page, "dashboard-overview-sections")
    await browser_page.get_by_role("link", name="Sondages", exact=True).click()
    await browser_page.get_by_role("link", name=re.compile("Note d'arbitrage")).click()
    await browser_page.get_by_role("heading", level=1,
                                   name=re.compile("Note d'arbitrage")).wait_for()
    table = browser_page.get_by_role("table", name=re.compile("Réponses par délégation"))
    assert await table.get_by_role("row").count() == 1 + 8 + 1
    barre = table.get_by_role("row", name=re.compile("Barre-des-Cévennes"))
    cells = barre.get_by_role("cell")
    assert "fait" in await cells.nth(1).inner_text()
    assert "en partie" in await cells.nth(0).inner_text()
    assert "Nathalie Fabre" in await cells.nth(0).inner_text()
    assert "à faire" in await cells.nth(2).inner_text()
    await both_widths(browser_page, "dashboard-campaign-table")
    await browser_page.get_by_role("link", name="a1", exact=True).click()
    await browser_page.get_by_role("table", name=re.compile("Date de la journée|Arbitrage 1")
                                   ).first.wait_for()
    await both_widths(browser_page, "dashboard-poll-grid")


async def test_a_coordinator_composes_and_sends_a_poll_then_sees_a_chat_vote(
        app: App, op: Speaker, browser_page: Page, live_dashboard: str) -> None:
    people = await cohort(app, op)
    await sign_in(browser_page, live_dashboard, people["camille"])
    await browser_page.get_by_role("link", name="Sondages", exact=True).click()
    await browser_page.get_by_role("link", name="Nouveau sondage").click()
    await browser_page.get_by_label("Question", exact=True).fill("Quelle date pour la plénière ?")
    await browser_page.get_by_label("Type de réponse").select_option("dispo")
    await browser_page.get_by_label("Options, une par ligne").fill("12/05 9h-12h\n32/05 9h")
    await browser_page.get_by_role("button", name="Voir l’aperçu").click()
    options = browser_page.get_by_label("Options, une par ligne")
    await expect(options).to_have_attribute("aria-invalid", "true")
    assert "32/05 9h" in await browser_page.inner_text("#options-error")
    await screenshot(browser_page, "dashboard-poll-form-error")
    await options.fill("12/05 9h-12h\n13/05 14h-17h\n14/05")
    await browser_page.get_by_label("Réponses attendues").select_option("delegation")
    await browser_page.get_by_label("Pour une réponse par délégation, qui la donne"
                                    ).select_option("referent")
    await browser_page.get_by_label("1 jour avant").check()
    await browser_page.get_by_label("Clôture automatique le (facultatif)").fill(
        "2030-05-10T18:00")
    await both_widths(browser_page, "dashboard-poll-form")
    await browser_page.get_by_role("button", name="Voir l’aperçu").click()
    await browser_page.get_by_role("heading", name="Aperçu du sondage").wait_for()
    preview = browser_page.get_by_role("region", name="Message publié dans le salon")
    assert "Quelle date pour la plénière ?" in await preview.inner_text()
    await screenshot(browser_page, "dashboard-poll-preview")
    await browser_page.get_by_role("button", name="Envoyer le sondage").click()
    await browser_page.get_by_role("status").filter(has_text="est créé et publié").wait_for()
    number = re.search(r"/sondages/(\d+)", browser_page.url)
    assert number is not None
    assert "Réponse enregistrée" in await people["bernard"].say(
        f"sondage voter {number.group(1)} oui si-besoin non")
    await browser_page.reload()
    grid = browser_page.get_by_role("table", name="Quelle date pour la plénière ?")
    row = grid.get_by_role("row", name=re.compile("Barre-des-Cévennes"))
    assert re.sub(r"\s+", " ", await row.inner_text()).count("oui") == 1
    assert "si besoin" in await row.inner_text()
    await both_widths(browser_page, "dashboard-poll-page")


async def test_the_note_d_arbitrage_is_composed_from_its_model_and_sent(
        app: App, op: Speaker, browser_page: Page, live_dashboard: str) -> None:
    people = await cohort(app, op)
    await sign_in(browser_page, live_dashboard, people["camille"])
    await browser_page.get_by_role("link", name="Sondages", exact=True).click()
    await browser_page.get_by_role("link", name="Composer une campagne").click()
    await browser_page.get_by_role("link", name=re.compile("Note d'arbitrage")).click()
    await expect(browser_page.get_by_label("Identifiant (pour les commandes du salon)")
                 ).to_have_value("note-arbitrage-2")
    await both_widths(browser_page, "dashboard-campaign-composer")
    await browser_page.get_by_role("button", name="Voir l’aperçu").click()
    await browser_page.get_by_role("heading", name=re.compile("^Aperçu")).wait_for()
    await screenshot(browser_page, "dashboard-campaign-preview")
    await browser_page.get_by_role("button", name="Envoyer la campagne").click()
    await browser_page.get_by_role("status").filter(has_text="La campagne est envoyée"
                                                    ).wait_for()
    assert "note-arbitrage-2" in await op.say("campagne lister")


async def test_notes_and_the_calendar_read_well(app: App, op: Speaker, browser_page: Page,
                                                live_dashboard: str) -> None:
    people = await cohort(app, op)
    dm = people["bernard"].dm()
    await people["bernard"].say("note commencer intention")
    for line in ("Une cantine scolaire en circuit court.", "fin", "Maintenir l'agriculture.",
                 "fin", "oui", "Moins de transport.", "fin"):
        await dm.message(line)
    await sign_in(browser_page, live_dashboard, people["camille"])
    await browser_page.get_by_role("link", name="Notes", exact=True).click()
    await browser_page.get_by_role("heading", name="Notes des projets pilotes").wait_for()
    await both_widths(browser_page, "dashboard-notes")
    barre = browser_page.get_by_role("row", name=re.compile("Barre-des-Cévennes"))
    await barre.get_by_role("link").first.click()
    await browser_page.get_by_text("Une cantine scolaire en circuit court.").wait_for()
    await both_widths(browser_page, "dashboard-note")
    await browser_page.get_by_role("link", name="Agenda", exact=True).click()
    await browser_page.get_by_role("heading", name="Agenda de la cohorte").wait_for()
    await both_widths(browser_page, "dashboard-agenda")


async def test_a_member_is_refused_the_poll_form(app: App, op: Speaker, browser_page: Page,
                                                 live_dashboard: str) -> None:
    people = await cohort(app, op)
    await sign_in(browser_page, live_dashboard, people["karim"])
    assert await browser_page.get_by_role("link", name="Nouveau sondage").count() == 0
    response = await browser_page.goto(live_dashboard +
                                       "/tableau/cohortes/occitanie/sondages/nouveau")
    assert response is not None and response.status == 403
    await browser_page.get_by_role("heading", name="Accès réservé").wait_for()
    await browser_page.goto(live_dashboard + "/tableau/cohortes/occitanie")
    await both_widths(browser_page, "dashboard-overview-member-sections")

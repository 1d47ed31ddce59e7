"""The dashboard in a real headless Chromium: what a coordinator and a member see and do."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page

from bot.bootstrap import App
from handlers.core.ids import Platform
from tests.conftest import load_demo
from tests.support.browser import screenshot
from tests.support.chat import Speaker, person
from tests.support.web import ask_link

pytestmark = pytest.mark.browser


async def cohort(app: App, op: Speaker) -> dict[str, Speaker]:
    await load_demo(app)
    await op.say('membre lier "Camille Martin" matrix:@camille:localhost')
    await op.say('membre lier "Bernard Roux" slack:UBERNARD')
    await op.elsewhere("!occitanie:localhost").say("cohorte lier occitanie")
    return {"camille": person(app, Platform.MATRIX, "@camille:localhost", "!occitanie:localhost"),
            "bernard": person(app, Platform.SLACK, "UBERNARD", "C-OCC")}


async def open_link(page: Page, base: str, path: str, shot: str | None = None) -> None:
    await page.goto(base + path)
    if shot:
        await screenshot(page, shot)
    await page.get_by_role("button", name="Ouvrir mon tableau de bord").click()
    await page.wait_for_load_state()


async def test_a_coordinator_opens_the_link_and_sees_who_is_missing(
        app: App, op: Speaker, browser_page: Page, live_dashboard: str) -> None:
    people = await cohort(app, op)
    await open_link(browser_page, live_dashboard, await ask_link(people["camille"]),
                    shot="dashboard-sign-in")
    assert browser_page.url.endswith("/tableau/cohortes/occitanie")
    await browser_page.get_by_role("heading", name="Cohorte Occitanie", level=1).wait_for()
    table = browser_page.get_by_role("table")
    assert await table.get_by_role("row").count() == 1 + 8
    row = table.get_by_role("row", name=re.compile("Barre-des-Cévennes"))
    assert "Bernard Roux" in await row.inner_text()
    assert "1\xa0/\xa04" in await row.inner_text()
    await screenshot(browser_page, "dashboard-overview-coordinator")
    await browser_page.set_viewport_size({"width": 390, "height": 844})
    await screenshot(browser_page, "dashboard-overview-phone")
    await browser_page.get_by_role("link", name="Comptes à lier").click()
    await browser_page.get_by_role("heading", name="Comptes à lier").wait_for()
    await screenshot(browser_page, "dashboard-accounts-phone")


async def test_a_code_made_in_the_form_links_an_account_seen_after_reload(
        app: App, op: Speaker, browser_page: Page, live_dashboard: str) -> None:
    people = await cohort(app, op)
    await open_link(browser_page, live_dashboard, await ask_link(people["camille"]))
    await browser_page.get_by_role("link", name="Comptes à lier").click()
    karim = browser_page.get_by_role("row", name=re.compile("Karim Benali"))
    assert "aucun compte lié" in await karim.inner_text()
    await karim.get_by_role("button", name=re.compile("Créer un code")).click()
    notice = browser_page.get_by_role("status")
    code = await notice.locator("code.big").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", code)
    await screenshot(browser_page, "dashboard-accounts-code")
    karim_chat = person(app, Platform.MATRIX, "@karim:localhost", "!dm-karim")
    assert "Bienvenue Karim Benali" in await karim_chat.say(f"moi lier {code}")
    await browser_page.goto(live_dashboard + "/tableau/cohortes/occitanie/comptes")
    karim = browser_page.get_by_role("row", name=re.compile("Karim Benali"))
    assert "Matrix" in await karim.inner_text()


async def test_a_member_is_refused_coordinator_pages_and_other_delegations(
        app: App, op: Speaker, browser_page: Page, live_dashboard: str) -> None:
    people = await cohort(app, op)
    await open_link(browser_page, live_dashboard, await ask_link(people["bernard"]))
    body = await browser_page.inner_text("main")
    assert "Barre-des-Cévennes" in body and "Canohès" not in body
    await screenshot(browser_page, "dashboard-overview-member")
    assert await browser_page.get_by_role("link", name="Comptes à lier").count() == 0
    response = await browser_page.goto(live_dashboard + "/tableau/cohortes/occitanie/comptes")
    assert response is not None and response.status == 403
    await browser_page.get_by_role("heading", name="Accès réservé").wait_for()
    await screenshot(browser_page, "dashboard-forbidden")


async def test_a_used_link_shows_a_clear_page(app: App, op: Speaker, browser_page: Page,
                                              live_dashboard: str) -> None:
    people = await cohort(app, op)
    path = await ask_link(people["camille"])
    await open_link(browser_page, live_dashboard, path)
    response = await browser_page.goto(live_dashboard + path)
    assert response is not None and response.status == 403
    await browser_page.get_by_role("heading", name="Ce lien n’est plus valable").wait_for()
    await screenshot(browser_page, "dashboard-link-used")
    await browser_page.get_by_role("button", name="Se déconnecter").click()
    await browser_page.get_by_role("heading", name="Vous êtes déconnecté·e").wait_for()
    response = await browser_page.goto(live_dashboard + "/tableau/cohortes/occitanie")
    assert response is not None and response.status == 403


async def test_a_coordinator_corrects_the_member_form_and_sends_it(
        app: App, op: Speaker, browser_page: Page, live_dashboard: str) -> None:
    people = await cohort(app, op)
    await open_link(browser_page, live_dashboard, await ask_link(people["camille"]))
    await browser_page.get_by_role("link", name="Comptes à lier").click()
    await browser_page.get_by_role("link", name="Ajouter un membre").click()
    await browser_page.get_by_label("Délégation", exact=True).select_option(label="Commune de Gruissan")
    await browser_page.get_by_label("Catégorie", exact=True).select_option(label="Agent·e")
    await browser_page.get_by_role("button", name="Ajouter").click()
    await browser_page.get_by_role("alert").wait_for()
    name = browser_page.get_by_label("Prénom et nom")
    assert await name.get_attribute("aria-invalid") == "true"
    assert "Indiquez le prénom et le nom" in await browser_page.inner_text("#nom-error")
    assert await browser_page.get_by_label("Délégation", exact=True).input_value() != ""
    await screenshot(browser_page, "dashboard-member-form-error")
    await name.fill("Inès Garcia")
    await browser_page.get_by_label("Référent·e de sa délégation").check()
    await browser_page.get_by_role("button", name="Ajouter").click()
    await browser_page.get_by_role("status").wait_for()
    assert "Inès Garcia a été ajouté·e" in await browser_page.get_by_role("status").inner_text()
    assert "Inès Garcia — agent·e · référent·e" in await op.say("membre lister Gruissan")

"""The dashboard through the real aiohttp app: links from chat, sessions, pages, forms.

Every test asks the bot for a link in chat, as a person would, then browses with
aiohttp's test client (one cookie jar per "browser").
"""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.bootstrap import App
from handlers.core.ids import Platform
from storage.models import OneTimeCode, OutboxMessage
from storage.models_dashboard import DashboardLink, DashboardSession
from tests.conftest import load_demo
from tests.support.chat import Speaker, person
from tests.support.web import Browser, ask_link, count, csrf_of, demo, follow, link_in, signed_in


async def test_a_coordinator_follows_the_link_and_sees_every_delegation(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    client = await browser()
    path = await ask_link(people["camille"])
    landing = await client.get(path)
    assert landing.status == 200
    assert "Ouvrir mon tableau de bord" in await landing.text()
    response = await follow(client, path)
    html = await response.text()
    assert response.status == 200
    assert response.url.path == "/tableau/cohortes/occitanie"
    assert "<h1>Cohorte Occitanie</h1>" in html and "Vous coordonnez cette cohorte" in html
    for territory in ("Commune de Barre-des-Cévennes", "Commune de Canohès",
                      "Montpellier Méditerranée Métropole"):
        assert territory in html
    assert "Camille Martin, Hugo Perrin" in html
    assert "!occitanie:localhost" in html
    cookie = response.history[0].headers["Set-Cookie"] if response.history else ""
    session_cookie = [c for c in response.history[0].headers.getall("Set-Cookie")
                      if c.startswith("cb_session=")][0]
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert "Secure" not in session_cookie, cookie
    async with app.db.session() as session:
        stored = (await session.scalars(select(DashboardLink.token_hash))).all()
    assert path.rsplit("/", 1)[1] not in stored


async def test_a_link_asked_in_the_room_arrives_in_a_direct_message_only(
        app: App, op: Speaker) -> None:
    people = await demo(app, op)
    in_room = await people["karim"].say("cohorte tableau")
    assert "en message privé" in in_room and "/tableau/lien/" not in in_room
    await app.delivery.flush(Platform.MATRIX)
    sender = app.delivery.senders[Platform.MATRIX]
    dms = [m for m in sender.sent if m.direct_user == "@karim:localhost"]  # type: ignore[attr-defined]
    assert len(dms) == 1 and link_in(dms[0].reply.text)
    async with app.db.session() as session:
        payloads = (await session.scalars(select(OutboxMessage.payload))).all()
    assert not any("/tableau/lien/" in str(p) for p in payloads)


async def test_a_link_works_once(app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    path = await ask_link(people["camille"])
    first = await browser()
    assert (await follow(first, path)).status == 200
    second = await browser()
    again = await second.get(path)
    assert again.status == 403
    assert "Ce lien n’est plus valable" in await again.text()
    replay = await first.post(path, data={"nonce": "x"})
    assert replay.status == 403
    assert await count(app, DashboardSession) == 1


async def test_an_expired_link_is_refused(app: App, op: Speaker, browser: Browser,
                                          clock) -> None:  # type: ignore[no-untyped-def]
    people = await demo(app, op)
    path = await ask_link(people["camille"])
    clock.advance(minutes=16)
    response = await (await browser()).get(path)
    assert response.status == 403
    assert "pendant 15 minutes" in await response.text()


async def test_a_forged_link_is_refused(app: App, op: Speaker, browser: Browser) -> None:
    await demo(app, op)
    client = await browser()
    for path in ("/tableau/lien/" + "0" * 48, "/tableau/lien/<script>", "/tableau/lien/" +
                 "a" * 500):
        response = await client.get(path)
        assert response.status == 403, path
        html = await response.text()
        assert "Ce lien n’est plus valable" in html and "<script>" not in html
    assert await count(app, DashboardSession) == 0


async def test_a_page_elsewhere_cannot_use_someone_elses_link(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    path = await ask_link(people["camille"])
    attacker = await browser()
    forged = await attacker.post(path, data={"nonce": "guessed"})
    assert forged.status == 403 and "Formulaire expiré" in await forged.text()
    assert await count(app, DashboardSession) == 0
    assert (await follow(await browser(), path)).status == 200


async def test_a_member_sees_their_own_delegation_only(app: App, op: Speaker,
                                                       browser: Browser) -> None:
    people = await demo(app, op)
    client, html = await signed_in(browser, people["bernard"])
    assert "Vous voyez les données de votre délégation" in html
    assert "Commune de Barre-des-Cévennes" in html
    assert "Canohès" not in html and "Montpellier" not in html
    assert "Comptes à lier" not in html
    other = re.search(r'/delegations/(\d+)"', html)
    assert other is not None
    own_id = int(other.group(1))
    refused = await client.get(f"/tableau/cohortes/occitanie/delegations/{own_id + 1}")
    assert refused.status == 403 and "Accès réservé" in await refused.text()
    coordinator_page = await client.get("/tableau/cohortes/occitanie/comptes")
    assert coordinator_page.status == 403
    assert "réservée à la coordination" in await coordinator_page.text()
    own = await client.get(f"/tableau/cohortes/occitanie/delegations/{own_id}")
    assert own.status == 200 and "Nathalie Fabre" in await own.text()


async def test_another_cohorts_ids_in_the_url_are_not_found(app: App, op: Speaker,
                                                            browser: Browser) -> None:
    people = await demo(app, op)
    await op.say('cohorte creer "Cohorte Bretagne" slug=bretagne')
    await op.say("delegation ajouter Brest cohorte=bretagne")
    client, _ = await signed_in(browser, people["camille"])
    response = await client.get("/tableau/cohortes/bretagne")
    assert response.status == 404 and "Page introuvable" in await response.text()
    async with app.db.session() as session:
        from storage.models import Delegation

        brest = await session.scalar(select(Delegation.id).where(Delegation.territory == "Brest"))
    response = await client.get(f"/tableau/cohortes/occitanie/delegations/{brest}")
    assert response.status == 404
    for junk in ("/tableau/cohortes/occitanie/delegations/abc",
                 "/tableau/cohortes/" + "x" * 300, "/tableau/nulle-part"):
        assert (await client.get(junk)).status == 404, junk


async def test_a_removed_member_loses_access_at_once(app: App, op: Speaker,
                                                     browser: Browser) -> None:
    people = await demo(app, op)
    client, _ = await signed_in(browser, people["karim"])
    assert (await client.get("/tableau/cohortes/occitanie")).status == 200
    await op.say('membre retirer "Karim Benali"')
    response = await client.get("/tableau/cohortes/occitanie")
    assert response.status == 403
    assert "Vous n’êtes pas connecté·e" in await response.text()
    assert await count(app, DashboardSession) == 0


async def test_a_coordinator_whose_role_is_revoked_loses_coordinator_pages(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    client, _ = await signed_in(browser, people["hugo"])
    assert (await client.get("/tableau/cohortes/occitanie/comptes")).status == 200
    await op.say('membre modifier "Hugo Perrin" coordinateur=non')
    assert (await client.get("/tableau/cohortes/occitanie/comptes")).status in (403, 404)


async def test_an_erased_member_loses_access(app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    client, _ = await signed_in(browser, people["bernard"])
    dm = people["bernard"].dm()
    code = re.search(r"moi effacer ([A-Z0-9-]{9})", await dm.say("moi effacer"))
    assert code is not None
    await dm.say(f"moi effacer {code.group(1)}")
    response = await client.get("/tableau/cohortes/occitanie")
    assert response.status == 403


async def test_forms_without_the_right_csrf_token_change_nothing(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    client, _ = await signed_in(browser, people["camille"])
    page = await (await client.get("/tableau/cohortes/occitanie/comptes")).text()
    member = re.search(r'name="member" value="(\d+)"', page)
    assert member is not None
    before = await count(app, OneTimeCode)
    for fields in ({"member": member.group(1)}, {"member": member.group(1), "csrf": "0" * 64}):
        response = await client.post("/tableau/cohortes/occitanie/comptes/code", data=fields)
        assert response.status == 403
        assert "Formulaire expiré" in await response.text()
    other, _ = await signed_in(browser, people["hugo"])
    stolen = await other.post("/tableau/cohortes/occitanie/comptes/code",
                              data={"member": member.group(1), "csrf": csrf_of(page)})
    assert stolen.status == 403
    assert await count(app, OneTimeCode) == before


async def test_a_coordinator_makes_a_link_code_in_a_form_and_it_works_in_chat(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    client, _ = await signed_in(browser, people["camille"])
    page = await (await client.get("/tableau/cohortes/occitanie/comptes")).text()
    assert 'class="todo"' in page
    lucas = re.search(r'Lucas Chabert</th>.*?name="member" value="(\d+)"', page, re.S)
    assert lucas is not None
    response = await client.post("/tableau/cohortes/occitanie/comptes/code",
                                 data={"member": lucas.group(1), "csrf": csrf_of(page)})
    html = await response.text()
    assert response.status == 200
    code = re.search(r'<code class="big">([A-Z0-9-]+)</code>', html)
    assert code is not None and "Code pour <strong>Lucas Chabert</strong>" in html
    lucas_chat = person(app, Platform.SLACK, "ULUCAS", "D1")
    assert "Bienvenue Lucas Chabert" in await lucas_chat.say(f"moi lier {code.group(1)}")
    bad = await client.post("/tableau/cohortes/occitanie/comptes/code",
                            data={"member": "999999", "csrf": csrf_of(page)})
    assert bad.status == 422
    assert "n’est pas (ou plus) dans la cohorte" in await bad.text()
    assert await count(app, OneTimeCode, OneTimeCode.used_at.is_(None)) == 0


async def test_names_with_html_are_shown_as_text(app: App, op: Speaker,
                                                 browser: Browser) -> None:
    people = await demo(app, op)
    await op.say('membre ajouter "<script>alert(1)</script> <b>Zoé</b>" delegation=Gruissan '
                 'categorie=agent')
    await op.say('delegation ajouter "<img src=x onerror=alert(2)>"')
    client, html = await signed_in(browser, people["camille"])
    assert "<script>alert(1)</script>" not in html and "<b>Zoé</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;Zoé&lt;/b&gt;" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html


async def test_signing_out_ends_the_session(app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    client, html = await signed_in(browser, people["camille"])
    response = await client.post("/tableau/deconnexion", data={"csrf": csrf_of(html)})
    assert response.status == 200 and "Vous êtes déconnecté·e" in await response.text()
    assert (await client.get("/tableau/cohortes/occitanie")).status == 403


async def test_a_session_ends_after_eight_hours(app: App, op: Speaker, browser: Browser,
                                                clock) -> None:  # type: ignore[no-untyped-def]
    people = await demo(app, op)
    client, _ = await signed_in(browser, people["camille"])
    clock.advance(hours=7, minutes=59)
    assert (await client.get("/tableau/cohortes/occitanie")).status == 200
    clock.advance(minutes=2)
    assert (await client.get("/tableau/cohortes/occitanie")).status == 403


async def test_pages_are_in_the_members_language(app: App, op: Speaker,
                                                 browser: Browser) -> None:
    people = await demo(app, op)
    _, html = await signed_in(browser, people["hugo"])
    assert '<html lang="en">' in html and "Delegations and members" in html


async def test_without_a_session_pages_explain_how_to_get_a_link(app: App, op: Speaker,
                                                                 browser: Browser) -> None:
    await demo(app, op)
    client = await browser()
    for path in ("/tableau/", "/tableau/cohortes/occitanie"):
        response = await client.get(path)
        assert response.status == 403
        assert "tapez <code>cohorte tableau</code>" in await response.text()
    response = await client.get("/tableau/cohortes/occitanie", cookies={"cb_session": "f" * 64})
    assert response.status == 403


async def test_every_page_forbids_scripts_framing_and_referrers(app: App, op: Speaker,
                                                                browser: Browser) -> None:
    people = await demo(app, op)
    client, _ = await signed_in(browser, people["camille"])
    for path in ("/tableau/cohortes/occitanie", "/tableau/inconnu", "/tableau/lien/00"):
        response = await client.get(path)
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"
    css = await client.get("/tableau/static/dashboard.css")
    assert css.status == 200 and "focus-visible" in await css.text()


async def test_the_demo_link_works_even_when_the_usual_port_is_taken(tmp_path, clock  # type: ignore[no-untyped-def]
                                                                     ) -> None:
    import socket

    from aiohttp import ClientSession, CookieJar

    from bot.bootstrap import bootstrap
    from bot.config import BotConfig, Config, DatabaseConfig, HttpConfig
    from bot.dashboard import demo_link

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    config = Config(bot=BotConfig(data_dir=tmp_path),
                    database=DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path}/demo.db"),
                    http=HttpConfig(port=port))
    demo_app = await bootstrap(config, clock=clock)
    try:
        await load_demo(demo_app)
        url = await demo_link(demo_app, "Camille Martin")
        assert url is not None and f":{port}/" not in url
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as s:
            landing = await (await s.get(url)).text()
            nonce = re.search(r'name="nonce" value="([^"]+)"', landing)
            assert nonce is not None
            response = await s.post(url, data={"nonce": nonce.group(1)})
            assert "<h1>Cohorte Occitanie</h1>" in await response.text()
    finally:
        taken.close()
        await demo_app.web.stop()
        await demo_app.close()


async def members_named(app: App, name: str) -> int:
    from storage.models import Member

    return await count(app, Member, Member.display_name == name)


async def test_a_coordinator_adds_a_member_in_the_form_with_the_chat_checks(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    client, _ = await signed_in(browser, people["camille"])
    form_page = await client.get("/tableau/cohortes/occitanie/membres/ajouter")
    html = await form_page.text()
    assert form_page.status == 200 and "Ajouter un membre" in html
    gruissan = re.search(r'<option value="(\d+)">Commune de Gruissan</option>', html)
    assert gruissan is not None
    url = "/tableau/cohortes/occitanie/membres/ajouter"
    base = {"csrf": csrf_of(html), "delegation": gruissan.group(1), "categorie": "agent"}
    cases = [
        ({"nom": "   "}, "nom", "Indiquez le prénom et le nom."),
        ({"nom": "x" * 201}, "nom", "200"),
        ({"nom": "Zoé Durand", "delegation": "999999"}, "delegation",
         "Choisissez une délégation de la liste."),
        ({"nom": "Zoé Durand", "delegation": "abc"}, "delegation", "Choisissez une délégation"),
        ({"nom": "Zoé Durand", "categorie": "pirate"}, "categorie", "Choisissez une catégorie"),
        ({"nom": "Zoé Durand", "delegation": ""}, "delegation", "délégation"),
        ({"nom": "Bernard Roux"}, "nom", "Bernard Roux"),
    ]
    for fields, field, message in cases:
        response = await client.post(url, data={**base, **fields})
        page = await response.text()
        assert response.status == 422, fields
        assert f'aria-describedby="{field}-error"' in page, fields
        error = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
        assert error is not None and message in error.group(1), (fields, error)
        assert "rien n’a été enregistré" in page
    assert await members_named(app, "Zoé Durand") == 0
    assert await members_named(app, "Bernard Roux") == 1
    response = await client.post(url, data={**base, "nom": "  Zoé   Durand ",
                                             "referent": "oui"})
    page = await response.text()
    assert response.status == 200 and response.url.path.endswith("/comptes")
    assert "<strong>Zoé Durand</strong> a été ajouté·e" in page
    assert await members_named(app, "Zoé Durand") == 1
    listing = await op.say("membre lister Gruissan")
    assert "Zoé Durand — agent·e · référent·e" in listing
    again = await client.post(url, data={**base, "nom": "zoé durand"})
    assert again.status == 422 and await members_named(app, "Zoé Durand") == 1


async def test_the_member_form_keeps_what_was_typed_and_escapes_it(
        app: App, op: Speaker, browser: Browser) -> None:
    people = await demo(app, op)
    client, _ = await signed_in(browser, people["camille"])
    html = await (await client.get("/tableau/cohortes/occitanie/membres/ajouter")).text()
    response = await client.post("/tableau/cohortes/occitanie/membres/ajouter", data={
        "csrf": csrf_of(html), "nom": '"><script>alert(1)</script>', "categorie": "x"})
    page = await response.text()
    assert response.status == 422
    assert "<script>alert(1)" not in page
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page


async def test_members_cannot_open_or_post_the_member_form(app: App, op: Speaker,
                                                           browser: Browser) -> None:
    people = await demo(app, op)
    client, html = await signed_in(browser, people["bernard"])
    url = "/tableau/cohortes/occitanie/membres/ajouter"
    assert (await client.get(url)).status == 403
    response = await client.post(url, data={"csrf": csrf_of(html), "nom": "Intrus"})
    assert response.status == 403
    assert await members_named(app, "Intrus") == 0


async def test_used_and_expired_links_and_sessions_are_not_kept(app: App, op: Speaker,
                                                                browser: Browser,
                                                                clock) -> None:  # type: ignore[no-untyped-def]
    people = await demo(app, op)
    await signed_in(browser, people["camille"])
    await ask_link(people["karim"])
    clock.advance(hours=9)
    await signed_in(browser, people["bernard"])
    assert await count(app, DashboardLink) == 0
    assert await count(app, DashboardSession) == 1


async def test_behind_tls_the_session_cookie_is_secure_and_admins_see_every_cohort(
        tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.bootstrap import bootstrap
    from bot.config import BotConfig, Config, DatabaseConfig, HttpConfig
    from tests.support.chat import operator

    config = Config(bot=BotConfig(data_dir=tmp_path, admins=("slack:UADMIN",)),
                    database=DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path}/tls.db"),
                    http=HttpConfig(public_url="https://cohortbot.example.org"))
    tls_app = await bootstrap(config, clock=clock)
    try:
        await load_demo(tls_app)
        await operator(tls_app).say('cohorte creer "Cohorte Bretagne" slug=bretagne')
        admin = person(tls_app, Platform.SLACK, "UADMIN", "D-ADMIN")
        text = await admin.dm().say("cohorte tableau cohorte=bretagne")
        assert "https://cohortbot.example.org/tableau/lien/" in text
        async with TestClient(TestServer(tls_app.web.app)) as client:
            path = link_in(text)
            landing = await client.get(path)
            nonce = re.search(r'name="nonce" value="([^"]+)"', await landing.text())
            assert nonce is not None
            signin = [c for c in landing.headers.getall("Set-Cookie")
                      if c.startswith("cb_signin=")][0]
            assert "Secure" in signin and "SameSite=Strict" in signin
            response = await client.post(path, data={"nonce": nonce.group(1)},
                                         cookies={"cb_signin": nonce.group(1)},
                                         allow_redirects=False)
            assert response.status == 303
            assert response.headers["Location"] == "/tableau/cohortes/bretagne"
            cookie = [c for c in response.headers.getall("Set-Cookie")
                      if c.startswith("cb_session=")][0]
            assert "Secure" in cookie and "HttpOnly" in cookie
            secret = cookie.split(";")[0].split("=", 1)[1]
            home = await client.get("/tableau/", cookies={"cb_session": secret})
            html = await home.text()
            assert "Cohorte Bretagne" in html and "Cohorte Occitanie" in html
    finally:
        await tls_app.close()


async def test_a_feature_adds_an_overview_section_and_its_own_pages(tmp_path, clock  # type: ignore[no-untyped-def]
                                                                    ) -> None:
    from markupsafe import Markup, escape

    from bot.bootstrap import bootstrap
    from handlers import dashboard
    from handlers.registry import build_web
    from handlers.web.core import Access, WebError, WebResponse
    from handlers.web.page import PageContext
    from tests.conftest import make_config

    web = build_web((dashboard,))

    @web.section("overview", "polls", order=30)
    async def open_polls(page: PageContext, cohort) -> Markup:  # type: ignore[no-untyped-def]
        return Markup("<section id='polls'>{} sondages ouverts</section>").format(
            escape(cohort.name))

    @web.section("overview", "drafts", order=35, access=Access.COORDINATOR)
    async def drafts(page: PageContext, cohort) -> Markup:  # type: ignore[no-untyped-def]
        return Markup("<section id='drafts'>brouillons</section>")

    @web.page("polls.close", "/tableau/cohortes/{cohort}/sondages/{poll}/fermer",
              method="POST", access=Access.COORDINATOR)
    async def close(page: PageContext) -> WebResponse:
        if page.request.params["poll"] != "7":
            raise WebError(404, "not_found")
        await page.audit("poll.close", poll=7)
        return WebResponse.html("fermé")

    assert web.url("polls.close", cohort="a b", poll=7) == "/tableau/cohortes/a%20b/sondages/7/fermer"
    feature_app = await bootstrap(make_config(tmp_path), clock=clock, web_registry=web)
    try:
        from tests.support.chat import operator

        op = operator(feature_app)
        people = await demo(feature_app, op)
        async with TestClient(TestServer(feature_app.web.app)) as client:
            html = await (await follow(client, await ask_link(people["camille"]))).text()
            assert html.index("Cohorte Occitanie sondages") < html.index("brouillons") < \
                html.index("Délégations et membres")
            assert "brouillons" in html
            closed = await client.post("/tableau/cohortes/occitanie/sondages/7/fermer",
                                       data={"csrf": csrf_of(html)})
            assert closed.status == 200 and await closed.text() == "fermé"
            missing = await client.post("/tableau/cohortes/occitanie/sondages/8/fermer",
                                        data={"csrf": csrf_of(html)})
            assert missing.status == 404
        async with TestClient(TestServer(feature_app.web.app)) as client:
            html = await (await follow(client, await ask_link(people["bernard"]))).text()
            assert "sondages ouverts" in html and "brouillons" not in html
            refused = await client.post("/tableau/cohortes/occitanie/sondages/7/fermer",
                                        data={"csrf": csrf_of(html)})
            assert refused.status == 403
        from storage.models import AuditEntry

        assert await count(feature_app, AuditEntry, AuditEntry.action == "poll.close") == 1
    finally:
        await feature_app.close()

"""The calendar over HTTP: the subscribable ICS feed, and imports from a URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import icalendar
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot import calendar as bot_calendar
from bot.bootstrap import App
from storage.models_calendar import CalendarEvent, CalendarImport, ImportStatus
from tests.support.calendar import MATRIX_ROOM, deliver, demo_with_rooms
from tests.support.chat import Speaker
from tests.support.ports import bound_socket, refused_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "calendar"


async def test_a_calendar_app_subscribes_to_the_feed(app: App, op: Speaker) -> None:
    rooms = await demo_with_rooms(app, op)
    text = await rooms.coordinator.say("agenda lien")
    url = text.split("http://127.0.0.1:8080")[1].split()[0]
    assert url.startswith("/ics/occitanie/") and url.endswith(".ics")
    async with TestClient(TestServer(app.web.app)) as client:
        response = await client.get(url)
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/calendar")
        body = await response.read()
        calendar = icalendar.Calendar.from_ical(body)
        assert "Permanence mensuelle" in [str(e.get("SUMMARY")) for e in calendar.walk("VEVENT")]
        again = await client.get(url, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status == 304
        assert (await client.get(url.replace("/ics/occitanie/", "/ics/occitanie/x"))).status \
            == 404
        assert (await client.get(url.replace("occitanie", "bretagne"))).status == 404
        await rooms.coordinator.say('agenda ajouter "Webinaire 7" debut="20/03 10h"')
        changed = await client.get(url)
        assert changed.headers["ETag"] != response.headers["ETag"]
        assert b"Webinaire 7" in await changed.read()
        renewed = await rooms.coordinator.say("agenda lien renouveler")
        assert "ne fonctionne plus" in renewed
        assert (await client.get(url)).status == 404
        new_url = renewed.split("http://127.0.0.1:8080")[1].split()[0]
        assert (await client.get(new_url)).status == 200


class IcsServer:
    """A Framagenda stand-in: serves the fixture, an error, a slow answer, a huge body."""

    def __init__(self) -> None:
        self.body = (FIXTURES / "framagenda.ics").read_bytes()
        self.sock = bound_socket()
        self.port = self.sock.getsockname()[1]
        self.app = web.Application()
        self.app.router.add_get("/cal.ics", self.calendar)
        self.app.router.add_get("/moved.ics", self.moved)
        self.app.router.add_get("/inside.ics", self.inside)
        self.app.router.add_get("/private.ics", self.private)
        self.app.router.add_get("/slow.ics", self.slow)
        self.app.router.add_get("/huge.ics", self.huge)
        self.runner = web.AppRunner(self.app)

    async def calendar(self, request: web.Request) -> web.Response:
        return web.Response(body=self.body, content_type="text/calendar")

    async def moved(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/cal.ics")

    async def inside(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("http://10.0.0.7/cal.ics")

    async def private(self, request: web.Request) -> web.Response:
        return web.Response(status=403)

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=self.body)

    async def huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(40):
            await response.write(b"X" * 65536)
        return response

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> IcsServer:
        await self.runner.setup()
        await web.SockSite(self.runner, self.sock).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


async def events_from(app: App, source: str) -> int:
    async with app.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(CalendarEvent).where(
            CalendarEvent.source == source)) or 0)


async def test_import_from_a_url_answers_in_the_room_it_was_asked_in(app: App,
                                                                     op: Speaker) -> None:
    rooms = await demo_with_rooms(app, op)
    app.services.calendar.allow_private_urls = True  # the test server is on 127.0.0.1
    async with IcsServer() as server:
        url = server.url("/cal.ics")
        text = await rooms.coordinator.say(f"agenda importer {url}")
        assert "Je récupère le calendrier" in text
        await app.services.calendar.idle()
        await deliver(app)
        answers = [t for t in rooms.matrix.texts(MATRIX_ROOM) if "Calendrier importé" in t]
        assert len(answers) == 1 and "3 ajoutés" in answers[0]
        assert await events_from(app, url) == 3
        server.body = server.body.replace(b"Bilan de la cohorte", b"Bilan final")
        await rooms.coordinator.say(f"agenda importer {url}")
        await app.services.calendar.idle()
        await deliver(app)
        answers = [t for t in rooms.matrix.texts(MATRIX_ROOM) if "Calendrier importé" in t]
        assert "1 mis à jour, 2 inchangés" in answers[-1]
        assert await events_from(app, url) == 3
        assert "Webinaire 7 — Bilan final" in await rooms.coordinator.say("agenda")


async def test_a_url_that_fails_gets_a_clear_answer_and_imports_nothing(app: App,
                                                                        op: Speaker) -> None:
    rooms = await demo_with_rooms(app, op)
    app.services.calendar.fetch_timeout = 0.5
    app.services.calendar.allow_private_urls = True  # the test server is on 127.0.0.1
    with refused_port() as closed:
        async with IcsServer() as server:
            cases = {
                server.url("/private.ics"): "refuse de donner le calendrier",
                server.url("/slow.ics"): "met trop de temps à répondre",
                server.url("/huge.ics"): "trop gros",
                f"http://127.0.0.1:{closed}/cal.ics": "Je n'ai pas pu joindre",
                "https://calendrier.invalid/cal.ics": "Je n'ai pas pu joindre",
            }
            for url, expected in cases.items():
                await rooms.coordinator.say(f"agenda importer {url}")
                await app.services.calendar.idle()
                await deliver(app)
                last = rooms.matrix.texts(MATRIX_ROOM)[-1]
                assert expected in last and "Rien n'a été importé" in last, (url, last)
    async with app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(CalendarEvent).where(
            CalendarEvent.source.startswith("http"))) == 0
        statuses = (await session.scalars(select(CalendarImport.status))).all()
    assert set(statuses) == {ImportStatus.FAILED}


async def test_a_fetched_file_that_is_not_a_calendar(app: App, op: Speaker) -> None:
    rooms = await demo_with_rooms(app, op)
    app.services.calendar.allow_private_urls = True  # the test server is on 127.0.0.1
    async with IcsServer() as server:
        server.body = b"<html><body>Connexion requise</body></html>"
        await rooms.coordinator.say(f"agenda importer {server.url('/cal.ics')}")
        await app.services.calendar.idle()
        await deliver(app)
    assert "pas un fichier de calendrier lisible" in rooms.matrix.texts(MATRIX_ROOM)[-1]


async def test_internal_addresses_are_refused_unless_the_operator_allows_them(
        app: App, op: Speaker) -> None:
    rooms = await demo_with_rooms(app, op)
    assert app.services.calendar.allow_private_urls is False, "refused by default"
    async with IcsServer() as server:
        internal = [server.url("/cal.ics"), f"http://localhost:{server.port}/cal.ics",
                    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/cal.ics",
                    f"http://[::ffff:127.0.0.1]:{server.port}/cal.ics"]
        for url in internal:
            await rooms.coordinator.say(f"agenda importer {url}")
            await app.services.calendar.idle()
            await deliver(app)
            last = rooms.matrix.texts(MATRIX_ROOM)[-1]
            assert "adresse interne" in last and "Rien n'a été importé" in last, (url, last)
        assert await events_from(app, server.url("/cal.ics")) == 0

        app.services.calendar.allow_private_urls = True
        await rooms.coordinator.say(f"agenda importer {server.url('/cal.ics')}")
        await app.services.calendar.idle()
        await deliver(app)
        assert "Calendrier importé" in rooms.matrix.texts(MATRIX_ROOM)[-1]
        assert await events_from(app, server.url("/cal.ics")) == 3


async def test_redirects_are_followed_and_checked_at_every_hop(
        app: App, op: Speaker, monkeypatch: pytest.MonkeyPatch) -> None:
    rooms = await demo_with_rooms(app, op)
    # 127.0.0.1 plays a public server here; 10.0.0.7 stays internal
    monkeypatch.setattr(bot_calendar, "is_private", lambda host: host.startswith("10."))
    async with IcsServer() as server:
        await rooms.coordinator.say(f"agenda importer {server.url('/inside.ics')}")
        await app.services.calendar.idle()
        await deliver(app)
        assert "adresse interne" in rooms.matrix.texts(MATRIX_ROOM)[-1]
        await rooms.coordinator.say(f"agenda importer {server.url('/moved.ics')}")
        await app.services.calendar.idle()
        await deliver(app)
        assert "Calendrier importé" in rooms.matrix.texts(MATRIX_ROOM)[-1]
        assert await events_from(app, server.url("/moved.ics")) == 3

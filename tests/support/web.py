"""Opening the dashboard as a person would: ask the bot for a link in chat, follow it.

``browser`` (fixture, loaded as a plugin by ``tests/conftest.py``) makes browsers, each
with its own cookie jar, on one test server of the app.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit

import pytest_asyncio
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.bootstrap import App
from handlers.core.ids import Platform
from tests.support.chat import Speaker, person

Browser = Callable[[], Awaitable[TestClient]]

LINK = re.compile(r"(https?://[^\s)]+/tableau/lien/[0-9a-f]+)")
CSRF = re.compile(r'name="csrf" value="([^"]*)"')
NONCE = re.compile(r'name="nonce" value="([^"]*)"')


def link_in(text: str) -> str:
    """The path of the sign-in link in a chat message."""
    found = LINK.search(text)
    assert found is not None, f"no dashboard link in {text!r}"
    return urlsplit(found.group(1)).path


async def ask_link(speaker: Speaker) -> str:
    """``cohorte tableau`` typed in the speaker's DM; returns the link's path."""
    return link_in(await speaker.dm().say("cohorte tableau"))


async def follow(client: TestClient, path: str) -> ClientResponse:
    """Open the link, press the button, land where it leads."""
    landing = await client.get(path)
    assert landing.status == 200, await landing.text()
    nonce = NONCE.search(await landing.text())
    assert nonce is not None
    return await client.post(path, data={"nonce": nonce.group(1)})


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


@pytest_asyncio.fixture(loop_scope="session")
async def browser(app: App) -> AsyncIterator[Browser]:
    """A factory of browsers (each its own cookie jar) on one test server."""
    server = TestServer(app.web.app)
    clients: list[TestClient] = []

    async def open_browser() -> TestClient:
        client = TestClient(server)
        await client.start_server()
        clients.append(client)
        return client

    try:
        yield open_browser
    finally:
        for client in clients:
            await client.close()


async def demo(app: App, op: Speaker) -> dict[str, Speaker]:
    """The demo cohort with two coordinators and two members on Matrix, its room linked.

    camille and hugo coordinate; bernard (élu, référent of Barre-des-Cévennes) and karim
    (of another delegation) are members.
    """
    from tests.conftest import load_demo

    await load_demo(app)
    people = {"camille": ("Camille Martin", "@camille:localhost"),
              "bernard": ("Bernard Roux", "@bernard:localhost"),
              "karim": ("Karim Benali", "@karim:localhost"),
              "hugo": ("Hugo Perrin", "@hugo:localhost")}
    speakers = {}
    for key, (name, mxid) in people.items():
        await op.say(f'membre lier "{name}" matrix:{mxid}')
        speakers[key] = person(app, Platform.MATRIX, mxid, "!occitanie:localhost", name=name)
    await op.elsewhere("!occitanie:localhost").say("cohorte lier occitanie")
    return speakers


async def signed_in(browser: Browser, speaker: Speaker) -> tuple[TestClient, str]:
    """A new browser signed in through the speaker's link; returns it and the landing page."""
    client = await browser()
    response = await follow(client, await ask_link(speaker))
    assert response.status == 200
    return client, await response.text()


async def count(app: App, model: type, *where: object) -> int:
    async with app.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where))
                   or 0)

"""Opening the dashboard as a person would: ask the bot for a link in chat, follow it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.support.chat import Speaker

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

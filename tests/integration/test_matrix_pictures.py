"""Results pictures on a real Synapse: uploaded to the media repository, posted as m.image
after their summary, and a private results request answered in the DM with its picture."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp
import pytest
from PIL import Image

from messages.render.grid_png import Layout
from tests.support.matrix_bot import BotHarness
from tests.support.matrix_user import MatrixUser, matching

pytestmark = pytest.mark.synapse

Bots = Callable[..., Awaitable[BotHarness]]
Users = Callable[..., Awaitable[MatrixUser]]


async def download(user: MatrixUser, mxc: str) -> bytes:
    """The media behind an ``mxc://`` URI, through the authenticated client media API."""
    parts = urlsplit(mxc)
    url = (f"{user.client.homeserver}/_matrix/client/v1/media/download/"
           f"{parts.netloc}{parts.path}")
    headers = {"Authorization": f"Bearer {user.client.access_token}"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.read()


async def test_a_closing_availability_poll_posts_its_grid_picture_in_the_room(
        matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot()
    camille = await matrix_users("camille", displayname="Camille Martin")
    bernard = await matrix_users("bernard", displayname="Bernard Roux")
    await bot.link("Camille Martin", camille)
    await bot.link("Bernard Roux", bernard)
    room = await bot.room_with(camille, bernard, name="Cohorte Occitanie")
    await bot.answer_to(camille, room, await camille.send_text(
        room, "!cohorte cohorte lier occitanie"))
    created = await camille.send_text(
        room, '!cohorte sondage creer "Date du webinaire ?" type=dispo '
              'options="28/04 14h-17h|29/04 9h-12h"')
    await bot.answer_to(camille, room, created)
    voted = await bernard.send_text(room, "!cohorte sondage voter 1 oui si-besoin")
    await bot.answer_to(bernard, room, voted)

    await camille.send_text(room, "!cohorte sondage fermer 1")
    notice = await camille.wait_for(room, matching(sender=bot.user_id,
                                                   body_contains="est clos"))
    image_event = await camille.wait_for(room, matching(sender=bot.user_id,
                                                        msgtype="m.image"))

    content = image_event["content"]
    assert "Bernard Roux" in notice["content"]["body"]
    assert content["filename"] == "sondage-1.png"
    assert content["body"].startswith("Date du webinaire ? — 1 réponse sur 32")
    assert content["info"]["mimetype"] == "image/png"
    assert (content["info"]["w"], content["info"]["h"]) == Layout().size(2, 32)
    picture = Image.open(io.BytesIO(await download(camille, content["url"])))
    assert picture.format == "PNG" and picture.size == Layout().size(2, 32)
    assert content["info"]["size"] == len(await download(camille, content["url"]))
    events = camille.events(room)
    ids = [e.get("event_id") for e in events]
    assert ids.index(notice["event_id"]) < ids.index(image_event["event_id"])


async def test_results_asked_in_the_room_come_with_the_picture_in_a_dm(
        matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot()
    camille = await matrix_users("camille", displayname="Camille Martin")
    await bot.link("Camille Martin", camille)
    room = await bot.room_with(camille, name="Cohorte Occitanie")
    await bot.answer_to(camille, room, await camille.send_text(
        room, "!cohorte cohorte lier occitanie"))
    created = await camille.send_text(
        room, '!cohorte sondage creer "Quand ?" type=dispo options="28/04|29/04|30/04"')
    await bot.answer_to(camille, room, created)

    asked = await camille.send_text(room, "!cohorte sondage resultats 1")
    pointer = await bot.answer_to(camille, room, asked)
    dm = await camille.wait_for_invite(inviter=bot.user_id)
    await camille.join(dm)
    text = await camille.wait_for(dm, matching(sender=bot.user_id, msgtype="m.notice"))
    image_event = await camille.wait_for(dm, matching(sender=bot.user_id, msgtype="m.image"))

    assert "message privé" in pointer["content"]["body"]
    assert "Résultats du sondage n°1" in text["content"]["body"]
    assert not [e for e in camille.events(room) if e["content"].get("msgtype") == "m.image"]
    picture = Image.open(io.BytesIO(await download(camille, image_event["content"]["url"])))
    assert picture.size == Layout().size(3, 32)


async def test_in_an_encrypted_room_the_picture_is_uploaded_encrypted(
        matrix_bot: Bots, matrix_users: Users, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from nio.crypto.attachments import decrypt_attachment

    bot = await matrix_bot(e2e=True)
    camille = await matrix_users("camille-pic", e2e_store=str(tmp_path / "camille-keys"))
    await bot.link("Camille Martin", camille)
    room = await bot.room_with(camille, encrypted=True)
    await bot.answer_to(camille, room, await camille.send_text(
        room, "!cohorte cohorte lier occitanie"), timeout=20)
    created = await camille.send_text(
        room, '!cohorte sondage creer "Quand ?" type=dispo options="28/04|29/04"')
    await bot.answer_to(camille, room, created, timeout=20)
    await camille.send_text(room, "!cohorte sondage fermer 1")
    image_event = await camille.wait_for(room, matching(sender=bot.user_id, msgtype="m.image"),
                                         timeout=20)

    content = image_event["content"]
    assert image_event["event_id"] in camille.decrypted
    assert "url" not in content and content["file"]["url"].startswith("mxc://")
    encrypted = await download(camille, content["file"]["url"])
    assert b"\x89PNG" not in encrypted[:16]
    plain = decrypt_attachment(encrypted, content["file"]["key"]["k"],
                               content["file"]["hashes"]["sha256"], content["file"]["iv"])
    assert Image.open(io.BytesIO(plain)).size == Layout().size(2, 32)

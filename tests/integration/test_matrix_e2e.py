"""Encrypted rooms, with the ``e2e`` option on and off."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.support.matrix_bot import BotHarness
from tests.support.matrix_user import MatrixUser, matching

pytestmark = pytest.mark.synapse

Bots = Callable[..., Awaitable[BotHarness]]
Users = Callable[..., Awaitable[MatrixUser]]


async def test_without_e2e_the_bot_says_once_in_clear_that_it_cannot_read(
        matrix_bot: Bots, matrix_users: Users, tmp_path: Path) -> None:
    bot = await matrix_bot()
    camille = await matrix_users("camille-e2e", e2e_store=str(tmp_path / "camille-keys"))
    await bot.link("Camille Martin", camille)
    room = await bot.room_with(camille, encrypted=True)
    notice = await camille.wait_for(room, matching(sender=bot.user_id, msgtype="m.notice",
                                                   body_contains="chiffré"))

    first = await camille.send_text(room, "!cohorte aide")
    await camille.send_text(room, "!cohorte delegation lister")
    plain_room = await bot.room_with(camille, name="en clair")
    marker = await camille.send_text(plain_room, "!cohorte delegation lister")
    await bot.answer_to(camille, plain_room, marker)

    assert notice["event_id"] not in camille.decrypted
    assert first in camille.decrypted
    from_bot = [e for e in camille.events(room) if e["sender"] == bot.user_id
                and e["type"] in ("m.room.message", "m.room.encrypted")]
    assert len([e for e in from_bot if "chiffré" in e["content"].get("body", "")]) == 1
    assert all("Barre" not in e["content"].get("body", "") for e in from_bot)


async def test_with_e2e_the_bot_reads_and_answers_in_an_encrypted_room(
        matrix_bot: Bots, matrix_users: Users, tmp_path: Path) -> None:
    bot = await matrix_bot(e2e=True)
    camille = await matrix_users("camille-e2e2", e2e_store=str(tmp_path / "camille-keys"))
    await bot.link("Camille Martin", camille)
    room = await bot.room_with(camille, encrypted=True)

    command = await camille.send_text(room, "!cohorte delegation lister")
    reply = await bot.answer_to(camille, room, command, timeout=20)

    assert command in camille.decrypted and reply["event_id"] in camille.decrypted
    assert reply["content"]["msgtype"] == "m.notice"
    assert "Barre-des-Cévennes" in reply["content"]["body"]
    assert (bot.data_dir / "matrix-e2e").is_dir()
    assert not [e for e in camille.events(room) if "chiffré" in
                (e.get("content") or {}).get("body", "")]

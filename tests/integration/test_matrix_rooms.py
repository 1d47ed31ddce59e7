"""The bot in Matrix rooms, as people see it from a real client on a real Synapse."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bot.devtools.local_synapse import MatrixAPIError
from tests.support.matrix_bot import BotHarness, answers
from tests.support.matrix_user import MatrixUser, matching

pytestmark = pytest.mark.synapse

Bots = Callable[..., Awaitable[BotHarness]]
Users = Callable[..., Awaitable[MatrixUser]]


async def test_a_coordinator_links_a_room_and_members_get_notices(
        matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot()
    camille = await matrix_users("camille", displayname="Camille Martin")
    bernard = await matrix_users("bernard", displayname="Bernard Roux")
    await bot.link("Camille Martin", camille)
    await bot.link("Bernard Roux", bernard)
    room = await bot.room_with(camille, bernard, name="Cohorte Occitanie")
    hello = await camille.wait_for(room, matching(sender=bot.user_id, msgtype="m.notice"))
    assert "cohorte lier" in hello["content"]["body"]

    link = await camille.send_text(room, "!cohorte cohorte lier occitanie")
    linked = await bot.answer_to(camille, room, link)
    help_cmd = await bernard.send_text(room, "!cohorte aide")
    helped = await bot.answer_to(bernard, room, help_cmd)

    content = linked["content"]
    assert content["msgtype"] == "m.notice"
    assert "Ce salon est maintenant celui de la cohorte Cohorte Occitanie" in content["body"]
    assert content["format"] == "org.matrix.custom.html"
    assert "<strong>Cohorte Occitanie</strong>" in content["formatted_body"]
    private = helped["content"]
    assert private["body"].startswith("Bernard Roux : ")
    assert f'<a href="https://matrix.to/#/{bernard.user_id}">Bernard Roux</a>' in \
        private["formatted_body"]
    assert private["m.mentions"]["user_ids"] == [bernard.user_id]
    assert "Ce que vous pouvez faire ici" in private["body"]


async def test_a_command_in_a_thread_is_answered_in_that_thread(
        matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot()
    camille = await matrix_users("camille")
    await bot.link("Camille Martin", camille)
    room = await bot.room_with(camille)
    root = await camille.send_text(room, "Organisation de la plénière")
    command = await camille.send_text(room, "!cohorte delegation lister", thread_root=root)

    reply = await bot.answer_to(camille, room, command)

    relation = reply["content"]["m.relates_to"]
    assert relation["rel_type"] == "m.thread" and relation["event_id"] == root
    assert relation["is_falling_back"] is False
    assert "Barre-des-Cévennes" in reply["content"]["body"]


async def test_a_member_opens_a_dm_and_talks_to_the_bot(matrix_bot: Bots,
                                                        matrix_users: Users) -> None:
    bot = await matrix_bot()
    bernard = await matrix_users("bernard", displayname="Bernard Roux")
    await bot.link("Bernard Roux", bernard)
    dm = await bernard.create_room(invite=[bot.user_id], is_direct=True)
    hello = await bernard.wait_for(dm, matching(sender=bot.user_id, msgtype="m.notice"))

    me = await bernard.send_text(dm, "!cohorte moi")
    shown = await bernard.wait_for(dm, matching(sender=bot.user_id, body_contains="Bernard"),
                                   since=me)
    record = await bernard.wait_for(dm, matching(sender=bot.user_id, msgtype="m.file"),
                                    since=me)
    chat = await bernard.send_text(dm, "bonjour le bot")
    answer = await bernard.wait_for(dm, matching(sender=bot.user_id), since=chat)

    assert "aide" in hello["content"]["body"]
    assert shown["content"]["msgtype"] == "m.notice"
    assert "m.relates_to" not in shown["content"]
    assert "Barre-des-Cévennes" in shown["content"]["body"]
    assert record["content"]["body"] == "mes-donnees.json", "the whole record comes as a file"
    assert "Je n'ai pas compris" in answer["content"]["body"]


async def test_sensitive_answers_asked_in_a_room_go_to_a_dm(matrix_bot: Bots,
                                                            matrix_users: Users) -> None:
    bot = await matrix_bot()
    camille = await matrix_users("camille")
    bernard = await matrix_users("bernard", displayname="Bernard Roux")
    await bot.link("Camille Martin", camille)
    await bot.link("Bernard Roux", bernard)
    room = await bot.room_with(camille, bernard)

    asked = await bernard.send_text(room, "!cohorte moi")
    pointer = await bot.answer_to(bernard, room, asked)
    dm = await bernard.wait_for_invite(inviter=bot.user_id)
    await bernard.join(dm)
    data = await bernard.wait_for(dm, matching(sender=bot.user_id, msgtype="m.notice"))

    assert "message privé" in pointer["content"]["body"]
    assert "Barre-des-Cévennes" not in pointer["content"]["body"]
    assert pointer["content"]["m.mentions"]["user_ids"] == [bernard.user_id]
    assert "Barre-des-Cévennes" in data["content"]["body"]
    again = await bernard.send_text(room, "!cohorte moi")
    await bot.answer_to(bernard, room, again)
    second = await bernard.wait_for_count(dm, matching(sender=bot.user_id,
                                                       msgtype="m.notice"), 2)
    assert "Barre-des-Cévennes" in second[1]["content"]["body"]
    assert bernard.invites == {}


async def test_unknown_commands_and_unlinked_rooms_get_clear_french_answers(
        matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot()
    camille = await matrix_users("camille")
    zoe = await matrix_users("zoe")
    await bot.link("Camille Martin", camille)
    room = await bot.room_with(camille, zoe)

    typo = await camille.send_text(room, "!cohorte sondag")
    empty = await camille.send_text(room, "!cohorte")
    stranger = await zoe.send_text(room, "!cohorte delegation lister")
    unlink = await camille.send_text(room, "!cohorte cohorte delier")

    assert "Je ne connais pas la commande" in (await bot.answer_to(camille, room, typo))[
        "content"]["body"]
    assert (await bot.answer_to(camille, room, empty))["content"]["body"]
    refused = (await bot.answer_to(zoe, room, stranger))["content"]["body"]
    assert refused and "Traceback" not in refused
    assert "n'est lié à aucune" in (await bot.answer_to(camille, room, unlink))["content"][
        "body"]


async def test_invites_from_strangers_are_declined_in_silence(matrix_bot: Bots,
                                                              matrix_users: Users) -> None:
    bot = await matrix_bot()
    mallory = await matrix_users("mallory")
    room = await mallory.create_room(name="pub", invite=[bot.user_id])
    left = await mallory.wait_for(room, matching(type="m.room.member", sender=bot.user_id))

    assert left["content"]["membership"] == "leave"
    assert not [e for e in mallory.events(room) if e["type"] == "m.room.message"]


async def test_history_own_messages_notices_and_edits_are_not_commands(
        matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot()
    camille = await matrix_users("camille")
    await bot.link("Camille Martin", camille)
    room = await camille.create_room(name="avant")
    before = await camille.send_text(room, "!cohorte aide")
    await camille.invite(room, bot.user_id)
    await camille.wait_for(room, matching(sender=bot.user_id, msgtype="m.notice"))

    notice = await camille.send_text(room, "!cohorte aide", msgtype="m.notice")
    command = await camille.send_text(room, "!cohorte delegation lister")
    await bot.answer_to(camille, room, command)
    await camille.edit(room, command, "!cohorte cohorte lister")
    marker = await camille.send_text(room, "!cohorte moi")
    await bot.answer_to(camille, room, marker)

    bot_messages = [e for e in camille.events(room)
                    if e["sender"] == bot.user_id and e["type"] == "m.room.message"]
    replied_to = [((e["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {})
                  .get("event_id") for e in bot_messages]
    assert before not in replied_to and notice not in replied_to
    assert replied_to.count(command) == 1
    assert len(bot_messages) == 3


async def test_malformed_and_oversized_messages_do_not_stop_the_bot(
        matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot()
    camille = await matrix_users("camille")
    await bot.link("Camille Martin", camille)
    room = await bot.room_with(camille)
    await camille.wait_for(room, matching(sender=bot.user_id, msgtype="m.notice"))
    malformed = []
    for content in ({"msgtype": "m.text", "body": 42},
                    {"body": "!cohorte aide"},
                    {"msgtype": ["m.text"], "body": "!cohorte aide"},
                    {"msgtype": "m.text", "body": "!cohorte aide",
                     "m.relates_to": {"rel_type": "m.thread", "event_id": 7}},
                    {}):
        try:
            malformed.append(await camille.send_event(room, "m.room.message", content))
        except MatrixAPIError as refused:
            assert refused.status == 400
    await camille.send_event(room, "org.example.unknown", {"weird": True})
    odd_relation = await camille.send_event(room, "m.room.message", {
        "msgtype": "m.text", "body": "!cohorte delegation lister", "m.relates_to": "oops"})
    long = await camille.send_text(room, "!cohorte delegation ajouter " + "x" * 20_000)
    chatter = await camille.send_text(room, "x" * 30_000)
    after = await camille.send_text(room, "!cohorte delegation lister")

    tolerated = await bot.answer_to(camille, room, odd_relation)
    too_long = await bot.answer_to(camille, room, long)
    listed = await bot.answer_to(camille, room, after)

    assert malformed  # Synapse refuses most bad shapes itself; unit tests cover the rest
    assert "Barre-des-Cévennes" in tolerated["content"]["body"]
    assert "trop long" in too_long["content"]["body"]
    assert "Barre-des-Cévennes" in listed["content"]["body"]
    for skipped in (*malformed, chatter):
        assert not [e for e in camille.events(room) if answers(bot.user_id, skipped)(e)]

"""Polls on a real Synapse, as people in Element would use them: native polls voted by other
clients, the results message edited in place, the poll ended by the bot, anonymous polls
collected in DMs, the kinds native polls cannot show answered by command or by reply."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select

from storage.models_polls import PollAnswer
from tests.support.matrix_bot import BotHarness
from tests.support.matrix_user import Event, MatrixUser, matching

pytestmark = pytest.mark.synapse

Bots = Callable[..., Awaitable[BotHarness]]
Users = Callable[..., Awaitable[MatrixUser]]

START = "org.matrix.msc3381.poll.start"
RESPONSE = "org.matrix.msc3381.poll.response"
END = "org.matrix.msc3381.poll.end"


async def vote(user: MatrixUser, room: str, start: str, *answers: str, stable: bool = False,
               txn_id: str | None = None) -> str:
    """Vote on a native poll as a client does (Element sends the unstable names)."""
    relation = {"rel_type": "m.reference", "event_id": start}
    if stable:
        return await user.send_event(room, "m.poll.response",
                                     {"m.selections": list(answers), "m.relates_to": relation},
                                     txn_id=txn_id)
    return await user.send_event(room, RESPONSE, {RESPONSE: {"answers": list(answers)},
                                                  "m.relates_to": relation}, txn_id=txn_id)


def edit_of(bot: BotHarness, original: str, contains: str) -> Callable[[Event], bool]:
    """The bot's edit of ``original`` whose new text contains ``contains``."""
    def predicate(event: Event) -> bool:
        content = event["content"]
        relation = content.get("m.relates_to") or {}
        return (event["sender"] == bot.user_id and relation.get("rel_type") == "m.replace"
                and relation.get("event_id") == original
                and contains in content["m.new_content"]["body"])
    return predicate


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " "))


async def stored(bot: BotHarness, poll_id: int) -> list[PollAnswer]:
    assert bot.app is not None
    async with bot.app.db.session() as session:
        return list((await session.scalars(select(PollAnswer).where(
            PollAnswer.poll_id == poll_id).order_by(PollAnswer.scope_key))).all())


async def cohort_room(bot: BotHarness, coordinator: MatrixUser, *people: MatrixUser) -> str:
    room = await bot.room_with(coordinator, *people, name="Cohorte Occitanie")
    link = await coordinator.send_text(room, "!cohorte cohorte lier occitanie")
    await bot.answer_to(coordinator, room, link)
    return room


async def people(bot: BotHarness, users: Users, **names: str) -> dict[str, MatrixUser]:
    found = {}
    for localpart, name in names.items():
        user = await users(localpart, displayname=name)
        await bot.link(name, user)
        found[localpart] = user
    return found


async def created(bot: BotHarness, user: MatrixUser, room: str, command: str) -> int:
    sent = await user.send_text(room, command)
    answer = await bot.answer_to(user, room, sent)
    number = re.search(r"n°(\d+)", answer["content"]["body"])
    assert number, answer["content"]["body"]
    return int(number[1])


async def test_native_poll_voted_from_other_clients_edited_in_place_and_ended(
        matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot(scheduler=True)
    who = await people(bot, matrix_users, camille="Camille Martin", bernard="Bernard Roux",
                       julien="Julien Ferrer", karim="Karim Benali")
    camille, bernard, julien, karim = who.values()
    room = await cohort_room(bot, camille, bernard, julien, karim)

    number = await created(bot, camille, room,
                           '!cohorte sondage creer "Quel format pour la plénière ?" '
                           'options="Visio|Présentiel|Hybride"')
    start = await bernard.wait_for(room, matching(sender=bot.user_id, type=START))
    card = await bernard.wait_for(room, matching(sender=bot.user_id, msgtype="m.notice",
                                                 body_contains=f"📊 Sondage n°{number}"),
                                  since=start["event_id"])
    poll = start["content"][START]
    assert poll["max_selections"] == 1 and poll["kind"].endswith("disclosed")
    assert [(a["id"], a["org.matrix.msc1767.text"]) for a in poll["answers"]] == [
        ("1", "Visio"), ("2", "Présentiel"), ("3", "Hybride")]
    assert "sondage voter" in card["content"]["body"]
    assert "Présentiel : !cohorte sondage voter" not in card["content"]["body"]

    await vote(bernard, room, start["event_id"], "2")
    await vote(julien, room, start["event_id"], "2")
    await vote(karim, room, start["event_id"], "3", stable=True)
    edited = await bernard.wait_for(
        room, edit_of(bot, card["event_id"], "Ont répondu (3/"), timeout=20)
    body = squash(edited["content"]["m.new_content"]["body"])
    assert "Présentiel — 2 ⭐ (Bernard Roux" in body and "Hybride — 1 (Karim Benali" in body

    changed = await vote(bernard, room, start["event_id"], "1")
    await vote(bernard, room, start["event_id"], "1", txn_id="same-click")
    await vote(bernard, room, start["event_id"], "1", txn_id="same-click")
    later = await bernard.wait_for(room, edit_of(bot, card["event_id"], "Visio — 1"),
                                   since=changed, timeout=20)
    assert "Présentiel — 1" in squash(later["content"]["m.new_content"]["body"])
    rows = await stored(bot, number)
    assert len(rows) == 3
    assert {r.value["choices"][0] for r in rows} == {1, 2, 3}

    closing = await camille.send_text(room, f"!cohorte sondage fermer {number}")
    end = await bernard.wait_for(room, matching(sender=bot.user_id, type=END), since=closing,
                                 timeout=20)
    assert end["content"]["m.relates_to"] == {"rel_type": "m.reference",
                                              "event_id": start["event_id"]}
    final = await bernard.wait_for(room, edit_of(bot, card["event_id"], "clos"),
                                   since=closing, timeout=20)
    assert "Visio — 1" in squash(final["content"]["m.new_content"]["body"])

    late = await vote(julien, room, start["event_id"], "1")
    told = await julien.wait_for(room, lambda e: e["sender"] == bot.user_id and julien.user_id
                                 in e["content"]["m.mentions"]["user_ids"], since=late,
                                 timeout=20)
    assert "est clos" in told["content"]["body"] and "Visio" in told["content"]["body"]
    assert sorted(r.value["choices"][0] for r in await stored(bot, number)) == [1, 2, 3]
    ends = [e for e in bernard.events(room) if e["type"] == END]
    assert len(ends) == 1


def notices(user: MatrixUser, room: str, bot: BotHarness) -> list[dict[str, Any]]:
    return [e for e in user.events(room) if e["sender"] == bot.user_id
            and e["content"].get("msgtype") == "m.notice"]


async def test_anonymous_poll_is_collected_in_dms_never_in_the_room(
        matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot(scheduler=True)
    who = await people(bot, matrix_users, camille="Camille Martin", bernard="Bernard Roux",
                       nathalie="Nathalie Fabre")
    camille, bernard, nathalie = who.values()
    room = await cohort_room(bot, camille, bernard, nathalie)

    number = await created(bot, camille, room,
                           '!cohorte sondage creer "Le rythme des webinaires convient-il ?" '
                           "anonyme=oui")
    card = await bernard.wait_for(room, matching(sender=bot.user_id, msgtype="m.notice",
                                                 body_contains=f"📊 Sondage n°{number}"))
    assert "message privé" in card["content"]["body"]
    assert "sondage voter" not in card["content"]["body"]

    ballots = {}
    for user in (bernard, nathalie):
        dm = await user.wait_for_invite(timeout=20, inviter=bot.user_id)
        await user.join(dm)
        start = await user.wait_for(dm, matching(sender=bot.user_id, type=START))
        text = await user.wait_for(dm, matching(sender=bot.user_id, msgtype="m.notice",
                                                body_contains="anonyme"))
        assert "ne montreront pas qui a répondu quoi" in text["content"]["body"]
        ballots[user.user_id] = (dm, start["event_id"])
    dm, start = ballots[bernard.user_id]
    await vote(bernard, dm, start, "1")
    dm, start = ballots[nathalie.user_id]
    await vote(nathalie, dm, start, "2")

    edited = await bernard.wait_for(room, edit_of(bot, card["event_id"], "Réponses : 2"),
                                    timeout=20)
    body = edited["content"]["m.new_content"]["body"]
    assert "Bernard" not in body and "Nathalie" not in body
    assert [e for e in bernard.events(room) if e["type"] in (START, RESPONSE)] == []
    assert len(await stored(bot, number)) == 2

    closing = await camille.send_text(room, f"!cohorte sondage fermer {number}")
    await bernard.wait_for(room, edit_of(bot, card["event_id"], "clos"), since=closing,
                           timeout=20)
    for user in (bernard, nathalie):
        dm, start = ballots[user.user_id]
        end = await user.wait_for(dm, matching(sender=bot.user_id, type=END), timeout=20)
        assert end["content"]["m.relates_to"]["event_id"] == start


async def test_availability_poll_answered_by_command_and_by_reply(
        matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot(scheduler=True)
    who = await people(bot, matrix_users, camille="Camille Martin", bernard="Bernard Roux",
                       julien="Julien Ferrer")
    camille, bernard, julien = who.values()
    room = await cohort_room(bot, camille, bernard, julien)

    number = await created(bot, camille, room,
                           '!cohorte sondage creer "Date du webinaire ?" type=dispo '
                           'options="28/04/2031 14h-17h|29/04/2031 9h-12h|30/04/2031"')
    card = await bernard.wait_for(room, matching(sender=bot.user_id, msgtype="m.notice",
                                                 body_contains=f"📊 Sondage n°{number}"))
    assert [e for e in bernard.events(room) if e["type"] == START] == []
    assert "répondez simplement à ce message" in card["content"]["body"]

    command = await bernard.send_text(room, f"!cohorte sondage voter {number} oui si-besoin non")
    confirmed = await bot.answer_to(bernard, room, command)
    assert "Réponse enregistrée" in confirmed["content"]["body"]
    answer = await julien.send_text(room, "non oui oui", reply_to=card["event_id"])
    replied = await bot.answer_to(julien, room, answer)
    assert "Réponse enregistrée" in replied["content"]["body"]
    wrong = await julien.send_text(room, "oui non", reply_to=card["event_id"])
    refused = await bot.answer_to(julien, room, wrong)
    assert "propose 3 dates et j'ai lu 2 réponses" in refused["content"]["body"]

    edited = await bernard.wait_for(room, edit_of(bot, card["event_id"], "Ont répondu (2/"),
                                    timeout=20)
    assert "Meilleure date : mardi 29 avril 2031, 9 h – 12 h (1 oui, 1 si besoin)" in \
        squash(edited["content"]["m.new_content"]["body"])
    values = sorted(tuple(sorted(r.value["availability"].items()))
                    for r in await stored(bot, number))
    assert values == [(("1", "no"), ("2", "yes"), ("3", "yes")),
                      (("1", "yes"), ("2", "maybe"), ("3", "no"))]


async def test_votes_missed_by_a_limited_sync_are_tallied_again_from_relations(
        matrix_bot: Bots, matrix_users: Users) -> None:
    bot = await matrix_bot(scheduler=True, timeline_limit=3, gap_max_pages=0)
    who = await people(bot, matrix_users, camille="Camille Martin", bernard="Bernard Roux",
                       julien="Julien Ferrer", karim="Karim Benali")
    camille, bernard, julien, karim = who.values()
    room = await cohort_room(bot, camille, bernard, julien, karim)
    number = await created(bot, camille, room, '!cohorte sondage creer "Plénière à Sète ?"')
    start = await bernard.wait_for(room, matching(sender=bot.user_id, type=START))

    await bot.stop()
    await vote(bernard, room, start["event_id"], "1")
    await vote(julien, room, start["event_id"], "2")
    await vote(julien, room, start["event_id"], "1")
    await vote(karim, room, start["event_id"], "2")
    for i in range(6):
        await camille.send_text(room, f"bavardage {i}")
    await bot.start()
    assert bot.adapter is not None

    marker = await camille.send_text(room, "!cohorte aide")
    await bot.answer_to(camille, room, marker, timeout=20)
    assert bot.adapter.retallies >= 1
    rows = await stored(bot, number)
    assert sorted(r.value["choices"][0] for r in rows) == [1, 1, 2]

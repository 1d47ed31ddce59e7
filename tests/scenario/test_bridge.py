"""The bridge through the real router, dispatcher and outbox (recording senders)."""

from __future__ import annotations

import asyncio

import pytest

from bot.bootstrap import App
from bot.delivery import Outbound
from handlers.core.events import SharedFile
from handlers.core.ids import Platform
from storage.models import OutboxStatus
from storage.uow import Store
from tests.conftest import load_demo
from tests.support.bridge import MATRIX_ROOM, SLACK_CHANNEL, Poster, link_people, link_rooms
from tests.support.chat import Speaker, person
from tests.support.fakes import RecordingSender


@pytest.fixture
async def bridged(app: App, op: Speaker) -> App:
    await load_demo(app)
    await link_rooms(app, [("slack", SLACK_CHANNEL), ("matrix", MATRIX_ROOM)])
    await link_people(app, {"Camille Martin": [("slack", "U1"), ("matrix", "@camille:localhost")],
                            "Bernard Roux": [("slack", "U2")],
                            "Nathalie Fabre": [("matrix", "@nathalie:localhost")]})
    answer = await op.say("cohorte pont activer cohorte=occitanie")
    assert "Pont activé" in answer
    return app


def sender(app: App, platform: Platform) -> RecordingSender:
    found = app.delivery.senders[platform]
    assert isinstance(found, RecordingSender)
    return found


async def deliver(app: App) -> tuple[list[Outbound], list[Outbound]]:
    """Deliver the outbox; the relay copies each side received (oldest first)."""
    for platform in (Platform.SLACK, Platform.MATRIX):
        await app.delivery.flush(platform)
    return ([m for m in sender(app, Platform.SLACK).sent if _relay(m)],
            [m for m in sender(app, Platform.MATRIX).sent if _relay(m)])


def _relay(message: Outbound) -> bool:
    return isinstance(message.reply.card, dict) and message.reply.card.get("type") == "relay"


def slack_user(app: App, user: str = "U2", name: str | None = "Bernard Roux") -> Poster:
    return Poster(app, Platform.SLACK, user, SLACK_CHANNEL, name)


def matrix_user(app: App, user: str = "@nathalie:localhost", name: str | None = "Nathalie F."
                ) -> Poster:
    return Poster(app, Platform.MATRIX, user, MATRIX_ROOM, name)


async def test_a_slack_message_is_copied_once_to_matrix_with_its_authors_member_name(
        bridged: App) -> None:
    bernard = slack_user(bridged)
    ts = await bernard.post("**Bonjour** à toutes et tous", event_id="Ev1")
    await bernard.post("**Bonjour** à toutes et tous", message_id=ts, event_id="Ev1")
    await bernard.post("**Bonjour** à toutes et tous", message_id=ts, event_id="history")
    to_slack, to_matrix = await deliver(bridged)
    assert to_slack == []
    assert len(to_matrix) == 1
    copy = to_matrix[0]
    assert copy.destination == MATRIX_ROOM
    assert copy.reply.text == "**Bonjour** à toutes et tous"
    assert copy.reply.card["sender"]["name"] == "Bernard Roux"
    assert copy.reply.card["op"] == "post"


async def test_matrix_messages_reach_slack_in_order_and_an_unknown_person_keeps_their_name(
        bridged: App) -> None:
    visitor = matrix_user(bridged, "@visiteur:localhost", "Véro Visiteuse")
    for n in range(5):
        await visitor.post(f"message {n}")
    to_slack, _ = await deliver(bridged)
    assert [m.reply.text for m in to_slack] == [f"message {n}" for n in range(5)]
    assert {m.reply.card["sender"]["name"] for m in to_slack} == {"Véro Visiteuse"}


async def test_nothing_is_relayed_when_the_bridge_is_off_or_the_room_is_not_the_cohorts(
        bridged: App, op: Speaker) -> None:
    assert "désactivé" in await op.say("cohorte pont desactiver cohorte=occitanie")
    await slack_user(bridged).post("personne ne me lit")
    await Poster(bridged, Platform.SLACK, "U2", "C-other").post("ailleurs")
    to_slack, to_matrix = await deliver(bridged)
    assert to_slack == [] and to_matrix == []


async def test_edit_and_delete_follow_the_copy(bridged: App) -> None:
    nathalie = matrix_user(bridged)
    event = await nathalie.post("premier jet")
    await deliver(bridged)
    await nathalie.edit(event, "version *corrigée*", change_id="$edit1")
    await nathalie.edit(event, "version *corrigée*", change_id="$edit1")
    to_slack, _ = await deliver(bridged)
    edits = [m for m in to_slack if m.reply.card["op"] == "edit"]
    assert len(edits) == 1
    assert edits[0].edit_message_id == "slack-msg-1"
    assert edits[0].reply.text == "version *corrigée*"
    await nathalie.delete(event)
    to_slack, _ = await deliver(bridged)
    deletions = [m for m in to_slack if m.reply.card["op"] == "delete"]
    assert len(deletions) == 1
    assert deletions[0].edit_message_id == edits[0].edit_message_id


async def test_a_message_deleted_before_its_copy_left_is_never_shown(bridged: App) -> None:
    bernard = slack_user(bridged)
    ts = await bernard.post("oups, pas ici")
    await bernard.delete(ts)
    _, to_matrix = await deliver(bridged)
    assert [m.reply.card["op"] for m in to_matrix] == ["delete"]
    assert to_matrix[0].edit_message_id is None


async def test_threads_and_replies_land_under_the_counterpart_both_ways(bridged: App) -> None:
    bernard = slack_user(bridged)
    nathalie = matrix_user(bridged)
    root = await bernard.post("On fixe la date ?")
    _, to_matrix = await deliver(bridged)
    root_copy = sender(bridged, Platform.MATRIX).sent[-1]
    matrix_root_id = f"matrix-msg-{len(sender(bridged, Platform.MATRIX).sent)}"
    assert root_copy.reply.text == "On fixe la date ?"
    await nathalie.post("Le 12 me va", thread_root=matrix_root_id)
    await bernard.post("Parfait", thread_root=root)
    to_slack, to_matrix = await deliver(bridged)
    assert to_slack[-1].reply.card["thread"] == {"id": root}
    assert to_matrix[-1].reply.card["thread"] == {"id": matrix_root_id}


async def test_a_thread_reply_sent_before_its_root_copy_left_points_at_the_root_key(
        bridged: App) -> None:
    bernard = slack_user(bridged)
    root = await bernard.post("racine")
    await bernard.post("réponse", thread_root=root)
    _, to_matrix = await deliver(bridged)
    assert to_matrix[1].reply.card["thread"]["key"].startswith("relay:slack:C1:")


async def test_mentions_of_linked_members_carry_their_other_account(bridged: App) -> None:
    bernard = slack_user(bridged)
    await bernard.post("merci [U1](cb-mention:slack=U1) et [U9](cb-mention:slack=U9)")
    _, to_matrix = await deliver(bridged)
    text = to_matrix[0].reply.text
    assert "[Camille Martin](cb-mention:matrix=@camille:localhost;slack=U1)" in text
    assert "[U9](cb-mention:slack=U9)" in text


async def test_a_very_long_message_is_split_in_parts_and_deleted_whole(bridged: App) -> None:
    bernard = slack_user(bridged)
    paragraph = "mot " * 1000
    ts = await bernard.post("\n\n".join([paragraph] * 10))
    _, to_matrix = await deliver(bridged)
    assert len(to_matrix) >= 4
    assert all(len(m.reply.text) <= 12_000 for m in to_matrix)
    assert "".join(m.reply.text for m in to_matrix).count("mot") == 10_000
    await bernard.delete(ts)
    _, to_matrix = await deliver(bridged)
    assert sum(1 for m in to_matrix if m.reply.card["op"] == "delete") == len(to_matrix) // 2


async def test_files_and_unsupported_content(bridged: App) -> None:
    nathalie = matrix_user(bridged)
    picture = SharedFile("carte.png", "mxc://localhost/abc", "image/png", 1234, "image")
    await nathalie.post("la carte", files=(picture,))
    await nathalie.post("", unsupported="call")
    to_slack, _ = await deliver(bridged)
    assert [m.reply.text for m in to_slack[:2]] == ["la carte", ""]
    assert to_slack[1].reply.card["file"]["url"] == "mxc://localhost/abc"
    assert "a lancé un appel" in to_slack[2].reply.text


async def test_reactions_are_relayed_once_per_key_and_taken_back_by_the_last(
        bridged: App) -> None:
    bernard = slack_user(bridged)
    camille = slack_user(bridged, "U1", "Camille")
    ts = await bernard.post("On vote ?")
    await deliver(bridged)
    await bernard.react(ts, "👍", "r1")
    await camille.react(ts, "👍", "r2")
    _, to_matrix = await deliver(bridged)
    assert [m.reply.card["op"] for m in to_matrix[1:]] == ["react"]
    await bernard.unreact("r1")
    _, to_matrix = await deliver(bridged)
    assert [m.reply.card["op"] for m in to_matrix[1:]] == ["react"]
    await camille.unreact("r2")
    _, to_matrix = await deliver(bridged)
    assert [m.reply.card["op"] for m in to_matrix[1:]] == ["react", "unreact"]


async def test_commands_and_the_bots_own_poll_messages_are_not_relayed(
        bridged: App, op: Speaker) -> None:
    await op.say("sondage creer cohorte=occitanie Quelle date ? options=\"12 mai|19 mai\"")
    to_slack, to_matrix = await deliver(bridged)
    assert to_slack == [] and to_matrix == []
    polls_on_slack = [m for m in sender(bridged, Platform.SLACK).sent
                      if (m.reply.card or {}).get("type") == "poll"]
    polls_on_matrix = [m for m in sender(bridged, Platform.MATRIX).sent
                       if (m.reply.card or {}).get("type") == "poll"]
    assert len(polls_on_slack) == 1 and len(polls_on_matrix) == 1


async def test_pont_needs_a_room_on_each_side_and_reports_its_state(app: App, op: Speaker
                                                                      ) -> None:
    await load_demo(app)
    await link_rooms(app, [("slack", SLACK_CHANNEL)])
    answer = await op.say("cohorte pont activer cohorte=occitanie")
    assert "aucun salon Matrix n'est lié" in answer and "!cohorte lier" in answer
    await link_rooms(app, [("matrix", MATRIX_ROOM)])
    assert "Pont activé" in await op.say("cohorte pont activer cohorte=occitanie")
    assert "déjà activé" in await op.say("cohorte pont activer cohorte=occitanie")
    await slack_user(app).post("un")
    status = await op.say("cohorte pont statut cohorte=occitanie")
    assert "activé" in status and "En attente : 1" in status
    await deliver(app)
    status = await op.say("cohorte pont statut cohorte=occitanie")
    assert "Messages relayés : 1" in status and "En attente : 0" in status
    assert "Dernière erreur : aucune" in status


async def test_a_member_may_not_switch_the_bridge(bridged: App) -> None:
    async with bridged.db.session() as session:
        store = Store(session)
        assert await store.bridge.get(1) is not None
    bernard = person(bridged, Platform.SLACK, "U2", SLACK_CHANNEL)
    answer = await bernard.say("cohorte pont desactiver")
    assert "coordina" in answer.lower()


async def test_a_copy_is_retried_for_as_long_as_its_platform_is_down(bridged: App) -> None:
    from bot.bridge.transport import RelayingSender, SentIndex
    from bot.delivery import MAX_ATTEMPTS, Sent, TransientSendError

    class Down:
        failures = 0

        async def send(self, message: Outbound) -> Sent:
            if self.failures < MAX_ATTEMPTS + 4:
                self.failures += 1
                raise TransientSendError("slack: 503")
            return Sent("1700000009.000100", message.destination)

    relay = Down()
    inner = sender(bridged, Platform.SLACK)
    bridged.delivery.senders[Platform.SLACK] = RelayingSender(inner, relay, SentIndex(bridged.db))
    event = await matrix_user(bridged).post("tenace")
    for _ in range(MAX_ATTEMPTS + 5):
        await bridged.delivery.flush(Platform.SLACK)
        bridged.clock.advance(seconds=61)
    async with bridged.db.session() as session:
        store = Store(session)
        [relay_row] = await store.relays.of_source("matrix", MATRIX_ROOM, event)
        row = await store.outbox.by_key(relay_row.outbox_key)
    assert relay.failures == MAX_ATTEMPTS + 4
    assert row is not None and row.status is OutboxStatus.SENT, "delivered, not given up"


async def test_a_matrix_reply_to_a_copy_goes_into_the_slack_thread_of_its_original(
        bridged: App) -> None:
    bernard = slack_user(bridged)
    nathalie = matrix_user(bridged)
    root = await bernard.post("Qui vient mardi ?")
    answer = await bernard.post("moi", thread_root=root)
    await deliver(bridged)
    copies = sender(bridged, Platform.MATRIX).sent
    answer_copy = f"matrix-msg-{len(copies)}"
    assert copies[-1].reply.text == "moi"
    await nathalie.post("moi aussi", reply_to=answer_copy)
    to_slack, _ = await deliver(bridged)
    assert to_slack[-1].reply.card["thread"] == {"id": root}
    assert answer != root


async def test_a_copy_goes_out_from_memory_without_reading_the_outbox_back(
        bridged: App) -> None:
    """The copies of a bridged message are handed to delivery after the commit, as replies
    are: sent at once, marked sent in the outbox, and never sent a second time by a pass."""
    delivery = bridged.delivery
    delivery.start()
    try:
        async with asyncio.timeout(5):
            while not delivery.clean(Platform.MATRIX):  # the worker's first pass
                await asyncio.sleep(0.01)
        before = delivery.fast_sends
        await slack_user(bridged).post("Quelqu'un a le compte rendu ?")
        async with asyncio.timeout(5):
            while delivery.fast_sends == before:  # sent from memory, else this times out
                await asyncio.sleep(0.01)
        assert delivery.fast_sends == before + 1
        await delivery.drain_marks()
        async with bridged.db.session() as session:
            pending = await Store(session).outbox.pending("matrix", bridged.clock.now())
        assert pending == []
        await delivery.flush(Platform.MATRIX)
    finally:
        await delivery.stop()
    assert len([m for m in sender(bridged, Platform.MATRIX).sent if _relay(m)]) == 1

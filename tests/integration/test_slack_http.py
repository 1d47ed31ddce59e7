"""The bot as a Slack app over real HTTP, with real signatures, against the Web API emulator.

Every test sends what Slack sends (form-encoded slash commands and interactions,
JSON Events API envelopes), signed with the signing secret, to the bot's one
aiohttp server, and asserts on the HTTP answer and on what the bot then did on
the emulated Slack (response_url posts, messages, ephemerals) and in its database.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from storage.models import LinkedRoom, OutboxMessage, PlatformIdentity, ProcessedEvent
from tests.support.fakes import FakeClock
from tests.support.slack_app import FORM, JSON, SlackRig
from tests.support.slack_emulator import (
    REFERENCE_DIR,
    event_callback,
    retry_headers,
    sign,
    slash_command_form,
    url_verification,
)

pytestmark = pytest.mark.slack


@pytest_asyncio.fixture(loop_scope="session")
async def rig(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SlackRig]:
    async with SlackRig.started(tmp_path, clock) as started:
        yield started


async def count(rig: SlackRig, model: type) -> int:
    async with rig.app.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def texts(rig: SlackRig, channel: str) -> list[str]:
    return [m["text"] for m in rig.emu.messages(channel)]


# --------------------------------------------------------------------------- slash commands


async def test_slash_command_is_acked_at_once_and_answered_in_french(rig: SlackRig) -> None:
    answer, url = await rig.command("aide")
    assert answer.status == 200 and answer.text == ""
    assert answer.elapsed < 1.0
    await rig.settle()
    [response] = rig.emu.responses(url)
    assert response["response_type"] == "ephemeral"
    assert "Ce que vous pouvez faire ici" in response["text"]
    assert response["blocks"][0]["type"] == "section"
    assert rig.emu.messages("C1") == [], "help is for the asker only"


async def test_unknown_verb_gets_an_ephemeral_french_explanation(rig: SlackRig) -> None:
    answer, url = await rig.command("sondge créer")
    assert answer.status == 200
    await rig.settle()
    [response] = rig.emu.responses(url)
    assert response["response_type"] == "ephemeral"
    assert "Je ne connais pas la commande" in response["text"]
    assert "/cohorte aide" in response["text"]
    assert rig.emu.messages("C1") == []


async def test_bad_arguments_get_an_ephemeral_french_explanation(rig: SlackRig) -> None:
    _, url = await rig.command('cohorte creer "Cohorte sans fin')
    await rig.settle()
    [response] = rig.emu.responses(url)
    assert response["response_type"] == "ephemeral"
    assert "guillemet" in response["text"]


async def test_a_coordinator_builds_and_links_a_cohort_from_slack(rig: SlackRig) -> None:
    await rig.command('cohorte creer "Cohorte Occitanie"')
    await rig.settle()
    created = rig.emu.messages("C1")[-1]
    assert "Cohorte *Cohorte Occitanie* créée" in created["text"]
    assert created["metadata"]["event_type"] == "cohortbot_outbox"
    assert any(b["type"] == "section" for b in created["blocks"])

    await rig.command("cohorte lier cohorte-occitanie")
    await rig.settle()
    assert "lié" in texts(rig, "C1")[-1]
    async with rig.app.db.session() as session:
        room = await session.scalar(select(LinkedRoom).where(LinkedRoom.room_id == "C1"))
    assert room is not None and room.platform == "slack"

    await rig.command("delegation ajouter Commune de Gruissan")
    await rig.command("membre ajouter Zoé Durand delegation=Gruissan categorie=elu")
    await rig.settle()
    assert "*Zoé Durand* ajouté·e" in texts(rig, "C1")[-1]


async def test_a_slack_mention_links_the_account_and_the_person_is_recognised(
        rig: SlackRig) -> None:
    await rig.command('cohorte creer "Cohorte Occitanie"')
    await rig.command("delegation ajouter Gruissan")
    await rig.command("membre ajouter Zoé Durand delegation=Gruissan categorie=elu")
    await rig.command('membre lier "Zoé Durand" <@U3|zoe>')
    await rig.settle()
    assert "<@U3>" in texts(rig, "C1")[-1], "the linked person is mentioned the Slack way"
    async with rig.app.db.session() as session:
        identity = await session.scalar(select(PlatformIdentity).where(
            PlatformIdentity.user_id == "U3"))
    assert identity is not None and identity.platform == "slack"

    _, url = await rig.command("moi", user="U3")
    await rig.settle()
    assert "message privé" in rig.emu.responses(url)[0]["text"], \
        "moi comes with the record as a file: Slack has no private files in a channel"
    [shown] = [m for m in rig.emu.messages(rig.emu.im_id("U3")) if m.get("text")]
    assert "Zoé Durand" in shown["text"] and "Gruissan" in shown["text"]


async def test_an_unknown_person_is_greeted_by_their_slack_name_and_told_how_to_join(
        rig: SlackRig) -> None:
    _, url = await rig.command("moi", user="U2")
    await rig.settle()
    text = rig.emu.responses(url)[0]["text"]
    assert "Bonjour Bob Durand" in text
    assert 'membre lier "Bob Durand" slack:U2' in text
    assert rig.emu.calls_to("users.info")[0].args["user"] == "U2"
    await rig.command("moi", user="U2")
    await rig.settle()
    assert len(rig.emu.calls_to("users.info")) == 1, "names are cached"


async def test_a_room_reply_falls_back_to_response_url_where_the_bot_is_not(
        rig: SlackRig) -> None:
    rig.emu.add_channel("C9", "private-chat", members=["U1"], bot_member=False)
    _, url = await rig.command('cohorte creer "Cohorte Ailleurs"', channel="C9")
    await rig.settle()
    [response] = rig.emu.responses(url)
    assert response["response_type"] == "in_channel"
    assert "*Cohorte Ailleurs* créée" in response["text"]


# --------------------------------------------------------------------------- events


def mention(text: str, *, user: str = "U1", channel: str = "C1", ts: str = "1700000100.000100",
            **extra: object) -> dict[str, object]:
    return {"type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel,
            "event_ts": ts, **extra}


def direct(text: str, *, user: str = "U1", channel: str, ts: str = "1700000200.000100",
           **extra: object) -> dict[str, object]:
    return {"type": "message", "channel_type": "im", "user": user, "text": text, "ts": ts,
            "channel": channel, "event_ts": ts, **extra}


async def test_url_verification_echoes_the_challenge(rig: SlackRig) -> None:
    answer = await rig.post(url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"),
                            JSON)
    assert answer.status == 200
    assert answer.json()["challenge"] == "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"


async def test_a_mention_is_a_command(rig: SlackRig) -> None:
    answer = await rig.event(mention("<@UBOT> cohorte lister"))
    assert answer.status == 200
    await rig.settle()
    [ephemeral] = rig.emu.ephemerals("C1")
    assert ephemeral["user"] == "U1"
    assert "cohorte" in ephemeral["text"].lower()


async def test_a_mention_in_a_thread_is_answered_in_the_thread(rig: SlackRig) -> None:
    root = rig.emu.add_message("C1", "U1", "On en parle ici ?")
    await rig.event(mention('<@UBOT> cohorte creer "Cohorte du fil"', thread_ts=root["ts"]))
    await rig.settle()
    reply = rig.emu.messages("C1")[-1]
    assert "*Cohorte du fil* créée" in reply["text"]
    assert reply["thread_ts"] == root["ts"]


async def test_a_direct_message_is_understood(rig: SlackRig) -> None:
    dm = rig.emu.im_id("U2")
    await rig.event(direct("cohorte moi", user="U2", channel=dm))
    await rig.event(direct("bonjour le bot", user="U2", channel=dm, ts="1700000201.000100"))
    await rig.settle()
    said = texts(rig, dm)
    assert "Je ne connais pas encore votre compte" in said[0]
    assert "Je n'ai pas compris ce message" in said[1]


async def test_the_bots_own_messages_and_other_bots_are_ignored(rig: SlackRig) -> None:
    dm = rig.emu.im_id("U2")
    await rig.event(direct("cohorte aide", user="UBOT", channel=dm))
    await rig.event(direct("cohorte aide", user="U2", channel=dm, bot_id="B999",
                           subtype="bot_message"))
    await rig.event(direct("cohorte aide", user="U2", channel=dm, subtype="message_changed"))
    await rig.event(mention("<@UBOT> aide", user="UBOT"))
    await rig.settle()
    assert rig.emu.messages(dm) == [] and rig.emu.ephemerals("C1") == []
    assert await count(rig, ProcessedEvent) == 0


async def test_events_api_retries_are_processed_once(rig: SlackRig) -> None:
    event = mention('<@UBOT> cohorte creer "Cohorte Unique"')
    first = await rig.event(event, event_id="Ev0RETRY1")
    retries = [await rig.event(event, event_id="Ev0RETRY1", headers=retry_headers(n))
               for n in (1, 2, 3)]
    assert first.status == 200 and all(r.status == 200 for r in retries)
    await rig.settle()
    assert sum("*Cohorte Unique* créée" in t for t in texts(rig, "C1")) == 1
    async with rig.app.db.session() as session:
        claimed = await session.scalar(select(func.count()).select_from(ProcessedEvent).where(
            ProcessedEvent.event_id == "Ev0RETRY1"))
    assert claimed == 1


# --------------------------------------------------------------------------- signatures


async def nothing_happened(rig: SlackRig) -> None:
    await rig.settle()
    assert await count(rig, ProcessedEvent) == 0
    assert await count(rig, OutboxMessage) == 0
    assert [c.method for c in rig.emu.calls if c.method != "auth.test"] == []


async def test_unsigned_request_is_refused(rig: SlackRig) -> None:
    body = slash_command_form('cohorte creer "Pirate"', user_id="U1", channel_id="C1",
                              response_url=rig.emu.new_response_url(channel="C1", user="U1"))
    answer = await rig.post(body, FORM, signed=False)
    assert answer.status == 401
    await nothing_happened(rig)


async def test_bad_signature_is_refused(rig: SlackRig) -> None:
    body = slash_command_form('cohorte creer "Pirate"', user_id="U1", channel_id="C1",
                              response_url=rig.emu.new_response_url(channel="C1", user="U1"))
    answer = await rig.post(body, FORM, signature=sign(body, "not-the-secret"))
    assert answer.status == 401
    tampered = body.replace(b"Pirate", b"Corsaire")
    answer = await rig.post(tampered, FORM, signature=sign(body, rig.secret))
    assert answer.status == 401
    event = await rig.post(event_callback(mention("<@UBOT> aide")), JSON,
                           signature={"X-Slack-Signature": "v0=00",
                                      "X-Slack-Request-Timestamp": "soon"})
    assert event.status == 401
    await nothing_happened(rig)


async def test_stale_timestamp_is_refused(rig: SlackRig) -> None:
    body = event_callback(mention('<@UBOT> cohorte creer "Vieux"'))
    answer = await rig.post(body, JSON, timestamp=int(time.time()) - 301)
    assert answer.status == 401
    answer = await rig.post(body, JSON, timestamp=int(time.time()) + 301)
    assert answer.status == 401
    await nothing_happened(rig)


async def test_a_replayed_request_is_refused_and_runs_once(rig: SlackRig) -> None:
    first, url = await rig.command('cohorte creer "Cohorte Rejouée"')
    assert first.status == 200
    replayed = await rig.replay()
    assert replayed.status == 401
    await rig.settle()
    assert sum("Cohorte Rejouée" in t for t in texts(rig, "C1")) == 1
    assert await count(rig, ProcessedEvent) == 1


# --------------------------------------------------------------------------- bad input


async def test_a_slash_command_with_missing_fields_is_answered_in_french(rig: SlackRig) -> None:
    body = b"command=%2Fcohorte&text=aide&channel_id=C1&trigger_id=1.2.3"
    answer = await rig.post(body, FORM)
    assert answer.status == 200
    assert "je n'ai pas pu lire cette commande" in answer.json()["text"]
    await nothing_happened(rig)


@pytest.mark.parametrize("body, content_type", [
    (b"payload=%7Bnot+json", FORM),
    (b"{not json", JSON),
    (b"\xff\xfe", JSON),
], ids=["payload-not-json", "event-not-json", "not-utf8"])
async def test_unreadable_bodies_are_refused_without_a_500(rig: SlackRig, body: bytes,
                                                           content_type: str) -> None:
    answer = await rig.post(body, content_type)
    assert answer.status == 400
    await nothing_happened(rig)


@pytest.mark.parametrize("envelope", [
    {"type": "event_callback", "event_id": "Ev1", "event": ["not", "an", "object"]},
    {"type": "event_callback", "event_id": "Ev2",
     "event": {"type": "app_mention", "user": 42, "text": None, "channel": "C1"}},
    {"type": "event_callback", "event_id": 7,
     "event": {"type": "message", "channel_type": "im", "user": "U1", "text": "x",
               "channel": "D1"}},
    {"type": "event_callback", "event": {"type": "app_mention", "text": "<@UBOT> aide"}},
    {"type": "block_actions", "user": {"id": "U1"}, "actions": "click"},
    {"type": "surprise", "weird": {"nested": [1, 2, 3]}},
    {"type": "event_callback", "event_id": "Ev3", "unexpected": True,
     "event": {"type": "app_mention", "user": "U1", "channel": "C1", "text": "<@UBOT>",
               "extra_field": {"a": 1}, "ts": "1.2"}},
], ids=["event-list", "mention-types", "event-id-int", "no-event-id", "actions-str",
        "unknown-type", "extra-fields"])
async def test_unexpected_payloads_are_logged_and_answered_quickly(
        rig: SlackRig, envelope: dict[str, object], caplog: pytest.LogCaptureFixture) -> None:
    if envelope.get("type") in ("block_actions",):
        from urllib.parse import urlencode

        body, content_type = urlencode({"payload": json.dumps(envelope)}).encode(), FORM
    else:
        body, content_type = json.dumps(envelope).encode(), JSON
    answer = await rig.post(body, content_type)
    assert answer.status == 200
    assert answer.elapsed < 3.0
    await rig.settle()
    assert await count(rig, OutboxMessage) <= 1


async def test_extra_fields_in_a_slash_command_are_ignored(rig: SlackRig) -> None:
    body = slash_command_form("aide", user_id="U1", channel_id="C1",
                              response_url=rig.emu.new_response_url(channel="C1", user="U1"))
    answer = await rig.post(body + b"&surprise=1&is_enterprise_install=maybe", FORM)
    assert answer.status == 200
    await rig.settle()
    assert await count(rig, OutboxMessage) == 1


# --------------------------------------------------------------------------- Slack's own samples


def reference_events() -> list[str]:
    names = []
    for path in sorted((REFERENCE_DIR / "events").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data.get("example"), dict):
            names.append(path.stem)
    return names


async def test_slacks_own_event_samples_go_through_without_harm(rig: SlackRig) -> None:
    """Every documented example event: acknowledged at once, nothing posted, nothing broken."""
    names = reference_events()
    assert len(names) > 60
    answers = await asyncio.gather(*(rig.post(sample(name), JSON) for name in names))
    await rig.settle()
    refused = {n: a.status for n, a in zip(names, answers, strict=True)
               if a.status != 200 and n != "url_verification"}
    assert refused == {}
    assert max(a.elapsed for a in answers) < 3.0
    assert await count(rig, OutboxMessage) == 0
    answer, url = await rig.command("aide")
    await rig.settle()
    assert rig.emu.responses(url), "the bot still answers afterwards"


def sample(name: str) -> bytes:
    path = REFERENCE_DIR / "events" / f"{name}.json"
    example = json.loads(path.read_text(encoding="utf-8"))["example"]
    if example.get("type") in ("url_verification", "event_callback"):
        return json.dumps(example).encode()
    return event_callback(example)

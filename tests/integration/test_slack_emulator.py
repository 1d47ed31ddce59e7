"""The Slack Web API emulator, exercised with the real slack_sdk clients (and Bolt).

Each test gets a fresh `SlackEmulator` with two people (U1 alice, U2 bob) in
#general (C1) and a `AsyncWebClient` pointed at it with the bot token.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
import pytest_asyncio
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.support.slack_emulator import (
    SlackEmulator,
    block_actions_form,
    block_kit_errors,
    event_callback,
    known_methods,
    load_event_example,
    load_method,
    retry_headers,
    sign,
    slash_command_form,
    url_verification,
    view_submission_form,
)

pytestmark = pytest.mark.slack

SECRET = "test-signing-secret"


@pytest_asyncio.fixture(loop_scope="session")
async def emu() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator() as emulator:
        emulator.add_user("U1", "alice", real_name="Alice Martin", email="alice@example.org")
        emulator.add_user("U2", "bob", tz="America/New_York")
        emulator.add_channel("C1", "general", members=["U1", "U2"])
        yield emulator


@pytest.fixture
def client(emu: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(base_url=emu.base_url, token="xoxb-test")


async def api_error(call: Any) -> dict[str, Any]:
    """The body of the SlackApiError raised by awaiting ``call``."""
    with pytest.raises(SlackApiError) as caught:
        await call
    return dict(caught.value.response.data)


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(text: str = "Go", value: str = "v", action_id: str = "a") -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "value": value,
        "action_id": action_id,
    }


def modal(title: str = "Inscription", blocks: list[dict[str, Any]] | None = None, **extra: Any):
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "blocks": blocks if blocks is not None else [section("Bonjour")],
        **extra,
    }


# --------------------------------------------------------------------------- protocol


async def test_lifecycle_start_stop_and_base_url() -> None:
    emulator = SlackEmulator()
    await emulator.start()
    try:
        assert emulator.base_url.startswith("http://127.0.0.1:")
        assert emulator.base_url.endswith("/api/")
        response = await AsyncWebClient(base_url=emulator.base_url, token="xoxb-test").api_test()
        assert response["ok"] is True
    finally:
        await emulator.stop()
    await emulator.stop()


async def test_auth_test_returns_the_bot_identity(client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert response["user_id"] == "UBOT"
    assert response["bot_id"] == "BBOT"
    assert response["team_id"] == "T0001"
    assert response["url"] == "https://cohorte.slack.com/"


async def test_bot_identity_is_configurable() -> None:
    async with SlackEmulator(
        bot_user_id="U9", bot_id="B9", team_id="T9", bot_tokens={"xoxb-9"}
    ) as e:
        response = await AsyncWebClient(base_url=e.base_url, token="xoxb-9").auth_test()
        assert (response["user_id"], response["bot_id"], response["team_id"]) == ("U9", "B9", "T9")


async def test_unknown_method_is_refused_like_slack(client: AsyncWebClient) -> None:
    body = await api_error(client.api_call("chat.postMessages", json={"channel": "C1"}))
    assert body == {"ok": False, "error": "unknown_method"}
    assert "chat.postMessage" in known_methods()
    assert load_method("chat.postMessage")["args"]["required"] == ["token", "channel"]


async def test_missing_required_argument(client: AsyncWebClient, emu: SlackEmulator) -> None:
    body = await api_error(client.api_call("reactions.add", params={"name": "tada"}))
    assert body["error"] == "invalid_arguments"
    assert body["response_metadata"]["messages"] == [
        "[ERROR] missing required field: timestamp",
        "[ERROR] missing required field: channel",
    ]
    assert emu.calls_to("reactions.add")[0].status == 200


async def test_tokens(emu: SlackEmulator) -> None:
    emu.socket_mode_url = "ws://127.0.0.1:9/socket"
    no_token = AsyncWebClient(base_url=emu.base_url)
    wrong = AsyncWebClient(base_url=emu.base_url, token="xoxb-wrong")
    app_level = AsyncWebClient(base_url=emu.base_url, token="xapp-test")
    bot = AsyncWebClient(base_url=emu.base_url, token="xoxb-test")

    assert (await api_error(no_token.auth_test()))["error"] == "not_authed"
    assert (await api_error(wrong.auth_test()))["error"] == "invalid_auth"
    assert (await api_error(app_level.chat_postMessage(channel="C1", text="x")))[
        "error"
    ] == "not_allowed_token_type"
    assert (await app_level.apps_connections_open(app_token="xapp-test"))["url"] == (
        "ws://127.0.0.1:9/socket"
    )
    body = await api_error(bot.api_call("apps.connections.open"))
    assert body["error"] == "not_allowed_token_type"


async def test_token_in_form_field_and_json_strings_decoded(emu: SlackEmulator) -> None:
    blocks = [section("*Bienvenue*")]
    async with aiohttp.ClientSession() as session:
        form = {"token": "xoxb-test", "channel": "C1", "text": "t", "blocks": json.dumps(blocks)}
        async with session.post(emu.base_url + "chat.postMessage", data=form) as response:
            body = await response.json()
        async with session.get(
            emu.base_url + "conversations.info", params={"token": "xoxb-test", "channel": "C1"}
        ) as response:
            info = await response.json()
    assert body["ok"] is True
    assert info["channel"]["name"] == "general"
    call = emu.calls_to("chat.postMessage")[0]
    assert call.args["blocks"] == blocks
    assert "token" not in call.args
    assert emu.messages("C1")[0]["blocks"][0]["text"]["text"] == "*Bienvenue*"


# --------------------------------------------------------------------------- messages


async def test_post_message_stores_what_the_bot_sent(
    client: AsyncWebClient, emu: SlackEmulator
) -> None:
    metadata = {"event_type": "poll_created", "event_payload": {"poll_id": 7}}
    response = await client.chat_postMessage(
        channel="C1",
        text="Sondage",
        username="Cohorte",
        icon_emoji=":bar_chart:",
        metadata=metadata,
    )
    assert response["channel"] == "C1"
    assert response["ts"] == "1700000000.000100"
    stored = emu.messages("C1")[0]
    assert stored["user"] == "UBOT" and stored["bot_id"] == "BBOT"
    assert stored["username"] == "Cohorte" and stored["icon_emoji"] == ":bar_chart:"
    assert stored["metadata"] == metadata

    plain = await client.conversations_history(channel="C1")
    assert "metadata" not in plain["messages"][0]
    full = await client.conversations_history(channel="C1", include_all_metadata=True)
    assert full["messages"][0]["metadata"] == metadata


async def test_channel_resolution_and_membership(
    client: AsyncWebClient, emu: SlackEmulator
) -> None:
    emu.add_channel("C2", "cohorte-2025", members=["U1"], bot_member=False)
    emu.add_channel("G1", "secret", members=["U1"], is_private=True, bot_member=False)

    assert (await client.chat_postMessage(channel="#general", text="x"))["channel"] == "C1"
    assert (await api_error(client.chat_postMessage(channel="C404", text="x")))[
        "error"
    ] == "channel_not_found"
    assert (await api_error(client.chat_postMessage(channel="C2", text="x")))[
        "error"
    ] == "not_in_channel"
    assert (await api_error(client.conversations_info(channel="G1")))[
        "error"
    ] == "channel_not_found"
    dm = await client.chat_postMessage(channel="U1", text="en privé")
    assert dm["channel"] == emu.im_id("U1")
    assert dm["channel"].startswith("D")


async def test_message_content_checks(client: AsyncWebClient) -> None:
    assert (await api_error(client.chat_postMessage(channel="C1")))["error"] == "no_text"
    assert (await api_error(client.chat_postMessage(channel="C1", text="x" * 40_001)))[
        "error"
    ] == "msg_too_long"
    assert (await client.chat_postMessage(channel="C1", text="x" * 40_000))["ok"]
    assert (await client.chat_postMessage(channel="C1", blocks=[section("blocks only")]))["ok"]


async def test_update_and_delete(client: AsyncWebClient, emu: SlackEmulator) -> None:
    posted = await client.chat_postMessage(channel="C1", text="v1")
    human = emu.add_message("C1", "U1", "pas à toi")

    updated = await client.chat_update(
        channel="C1", ts=posted["ts"], text="v2", blocks=[section("v2")]
    )
    assert updated["text"] == "v2"
    assert emu.message("C1", posted["ts"])["text"] == "v2"
    assert emu.message("C1", posted["ts"])["blocks"][0]["text"]["text"] == "v2"

    assert (await api_error(client.chat_update(channel="C1", ts=human["ts"], text="x")))[
        "error"
    ] == "cant_update_message"
    assert (await api_error(client.chat_update(channel="C1", ts="1.000001", text="x")))[
        "error"
    ] == "message_not_found"
    assert (await api_error(client.chat_update(channel="C1", ts=posted["ts"], text="x" * 4001)))[
        "error"
    ] == "msg_too_long"
    assert (await api_error(client.chat_delete(channel="C1", ts=human["ts"])))[
        "error"
    ] == "cant_delete_message"

    await client.chat_delete(channel="C1", ts=posted["ts"])
    assert emu.message("C1", posted["ts"]) is None
    assert (await api_error(client.chat_delete(channel="C1", ts=posted["ts"])))[
        "error"
    ] == "message_not_found"


async def test_threads(client: AsyncWebClient, emu: SlackEmulator) -> None:
    parent = await client.chat_postMessage(channel="C1", text="Question ?")
    emu.add_message("C1", "U1", "réponse 1", thread_ts=parent["ts"])
    await client.chat_postMessage(channel="C1", text="réponse bot", thread_ts=parent["ts"])
    last = emu.add_message("C1", "U2", "réponse 3", thread_ts=parent["ts"])

    root = emu.message("C1", parent["ts"])
    assert root["reply_count"] == 3
    assert root["reply_users"] == ["U1", "UBOT", "U2"]
    assert root["latest_reply"] == last["ts"]

    history = await client.conversations_history(channel="C1")
    assert [m["text"] for m in history["messages"]] == ["Question ?"]
    replies = await client.conversations_replies(channel="C1", ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == [
        "Question ?",
        "réponse 1",
        "réponse bot",
        "réponse 3",
    ]
    assert all(m["thread_ts"] == parent["ts"] for m in replies["messages"])
    assert len(emu.messages("C1")) == 4
    assert (await api_error(client.conversations_replies(channel="C1", ts="1.000001")))[
        "error"
    ] == "thread_not_found"


async def test_history_pagination(client: AsyncWebClient, emu: SlackEmulator) -> None:
    posted = [(await client.chat_postMessage(channel="C1", text=f"m{i}"))["ts"] for i in range(7)]

    first = await client.conversations_history(channel="C1", limit=3)
    assert [m["text"] for m in first["messages"]] == ["m6", "m5", "m4"]
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    second = await client.conversations_history(channel="C1", limit=3, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == ["m3", "m2", "m1"]
    third = await client.conversations_history(
        channel="C1", limit=3, cursor=second["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in third["messages"]] == ["m0"]
    assert third["has_more"] is False
    assert third["response_metadata"]["next_cursor"] == ""

    pages = [
        [m["text"] for m in page["messages"]]
        async for page in await client.conversations_history(channel="C1", limit=2)
    ]
    assert pages == [["m6", "m5"], ["m4", "m3"], ["m2", "m1"], ["m0"]]

    window = await client.conversations_history(channel="C1", oldest=posted[2], latest=posted[5])
    assert [m["text"] for m in window["messages"]] == ["m4", "m3"]
    inclusive = await client.conversations_history(
        channel="C1", oldest=posted[2], latest=posted[5], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["m5", "m4", "m3", "m2"]
    assert (await api_error(client.conversations_history(channel="C1", cursor="garbage")))[
        "error"
    ] == "invalid_cursor"


async def test_replies_pagination(client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C1", text="p")
    for i in range(4):
        await client.chat_postMessage(channel="C1", text=f"r{i}", thread_ts=parent["ts"])
    first = await client.conversations_replies(channel="C1", ts=parent["ts"], limit=3)
    assert [m["text"] for m in first["messages"]] == ["p", "r0", "r1"]
    assert first["has_more"] is True
    rest = await client.conversations_replies(
        channel="C1", ts=parent["ts"], limit=3, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["r2", "r3"]
    assert rest["has_more"] is False


async def test_ephemeral_messages(client: AsyncWebClient, emu: SlackEmulator) -> None:
    response = await client.chat_postEphemeral(channel="C1", user="U1", text="rien que pour toi")
    assert response["message_ts"]
    assert emu.messages("C1") == []
    [ephemeral] = emu.ephemerals("C1")
    assert ephemeral["user"] == "U1" and ephemeral["text"] == "rien que pour toi"

    emu.add_user("U3", "carol")
    assert (await api_error(client.chat_postEphemeral(channel="C1", user="U3", text="x")))[
        "error"
    ] == "user_not_in_channel"


async def test_permalink(client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C1", text="p")
    reply = await client.chat_postMessage(channel="C1", text="r", thread_ts=parent["ts"])
    link = await client.chat_getPermalink(channel="C1", message_ts=parent["ts"])
    assert link["permalink"] == "https://cohorte.slack.com/archives/C1/p1700000000000100"
    threaded = await client.chat_getPermalink(channel="C1", message_ts=reply["ts"])
    assert threaded["permalink"].endswith(f"?thread_ts={parent['ts']}&cid=C1")


async def test_reactions(client: AsyncWebClient, emu: SlackEmulator) -> None:
    posted = await client.chat_postMessage(channel="C1", text="vote")
    await client.reactions_add(channel="C1", timestamp=posted["ts"], name="thumbsup")
    assert emu.message("C1", posted["ts"])["reactions"] == [
        {"name": "thumbsup", "users": ["UBOT"], "count": 1}
    ]
    assert (
        await api_error(
            client.reactions_add(channel="C1", timestamp=posted["ts"], name=":thumbsup:")
        )
    )["error"] == "already_reacted"
    await client.reactions_remove(channel="C1", timestamp=posted["ts"], name="thumbsup")
    assert "reactions" not in emu.message("C1", posted["ts"])
    assert (
        await api_error(
            client.reactions_remove(channel="C1", timestamp=posted["ts"], name="thumbsup")
        )
    )["error"] == "no_reaction"


# --------------------------------------------------------------------------- conversations, users


async def test_conversations_open_is_stable(client: AsyncWebClient, emu: SlackEmulator) -> None:
    first = await client.conversations_open(users="U1")
    again = await client.conversations_open(users=["U1"])
    assert first["channel"]["id"] == again["channel"]["id"] == emu.im_id("U1")
    assert again["already_open"] is True
    group = await client.conversations_open(users="U1,U2", return_im=True)
    assert group["channel"]["is_mpim"] is True
    assert group["channel"]["id"] != first["channel"]["id"]

    info = await client.conversations_info(channel=first["channel"]["id"])
    assert info["channel"]["is_im"] is True and info["channel"]["user"] == "U1"
    await client.chat_postMessage(channel=first["channel"]["id"], text="coucou")
    assert emu.messages(first["channel"]["id"])[0]["text"] == "coucou"
    assert (await api_error(client.conversations_open(users="U404")))["error"] == "user_not_found"


async def test_conversations_info_members_join(client: AsyncWebClient, emu: SlackEmulator) -> None:
    info = await client.conversations_info(channel="C1", include_num_members=True)
    assert info["channel"]["name"] == "general"
    assert info["channel"]["is_member"] is True
    assert info["channel"]["num_members"] == 3

    members = await client.conversations_members(channel="C1", limit=2)
    assert members["members"] == ["U1", "U2"]
    more = await client.conversations_members(
        channel="C1", cursor=members["response_metadata"]["next_cursor"]
    )
    assert more["members"] == ["UBOT"]

    emu.add_channel("C2", "annonces", bot_member=False)
    joined = await client.conversations_join(channel="C2")
    assert joined["channel"]["is_member"] is True
    assert (await client.conversations_join(channel="C2"))["warning"] == "already_in_channel"
    await client.chat_postMessage(channel="C2", text="me voilà")


async def test_users(client: AsyncWebClient) -> None:
    alice = (await client.users_info(user="U1"))["user"]
    assert alice["real_name"] == "Alice Martin"
    assert alice["tz"] == "Europe/Paris"
    assert alice["tz_offset"] in (3600, 7200)
    assert alice["profile"]["email"] == "alice@example.org"
    assert (await client.users_info(user="U2"))["user"]["tz_offset"] in (-18000, -14400)
    assert (await api_error(client.users_info(user="U404")))["error"] == "user_not_found"

    everyone = [
        member["id"]
        async for page in await client.users_list(limit=2)
        for member in page["members"]
    ]
    assert everyone == ["UBOT", "U1", "U2"]
    found = await client.users_lookupByEmail(email="ALICE@example.org")
    assert found["user"]["id"] == "U1"


async def test_team_and_bot_info(client: AsyncWebClient) -> None:
    assert (await client.team_info())["team"]["id"] == "T0001"
    bot = (await client.bots_info(bot="BBOT"))["bot"]
    assert bot["user_id"] == "UBOT" and bot["app_id"] == "A0001"
    assert (await api_error(client.bots_info(bot="B404")))["error"] == "bot_not_found"


# --------------------------------------------------------------------------- Block Kit


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([section(f"s{i}") for i in range(51)], "no more than 50 blocks allowed (got 51)"),
        (
            [{"type": "actions", "elements": [button(action_id=f"a{i}") for i in range(26)]}],
            "no more than 25 elements in an actions block (got 26)",
        ),
        ([section("x" * 3001)], "section text must be at most 3000 characters (got 3001)"),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "header text must be at most 150 characters (got 151)",
        ),
        (
            [{"type": "actions", "elements": [button(text="b" * 76)]}],
            "button text must be at most 75 characters (got 76)",
        ),
        (
            [{"type": "actions", "elements": [button(value="v" * 2001)]}],
            "button value must be at most 2000 characters (got 2001)",
        ),
        (
            [{"type": "actions", "elements": [button(action_id="a" * 256)]}],
            "action_id must be at most 255 characters (got 256)",
        ),
        (
            [section("x", block_id="same"), section("y", block_id="same")],
            "block_id 'same' is not unique",
        ),
        ([{"type": "section", "text": {"type": "mrkdwn"}}], "section text text is required"),
        ([{"type": "section", "text": "bare string"}], "section text must be a text object"),
        (
            [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
            "header text type must be plain_text (got 'mrkdwn')",
        ),
    ],
)
async def test_block_limits_rejected_on_messages(
    client: AsyncWebClient, emu: SlackEmulator, blocks: list[dict[str, Any]], expected: str
) -> None:
    body = await api_error(client.chat_postMessage(channel="C1", text="t", blocks=blocks))
    assert body["error"] == "invalid_blocks"
    assert any(expected in error for error in body["errors"]), body["errors"]
    assert body["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert emu.messages("C1") == []


def select(options: int, text: str = "o", value: str = "v") -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "Choisir"},
        "accessory": {
            "type": "static_select",
            "action_id": "pick",
            "placeholder": {"type": "plain_text", "text": "…"},
            "options": [
                {"text": {"type": "plain_text", "text": text}, "value": f"{value}{i}"}
                for i in range(options)
            ],
        },
    }


def test_option_limits() -> None:
    assert block_kit_errors([select(100)]) == []
    assert (
        "no more than 100 options in a static_select (got 101)"
        in block_kit_errors([select(101)])[0]
    )
    assert (
        "option text must be at most 75 characters"
        in block_kit_errors([select(1, text="t" * 76)])[0]
    )
    assert (
        "option value must be at most 150 characters"
        in block_kit_errors([select(1, value="v" * 151)])[0]
    )
    assert block_kit_errors([section("x")] * 60, max_blocks=100) == []
    assert block_kit_errors([section("x")] * 60) != []


async def test_block_limits_on_update_and_ephemeral(client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="t")
    too_many = [section(f"s{i}") for i in range(51)]
    assert (await api_error(client.chat_update(channel="C1", ts=posted["ts"], blocks=too_many)))[
        "error"
    ] == "invalid_blocks"
    assert (
        await api_error(
            client.chat_postEphemeral(channel="C1", user="U1", text="t", blocks=too_many)
        )
    )["error"] == "invalid_blocks"


# --------------------------------------------------------------------------- views


async def test_views_open_update_push(client: AsyncWebClient, emu: SlackEmulator) -> None:
    opened = (await client.views_open(trigger_id="anything", view=modal(external_id="ext-1")))[
        "view"
    ]
    assert opened["id"].startswith("V") and opened["hash"]
    assert emu.views[opened["id"]]["title"]["text"] == "Inscription"

    by_id = await client.views_update(
        view_id=opened["id"], view=modal("Étape 2"), hash=opened["hash"]
    )
    assert by_id["view"]["id"] == opened["id"]
    by_external = await client.views_update(external_id="ext-1", view=modal("Étape 3"))
    assert by_external["view"]["title"]["text"] == "Étape 3"
    assert (
        await api_error(
            client.views_update(view_id=opened["id"], view=modal(), hash=opened["hash"])
        )
    )["error"] == "hash_conflict"
    assert (await api_error(client.views_update(view_id="V404", view=modal())))[
        "error"
    ] == "not_found"

    pushed = await client.views_push(
        trigger_id=emu.new_trigger_id(opened["id"]), view=modal("Détail")
    )
    assert pushed["view"]["previous_view_id"] == opened["id"]
    assert pushed["view"]["root_view_id"] == opened["id"]


async def test_view_limits(client: AsyncWebClient) -> None:
    body = await api_error(client.views_open(trigger_id="t", view=modal("T" * 25)))
    assert body["error"] == "invalid_arguments"
    assert body["response_metadata"]["messages"] == [
        "[ERROR] modal title must be at most 24 characters (got 25) [json-pointer:/view/title/text]"
    ]
    many = [section(f"s{i}") for i in range(101)]
    body = await api_error(client.views_open(trigger_id="t", view=modal(blocks=many)))
    assert "no more than 100 blocks allowed (got 101)" in body["response_metadata"]["messages"][0]
    assert (await client.views_open(trigger_id="t", view=modal(blocks=many[:100])))["ok"]
    long_submit = modal(submit={"type": "plain_text", "text": "S" * 25})
    body = await api_error(client.views_open(trigger_id="t", view=long_submit))
    assert "modal submit must be at most 24 characters" in body["response_metadata"]["messages"][0]


async def test_strict_trigger_ids(client: AsyncWebClient, emu: SlackEmulator) -> None:
    emu.strict_triggers = True
    now = [1000.0]
    emu.clock = lambda: now[0]

    assert (await api_error(client.views_open(trigger_id="made-up", view=modal())))[
        "error"
    ] == "invalid_trigger_id"
    trigger = emu.new_trigger_id()
    assert (await client.views_open(trigger_id=trigger, view=modal()))["ok"]
    assert (await api_error(client.views_open(trigger_id=trigger, view=modal())))[
        "error"
    ] == "exchanged_trigger_id"
    late = emu.new_trigger_id()
    now[0] += 3.5
    assert (await api_error(client.views_open(trigger_id=late, view=modal())))[
        "error"
    ] == "expired_trigger_id"


# --------------------------------------------------------------------------- files


async def test_files_upload_v2_end_to_end(client: AsyncWebClient, emu: SlackEmulator) -> None:
    parent = await client.chat_postMessage(channel="C1", text="Le compte rendu :")
    content = "Compte rendu de la séance 3\n".encode() * 100
    response = await client.files_upload_v2(
        channel="C1",
        content=content,
        filename="compte-rendu.txt",
        title="Compte rendu",
        initial_comment="Voici le compte rendu",
        thread_ts=parent["ts"],
    )
    file_id = response["file"]["id"]
    assert emu.file_bytes(file_id) == content

    shared = emu.messages("C1")[-1]
    assert shared["text"] == "Voici le compte rendu"
    assert shared["thread_ts"] == parent["ts"]
    assert shared["files"][0]["id"] == file_id
    assert shared["files"][0]["title"] == "Compte rendu"

    info = (await client.files_info(file=file_id))["file"]
    assert info["size"] == len(content) and info["channels"] == ["C1"]
    async with aiohttp.ClientSession() as session:
        auth = {"Authorization": "Bearer xoxb-test"}
        async with session.get(info["url_private"], headers=auth) as downloaded:
            assert downloaded.status == 200
            assert await downloaded.read() == content
        async with session.get(info["url_private"]) as refused:
            assert refused.status == 403
    assert [c.method for c in emu.calls[-3:-1]] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    assert (await api_error(client.files_info(file="F404")))["error"] == "file_not_found"


async def test_upload_accepts_multipart(emu: SlackEmulator, client: AsyncWebClient) -> None:
    url = await client.files_getUploadURLExternal(filename="a.csv", length=3)
    form = aiohttp.FormData()
    form.add_field("file", b"a,b", filename="a.csv")
    async with aiohttp.ClientSession() as session, session.post(url["upload_url"], data=form) as r:
        assert r.status == 200
    done = await client.files_completeUploadExternal(files=[{"id": url["file_id"]}])
    assert done["files"][0]["id"] == url["file_id"]
    assert emu.file_bytes(url["file_id"]) == b"a,b"


# --------------------------------------------------------------------------- rate limits, failures


async def test_retry_handler_honours_retry_after(emu: SlackEmulator) -> None:
    emu.fail_next("chat.postMessage", count=1, status=429, retry_after=1)
    client = AsyncWebClient(
        base_url=emu.base_url,
        token="xoxb-test",
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    started = time.monotonic()
    response = await client.chat_postMessage(channel="C1", text="après la pause")
    elapsed = time.monotonic() - started

    assert response["ok"] is True
    first, second = emu.calls_to("chat.postMessage")
    assert first.status == 429 and first.response == {"ok": False, "error": "ratelimited"}
    assert second.status == 200
    assert second.at - first.at >= 1.0
    assert elapsed >= 1.0
    assert [m["text"] for m in emu.messages("C1")] == ["après la pause"]


async def test_rate_limit_per_channel(client: AsyncWebClient, emu: SlackEmulator) -> None:
    emu.add_channel("C2", "autre", members=["U1"])
    emu.rate_limit("chat.postMessage", per_second=1.0, burst=2, per_channel=True)
    await client.chat_postMessage(channel="C1", text="1")
    await client.chat_postMessage(channel="C1", text="2")
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C1", text="3")
    assert caught.value.response.status_code == 429
    assert caught.value.response.data == {"ok": False, "error": "ratelimited"}
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    assert (await client.chat_postMessage(channel="C2", text="ailleurs"))["ok"]

    emu.rate_limit("chat.postMessage", per_second=None)
    assert (await client.chat_postMessage(channel="C1", text="4"))["ok"]


async def test_rate_limit_uses_the_clock(client: AsyncWebClient, emu: SlackEmulator) -> None:
    now = [0.0]
    emu.clock = lambda: now[0]
    emu.rate_limit("users.info", per_second=0.5, burst=1)
    await client.users_info(user="U1")
    with pytest.raises(SlackApiError) as caught:
        await client.users_info(user="U1")
    assert caught.value.response.headers["Retry-After"] == "2"
    now[0] += 2.0
    assert (await client.users_info(user="U1"))["ok"]


async def test_slack_tier_limits(client: AsyncWebClient, emu: SlackEmulator) -> None:
    emu.apply_slack_rate_limits()
    await client.chat_postMessage(channel="C1", text="1")
    body = await api_error(client.chat_postMessage(channel="C1", text="2"))
    assert body == {"ok": False, "error": "ratelimited"}
    assert emu.calls_to("chat.postMessage")[-1].status == 429
    for _ in range(20):
        await client.users_list()
    assert (await api_error(client.users_list()))["error"] == "ratelimited"
    emu.clear_rate_limits()
    assert (await client.chat_postMessage(channel="C1", text="3"))["ok"]


async def test_fail_next_with_an_error(client: AsyncWebClient, emu: SlackEmulator) -> None:
    emu.fail_next("chat.update", error="internal_error", status=500)
    emu.fail_next("chat.postMessage", error="fatal_error")
    with pytest.raises(SlackApiError) as caught:
        await client.chat_update(channel="C1", ts="1.1", text="x")
    assert caught.value.response.status_code == 500
    assert caught.value.response.data["error"] == "internal_error"
    body = await api_error(client.chat_postMessage(channel="C1", text="x"))
    assert body == {"ok": False, "error": "fatal_error"}
    assert emu.calls_to("chat.postMessage")[0].status == 200
    assert (await client.chat_postMessage(channel="C1", text="x"))["ok"]


# --------------------------------------------------------------------------- recording


async def test_wait_for_call(client: AsyncWebClient, emu: SlackEmulator) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="C1", text="plus tard", thread_ts=None)

    task = asyncio.create_task(later())
    call = await emu.wait_for_call(
        "chat.postMessage", predicate=lambda c: c.args.get("text") == "plus tard", timeout=2
    )
    await task
    assert call.ok and call.response["channel"] == "C1"
    assert call.headers["Authorization"] == "Bearer xoxb-test"
    with pytest.raises(TimeoutError):
        await emu.wait_for_call("views.open", timeout=0.05)
    emu.reset_calls()
    assert emu.calls == []
    assert emu.messages("C1")[0]["text"] == "plus tard"


# --------------------------------------------------------------------------- response_url


async def test_response_url(client: AsyncWebClient, emu: SlackEmulator) -> None:
    posted = await client.chat_postMessage(channel="C1", text="Vote ouvert", blocks=[section("A")])
    url = emu.new_response_url(channel="C1", user="U1", message_ts=posted["ts"])
    webhook = AsyncWebhookClient(url)

    assert (await webhook.send(text="Reçu")).status_code == 200
    assert emu.ephemerals("C1")[-1]["user"] == "U1"
    await webhook.send(text="Pour tous", response_type="in_channel")
    assert emu.messages("C1")[-1]["text"] == "Pour tous"
    await webhook.send(text="Vote clos", replace_original=True, blocks=[section("Clos")])
    assert emu.message("C1", posted["ts"])["blocks"][0]["text"]["text"] == "Clos"

    rejected = await webhook.send(text="t", blocks=[section("x" * 3001)])
    assert rejected.status_code == 400
    assert json.loads(rejected.body)["error"] == "invalid_blocks"

    await webhook.send(text="4")
    await webhook.send(delete_original=True)
    assert emu.message("C1", posted["ts"]) is None
    used = await webhook.send(text="6e")
    assert used.status_code == 404
    assert json.loads(used.body) == {"ok": False, "error": "used_url"}

    recorded = emu.responses(url)
    assert len(recorded) == 5
    assert recorded[1]["response_type"] == "in_channel"
    assert recorded[2]["replace_original"] is True


async def test_response_url_expires_after_30_minutes(emu: SlackEmulator) -> None:
    now = [0.0]
    emu.clock = lambda: now[0]
    url = emu.new_response_url()
    now[0] += 30 * 60 + 1
    response = await AsyncWebhookClient(url).send(text="trop tard")
    assert response.status_code == 404
    assert emu.responses(url) == []


# --------------------------------------------------------------------------- requests to the app


def verify(body: bytes, headers: dict[str, str]) -> bool:
    return SignatureVerifier(SECRET).is_valid(
        body=body,
        timestamp=headers["X-Slack-Request-Timestamp"],
        signature=headers["X-Slack-Signature"],
    )


def test_signatures_verify_with_slack_sdk() -> None:
    bodies = [
        slash_command_form(
            "inscrire", user_id="U1", channel_id="C1", response_url="http://127.0.0.1/response/x"
        ),
        block_actions_form(
            user_id="U1",
            channel_id="C1",
            message_ts="1.1",
            action_id="vote",
            value="oui",
            response_url="http://127.0.0.1/response/y",
        ),
        event_callback(
            {
                "type": "app_mention",
                "user": "U1",
                "text": "<@UBOT> hi",
                "ts": "1.1",
                "channel": "C1",
                "event_ts": "1.1",
            }
        ),
    ]
    for body in bodies:
        headers = sign(body, SECRET)
        assert verify(body, headers)
        assert not verify(body + b"x", headers)
        assert not SignatureVerifier("other").is_valid(
            body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
        )
    old = sign(bodies[0], SECRET, timestamp=int(time.time()) - 301)
    assert not verify(bodies[0], old)


def test_payload_shapes() -> None:
    form = parse_qs(
        slash_command_form(
            "liste",
            user_id="U1",
            channel_id="C1",
            response_url="http://r",
            trigger_id="t.1",
        ).decode()
    )
    assert {k: v[0] for k, v in form.items() if k in {"command", "text", "user_id"}} == {
        "command": "/cohorte",
        "text": "liste",
        "user_id": "U1",
    }
    assert set(form) >= {
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    }

    action = json.loads(
        parse_qs(
            block_actions_form(
                user_id="U1",
                channel_id="C1",
                message_ts="1.1",
                action_id="vote",
                value="oui",
                response_url="http://r",
            ).decode()
        )["payload"][0]
    )
    assert action["type"] == "block_actions"
    assert action["container"] == {
        "type": "message",
        "message_ts": "1.1",
        "channel_id": "C1",
        "is_ephemeral": False,
    }
    assert action["actions"][0]["type"] == "button" and action["actions"][0]["value"] == "oui"
    assert action["user"]["team_id"] == "T0001"

    submission = json.loads(
        parse_qs(
            view_submission_form(
                user_id="U1",
                view_id="V1",
                callback_id="signup",
                private_metadata="{}",
                state_values={"b": {"a": {"type": "plain_text_input", "value": "x"}}},
            ).decode()
        )["payload"][0]
    )
    assert submission["type"] == "view_submission"
    assert submission["view"]["state"]["values"]["b"]["a"]["value"] == "x"
    assert submission["response_urls"] == []

    envelope = json.loads(event_callback({"type": "reaction_added"}, event_id="Ev1"))
    assert envelope["type"] == "event_callback" and envelope["event_id"] == "Ev1"
    assert envelope["authorizations"][0]["user_id"] == "UBOT"
    assert set(envelope) >= {
        "token",
        "team_id",
        "api_app_id",
        "event_time",
        "is_ext_shared_channel",
        "event_context",
    }
    assert json.loads(url_verification("abc"))["challenge"] == "abc"
    assert retry_headers(2) == {"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}
    assert load_event_example("reaction_added")["type"] == "reaction_added"
    with pytest.raises(KeyError):
        load_event_example("app_mention")


async def test_real_bolt_app_handles_the_built_requests(emu: SlackEmulator) -> None:
    """Bolt parses the builders' payloads, and its client and respond() reach the emulator."""
    app = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(base_url=emu.base_url, token="xoxb-test"),
    )
    seen: list[str] = []

    @app.command("/cohorte")
    async def on_command(ack, command, client, respond) -> None:  # type: ignore[no-untyped-def]
        await ack()
        seen.append(command["text"])
        await client.views_open(trigger_id=command["trigger_id"], view=modal())
        await respond(text="Commande reçue")

    @app.action("vote")
    async def on_vote(ack, body, client) -> None:  # type: ignore[no-untyped-def]
        await ack()
        seen.append(body["actions"][0]["value"])
        await client.chat_update(
            channel=body["channel"]["id"], ts=body["message"]["ts"], text="Merci !"
        )

    @app.view("signup")
    async def on_submit(ack, view) -> None:  # type: ignore[no-untyped-def]
        await ack()
        seen.append(view["state"]["values"]["b"]["a"]["value"])

    @app.event("app_mention")
    async def on_mention(event, say) -> None:  # type: ignore[no-untyped-def]
        seen.append(event["text"])
        await say("Présent !")

    async def dispatch(body: bytes, content_type: str) -> int:
        headers = {**sign(body, SECRET), "Content-Type": content_type}
        response = await app.async_dispatch(AsyncBoltRequest(body=body.decode(), headers=headers))
        return response.status

    form = "application/x-www-form-urlencoded"
    command_url = emu.new_response_url(channel="C1", user="U1")
    assert (
        await dispatch(
            slash_command_form("inscrire", user_id="U1", channel_id="C1", response_url=command_url),
            form,
        )
        == 200
    )
    posted = await AsyncWebClient(base_url=emu.base_url, token="xoxb-test").chat_postMessage(
        channel="C1", text="Votez"
    )
    assert (
        await dispatch(
            block_actions_form(
                user_id="U1",
                channel_id="C1",
                message_ts=posted["ts"],
                action_id="vote",
                value="oui",
                response_url=emu.new_response_url(),
                message=emu.message("C1", posted["ts"]),
            ),
            form,
        )
        == 200
    )
    assert (
        await dispatch(
            view_submission_form(
                user_id="U1",
                view_id="V1",
                callback_id="signup",
                state_values={"b": {"a": {"type": "plain_text_input", "value": "Alice"}}},
            ),
            form,
        )
        == 200
    )
    assert (
        await dispatch(
            event_callback(
                {
                    "type": "app_mention",
                    "user": "U1",
                    "text": "<@UBOT> là ?",
                    "ts": "1700000001.000100",
                    "channel": "C1",
                    "event_ts": "1700000001.000100",
                }
            ),
            "application/json",
        )
        == 200
    )

    await emu.wait_for_call("chat.postMessage", lambda c: c.args.get("text") == "Présent !")
    for _ in range(100):
        if len(seen) == 4 and emu.responses(command_url):
            break
        await asyncio.sleep(0.01)
    assert seen == ["inscrire", "oui", "Alice", "<@UBOT> là ?"]
    assert emu.responses(command_url)[0]["text"] == "Commande reçue"
    assert emu.message("C1", posted["ts"])["text"] == "Merci !"
    assert len(emu.calls_to("views.open")) == 1
    assert emu.calls_to("auth.test"), "Bolt checks its token with auth.test"

"""Reading Matrix events: what is a command, what is chatter, what is malformed."""

from __future__ import annotations

from typing import Any

import pytest

from bot.matrix.events import (
    MalformedEvent,
    RoomView,
    command_text,
    strip_reply_fallback,
    translate,
)
from bot.matrix.sender import txn_id
from handlers.core.events import CommandEvent, MessageEvent

ROOM = RoomView("!room:localhost")
DM = RoomView("!dm:localhost", is_direct=True)


def message(body: Any = "!cohorte aide", **content: Any) -> dict[str, Any]:
    return {"type": "m.room.message", "event_id": "$e1", "sender": "@zoe:localhost",
            "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": body, **content}}


@pytest.mark.parametrize("body, expected", [
    ("!cohorte aide", "aide"),
    ("  !Cohorte   sondage voter 3 oui ", "sondage voter 3 oui"),
    ("!cohort help", "help"),
    ("!cohorte", ""),
    ("!cohortes aide", None),
    ("bonjour !cohorte aide", None),
])
def test_command_prefix(body: str, expected: str | None) -> None:
    assert command_text(body) == expected


def test_a_command_carries_its_origin_thread_and_reply_hint() -> None:
    event = translate(message(**{"m.relates_to": {"rel_type": "m.thread", "event_id": "$root",
                                                  "is_falling_back": True,
                                                  "m.in_reply_to": {"event_id": "$root"}}}),
                      ROOM, display_name="Zoé")
    assert isinstance(event, CommandEvent)
    assert event.text == "aide"
    assert event.origin.thread_id == "$root" and event.origin.event_id == "$e1"
    assert event.origin.hints == {"reply_to": "$e1"}
    assert event.origin.user_display_name == "Zoé" and not event.origin.is_direct


def test_reply_fallback_is_stripped_before_reading_the_command() -> None:
    body = "> <@camille:localhost> qui vient mardi ?\n> (suite)\n\n!cohorte moi"
    assert strip_reply_fallback(body) == "!cohorte moi"
    event = translate(message(body, **{"m.relates_to": {"m.in_reply_to": {"event_id": "$q"}}}),
                      ROOM)
    assert isinstance(event, CommandEvent) and event.text == "moi"


def test_chatter_is_a_message_in_a_dm_and_nothing_in_a_room() -> None:
    assert translate(message("bonjour"), ROOM) is None
    event = translate(message("bonjour"), DM)
    assert isinstance(event, MessageEvent) and event.origin.is_direct


@pytest.mark.parametrize("source", [
    message(msgtype="m.notice"),
    message(**{"m.relates_to": {"rel_type": "m.replace", "event_id": "$e0"},
               "m.new_content": {"msgtype": "m.text", "body": "!cohorte aide"}}),
    {**message(), "type": "m.reaction"},
    {**message(), "content": {}},
])
def test_notices_edits_and_other_types_are_not_commands(source: dict[str, Any]) -> None:
    assert translate(source, ROOM) is None


@pytest.mark.parametrize("source", [
    message(42),
    message(["!cohorte"]),
    {**message(), "content": "!cohorte aide"},
    {**message(), "content": {"body": "!cohorte aide"}},
    {**message(), "content": {"msgtype": 3, "body": "!cohorte aide"}},
    {**message(), "sender": None},
    message(**{"m.relates_to": {"rel_type": "m.thread", "event_id": 7}}),
])
def test_malformed_messages_are_reported(source: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent):
        translate(source, ROOM)


def test_a_relation_that_is_not_an_object_is_ignored() -> None:
    event = translate(message(**{"m.relates_to": "oops"}), ROOM)
    assert isinstance(event, CommandEvent) and event.origin.thread_id is None


def test_transaction_ids_are_stable_per_outbox_key() -> None:
    assert txn_id("reply:matrix:$e1:0") == txn_id("reply:matrix:$e1:0")
    assert txn_id("reply:matrix:$e1:0") != txn_id("reply:matrix:$e1:1")
    assert len(txn_id("x")) <= 64

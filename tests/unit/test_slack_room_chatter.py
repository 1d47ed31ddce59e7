"""The bridge's channel chatter skips Bolt; everything else still goes through it."""

from __future__ import annotations

from typing import Any

from bot.slack.listeners import room_chatter
from handlers.core.events import Event, RoomMessageEvent


class Inbox:
    bot_user_id: str | None = "UBOT"

    def __init__(self, bridged: set[str]) -> None:
        self.bridged = bridged
        self.submitted: list[Event] = []

    def submit(self, event: Event, files: Any = ()) -> None:
        self.submitted.append(event)

    def is_bridged(self, channel: str) -> bool:
        return channel in self.bridged

    def unreadable_text(self) -> str:
        return "?"


def body(event: dict[str, Any], event_id: str = "Ev1") -> dict[str, Any]:
    return {"type": "event_callback", "event_id": event_id, "team_id": "T1",
            "event": {"type": "message", "channel": "C1", "channel_type": "channel",
                      "ts": "1700000000.000100", **event}}


def test_a_bridged_channels_message_is_relayed_without_bolt() -> None:
    inbox = Inbox({"C1"})
    assert room_chatter(inbox)(body({"user": "U2", "text": "bonjour *tous*"}))
    [event] = inbox.submitted
    assert isinstance(event, RoomMessageEvent)
    assert event.text == "bonjour **tous**", "mrkdwn read into the neutral markup"
    assert event.origin.event_id == "Ev1" and event.origin.room.room_id == "C1"


def test_the_bots_own_copies_are_taken_and_dropped() -> None:
    inbox = Inbox({"C1"})
    assert room_chatter(inbox)(body({"user": "UBOT", "bot_id": "B1", "subtype": "bot_message",
                                     "text": "copie"}))
    assert inbox.submitted == []


def test_everything_else_is_left_to_bolt() -> None:
    inbox = Inbox({"C1"})
    fast = room_chatter(inbox)
    assert not fast(body({"user": "U2", "text": "ailleurs", "channel": "C9"})), "not bridged"
    assert not fast(body({"user": "U2", "text": "aide", "channel": "D1",
                          "channel_type": "im"})), "a DM is a conversation with the bot"
    assert not fast({**body({"user": "U2", "text": "x"}), "type": "url_verification"})
    reaction = body({"user": "U2"})
    reaction["event"]["type"] = "reaction_added"
    assert not fast(reaction)
    assert not fast(body({"user": "U2", "text": "x"}, event_id=""))
    inbox.bot_user_id = None
    assert not fast(body({"user": "U2", "text": "avant auth.test"})), "identity unknown yet"
    assert inbox.submitted == []

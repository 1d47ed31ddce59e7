"""Matrix native polls as pure data: which cards become native polls, what a poll start and
end look like, how responses and replies are read back."""

from __future__ import annotations

from typing import Any

import pytest

from bot.matrix.events import (
    MalformedEvent,
    RoomView,
    poll_response,
    reply_target,
    typed_answer_event,
    vote_event,
)
from bot.matrix.polls import latest_per_sender
from messages.render.matrix_poll import (
    DISCLOSED,
    POLL_END,
    POLL_START,
    TEXT,
    UNDISCLOSED,
    native_fits,
    poll_card,
    poll_end,
    poll_start,
)

ROOM = RoomView("!room:localhost")


def card(kind: str = "single", options: int = 3, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "poll", "version": 1, "poll_id": 7, "kind": kind, "title": "Quel format ?",
        "question": "Quel format pour la plénière ?",
        "options": [{"id": str(i), "label": f"Option {i}", "start": None, "end": None}
                    for i in range(1, options + 1)],
        "max_selections": 1, "anonymous": False, "results_visible": True, "closed": False}
    base.update(fields)
    return base


@pytest.mark.parametrize("fields, private_room, expected", [
    ({}, False, True),
    ({"kind": "yes_no", "options": 2}, False, True),
    ({"kind": "multi", "max_selections": 1}, False, True),
    ({"kind": "multi", "max_selections": 2}, False, False),
    ({"kind": "availability", "max_selections": 0}, False, False),
    ({"kind": "text", "options": 0, "max_selections": 0}, False, False),
    ({"options": 20}, False, True),
    ({"options": 21}, False, False),
    ({"anonymous": True}, False, False),
    ({"anonymous": True}, True, True),
])
def test_which_cards_a_native_poll_can_show(fields: dict[str, Any], private_room: bool,
                                             expected: bool) -> None:
    options = fields.pop("options", 3)
    assert native_fits(card(options=options, **fields), private_room=private_room) is expected


def test_poll_card_accepts_only_version_one_poll_cards() -> None:
    assert poll_card(card()) is not None
    assert poll_card({**card(), "version": 2}) is None
    assert poll_card({"type": "poll_form"}) is None
    assert poll_card(None) is None


def test_poll_start_uses_option_ids_as_answer_ids_with_a_text_fallback() -> None:
    content = poll_start(card())
    block = content[POLL_START]
    assert block["kind"] == DISCLOSED and block["max_selections"] == 1
    assert block["question"][TEXT] == "Quel format pour la plénière ?"
    assert [(a["id"], a[TEXT]) for a in block["answers"]] == [
        ("1", "Option 1"), ("2", "Option 2"), ("3", "Option 3")]
    assert content[TEXT] == "Quel format pour la plénière ?\n1. Option 1\n2. Option 2\n3. Option 3"
    assert poll_start(card(results_visible=False))[POLL_START]["kind"] == UNDISCLOSED


def test_poll_end_references_its_start() -> None:
    content = poll_end("$start", "Sondage clos.")
    assert content["m.relates_to"] == {"rel_type": "m.reference", "event_id": "$start"}
    assert POLL_END in content and content[TEXT] == "Sondage clos."


def response(content: dict[str, Any], type_: str = "org.matrix.msc3381.poll.response",
             **fields: Any) -> dict[str, Any]:
    return {"type": type_, "event_id": "$vote", "sender": "@zoe:localhost",
            "origin_server_ts": 5, "content": {
                "m.relates_to": {"rel_type": "m.reference", "event_id": "$start"}, **content},
            **fields}


@pytest.mark.parametrize("event", [
    response({"org.matrix.msc3381.poll.response": {"answers": ["2"]}}),
    response({"m.selections": ["2"]}, "m.poll.response"),
    response({"m.poll.response": {"answers": ["2"]}}, "m.poll.response"),
])
def test_unstable_and_stable_responses_read_the_same(event: dict[str, Any]) -> None:
    found = poll_response(event)
    assert found is not None
    assert (found.start_event_id, found.answers, found.sender) == ("$start", ("2",),
                                                                   "@zoe:localhost")
    vote = vote_event(found, ROOM, 7, display_name="Zoé")
    assert vote is not None and vote.action == "poll.vote" and vote.value == "7"
    assert vote.form == {"options": ["2"], "silent": True}
    assert vote.origin.event_id == "$vote" and vote.origin.user.user_id == "@zoe:localhost"


def test_a_response_beyond_one_answer_keeps_the_first_and_an_empty_one_means_nothing() -> None:
    many = poll_response(response({"org.matrix.msc3381.poll.response": {"answers": ["3", "1"]}}))
    assert many is not None
    vote = vote_event(many, ROOM, 7)
    assert vote is not None and vote.form["options"] == ["3"]
    empty = poll_response(response({"org.matrix.msc3381.poll.response": {"answers": []}}))
    assert empty is not None and vote_event(empty, ROOM, 7) is None


@pytest.mark.parametrize("event", [
    response({"org.matrix.msc3381.poll.response": {"answers": [2]}}),
    response({"org.matrix.msc3381.poll.response": {}}),
    {**response({}), "content": {"org.matrix.msc3381.poll.response": {"answers": ["1"]}}},
])
def test_malformed_responses_are_refused(event: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent):
        poll_response(event)


def test_other_events_are_not_responses() -> None:
    assert poll_response({"type": "m.room.message", "content": {}}) is None


def reply(body: str, **relates: Any) -> dict[str, Any]:
    return {"type": "m.room.message", "event_id": "$r", "sender": "@zoe:localhost",
            "origin_server_ts": 9, "content": {"msgtype": "m.text", "body": body,
                                               "m.relates_to": relates}}


def test_a_reply_to_a_message_is_an_answer_a_command_or_an_edit_is_not() -> None:
    quoted = "> <@cohortbot:localhost> Sondage n°7\n\noui non si besoin"
    assert reply_target(reply(quoted, **{"m.in_reply_to": {"event_id": "$poll"}})) == (
        "$poll", "oui non si besoin")
    assert reply_target(reply("!cohorte aide", **{"m.in_reply_to": {"event_id": "$p"}})) is None
    assert reply_target(reply("oui", rel_type="m.replace", event_id="$p")) is None
    assert reply_target(reply("oui", rel_type="m.thread", event_id="$root", is_falling_back=True,
                              **{"m.in_reply_to": {"event_id": "$root"}})) is None
    assert reply_target(reply("oui")) is None
    event = typed_answer_event(reply("oui non"), RoomView("!dm:localhost", is_direct=True), 7,
                               "oui non")
    assert event.action == "poll.submit" and event.form == {"typed": "oui non"}
    assert event.origin.is_direct and event.origin.event_id == "$r"


def test_a_tally_from_relations_keeps_each_voters_last_response() -> None:
    events = [
        {"sender": "@a:x", "origin_server_ts": 1, "event_id": "$1"},
        {"sender": "@b:x", "origin_server_ts": 2, "event_id": "$2"},
        {"sender": "@a:x", "origin_server_ts": 3, "event_id": "$3"},
        {"sender": "@bot:x", "origin_server_ts": 4, "event_id": "$4"},
        {"sender": "@b:x", "origin_server_ts": 2, "event_id": "$5"},
    ]
    assert [e["event_id"] for e in latest_per_sender(events, skip="@bot:x")] == ["$5", "$3"]

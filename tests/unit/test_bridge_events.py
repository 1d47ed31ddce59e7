"""Platform events of a bridged room → what the bridge relays (and what it leaves alone)."""

from __future__ import annotations

from bot.matrix import room_events as matrix
from bot.slack import room_events as slack
from handlers.core.events import RoomChange

BOT = "UBOT"


def slack_message(**fields: object) -> dict:
    return {"type": "message", "channel": "C1", "user": "U2", "text": "salut",
            "ts": "1700000000.000100", **fields}


def test_a_slack_message_and_a_thread_reply() -> None:
    event = slack.message(slack_message(), "Ev1", BOT)
    assert event is not None and event.change is RoomChange.POST
    assert (event.message_id, event.text, event.thread_root) == ("1700000000.000100", "salut",
                                                                 None)
    assert event.origin.event_id == "Ev1" and event.sent_at is not None
    reply = slack.message(slack_message(ts="1700000000.000200", thread_ts="1700000000.000100"),
                          "Ev2", BOT)
    assert reply is not None and reply.thread_root == "1700000000.000100"


def test_slack_messages_the_bridge_leaves_alone() -> None:
    assert slack.message(slack_message(bot_id="BBOT", username="Zoé"), "Ev", BOT) is None
    assert slack.message(slack_message(user=BOT), "Ev", BOT) is None
    assert slack.message(slack_message(subtype="channel_join"), "Ev", BOT) is None
    assert slack.message(slack_message(text=f"<@{BOT}> aide"), "Ev", BOT) is None
    assert slack.message(slack_message(text=""), "Ev", BOT) is None


def test_slack_edits_deletions_and_tombstones() -> None:
    before = slack_message()
    after = {**before, "text": "salut !", "edited": {"user": "U2", "ts": "1700000001.000000"}}
    edit = slack.message({"type": "message", "subtype": "message_changed", "channel": "C1",
                          "message": after, "previous_message": before}, "Ev", BOT)
    assert edit is not None and edit.change is RoomChange.EDIT
    assert (edit.message_id, edit.change_id, edit.text) == (before["ts"], "1700000001.000000",
                                                            "salut \\!")
    unfurl = slack.message({"type": "message", "subtype": "message_changed", "channel": "C1",
                            "message": {**before, "attachments": [{}]},
                            "previous_message": before}, "Ev", BOT)
    assert unfurl is None
    deleted = slack.message({"type": "message", "subtype": "message_deleted", "channel": "C1",
                             "deleted_ts": before["ts"], "previous_message": before}, "Ev", BOT)
    assert deleted is not None and deleted.change is RoomChange.DELETE
    tomb = slack.message({"type": "message", "subtype": "message_changed", "channel": "C1",
                          "message": {"ts": before["ts"], "subtype": "tombstone"},
                          "previous_message": before}, "Ev", BOT)
    assert tomb is not None and tomb.change is RoomChange.DELETE


def test_slack_files_reactions_and_huddles() -> None:
    shared = slack.message(slack_message(subtype="file_share", text="", files=[
        {"id": "F1", "name": "carte.png", "mimetype": "image/png", "size": 10,
         "url_private_download": "https://files/x", "original_w": 4, "original_h": 3},
        {"id": "F2", "mode": "tombstone"}]), "Ev", BOT)
    assert shared is not None and [f.kind for f in shared.files] == ["image"]
    assert shared.files[0].width == 4
    added = slack.reaction({"type": "reaction_added", "user": "U2", "reaction": "thumbsup",
                            "item": {"type": "message", "channel": "C1", "ts": "1.2"}}, "Ev",
                           BOT)
    assert added is not None and added.reaction == "👍" and added.message_id == "1.2"
    removed = slack.reaction({"type": "reaction_removed", "user": "U2", "reaction": "thumbsup",
                              "item": {"type": "message", "channel": "C1", "ts": "1.2"}}, "E",
                             BOT)
    assert removed is not None and removed.message_id == added.change_id
    huddle = slack.message(slack_message(subtype="huddle_thread"), "Ev", BOT)
    assert huddle is not None and huddle.unsupported == "huddle"


def matrix_event(content: dict, kind: str = "m.room.message", **extra: object) -> dict:
    return {"type": kind, "event_id": "$e1", "sender": "@zoe:localhost",
            "origin_server_ts": 1_700_000_000_000, "content": content, **extra}


def test_matrix_text_emote_thread_and_reply() -> None:
    text = matrix.translate(matrix_event({"msgtype": "m.text", "body": "salut"}), "!r")
    assert text is not None and text.text == "salut" and text.change is RoomChange.POST
    emote = matrix.translate(matrix_event({"msgtype": "m.emote", "body": "danse"}), "!r")
    assert emote is not None and emote.emote
    threaded = matrix.translate(matrix_event({"msgtype": "m.text", "body": "oui", "m.relates_to": {
        "rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
        "m.in_reply_to": {"event_id": "$root"}}}), "!r")
    assert threaded is not None and (threaded.thread_root, threaded.reply_to) == ("$root", None)
    reply = matrix.translate(matrix_event({
        "msgtype": "m.text", "body": "> <@a:b> avant\n\nréponse",
        "m.relates_to": {"m.in_reply_to": {"event_id": "$before"}}}), "!r")
    assert reply is not None and reply.reply_to == "$before" and reply.text == "réponse"


def test_matrix_edits_redactions_reactions_files() -> None:
    edit = matrix.translate(matrix_event({
        "msgtype": "m.text", "body": "* v2", "m.new_content": {"msgtype": "m.text", "body": "v2"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}}), "!r")
    assert edit is not None and (edit.change, edit.message_id, edit.text, edit.change_id) == (
        RoomChange.EDIT, "$orig", "v2", "$e1")
    redaction = matrix.translate(matrix_event({"redacts": "$orig"}, "m.room.redaction"), "!r")
    assert redaction is not None and redaction.change is RoomChange.DELETE
    old_style = matrix.translate(matrix_event({}, "m.room.redaction", redacts="$old"), "!r")
    assert old_style is not None and old_style.message_id == "$old"
    reaction = matrix.translate(matrix_event({"m.relates_to": {
        "rel_type": "m.annotation", "event_id": "$orig", "key": "👍"}}, "m.reaction"), "!r")
    assert reaction is not None and reaction.reaction == "👍"
    image = matrix.translate(matrix_event({"msgtype": "m.image", "body": "carte.png",
                                           "url": "mxc://localhost/abc",
                                           "info": {"mimetype": "image/png", "size": 5}}), "!r")
    assert image is not None and image.files[0].url == "mxc://localhost/abc"
    sticker = matrix.translate(matrix_event({"body": "chat", "url": "mxc://l/s", "info": {}},
                                            "m.sticker"), "!r")
    assert sticker is not None and sticker.files[0].kind == "image"


def test_matrix_events_the_bridge_leaves_alone_or_only_mentions() -> None:
    assert matrix.translate(matrix_event({"msgtype": "m.notice", "body": "bot"}), "!r") is None
    assert matrix.translate(matrix_event({"msgtype": "m.text", "body": "copie",
                                          "fr.cohortbot.relay": {}}), "!r") is None
    assert matrix.translate(matrix_event({}, "m.room.topic"), "!r") is None
    call = matrix.translate(matrix_event({"call_id": "c"}, "m.call.invite"), "!r")
    assert call is not None and call.unsupported == "call"
    poll = matrix.translate(matrix_event({"org.matrix.msc3381.poll.start": {
        "question": {"body": "Quand ?"}}}, "org.matrix.msc3381.poll.start"), "!r")
    assert poll is not None and poll.unsupported == "poll" and poll.text == "Quand ?"
    encrypted = matrix.translate(matrix_event({"msgtype": "m.file", "body": "x",
                                               "file": {"url": "mxc://x"}}), "!r")
    assert encrypted is not None and encrypted.unsupported == "encrypted_file"

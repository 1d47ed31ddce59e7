"""Slack payloads → neutral events (pure translation), Slack's pace, and forms as modals."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlencode

import pytest
from slack_bolt.async_app import AsyncApp

from bot.slack import translate
from bot.slack.http import SlackHttpEndpoint, Unreadable, early_ack
from bot.slack.pace import ChannelPacer
from handlers.core.events import ActionEvent, CommandEvent, MessageEvent
from messages.render.slack import is_form, poll_form, to_modal
from tests.support.slack_emulator import load_event_example, view_errors

BOT = "UBOT"


def test_mentions_and_links_become_what_people_typed() -> None:
    text = "membre lier &quot;Zoé&quot; <@U3ZOE|zoe> <#C1|general> <https://x.org|site> a &lt; b"
    assert translate.neutral_text(text) == \
        'membre lier &quot;Zoé&quot; slack:U3ZOE #general site a < b'.replace("&quot;", '"')
    assert translate.neutral_text("<@W012AB>") == "slack:W012AB"
    assert translate.neutral_text("<!here> <mailto:a@b.fr|a@b.fr>") == "@here a@b.fr"


def test_a_slash_command_keeps_its_response_url_and_trigger() -> None:
    event = translate.slash_command({
        "user_id": "U1", "channel_id": "D024BE91L", "channel_name": "directmessage",
        "text": "aide  sondage", "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "response_url": "https://hooks.slack.com/commands/1234/5678"})
    assert isinstance(event, CommandEvent)
    assert event.text == "aide  sondage"
    assert event.origin.is_direct
    assert event.origin.event_id == "trigger:13345224609.738474920.8088930838d88f008e0"
    assert event.origin.hints["response_url"] == "https://hooks.slack.com/commands/1234/5678"


@pytest.mark.parametrize("body", [
    {"channel_id": "C1", "trigger_id": "t", "response_url": "u"},
    {"user_id": 7, "channel_id": "C1", "trigger_id": "t", "response_url": "u"},
    {"user_id": "U1", "channel_id": "C1", "trigger_id": "t", "response_url": None},
])
def test_a_slash_command_without_its_fields_is_a_payload_error(body: dict) -> None:
    with pytest.raises(translate.PayloadError):
        translate.slash_command(body)


def test_a_button_click_loses_the_renderers_index() -> None:
    event = translate.block_action({
        "type": "block_actions", "user": {"id": "U1"}, "trigger_id": "t1",
        "channel": {"id": "C1"}, "container": {"type": "message", "message_ts": "1.2"},
        "message": {"ts": "1.2", "thread_ts": "1.1"}, "response_url": "https://r",
        "actions": [{"action_id": "poll.vote#3", "value": "12:oui", "type": "button"}]})
    assert isinstance(event, ActionEvent)
    assert (event.action, event.value) == ("poll.vote", "12:oui")
    assert event.origin.thread_id == "1.1" and event.origin.room.room_id == "C1"
    assert event.origin.hints == {"trigger_id": "t1", "response_url": "https://r"}


def test_a_click_in_a_modal_answers_in_the_persons_dm() -> None:
    event = translate.block_action({
        "type": "block_actions", "user": {"id": "U1"}, "trigger_id": "t1",
        "container": {"type": "view", "view_id": "V1"},
        "actions": [{"action_id": "note.skip", "type": "button"}]})
    assert event.origin.room.room_id == "@dm:U1" and event.origin.is_direct


def test_a_form_submission_carries_every_kind_of_field() -> None:
    meta = translate.form_metadata("note.answer", "7", "C1", None)
    event = translate.view_submission({
        "type": "view_submission", "user": {"id": "U1"}, "trigger_id": "t2",
        "view": {"callback_id": "cohortbot.form", "private_metadata": meta, "state": {
            "values": {
                "texte": {"value": {"type": "plain_text_input", "value": "Un mot"}},
                "choix": {"value": {"type": "radio_buttons",
                                    "selected_option": {"value": "b"}}},
                "plusieurs": {"value": {"type": "checkboxes",
                                        "selected_options": [{"value": "x"}, {"value": "y"}]}},
                "jour": {"value": {"type": "datepicker", "selected_date": "2025-04-01"}},
                "vide": {"value": {"type": "plain_text_input", "value": None}},
            }}}})
    assert event is not None
    assert (event.action, event.value, event.origin.room.room_id) == ("note.answer", "7", "C1")
    assert event.form == {"texte": "Un mot", "choix": "b", "plusieurs": ["x", "y"],
                          "jour": "2025-04-01", "vide": None}


def test_a_modal_the_bot_did_not_open_is_not_its_business() -> None:
    assert translate.view_submission({"user": {"id": "U1"}, "trigger_id": "t",
                                      "view": {"callback_id": "other"}}) is None
    with pytest.raises(translate.PayloadError):
        translate.view_submission({"user": {"id": "U1"}, "trigger_id": "t", "view": {
            "callback_id": "cohortbot.form", "private_metadata": "{oops"}})


def test_a_mention_is_the_command_after_it() -> None:
    event = translate.app_mention({"type": "app_mention", "user": "U1", "channel": "C1",
                                   "text": "<@UBOT|cohortbot>  membre lister Gruissan",
                                   "ts": "1.2"}, "Ev1", BOT)
    assert isinstance(event, CommandEvent)
    assert event.text == "membre lister Gruissan" and event.origin.event_id == "Ev1"
    assert event.origin.thread_id is None
    assert translate.app_mention({"type": "app_mention", "user": "U1", "channel": "C1",
                                  "text": "<@UOTHER> salut", "ts": "1"}, "Ev2", BOT) is None


def test_direct_messages_are_commands_or_messages() -> None:
    base = {"type": "message", "channel_type": "im", "user": "U1", "channel": "D1", "ts": "1"}
    command = translate.direct_message({**base, "text": "Cohorte aide"}, "Ev1", BOT)
    assert isinstance(command, CommandEvent) and command.text == "aide"
    mentioned = translate.direct_message({**base, "text": "<@UBOT> moi"}, "Ev2", BOT)
    assert isinstance(mentioned, CommandEvent) and mentioned.text == "moi"
    message = translate.direct_message({**base, "text": "Oui, 12 habitants",
                                        "thread_ts": "0.9"}, "Ev3", BOT)
    assert isinstance(message, MessageEvent) and message.in_reply_to == "0.9"
    assert message.origin.is_direct


@pytest.mark.parametrize("extra", [
    {"bot_id": "B1"}, {"user": BOT}, {"user": "USLACKBOT"}, {"subtype": "bot_message"},
    {"subtype": "message_changed"}, {"subtype": "channel_join"}, {"channel_type": "channel"},
])
def test_what_is_not_a_person_talking_to_the_bot_is_ignored(extra: dict) -> None:
    event = {"type": "message", "channel_type": "im", "user": "U1", "channel": "D1",
             "ts": "1", "text": "cohorte aide", **extra}
    assert translate.direct_message(event, "Ev1", BOT) is None


def test_slacks_own_message_example_is_not_a_dm() -> None:
    example = load_event_example("message")
    assert translate.direct_message(example, "Ev1", BOT) is None


def test_early_acknowledgement_only_when_nothing_is_owed_in_the_answer() -> None:
    form = "application/x-www-form-urlencoded"
    assert early_ack(b'{"type":"event_callback","event":{}}', "application/json")
    assert not early_ack(b'{"type":"url_verification","challenge":"x"}', "application/json")
    assert early_ack(b"command=%2Fcohorte&user_id=U1&channel_id=C1&trigger_id=t"
                     b"&response_url=https%3A%2F%2Fr&text=", form)
    assert not early_ack(b"command=%2Fcohorte&channel_id=C1&trigger_id=t", form)
    for separators in ((",", ":"), (", ", ": ")):
        click = urlencode({"payload": json.dumps({"type": "block_actions", "user": {
            "type": "user"}}, separators=separators)})
        assert early_ack(click.encode(), form)
    shortcut = urlencode({"payload": json.dumps({"type": "shortcut", "text": '"type":'
                                                 '"block_actions"'})})
    assert not early_ack(shortcut.encode(), form), "a person's text is not a payload type"
    assert not early_ack(b"ssl_check=1&token=x", form)
    assert not early_ack(b"payload=%7B", form), "Bolt reads it, and refuses it, before answering"
    for bad, kind in ((b"\xff", "application/json"), (b"{", "application/json")):
        with pytest.raises(Unreadable):
            early_ack(bad, kind)


def test_the_pace_allows_a_burst_then_one_per_interval() -> None:
    now = [100.0]
    pacer = ChannelPacer(per_second=1, burst=3, monotonic=lambda: now[0])
    assert [pacer.reserve("C1") for _ in range(5)] == [0, 0, 0, 1.0, 2.0]
    assert pacer.reserve("C2") == 0, "each channel has its own pace"
    now[0] += 10
    assert pacer.reserve("C1") == 0
    pacer.hold("C1", 30)
    assert pacer.reserve("C1") == pytest.approx(30)
    assert pacer.reserve("C1") == pytest.approx(31)


FORM_CARD = {
    "type": "form", "title": "Note d'intention de la commune de Gruissan", "submit": "Envoyer",
    "action": "note.answer", "value": "42", "intro": "**Question 1/4** : le *contexte*.",
    "fields": [
        {"name": "reponse", "label": "Votre réponse", "kind": "long_text", "initial": "Brouillon"},
        {"name": "jour", "label": "Date", "kind": "date", "optional": True},
        {"name": "un", "label": "Un choix", "kind": "choice", "initial": "b",
         "options": [{"value": v, "label": v.upper() * 100} for v in "abc"]},
        {"name": "dates", "label": "Vos dates", "kind": "choices", "initial": ["d3"],
         "options": [{"value": f"d{n}", "label": f"Date {n}"} for n in range(30)]},
        {"name": "rien", "label": "Sans options", "kind": "choice", "options": []},
        {"name": "bizarre", "kind": "hologram"},
    ]}


def test_a_form_card_becomes_a_modal_within_slacks_limits() -> None:
    assert is_form(FORM_CARD) and not is_form({"type": "poll"}) and not is_form(None)
    view = to_modal(FORM_CARD, private_metadata=translate.form_metadata("note.answer", "42",
                                                                        "C1", None))
    assert view_errors(view) == []
    assert view["callback_id"] == "cohortbot.form" and len(view["title"]["text"]) <= 24
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == ["reponse", "jour", "un", "dates"]
    assert inputs["reponse"]["element"]["initial_value"] == "Brouillon"
    assert inputs["jour"]["optional"] is True
    assert inputs["un"]["element"]["type"] == "radio_buttons"
    assert inputs["un"]["element"]["initial_option"]["value"] == "b"
    assert inputs["dates"]["element"]["type"] == "multi_static_select"
    assert inputs["dates"]["element"]["initial_options"][0]["value"] == "d3"
    assert view["blocks"][0]["text"]["text"] == "*Question 1/4* : le _contexte_."


async def test_background_work_waits_for_quiet_but_is_never_starved() -> None:
    async def authorize() -> None:
        return None

    endpoint = SlackHttpEndpoint(AsyncApp(signing_secret="s", authorize=authorize), "s",
                                 spawn=asyncio.create_task)
    started = time.perf_counter()
    await endpoint.idle()
    assert time.perf_counter() - started < 0.05
    endpoint.in_flight = 1
    endpoint._quiet.clear()
    started = time.perf_counter()
    await endpoint.idle(patience=0.1)
    assert 0.09 <= time.perf_counter() - started < 0.5

    async def finish_soon() -> None:
        await asyncio.sleep(0.02)
        endpoint.in_flight = 0
        endpoint._quiet.set()

    finishing = asyncio.create_task(finish_soon())
    started = time.perf_counter()
    await endpoint.idle(patience=5)
    assert time.perf_counter() - started < 1.0
    await finishing


LABELS = {"submit": "Envoyer", "answer": "Votre réponse", "comment": "Commentaire",
          "yes": "Oui", "maybe": "Si besoin", "no": "Non"}


@pytest.mark.parametrize("kind, current, expected_fields", [
    ("single", {"choices": [2]}, ["options[]"]),
    ("multi", {"choices": [1, 3]}, ["options[]"]),
    ("text", {"text": "Déjà écrit"}, ["text"]),
    ("availability", {"availability": {"2": "maybe"}}, ["availability.1", "availability.2",
                                                        "availability.3"]),
])
def test_a_poll_form_card_becomes_a_modal_whose_answer_poll_submit_reads(
        kind: str, current: dict, expected_fields: list[str]) -> None:
    card = {"type": "poll_form", "version": 1, "poll_id": 12, "kind": kind,
            "title": "Plénière *de printemps*", "question": "Quelle date ?",
            "options": [{"id": str(n), "label": f"Option {n}"} for n in (1, 2, 3)],
            "allow_comment": False, "current": current, "comment": None}
    form = poll_form(card, LABELS)
    assert form is not None and is_form(form)
    assert (form["action"], form["value"]) == ("poll.submit", "12")
    assert [f["name"] for f in form["fields"]] == expected_fields
    view = to_modal(form, private_metadata="{}")
    assert view_errors(view) == []
    assert poll_form({"type": "poll"}, LABELS) is None


def test_submitted_field_paths_take_the_shape_poll_submit_expects() -> None:
    meta = translate.form_metadata("poll.submit", "12", None, None)

    def submit(values: dict) -> dict:
        event = translate.view_submission({
            "type": "view_submission", "user": {"id": "U1"}, "trigger_id": "t",
            "view": {"callback_id": "cohortbot.form", "private_metadata": meta,
                     "state": {"values": values}}})
        assert event is not None
        return event.form

    def radio(value: str | None) -> dict:
        return {"value": {"type": "radio_buttons",
                          "selected_option": {"value": value} if value else None}}

    assert submit({"options[]": radio("2")}) == {"options": ["2"]}
    assert submit({"options[]": {"value": {"type": "checkboxes", "selected_options": []}}}) == {
        "options": []}
    assert submit({"availability.1": radio("yes"), "availability.2": radio(None),
                   "comment": {"value": {"type": "plain_text_input", "value": None}}}) == {
        "availability": {"1": "yes"}, "comment": None}


def test_files_shared_with_a_message_are_the_ones_the_bot_may_download() -> None:
    event = {"type": "message", "subtype": "file_share", "files": [
        {"id": "F1", "name": "agenda.ics", "mimetype": "text/calendar", "size": 812,
         "url_private_download": "https://files.slack.com/files-pri/T1-F1/download/agenda.ics"},
        {"id": "F2", "mode": "tombstone"},
        {"id": "F3", "file_access": "check_file_info"},
        "not a file"]}
    [shared] = translate.shared_files(event)
    assert shared == translate.SharedFile(
        "F1", "agenda.ics", "text/calendar", 812,
        "https://files.slack.com/files-pri/T1-F1/download/agenda.ics")
    assert translate.shared_files({"type": "message", "text": "bonjour"}) == ()

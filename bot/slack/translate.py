"""Slack payloads → neutral events: pure functions, no I/O, no Bolt objects.

Each function reads one kind of payload as Slack documents it and returns a
:class:`CommandEvent`, :class:`MessageEvent` or :class:`ActionEvent` with an
:class:`Origin` whose ``event_id`` is stable across Slack's retries and replays
(the Events API ``event_id``, or the interaction's ``trigger_id``). ``None``
means "nothing for the bot" (another bot's message, an edit, a join notice…).
A payload whose fields are missing or of the wrong type raises
:class:`PayloadError`, which the listeners log and answer without a traceback.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from handlers.core.events import ActionEvent, CommandEvent, MessageEvent, Origin
from handlers.core.ids import Platform, RoomRef, UserRef
from messages.render.slack import FORM_CALLBACK_ID

USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
CHANNEL_MENTION = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
SPECIAL_MENTION = re.compile(r"<!([a-z]+)(?:\^[^|>]*)?(?:\|([^>]*))?>")
TEXT_PREFIXES = ("!cohorte", "/cohorte", "cohorte", "!cohort", "/cohort", "cohort")
"""How a command may start when typed as a plain message in a DM with the bot."""
DIRECT_ROOM_PREFIX = "@dm:"
SLACKBOT = "USLACKBOT"
"""Slack's own system user (notices, tombstones): never a person talking to the bot."""
IGNORED_MESSAGE_SUBTYPES = frozenset({
    "bot_message", "message_changed", "message_deleted", "message_replied", "channel_join",
    "channel_leave", "channel_topic", "channel_purpose", "channel_name", "ekm_access_denied",
    "me_message", "thread_broadcast", "tombstone", "assistant_app_thread", "group_join",
    "group_leave", "pinned_item", "unpinned_item", "reminder_add",
})
"""Message subtypes that are notices or edits, not something a person says to the bot."""


class PayloadError(ValueError):
    """A payload without the fields Slack documents for it (or with the wrong types)."""


def _text(data: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = data.get(key)
    if isinstance(value, str) and (value or not required):
        return value
    if value is None and not required:
        return ""
    raise PayloadError(f"{key}: expected a non-empty string, got {type(value).__name__}")


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if isinstance(value, Mapping):
        return value
    raise PayloadError(f"{key}: expected an object, got {type(value).__name__}")


def neutral_text(text: str) -> str:
    """Slack's escaped message text → what a person typed.

    ``<@U123|alice>`` becomes ``slack:U123`` (the account syntax commands accept),
    channel mentions and links become their label or URL, and ``&amp;``, ``&lt;``,
    ``&gt;`` are unescaped.
    """
    text = USER_MENTION.sub(lambda m: f"slack:{m.group(1)}", text)
    text = CHANNEL_MENTION.sub(lambda m: f"#{m.group(2) or m.group(1)}", text)
    text = LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = SPECIAL_MENTION.sub(lambda m: f"@{m.group(2) or m.group(1)}", text)
    return html.unescape(text)


def is_direct_channel(channel_id: str) -> bool:
    """Slack ids of one-to-one conversations start with ``D``."""
    return channel_id.startswith("D")


def slash_command(body: Mapping[str, Any]) -> CommandEvent:
    """``/cohorte <text>`` → a command; replies may use the command's ``response_url``."""
    user_id = _text(body, "user_id")
    channel_id = _text(body, "channel_id")
    trigger_id = _text(body, "trigger_id")
    text = _text(body, "text", required=False)
    hints = {"response_url": _text(body, "response_url"), "trigger_id": trigger_id}
    origin = Origin(user=UserRef(Platform.SLACK, user_id),
                    room=RoomRef(Platform.SLACK, channel_id),
                    is_direct=is_direct_channel(channel_id) or body.get("channel_name") ==
                    "directmessage",
                    event_id=f"trigger:{trigger_id}", hints=hints)
    return CommandEvent(origin=origin, text=neutral_text(text))


def _interaction_room(body: Mapping[str, Any], user_id: str) -> tuple[RoomRef, bool, str | None]:
    """Where an interaction happened: the channel of the message, else the person's DM."""
    channel = body.get("channel")
    container = body.get("container") if isinstance(body.get("container"), Mapping) else {}
    channel_id = None
    if isinstance(channel, Mapping) and isinstance(channel.get("id"), str):
        channel_id = channel["id"]
    elif isinstance(container.get("channel_id"), str):
        channel_id = container["channel_id"]
    thread = None
    message = body.get("message")
    if isinstance(message, Mapping) and isinstance(message.get("thread_ts"), str) \
            and message.get("thread_ts") != message.get("ts"):
        thread = message["thread_ts"]
    elif isinstance(container.get("thread_ts"), str):
        thread = container["thread_ts"]
    if channel_id:
        return RoomRef(Platform.SLACK, channel_id), is_direct_channel(channel_id), thread
    return RoomRef(Platform.SLACK, f"{DIRECT_ROOM_PREFIX}{user_id}"), True, None


def strip_index(action_id: str) -> str:
    """``poll.vote#3`` → ``poll.vote``: the renderer numbers buttons to keep ids unique."""
    return action_id.rsplit("#", 1)[0] if "#" in action_id else action_id


def block_action(body: Mapping[str, Any]) -> ActionEvent:
    """A button click (``block_actions``) → an action with the button's value."""
    user_id = _text(_mapping(body, "user"), "id")
    trigger_id = _text(body, "trigger_id")
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], Mapping):
        raise PayloadError("actions: expected a non-empty list of objects")
    action = actions[0]
    action_id = _text(action, "action_id")
    value = action.get("value")
    if value is None and isinstance(action.get("selected_option"), Mapping):
        value = action["selected_option"].get("value")
    if value is not None and not isinstance(value, str):
        raise PayloadError(f"actions[0].value: expected a string, got {type(value).__name__}")
    room, direct, thread = _interaction_room(body, user_id)
    hints = {"trigger_id": trigger_id}
    response_url = body.get("response_url")
    if isinstance(response_url, str) and response_url:
        hints["response_url"] = response_url
    origin = Origin(user=UserRef(Platform.SLACK, user_id), room=room, is_direct=direct,
                    thread_id=thread, event_id=f"trigger:{trigger_id}", hints=hints)
    return ActionEvent(origin=origin, action=strip_index(action_id), value=value or "")


def form_metadata(action: str, value: str, channel: str | None, thread: str | None) -> str:
    """What a form modal carries in ``private_metadata`` to name its action and origin."""
    return json.dumps({"a": action, "v": value, "c": channel, "t": thread},
                      separators=(",", ":"))


def view_submission(body: Mapping[str, Any]) -> ActionEvent | None:
    """A submitted form modal → the form's action, with the fields the person filled in.

    None for a modal this bot did not open as a form.
    """
    user_id = _text(_mapping(body, "user"), "id")
    trigger_id = _text(body, "trigger_id")
    view = _mapping(body, "view")
    if view.get("callback_id") != FORM_CALLBACK_ID:
        return None
    try:
        meta = json.loads(_text(view, "private_metadata"))
    except json.JSONDecodeError:
        raise PayloadError("view.private_metadata: not JSON") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("a"), str):
        raise PayloadError("view.private_metadata: no action")
    state = view.get("state")
    values = state.get("values") if isinstance(state, Mapping) else None
    if not isinstance(values, Mapping):
        raise PayloadError("view.state.values: expected an object")
    form = _assemble({name: _input_value(fields) for name, fields in values.items()
                      if isinstance(fields, Mapping)})
    channel = meta.get("c") if isinstance(meta.get("c"), str) else None
    thread = meta.get("t") if isinstance(meta.get("t"), str) else None
    if channel:
        room = RoomRef(Platform.SLACK, channel)
        direct = is_direct_channel(channel)
    else:
        room, direct = RoomRef(Platform.SLACK, f"{DIRECT_ROOM_PREFIX}{user_id}"), True
    origin = Origin(user=UserRef(Platform.SLACK, user_id), room=room, is_direct=direct,
                    thread_id=thread, event_id=f"trigger:{trigger_id}",
                    hints={"trigger_id": trigger_id})
    value = meta.get("v") if isinstance(meta.get("v"), str) else ""
    return ActionEvent(origin=origin, action=meta["a"], value=value, form=form)


def _assemble(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Field names as paths: ``a.b`` nests under ``a``, ``a[]`` is always a list.

    So a form card decides the shape of what comes back (``options[]``,
    ``availability.3``); an optional field left empty is left out of a nested one.
    """
    form: dict[str, Any] = {}
    for name, value in flat.items():
        if name.endswith("[]"):
            items = value if isinstance(value, list) else [] if value is None else [value]
            form[name[:-2]] = items
        elif "." in name:
            head, _, key = name.partition(".")
            group = form.setdefault(head, {})
            if isinstance(group, dict) and value is not None:
                group[key] = value
        else:
            form[name] = value
    return form


def _input_value(fields: Mapping[str, Any]) -> Any:
    """The value of one input block, whatever its element (text, select, checkboxes, date)."""
    element = next((f for f in fields.values() if isinstance(f, Mapping)), None)
    if element is None:
        return None
    if "selected_options" in element:
        options = element.get("selected_options") or []
        return [o.get("value") for o in options if isinstance(o, Mapping)]
    if "selected_option" in element:
        option = element.get("selected_option")
        return option.get("value") if isinstance(option, Mapping) else None
    for key in ("value", "selected_date", "selected_time", "selected_date_time",
                "selected_conversation", "selected_user"):
        if key in element:
            return element[key]
    return None


def _event_origin(event: Mapping[str, Any], event_id: str, *, direct: bool) -> Origin:
    user_id = _text(event, "user")
    channel = _text(event, "channel")
    thread = event.get("thread_ts") if isinstance(event.get("thread_ts"), str) else None
    return Origin(user=UserRef(Platform.SLACK, user_id), room=RoomRef(Platform.SLACK, channel),
                  is_direct=direct, thread_id=thread, event_id=event_id)


def _from_bot(event: Mapping[str, Any], bot_user_id: str | None) -> bool:
    return bool(event.get("bot_id")) or event.get("subtype") == "bot_message" or \
        event.get("user") == SLACKBOT or (
            bot_user_id is not None and event.get("user") == bot_user_id)


def after_mention(text: str, bot_user_id: str | None) -> str | None:
    """The text after the (first) mention of the bot, or None when the bot is not mentioned."""
    for match in USER_MENTION.finditer(text):
        if bot_user_id is None or match.group(1) == bot_user_id:
            return text[match.end():].strip()
    return None


def app_mention(event: Mapping[str, Any], event_id: str, bot_user_id: str | None
                ) -> CommandEvent | None:
    """``@cohortbot <command>`` in a channel → that command."""
    if _from_bot(event, bot_user_id) or event.get("subtype") in IGNORED_MESSAGE_SUBTYPES:
        return None
    text = _text(event, "text", required=False)
    command = after_mention(text, bot_user_id)
    if command is None:
        return None
    channel = _text(event, "channel")
    origin = _event_origin(event, event_id, direct=is_direct_channel(channel))
    return CommandEvent(origin=origin, text=neutral_text(command))


def direct_message(event: Mapping[str, Any], event_id: str, bot_user_id: str | None
                   ) -> CommandEvent | MessageEvent | None:
    """A message in the bot's DM: a command when it starts like one, else a message.

    Messages in channels, from bots (this one included), edits and notices give None.
    """
    if event.get("channel_type") != "im":
        return None
    if _from_bot(event, bot_user_id) or event.get("subtype") in IGNORED_MESSAGE_SUBTYPES:
        return None
    if event.get("subtype") not in (None, "file_share"):
        return None
    text = _text(event, "text", required=False)
    origin = _event_origin(event, event_id, direct=True)
    command = command_text(text, bot_user_id)
    if command is not None:
        return CommandEvent(origin=origin, text=neutral_text(command))
    in_reply_to = origin.thread_id
    return MessageEvent(origin=origin, text=neutral_text(text), in_reply_to=in_reply_to)


@dataclass(frozen=True, slots=True)
class SharedFile:
    """A file someone shared with a message, as Slack describes it (not downloaded yet)."""

    file_id: str
    name: str
    mimetype: str
    size: int
    url: str


def shared_files(event: Mapping[str, Any]) -> tuple[SharedFile, ...]:
    """The files of a message or mention event that the bot can download.

    Files Slack hides from the bot (``file_access: check_file_info``, external files,
    tombstones) have no download URL and are left out.
    """
    files = event.get("files")
    if not isinstance(files, list):
        return ()
    found = []
    for item in files:
        if not isinstance(item, Mapping) or item.get("mode") == "tombstone":
            continue
        url = item.get("url_private_download") or item.get("url_private")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            continue
        size = item.get("size")
        found.append(SharedFile(
            file_id=str(item.get("id") or ""), name=str(item.get("name") or "fichier"),
            mimetype=str(item.get("mimetype") or "application/octet-stream"),
            size=size if isinstance(size, int) and size >= 0 else 0, url=url))
    return tuple(found)


def command_text(text: str, bot_user_id: str | None) -> str | None:
    """The command in a DM line (``cohorte aide``, ``@cohortbot aide``), or None."""
    stripped = text.strip()
    if bot_user_id is not None:
        mention = re.match(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", stripped)
        if mention:
            return stripped[mention.end():].strip()
    lowered = stripped.lower()
    for prefix in TEXT_PREFIXES:
        if lowered == prefix:
            return ""
        if lowered.startswith(prefix + " "):
            return stripped[len(prefix) + 1:].strip()
    return None

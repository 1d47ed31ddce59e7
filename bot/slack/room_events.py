"""Slack events of a bridged channel → :class:`RoomMessageEvent` (pure functions).

Messages (plain, with files, ``/me``, thread replies and their broadcasts), edits
(``message_changed`` with an ``edited`` mark), deletions (``message_deleted``, or a
thread root turned into a tombstone) and reactions. Bots' messages — this one's
copies included, which carry its ``bot_id`` — and channel notices give None, and so
does a message addressed to the bot (a command, handled as ``app_mention``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.slack.translate import SLACKBOT, _from_bot
from handlers.core.events import Origin, RoomChange, RoomMessageEvent, SharedFile
from handlers.core.ids import Platform, RoomRef, UserRef
from messages.parse.slack import from_blocks, from_mrkdwn, shortcode

POSTED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "me_message"})
MENTION_LABEL = re.compile(r"\[(U[A-Z0-9]+|W[A-Z0-9]+)\]\(cb-mention:slack=\1\)")


def slack_time(ts: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(Decimal(str(ts))), UTC)
    except (InvalidOperation, ValueError, TypeError, OverflowError):
        return None


def _text(message: Mapping[str, Any]) -> str:
    from_tree = from_blocks(message.get("blocks"))
    if from_tree is not None:
        return from_tree
    text = message.get("text")
    return from_mrkdwn(text) if isinstance(text, str) else ""


def _files(message: Mapping[str, Any]) -> tuple[SharedFile, ...]:
    found = []
    for item in message.get("files") or []:
        if not isinstance(item, Mapping) or item.get("mode") == "tombstone":
            continue
        url = item.get("url_private_download") or item.get("url_private")
        if not isinstance(url, str):
            continue
        mimetype = str(item.get("mimetype") or "application/octet-stream")
        kind = next((k for k in ("image", "video", "audio") if mimetype.startswith(k + "/")),
                    "file")
        found.append(SharedFile(
            name=str(item.get("name") or item.get("title") or "fichier"), url=url,
            mimetype=mimetype, size=item.get("size") if isinstance(item.get("size"), int)
            else None, kind=kind,
            width=item.get("original_w") if isinstance(item.get("original_w"), int) else None,
            height=item.get("original_h") if isinstance(item.get("original_h"), int)
            else None))
    return tuple(found)


def _addressed_to(text: Any, bot_user_id: str | None) -> bool:
    return bot_user_id is not None and isinstance(text, str) and \
        text.lstrip().startswith(f"<@{bot_user_id}")


def _origin(user: str, channel: str, event_id: str | None) -> Origin:
    return Origin(user=UserRef(Platform.SLACK, user), room=RoomRef(Platform.SLACK, channel),
                  event_id=event_id)


def message(event: Mapping[str, Any], event_id: str | None, bot_user_id: str | None
            ) -> RoomMessageEvent | None:
    """A ``message`` event of a channel (or a message read from its history, ``event_id``
    None) → what the bridge relays."""
    channel = event.get("channel")
    subtype = event.get("subtype")
    if not isinstance(channel, str):
        return None
    if subtype == "message_changed":
        return _changed(event, channel, event_id, bot_user_id)
    if subtype == "message_deleted":
        previous = event.get("previous_message")
        deleted = event.get("deleted_ts")
        if not isinstance(previous, Mapping) or not isinstance(deleted, str) or \
                _from_bot(previous, bot_user_id) or not isinstance(previous.get("user"), str):
            return None
        return RoomMessageEvent(_origin(previous["user"], channel, event_id), deleted,
                                RoomChange.DELETE)
    if subtype == "huddle_thread":
        user = event.get("user")
        ts = event.get("ts")
        if isinstance(user, str) and user != SLACKBOT and isinstance(ts, str):
            return RoomMessageEvent(_origin(user, channel, event_id), ts,
                                    unsupported="huddle", sent_at=slack_time(ts))
        return None
    if subtype not in POSTED_SUBTYPES or _from_bot(event, bot_user_id):
        return None
    user, ts = event.get("user"), event.get("ts")
    if not isinstance(user, str) or not isinstance(ts, str):
        return None
    if _addressed_to(event.get("text"), bot_user_id):
        return None
    thread = event.get("thread_ts")
    text = _text(event)
    files = _files(event)
    if not text.strip() and not files:
        return None
    return RoomMessageEvent(
        _origin(user, channel, event_id), ts, text=text, files=files,
        thread_root=thread if isinstance(thread, str) and thread != ts else None,
        emote=subtype == "me_message", sent_at=slack_time(ts))


def _changed(event: Mapping[str, Any], channel: str, event_id: str | None,
             bot_user_id: str | None) -> RoomMessageEvent | None:
    current = event.get("message")
    previous = event.get("previous_message")
    if not isinstance(current, Mapping) or not isinstance(current.get("ts"), str):
        return None
    if current.get("subtype") == "tombstone":
        user = previous.get("user") if isinstance(previous, Mapping) else None
        if not isinstance(user, str) or (isinstance(previous, Mapping) and
                                         _from_bot(previous, bot_user_id)):
            return None
        return RoomMessageEvent(_origin(user, channel, event_id), current["ts"],
                                RoomChange.DELETE)
    edited = current.get("edited")
    user = current.get("user")
    if not isinstance(edited, Mapping) or not isinstance(user, str) or \
            _from_bot(current, bot_user_id):
        return None
    if isinstance(previous, Mapping) and previous.get("text") == current.get("text") and \
            previous.get("blocks") == current.get("blocks"):
        return None
    return RoomMessageEvent(_origin(user, channel, event_id), current["ts"], RoomChange.EDIT,
                            text=_text(current), change_id=str(edited.get("ts") or ""),
                            sent_at=slack_time(edited.get("ts")))


def reaction(event: Mapping[str, Any], event_id: str | None, bot_user_id: str | None
             ) -> RoomMessageEvent | None:
    """``reaction_added`` / ``reaction_removed`` on a message of a channel."""
    item = event.get("item")
    user, name = event.get("user"), event.get("reaction")
    if not isinstance(item, Mapping) or item.get("type") != "message" or \
            not isinstance(user, str) or not isinstance(name, str) or user == bot_user_id:
        return None
    channel, ts = item.get("channel"), item.get("ts")
    if not isinstance(channel, str) or not isinstance(ts, str):
        return None
    change_id = f"{ts}/{user}/{name}"
    origin = _origin(user, channel, event_id)
    if event.get("type") == "reaction_removed":
        return RoomMessageEvent(origin, change_id, RoomChange.UNREACT)
    return RoomMessageEvent(origin, ts, RoomChange.REACT, reaction=shortcode(name.split("::")[0]),
                            change_id=change_id)


def mentioned_users(event: RoomMessageEvent) -> list[str]:
    """Slack user ids mentioned (still labelled with their id) in a relayed text."""
    return list(dict.fromkeys(m.group(1) for m in MENTION_LABEL.finditer(event.text)))


def with_mention_names(event: RoomMessageEvent, names: Mapping[str, str]) -> RoomMessageEvent:
    """The event with mentions labelled by people's names (looked up by the adapter)."""
    from dataclasses import replace

    from messages.markup import Person, mention

    text = event.text
    for user_id, name in names.items():
        text = text.replace(f"[{user_id}](cb-mention:slack={user_id})",
                            mention(Person(name, {"slack": user_id})))
    return replace(event, text=text)

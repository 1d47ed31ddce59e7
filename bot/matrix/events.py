"""Matrix events (the raw dicts a homeserver sends) → neutral events.

Pure functions: no client, no database. The adapter decides *whether* an event
is looked at (own events, history before the join, encrypted rooms); this module
decides *what* it means: a command, a message in a DM, or nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from handlers.core.events import ActionEvent, CommandEvent, MessageEvent, Origin
from handlers.core.ids import Platform, RoomRef, UserRef
from messages.render.matrix_poll import POLL_RESPONSE, RESPONSE_TYPES, STABLE_RESPONSE

COMMAND_WORDS = ("!cohorte", "!cohort")
"""What starts a command in a Matrix message (French first, the English alias)."""

REPLY_TO_HINT = "reply_to"
"""``Origin.hints`` key carrying the Matrix event id a reply should point at."""

_COMMAND = re.compile(r"^\s*(!cohorte|!cohort)(?=\s|$)(.*)$", re.IGNORECASE | re.DOTALL)


class MalformedEvent(ValueError):
    """An event that claims a type but does not have its shape (logged and skipped)."""


@dataclass(frozen=True, slots=True)
class RoomView:
    """What translation needs to know about the room an event is in."""

    room_id: str
    is_direct: bool = False


def command_text(body: str) -> str | None:
    """The text after ``!cohorte`` when ``body`` is a command, else None."""
    match = _COMMAND.match(body)
    if match is None:
        return None
    return match.group(2).strip()


def strip_reply_fallback(body: str) -> str:
    """Drop the ``> <@user> quoted text`` lines older clients put before a reply."""
    if not body.startswith("> "):
        return body
    lines = body.split("\n")
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and lines[index] == "":
        index += 1
    return "\n".join(lines[index:])


def relation(content: dict[str, Any]) -> dict[str, Any]:
    """``m.relates_to`` when it is a mapping, else an empty one (never raises)."""
    value = content.get("m.relates_to")
    return value if isinstance(value, dict) else {}


def translate(source: dict[str, Any], room: RoomView, *, display_name: str | None = None
              ) -> CommandEvent | MessageEvent | None:
    """What a timeline event means for the bot.

    ``m.text`` messages starting with ``!cohorte`` are commands, in any room.
    Other ``m.text`` messages are conversation only in a DM. Notices (other
    bots), edits (``m.replace``: the original already ran) and every other event
    type mean nothing here. Raises :class:`MalformedEvent` for a message whose
    fields have the wrong type.
    """
    if source.get("type") != "m.room.message":
        return None
    event_id = source.get("event_id")
    sender = source.get("sender")
    content = source.get("content")
    if not isinstance(event_id, str) or not isinstance(sender, str):
        raise MalformedEvent("event_id and sender must be strings")
    if not isinstance(content, dict):
        raise MalformedEvent("content must be an object")
    msgtype = content.get("msgtype")
    if msgtype is None and not content:
        return None
    if not isinstance(msgtype, str):
        raise MalformedEvent("msgtype must be a string")
    if msgtype != "m.text":
        return None
    body = content.get("body")
    if not isinstance(body, str):
        raise MalformedEvent("body must be a string")
    rel = relation(content)
    if rel.get("rel_type") == "m.replace":
        return None
    in_reply = rel.get("m.in_reply_to")
    in_reply_to = in_reply.get("event_id") if isinstance(in_reply, dict) else None
    if not isinstance(in_reply_to, str):
        in_reply_to = None
    thread_id = rel.get("event_id") if rel.get("rel_type") == "m.thread" else None
    if thread_id is not None and not isinstance(thread_id, str):
        raise MalformedEvent("m.relates_to.event_id must be a string")
    if in_reply_to is not None and not rel.get("is_falling_back"):
        body = strip_reply_fallback(body)
    origin = Origin(
        user=UserRef(Platform.MATRIX, sender),
        room=RoomRef(Platform.MATRIX, room.room_id),
        is_direct=room.is_direct,
        thread_id=thread_id,
        event_id=event_id,
        user_display_name=display_name,
        hints={REPLY_TO_HINT: event_id},
    )
    text = command_text(body)
    if text is not None:
        return CommandEvent(origin=origin, text=text)
    if room.is_direct:
        return MessageEvent(origin=origin, text=body, in_reply_to=in_reply_to)
    return None


@dataclass(frozen=True, slots=True)
class PollResponse:
    """A vote on a native poll: which poll start it answers, and the answer ids chosen."""

    event_id: str
    sender: str
    start_event_id: str
    answers: tuple[str, ...]
    origin_server_ts: int


def poll_response(source: dict[str, Any]) -> PollResponse | None:
    """Read a native poll response (unstable or stable names, either answer layout), or
    None when ``source`` is not one. Raises :class:`MalformedEvent` for a response
    without a poll to point at or with answers that are not strings."""
    if source.get("type") not in RESPONSE_TYPES:
        return None
    event_id = source.get("event_id")
    sender = source.get("sender")
    content = source.get("content")
    if not isinstance(event_id, str) or not isinstance(sender, str) or \
            not isinstance(content, dict):
        raise MalformedEvent("a poll response needs event_id, sender and content")
    rel = relation(content)
    start = rel.get("event_id")
    if rel.get("rel_type") != "m.reference" or not isinstance(start, str):
        raise MalformedEvent("a poll response must reference its poll")
    answers: Any = None
    for key in (POLL_RESPONSE, STABLE_RESPONSE):
        block = content.get(key)
        if isinstance(block, dict) and "answers" in block:
            answers = block["answers"]
            break
    else:
        answers = content.get("m.selections")
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise MalformedEvent("poll answers must be a list of strings")
    stamp = source.get("origin_server_ts")
    return PollResponse(event_id, sender, start, tuple(answers),
                        stamp if isinstance(stamp, int) else 0)


def vote_event(response: PollResponse, room: RoomView, poll_id: int, *,
               display_name: str | None = None) -> ActionEvent | None:
    """A native vote as the neutral ``poll.vote`` (the whole selection, no confirmation:
    the client shows the vote). The bot's native polls allow one answer: as MSC3381
    says, answers beyond ``max_selections`` are ignored. An empty selection means
    nothing here (no client sends one to retract a vote)."""
    if not response.answers:
        return None
    origin = Origin(
        user=UserRef(Platform.MATRIX, response.sender),
        room=RoomRef(Platform.MATRIX, room.room_id),
        is_direct=room.is_direct,
        event_id=response.event_id,
        user_display_name=display_name,
        hints={REPLY_TO_HINT: response.start_event_id},
    )
    return ActionEvent(origin, "poll.vote", str(poll_id),
                       {"options": list(response.answers[:1]), "silent": True})


def reply_target(source: dict[str, Any]) -> tuple[str, str] | None:
    """(the event replied to, the reply's text) for a plain text reply that is not a
    command nor an edit, else None. A reply to a poll's message is an answer to it."""
    if source.get("type") != "m.room.message":
        return None
    content = source.get("content")
    if not isinstance(content, dict) or content.get("msgtype") != "m.text":
        return None
    body = content.get("body")
    rel = relation(content)
    if not isinstance(body, str) or rel.get("rel_type") == "m.replace":
        return None
    in_reply = rel.get("m.in_reply_to")
    target = in_reply.get("event_id") if isinstance(in_reply, dict) else None
    if not isinstance(target, str) or rel.get("is_falling_back"):
        return None
    text = strip_reply_fallback(body).strip()
    if not text or command_text(text) is not None:
        return None
    return target, text


def typed_answer_event(source: dict[str, Any], room: RoomView, poll_id: int, text: str, *,
                       display_name: str | None = None) -> ActionEvent:
    """A reply to a poll's message, as ``poll.submit`` with the answer typed in it (read as
    ``sondage voter <n> <text>`` would be)."""
    origin = Origin(
        user=UserRef(Platform.MATRIX, str(source["sender"])),
        room=RoomRef(Platform.MATRIX, room.room_id),
        is_direct=room.is_direct,
        thread_id=_thread_of(source),
        event_id=str(source["event_id"]),
        user_display_name=display_name,
        hints={REPLY_TO_HINT: str(source["event_id"])},
    )
    return ActionEvent(origin, "poll.submit", str(poll_id), {"typed": text})


def _thread_of(source: dict[str, Any]) -> str | None:
    content = source.get("content")
    rel = relation(content) if isinstance(content, dict) else {}
    thread = rel.get("event_id") if rel.get("rel_type") == "m.thread" else None
    return thread if isinstance(thread, str) else None

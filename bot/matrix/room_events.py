"""Matrix timeline events of a bridged room → :class:`RoomMessageEvent` (pure functions).

The adapter asks this module only for rooms whose cohort is bridged, after
:func:`bot.matrix.events.translate` found no command in the event. Notices (other
bots) and copies made by a bridge are skipped; edits, redactions, reactions, files,
stickers and threads are read; calls, polls and locations become a short
placeholder on the other side.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.matrix.events import relation, strip_reply_fallback
from handlers.core.events import Origin, RoomChange, RoomMessageEvent, SharedFile
from handlers.core.ids import Platform, RoomRef, UserRef
from messages.parse.matrix import from_html, from_plain

RELAY_MARKER = "fr.cohortbot.relay"
"""Content key of the copies the bridge posts on Matrix (another bridge must skip them)."""
FILE_TYPES = {"m.image": "image", "m.file": "file", "m.video": "video", "m.audio": "audio"}
POLL_TYPES = ("m.poll.start", "org.matrix.msc3381.poll.start")
CALL_TYPES = ("m.call.invite",)


def _text(content: dict[str, Any]) -> str:
    """The neutral markup of a message content: its HTML when it has some, else its body."""
    formatted = content.get("formatted_body")
    if content.get("format") == "org.matrix.custom.html" and isinstance(formatted, str):
        return from_html(formatted)
    body = content.get("body")
    if not isinstance(body, str):
        return ""
    rel = relation(content)
    if isinstance(rel.get("m.in_reply_to"), dict) and not rel.get("is_falling_back"):
        body = strip_reply_fallback(body)
    return from_plain(body)


def _file(content: dict[str, Any], kind: str) -> SharedFile | None:
    url = content.get("url")
    if not isinstance(url, str) or not url.startswith("mxc://"):
        return None
    info = content.get("info") if isinstance(content.get("info"), dict) else {}
    name = content.get("filename") if isinstance(content.get("filename"), str) else None
    body = content.get("body") if isinstance(content.get("body"), str) else ""
    return SharedFile(name=name or body or "fichier", url=url,
                      mimetype=str(info.get("mimetype") or "application/octet-stream"),
                      size=info.get("size") if isinstance(info.get("size"), int) else None,
                      kind=kind, width=info.get("w") if isinstance(info.get("w"), int) else None,
                      height=info.get("h") if isinstance(info.get("h"), int) else None)


def translate(source: dict[str, Any], room_id: str, *, display_name: str | None = None,
              avatar: str | None = None) -> RoomMessageEvent | None:
    """What a timeline event of a bridged room means for the bridge (None: nothing)."""
    kind = source.get("type")
    event_id = source.get("event_id")
    sender = source.get("sender")
    content = source.get("content")
    if not isinstance(event_id, str) or not isinstance(sender, str) or \
            not isinstance(content, dict):
        return None
    if RELAY_MARKER in content:
        return None
    stamp = source.get("origin_server_ts")
    sent_at = datetime.fromtimestamp(stamp / 1000, UTC) if isinstance(stamp, int) else None
    hints = {"avatar": avatar} if avatar else {}
    origin = Origin(user=UserRef(Platform.MATRIX, sender), room=RoomRef(Platform.MATRIX, room_id),
                    event_id=event_id, user_display_name=display_name, hints=hints)

    def event(message_id: str, change: RoomChange = RoomChange.POST, **fields: Any
              ) -> RoomMessageEvent:
        return RoomMessageEvent(origin=origin, message_id=message_id, change=change,
                                sent_at=sent_at, **fields)

    if kind == "m.room.redaction":
        redacts = content.get("redacts") or source.get("redacts")
        return event(redacts, RoomChange.DELETE) if isinstance(redacts, str) else None
    rel = relation(content)
    if kind == "m.reaction":
        target, key = rel.get("event_id"), rel.get("key")
        if rel.get("rel_type") != "m.annotation" or not isinstance(target, str) or \
                not isinstance(key, str):
            return None
        return event(target, RoomChange.REACT, reaction=key, change_id=event_id)
    thread_root = rel.get("event_id") if rel.get("rel_type") == "m.thread" else None
    reply = rel.get("m.in_reply_to") if isinstance(rel.get("m.in_reply_to"), dict) else {}
    reply_to = reply.get("event_id") if not rel.get("is_falling_back") else None
    threading = {"thread_root": thread_root if isinstance(thread_root, str) else None,
                 "reply_to": reply_to if isinstance(reply_to, str) else None}
    if kind == "m.sticker":
        sticker = _file(content, "image")
        return event(event_id, files=(sticker,), **threading) if sticker else None
    if kind in POLL_TYPES:
        poll = content.get("m.poll") or content.get("org.matrix.msc3381.poll.start") or {}
        question = poll.get("question") if isinstance(poll, dict) else None
        text = ""
        if isinstance(question, dict):
            body = question.get("body") or question.get("m.text") or ""
            text = from_plain(body) if isinstance(body, str) else ""
        return event(event_id, text=text, unsupported="poll", **threading)
    if kind in CALL_TYPES:
        return event(event_id, unsupported="call")
    if kind != "m.room.message":
        return None
    if rel.get("rel_type") == "m.replace":
        original = rel.get("event_id")
        new_content = content.get("m.new_content")
        if not isinstance(original, str) or not isinstance(new_content, dict):
            return None
        return event(original, RoomChange.EDIT, text=_text(new_content), change_id=event_id)
    msgtype = content.get("msgtype")
    if msgtype in ("m.text", "m.emote"):
        text = _text(content)
        if not text.strip():
            return None
        return event(event_id, text=text, emote=msgtype == "m.emote", **threading)
    if msgtype in FILE_TYPES:
        shared = _file(content, FILE_TYPES[msgtype])
        caption = ""
        if isinstance(content.get("filename"), str) and content.get("body") != content.get(
                "filename"):
            caption = _text(content)
        if shared is None:
            return event(event_id, text=caption, unsupported="encrypted_file", **threading)
        return event(event_id, text=caption, files=(shared,), **threading)
    if msgtype == "m.location":
        return event(event_id, text=from_plain(str(content.get("geo_uri") or "")),
                     unsupported="location", **threading)
    return None

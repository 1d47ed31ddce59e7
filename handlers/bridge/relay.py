"""Relaying room messages between a cohort's Slack channel and Matrix room.

For every human message of a bridged room, one copy per room of the cohort on the
other platform is queued in the outbox, in the same transaction as its row in
``relay_message`` (unique per source message and target room): a message handled
twice — a Slack retry, a Matrix sync replayed after a crash, the history read at
start-up — is copied once. The outbox key of a copy is derived from the source
message id, so delivery's idempotency (Matrix transaction ids, Slack metadata)
covers a crash between sending and marking sent.

Edits, deletions, thread replies, replies and reactions find their counterpart
through the same table, both ways (a reply on Matrix to the copy of a Slack message
goes into that Slack message's thread). The copy itself is described by a ``relay``
card (see :func:`card`); the platform adapters render it (sender name, formatting,
files) and deliver it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from handlers.core.context import Context
from handlers.core.events import Reply, RoomChange, RoomMessageEvent
from handlers.core.ids import Platform, RoomRef
from messages.markup import Person, mention, parse_mention, parse_room, room_link
from messages.render.markdown import children, tokens
from storage.models_bridge import RelayMessage
from storage.repos.bridge import RELAY_KEY_PREFIX, BridgedRoom

PART_LIMIT = 12_000
"""Characters of neutral markup per copied message; longer texts are split in parts
(Matrix refuses events over 64 KiB, Slack truncates long texts)."""
CARD_TYPE = "relay"


def relay_key(platform: str, room: str, message_id: str, target_platform: str,
              target_room: str) -> str:
    """The outbox key of a message's copy in one target room (stable, at most 200 chars)."""
    key = f"{RELAY_KEY_PREFIX}{platform}:{room}:{message_id}>{target_platform}:{target_room}"
    if len(key) <= 200:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{RELAY_KEY_PREFIX}{platform}:{digest}"


def sub_key(key: str, suffix: str) -> str:
    """A key derived from a copy's key (a part, an edit, a deletion), within 255 chars."""
    derived = f"{key}/{suffix}"
    if len(derived) <= 250:
        return derived
    return f"{key[:180]}/{hashlib.sha256(derived.encode()).hexdigest()[:40]}"


def part_keys(relay: RelayMessage) -> list[str]:
    return [relay.outbox_key] + [sub_key(relay.outbox_key, f"p{n}")
                                 for n in range(2, relay.parts + 1)]


def is_relay(card: Any) -> bool:
    return isinstance(card, dict) and card.get("type") == CARD_TYPE


async def on_room_message(ctx: Context, event: RoomMessageEvent) -> None:
    """Copy a room message (or its edit, deletion, reaction) to the other side."""
    origin = event.origin
    bridged = await ctx.store.bridge.room(str(origin.platform), origin.room.room_id)
    if bridged is None:
        return
    if event.change is RoomChange.POST:
        await _post(ctx, bridged, event)
    elif event.change is RoomChange.EDIT:
        await _edit(ctx, bridged, event)
    elif event.change is RoomChange.DELETE:
        await _delete(ctx, bridged, event)
    elif event.change is RoomChange.REACT:
        await _react(ctx, bridged, event)
    elif event.change is RoomChange.UNREACT:
        await _delete(ctx, bridged, event)


# ---------------------------------------------------------------------------- posts


async def _post(ctx: Context, bridged: BridgedRoom, event: RoomMessageEvent) -> None:
    origin = event.origin
    platform, room = str(origin.platform), origin.room.room_id
    sender: dict[str, Any] | None = None
    text = await _enrich(ctx, bridged, event.text)
    lang = bridged.cohort.language
    if event.unsupported:
        text = ctx.catalog.render(lang, "bridge/unsupported", kind=event.unsupported,
                                  detail=text, platform=platform)
    if not text.strip() and not event.files:
        return
    parts = split(text) if text.strip() else []
    thread_source = event.thread_root or event.reply_to
    for target_platform, target_room in bridged.targets:
        key = relay_key(platform, room, event.message_id, target_platform, target_room)
        thread = None
        if thread_source is not None:
            thread = await counterpart(ctx, platform, room, thread_source, target_platform,
                                       target_room, root=True)
        count = max(1, len(parts)) + (len(event.files) if parts else len(event.files) - 1)
        claimed = await ctx.store.relays.claim({
            "cohort_id": bridged.cohort.id, "kind": "message", "source_platform": platform,
            "source_room": room, "source_id": event.message_id,
            "target_platform": target_platform, "target_room": target_room, "outbox_key": key,
            "parts": count, "thread_root": event.thread_root or (
                thread_source if event.reply_to else None),
            "source_at": event.sent_at or ctx.now(), "created_at": ctx.now(),
            "deleted": False})
        if not claimed:
            continue
        sender = sender or await _sender(ctx, event)
        base = card("post", bridged, sender, event, thread=thread)
        pieces: list[tuple[str, dict[str, Any]]] = [(p, base) for p in parts]
        pieces += [("", {**base, "file": f.to_dict()}) for f in event.files]
        target = RoomRef(Platform(target_platform), target_room)
        for index, (piece, piece_card) in enumerate(pieces, start=1):
            ctx.send(target, Reply(piece, card=piece_card),
                     key=key if index == 1 else sub_key(key, f"p{index}"))


def card(op: str, bridged: BridgedRoom, sender: dict[str, Any] | None, event: RoomMessageEvent,
         *,
         thread: dict[str, str] | None = None, target: dict[str, str] | None = None,
         **extra: Any) -> dict[str, Any]:
    """What the platforms need to show a copy: see HACKING.md, "Bridge"."""
    origin = event.origin
    return {
        "type": CARD_TYPE, "version": 1, "op": op, "lang": bridged.cohort.language,
        "cohort": bridged.cohort.id, "sender": sender,
        "emote": event.emote, "thread": thread, "target": target,
        "source": {"platform": str(origin.platform), "room": origin.room.room_id,
                   "id": event.message_id,
                   "at": event.sent_at.isoformat() if event.sent_at else None},
        **extra,
    }


async def _sender(ctx: Context, event: RoomMessageEvent) -> dict[str, Any]:
    """How the copy names its author: the member's name when known, else the platform's."""
    origin = event.origin
    member = await ctx.store.identities.member_for(str(origin.platform), origin.user.user_id)
    name = member.display_name if member is not None and member.erased_at is None else \
        origin.user_display_name or origin.user.user_id
    return {"name": name, "platform": str(origin.platform), "user": origin.user.user_id,
            "avatar": origin.hints.get("avatar")}


def split(text: str, limit: int = PART_LIMIT) -> list[str]:
    """Neutral markup cut between top-level blocks into parts of at most ``limit``
    characters (a block longer than that is cut at line ends, then anywhere)."""
    if len(text) <= limit:
        return [text]
    lines = text.split("\n")
    blocks: list[str] = []
    for tok in tokens(text):
        if tok.level == 0 and tok.map is not None and tok.nesting in (0, 1):
            start, end = tok.map
            blocks.append("\n".join(lines[start:end]))
    parts: list[str] = []
    current = ""
    for block in blocks or [text]:
        pieces = [block] if len(block) <= limit else _cut(block, limit)
        for piece in pieces:
            if current and len(current) + 2 + len(piece) > limit:
                parts.append(current)
                current = ""
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        parts.append(current)
    return parts


def _cut(block: str, limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for line in block.split("\n"):
        while len(line) > limit:
            out.append(line[:limit])
            line = line[limit:]
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


# ---------------------------------------------------------------------------- references


async def counterpart(ctx: Context, platform: str, room: str, message_id: str,
                      target_platform: str, target_room: str, *, root: bool = False
                      ) -> dict[str, str] | None:
    """Where message ``message_id`` of ``room`` is in ``target_room``: ``{"id": …}`` when
    known, ``{"key": …}`` (the outbox key of its copy, resolved at delivery) when its
    copy is still on its way, None when it has no counterpart there.

    The message may be an original (its copy is looked up) or itself a copy made by
    the bridge (its source is looked up). With ``root``, a message inside a thread is
    replaced by its thread's root (Slack threads hang from their first message).
    """
    relays = ctx.store.relays
    source = (platform, room, message_id)
    copy = await relays.by_target(platform, room, message_id)
    thread_root = None
    if copy is not None:
        source = (copy.source_platform, copy.source_room, copy.source_id)
        thread_root = copy.thread_root
    else:
        rows = await relays.of_source(platform, room, message_id)
        thread_root = rows[0].thread_root if rows else None
    if root and thread_root and thread_root != source[2]:
        return await counterpart(ctx, source[0], source[1], thread_root, target_platform,
                                 target_room, root=False)
    if source[0] == target_platform and source[1] == target_room:
        return {"id": source[2]}
    relay = await relays.find(*source, target_platform, target_room)
    if relay is None:
        return None
    known = await relays.target_id(relay)
    return {"id": known} if known else {"key": relay.outbox_key}


async def _enrich(ctx: Context, bridged: BridgedRoom, text: str) -> str:
    """Put each mentioned person's name and every account they have in their mention,
    and the bridged rooms' ids in a mention of a room of this cohort."""
    if "cb-mention:" not in text and "cb-room:" not in text:
        return text
    replacements: dict[str, str] = {}
    for tok in tokens(text):
        items = children(tok)
        for index, child in enumerate(items):
            if child.type != "link_open":
                continue
            href = str(child.attrGet("href") or "")
            label = _label(items, index)
            handles = parse_mention(href)
            if handles is not None:
                new = await _person(ctx, handles, label)
                if new is not None:
                    replacements[mention(Person(label, handles))] = mention(new)
                continue
            rooms = parse_room(href)
            if rooms is not None:
                linked = await _room_handles(ctx, bridged, rooms)
                if linked is not None:
                    replacements[room_link(label, rooms)] = room_link(
                        f"#{bridged.cohort.name}" if label.startswith("#") else label, linked)
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


def _label(items: list[Any], index: int) -> str:
    parts = []
    for child in items[index + 1:]:
        if child.type == "link_close":
            break
        parts.append(child.content)
    return "".join(parts)


async def _person(ctx: Context, handles: dict[str, str], label: str) -> Person | None:
    for platform, user_id in handles.items():
        member = await ctx.store.identities.member_for(platform, user_id)
        if member is None or member.erased_at is not None:
            continue
        identities = await ctx.store.identities.of_member(member.id)
        return Person(member.display_name, {i.platform: i.user_id for i in identities})
    return None


async def _room_handles(ctx: Context, bridged: BridgedRoom, rooms: dict[str, str]
                        ) -> dict[str, str] | None:
    for platform, room_id in rooms.items():
        cohort = await ctx.store.rooms.cohort_of(platform, room_id)
        if cohort is None or cohort.id != bridged.cohort.id:
            continue
        handles = dict(rooms)
        for target_platform, target_room in bridged.targets:
            handles.setdefault(target_platform, target_room)
        handles.setdefault(bridged.platform, bridged.room_id)
        return handles
    return None


# ---------------------------------------------------------------------------- changes


async def _copies(ctx: Context, event: RoomMessageEvent) -> Sequence[RelayMessage]:
    origin = event.origin
    return await ctx.store.relays.of_source(str(origin.platform), origin.room.room_id,
                                            event.message_id)


async def _edit(ctx: Context, bridged: BridgedRoom, event: RoomMessageEvent) -> None:
    change = event.change_id or "edit"
    text = await _enrich(ctx, bridged, event.text)
    if not text.strip():
        return
    first = split(text)[0]
    sender = await _sender(ctx, event)
    for relay in await _copies(ctx, event):
        if relay.deleted or relay.kind != "message":
            continue
        if not await ctx.store.relays.set_last_change(relay.id, change):
            continue
        known = await ctx.store.relays.target_id(relay)
        edit_card = card("edit", bridged, sender, event,
                         target={"id": known} if known else {"key": relay.outbox_key})
        ctx.send(RoomRef(Platform(relay.target_platform), relay.target_room),
                 Reply(first, card=edit_card), key=sub_key(relay.outbox_key, f"e:{change}"),
                 edit_of=relay.outbox_key)


async def _delete(ctx: Context, bridged: BridgedRoom, event: RoomMessageEvent) -> None:
    """A deleted message (or a removed reaction): its copies go too; a copy not sent
    yet is withdrawn, so it never appears."""
    for relay in await _copies(ctx, event):
        if not await ctx.store.relays.mark_deleted(relay.id):
            continue
        if relay.kind == "reaction":
            await _unreact(ctx, bridged, event, relay)
            continue
        keys = part_keys(relay)
        await ctx.store.relays.withdraw(keys, "withdrawn: deleted at the source first")
        target = RoomRef(Platform(relay.target_platform), relay.target_room)
        for key in keys:
            known = relay.target_id if key == relay.outbox_key else None
            ctx.send(target, Reply("", card=card(
                "delete", bridged, None, event,
                target={"id": known} if known else {"key": key})),
                key=sub_key(key, "d"), edit_of=key)


async def _react(ctx: Context, bridged: BridgedRoom, event: RoomMessageEvent) -> None:
    origin = event.origin
    platform, room = str(origin.platform), origin.room.room_id
    if not event.reaction or not event.change_id:
        return
    for target_platform, target_room in bridged.targets:
        target = await counterpart(ctx, platform, room, event.message_id, target_platform,
                                   target_room)
        if target is None:
            continue
        others = await ctx.store.relays.reactions(platform, room, event.message_id,
                                                  event.reaction, target_room)
        key = relay_key(platform, room, event.change_id, target_platform, target_room)
        claimed = await ctx.store.relays.claim({
            "cohort_id": bridged.cohort.id, "kind": "reaction", "source_platform": platform,
            "source_room": room, "source_id": event.change_id,
            "target_platform": target_platform, "target_room": target_room, "outbox_key": key,
            "parts": 1, "annotates": event.message_id, "reaction": event.reaction[:64],
            "source_at": event.sent_at or ctx.now(), "created_at": ctx.now(),
            "deleted": False})
        if not claimed or others:
            continue
        ctx.send(RoomRef(Platform(target_platform), target_room), Reply("", card=card(
            "react", bridged, None, event, target=target,
            reaction=event.reaction)), key=key)


async def _unreact(ctx: Context, bridged: BridgedRoom, event: RoomMessageEvent,
                   relay: RelayMessage) -> None:
    """The last person with this reaction took it back: the bot's reaction goes too."""
    assert relay.annotates is not None and relay.reaction is not None
    left = await ctx.store.relays.reactions(relay.source_platform, relay.source_room,
                                            relay.annotates, relay.reaction, relay.target_room)
    if left:
        return
    target = await counterpart(ctx, relay.source_platform, relay.source_room, relay.annotates,
                               relay.target_platform, relay.target_room)
    sent_by = await ctx.store.relays.reaction_sent(relay)
    if target is None or sent_by is None:
        return
    ctx.send(RoomRef(Platform(relay.target_platform), relay.target_room), Reply("", card=card(
        "unreact", bridged, None, event, target=target,
        reaction=relay.reaction, reaction_ref={"key": sent_by.outbox_key})),
        key=sub_key(relay.outbox_key, "d"))

"""Delivering outbox messages to Matrix rooms (the ``Sender`` of :mod:`bot.delivery`).

- **Once.** The transaction id is a hash of the outbox key: when the bot dies after
  Synapse stored a message but before the outbox row was marked sent, the retry
  is recognised by Synapse and nothing is posted twice (the device id is kept
  across restarts for this).
- **In order.** One send at a time per room, whatever the outbox destination
  (a room id, or ``@dm:<user>`` resolved to a room).
- **Rate limits.** A 429 becomes ``TransientSendError(retry_after=…)`` with the
  server's ``retry_after_ms``; network errors and 5xx are transient too, so the
  delivery worker retries with backoff, in order.
- **Native polls.** A poll card that a native poll can show (:func:`native_fits`) is
  posted as ``org.matrix.msc3381.poll.start`` just before its text message (the
  results, edited in place); both are recorded (:class:`PollEvents`) so responses and
  replies come back as votes. When an edit shows the poll closed, every native poll of
  it still open is ended (``…poll.end``); an edit of a reopened poll posts a new one.
- **Presentation.** Replies are ``m.notice`` with HTML and plain bodies; a reply to
  a command in a group room points at the command (``m.in_reply_to``), in its
  thread when it was typed in one. Matrix has no ephemeral messages: a private
  reply is posted in the same room, mentioning the person (pill + ``m.mentions``);
  a *sensitive* one (personal data, a code) goes to the person's DM, with a short
  pointer in the room.
- **Files.** A reply's attachments are uploaded to the media repository (encrypted
  in an encrypted room) and follow the text as ``m.image`` (PNG pictures, with their
  size) or ``m.file`` events, each under its own transaction id. A *private* reply
  with files goes to the person's DM like a sensitive one: an export or a results
  picture asked for oneself is not posted to the whole room. Edits carry no files.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import io
import logging
import struct
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from nio import (
    ErrorResponse,
    LocalProtocolError,
    RoomCreateResponse,
    RoomPreset,
    RoomSendResponse,
    SendRetryError,
    UploadResponse,
)

from bot.delivery import Outbound, PermanentSendError, Sent, TransientSendError
from bot.matrix.connection import MatrixConnection, RoomInfo
from bot.matrix.events import REPLY_TO_HINT
from bot.matrix.polls import PollEvents
from handlers.core.events import Attachment, Reply
from handlers.core.ids import Platform
from handlers.core.settings import Settings
from messages.markup import Person
from messages.render.matrix import CardRenderer, to_event
from messages.render.matrix_poll import POLL_END, POLL_START, native_fits, poll_card, poll_end, poll_start
from messages.render.plain import to_plain
from messages.texts import Catalog
from storage.db import Database
from storage.uow import Store

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 10.0
PERMANENT_CODES = frozenset({"M_FORBIDDEN", "M_NOT_FOUND", "M_TOO_LARGE", "M_BAD_JSON",
                             "M_NOT_JSON", "M_INVALID_PARAM", "M_UNKNOWN"})
MATRIX = Platform.MATRIX


def txn_id(key: str) -> str:
    """A transaction id derived from the outbox key: the same message, the same id."""
    return "cb" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


class MatrixSender:
    platform = MATRIX

    def __init__(self, connection: MatrixConnection, *, db: Database, catalog: Catalog,
                 settings: Settings, cards: Mapping[str, CardRenderer] | None = None,
                 polls: PollEvents | None = None) -> None:
        self.connection = connection
        self.polls = polls or PollEvents(db, connection.clock)
        self.db = db
        self.catalog = catalog
        self.settings = settings
        self.cards = cards
        self.rate_limited = 0
        self.sent = 0
        self._room_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._dm_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def send(self, message: Outbound) -> Sent:
        """Send one outbox message; see the module docstring for what is promised."""
        return await self.guarded(self._send, message)

    async def guarded(self, send: Callable[[Outbound], Awaitable[Sent]],
                      message: Outbound) -> Sent:
        """Run ``send`` once the client is connected, its errors told as the delivery port
        expects (``TransientSendError`` / ``PermanentSendError``); the bridge's relay too."""
        try:
            await asyncio.wait_for(self.connection.ready.wait(), READY_TIMEOUT_S)
        except TimeoutError:
            raise TransientSendError("matrix not connected yet") from None
        try:
            return await send(message)
        except (TransientSendError, PermanentSendError):
            raise
        except (OSError, TimeoutError, ConnectionError) as error:
            raise TransientSendError(f"network: {type(error).__name__}: {error}") from None
        except (LocalProtocolError, SendRetryError) as error:
            raise TransientSendError(f"not ready to send here yet: {error}") from None

    async def _send(self, message: Outbound) -> Sent:
        resolved: str | None = None
        if message.direct_user:
            room_id = await self.direct_room(message.direct_user)
            resolved = room_id
        else:
            room_id = message.destination
        room = self.connection.rooms.get(room_id) or RoomInfo(room_id)
        reply = message.reply
        private_to = message.private_to
        if (reply.sensitive or reply.attachments) and private_to and not room.is_direct \
                and not message.direct_user:
            return await self._send_in_dm(message, private_to, room)
        card = poll_card(reply.card)
        native = card is not None and native_fits(
            card, private_room=room.is_direct or message.direct_user is not None)
        if native:
            reply = replace(reply, actions=tuple(a for a in reply.actions
                                                 if a.action != "poll.vote"))
        event_type, content = to_event(reply, command_prefix=self.settings.prefix(MATRIX),
                                       cards=self.cards)
        if event_type == "m.room.message":
            if private_to and not room.is_direct:
                self._mention(content, room.room_id, private_to)
            reply_to = message.hints.get(REPLY_TO_HINT) if not room.is_direct else None
            self._relate(content, thread_id=message.thread_id, reply_to=reply_to)
            if message.edit_message_id:
                content = _edit(content, message.edit_message_id)
        if card is not None and native and not message.edit_message_id and \
                not card.get("closed"):
            await self._start_poll(room_id, card, message.key + ":start")
        event_id = await self._room_send(room_id, event_type, content, message.key)
        if card is not None:
            if message.edit_message_id:
                await self._follow_poll(room_id, card, native, message.key)
            else:
                await self.polls.remember(event_id, room_id, card["poll_id"], "message")
        if not message.edit_message_id:
            await self._send_files(room_id, room, reply, message.key)
        return Sent(event_id, room_id=resolved)

    async def _start_poll(self, room_id: str, card: dict[str, Any], key: str) -> str:
        """Post the native poll of ``card`` and record it (a retry gets the same event)."""
        event_id = await self._room_send(room_id, POLL_START, poll_start(card), key)
        await self.polls.remember(event_id, room_id, card["poll_id"], "start")
        return event_id

    async def _follow_poll(self, room_id: str, card: dict[str, Any], native: bool,
                           key: str) -> None:
        """After an edit of a poll's message: end its native polls when it is closed; give
        this room a native poll again when it was reopened after one was ended."""
        if card.get("closed"):
            text = to_plain(self.catalog.render(self.settings.default_language,
                                                "matrix/poll_ended", title=card.get("title", "")),
                            mention_prefix="")
            for start in await self.polls.open_starts(poll_id=card["poll_id"]):
                try:
                    await self._room_send(start.room_id, POLL_END,
                                          poll_end(start.event_id, text),
                                          f"poll-end:{start.event_id}")
                except TransientSendError as error:
                    log.warning("could not end a native poll yet (next edit retries): %s",
                                error, extra={"room": start.room_id})
                    continue
                except PermanentSendError as error:
                    log.warning("native poll cannot be ended there: %s", error,
                                extra={"room": start.room_id})
                await self.polls.mark_ended(start.event_id)
        elif native and not await self.polls.open_starts(poll_id=card["poll_id"],
                                                         room_ids=[room_id]):
            await self._start_poll(room_id, card, key + ":start")

    async def _send_files(self, room_id: str, room: RoomInfo, reply: Reply, key: str) -> None:
        """Upload each attachment and post it after the text (see the module docstring)."""
        client = self.connection.client
        assert client is not None
        encrypt = room.encrypted or (room_id in client.rooms and client.rooms[room_id].encrypted)
        for index, attachment in enumerate(reply.attachments):
            uploaded, keys = await client.upload(
                io.BytesIO(attachment.content), content_type=attachment.mimetype,
                filename=attachment.filename, encrypt=encrypt,
                filesize=len(attachment.content))
            if not isinstance(uploaded, UploadResponse):
                raise self._error(uploaded, f"upload {attachment.filename}")
            await self._room_send(room_id, "m.room.message",
                                  file_content(attachment, uploaded.content_uri, keys),
                                  f"{key}:file:{index}")

    async def _send_in_dm(self, message: Outbound, user_id: str, room: RoomInfo) -> Sent:
        """A sensitive private reply: the content in the DM, a pointer in the room."""
        dm = await self.direct_room(user_id)
        event_type, content = to_event(message.reply,
                                       command_prefix=self.settings.prefix(MATRIX),
                                       cards=self.cards)
        event_id = await self._room_send(dm, event_type, content, message.key)
        await self._send_files(dm, self.connection.rooms.get(dm) or RoomInfo(dm, is_direct=True),
                               message.reply, message.key)
        name = self.connection.display_name(room.room_id, user_id) or _localpart(user_id)
        pointer = Reply(self.catalog.render(self.settings.default_language,
                                            "matrix/answered_in_dm",
                                            person=Person(name, {"matrix": user_id}),
                                            prefix=self.settings.prefix(MATRIX)))
        _, notice = to_event(pointer)
        self._relate(notice, thread_id=message.thread_id,
                     reply_to=message.hints.get(REPLY_TO_HINT))
        await self._room_send(room.room_id, "m.room.message", notice, message.key + ":pointer")
        return Sent(event_id)

    def _mention(self, content: dict[str, Any], room_id: str, user_id: str) -> None:
        """Address a private reply to its person: a pill first, and ``m.mentions``."""
        name = self.connection.display_name(room_id, user_id) or _localpart(user_id)
        pill = f'<a href="https://matrix.to/#/{html.escape(user_id)}">{html.escape(name)}</a>'
        formatted = content.get("formatted_body", "")
        if formatted.startswith("<p>"):
            content["formatted_body"] = f"<p>{pill} : {formatted[3:]}"
        else:
            content["formatted_body"] = f"{pill} : {formatted}"
        content["body"] = f"{name} : {content.get('body', '')}"
        mentions = content.setdefault("m.mentions", {})
        users = mentions.setdefault("user_ids", [])
        if user_id not in users:
            users.append(user_id)

    @staticmethod
    def _relate(content: dict[str, Any], *, thread_id: str | None, reply_to: str | None) -> None:
        if thread_id:
            content["m.relates_to"] = {
                "rel_type": "m.thread", "event_id": thread_id,
                "is_falling_back": reply_to is None,
                "m.in_reply_to": {"event_id": reply_to or thread_id},
            }
        elif reply_to:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}

    async def _room_send(self, room_id: str, event_type: str, content: dict[str, Any],
                         key: str) -> str:
        client = self.connection.client
        assert client is not None
        async with self._room_locks[room_id]:
            response = await client.room_send(room_id, event_type, content, tx_id=txn_id(key),
                                              ignore_unverified_devices=True)
        if isinstance(response, RoomSendResponse):
            self.sent += 1
            return response.event_id
        raise self._error(response, f"send to {room_id}")

    def _error(self, response: Any, what: str) -> Exception:
        status = _status(response)
        code = getattr(response, "status_code", None)
        message = getattr(response, "message", "") or type(response).__name__
        if status == 429 or code == "M_LIMIT_EXCEEDED":
            self.rate_limited += 1
            retry_ms = getattr(response, "retry_after_ms", None) or 1000
            log.info("matrix rate limit: retry in %d ms", retry_ms)
            return TransientSendError(f"{what}: rate limited", retry_after=retry_ms / 1000)
        if status >= 500 or status == 0 or code == "M_UNKNOWN_TOKEN":
            return TransientSendError(f"{what}: {status} {code} {message}")
        if code in PERMANENT_CODES or 400 <= status < 500:
            return PermanentSendError(f"{what}: {status} {code} {message}")
        return TransientSendError(f"{what}: {status} {code} {message}")

    async def direct_room(self, user_id: str) -> str:
        """The DM room with ``user_id``: the one remembered, or a new one (then remembered,
        and listed in the bot's ``m.direct`` account data as clients expect)."""
        async with self._dm_locks[user_id]:
            async with self.db.session() as session:
                existing = await Store(session).direct_rooms.get(str(MATRIX), user_id)
            if existing is not None:
                known = self.connection.rooms.get(existing)
                if known is None or known.membership == "joined":
                    return existing
            client = self.connection.client
            assert client is not None
            initial_state = []
            if self.connection.e2e:
                initial_state.append({"type": "m.room.encryption", "state_key": "",
                                      "content": {"algorithm": "m.megolm.v1.aes-sha2"}})
            response = await client.room_create(is_direct=True, invite=[user_id],
                                                preset=RoomPreset.trusted_private_chat,
                                                initial_state=initial_state)
            if not isinstance(response, RoomCreateResponse):
                raise self._error(response, f"open a DM with {user_id}")
            room_id = response.room_id
            await self.connection.remember_room(room_id, membership="joined", is_direct=True,
                                                encrypted=self.connection.e2e, joined_at_ms=0)
            async with self.db.session() as session:
                await Store(session).direct_rooms.remember(str(MATRIX), user_id, room_id,
                                                           self.connection.clock.now())
            try:
                direct = await self.connection.account_data("m.direct")
                rooms = [r for r in direct.get(user_id, []) if isinstance(r, str)]
                if room_id not in rooms:
                    direct[user_id] = [*rooms, room_id]
                    await self.connection.set_account_data("m.direct", direct)
            except (OSError, ConnectionError, TimeoutError) as error:
                log.warning("could not update m.direct: %s", error)
            log.info("matrix DM opened", extra={"room": room_id, "user": user_id})
            return room_id


def file_content(attachment: Attachment, uri: str, keys: dict[str, Any] | None
                 ) -> dict[str, Any]:
    """The ``m.image`` / ``m.file`` content of an uploaded attachment.

    ``body`` is the first line of the alt text (what a screen reader says and newer
    clients show as the caption), ``filename`` the file's name; an encrypted upload
    is described by ``file`` (key, hashes, URL) instead of ``url``.
    """
    info: dict[str, Any] = {"mimetype": attachment.mimetype, "size": len(attachment.content)}
    is_image = attachment.mimetype.startswith("image/")
    if attachment.mimetype == "image/png" and attachment.content[12:16] == b"IHDR":
        info["w"], info["h"] = struct.unpack(">II", attachment.content[16:24])
    caption = (attachment.alt_text or "").strip().splitlines()
    content: dict[str, Any] = {"msgtype": "m.image" if is_image else "m.file",
                               "body": caption[0] if caption else attachment.filename,
                               "filename": attachment.filename, "info": info}
    if keys:
        content["file"] = {**keys, "url": uri}
    else:
        content["url"] = uri
    return content


def _edit(content: dict[str, Any], original: str) -> dict[str, Any]:
    """An ``m.replace`` of ``original`` with ``content`` (and the ``* `` fallback)."""
    new_content = {k: v for k, v in content.items() if k != "m.relates_to"}
    edit = dict(new_content)
    edit["body"] = "* " + str(new_content.get("body", ""))
    if "formatted_body" in new_content:
        edit["formatted_body"] = "* " + str(new_content["formatted_body"])
    edit["m.new_content"] = new_content
    edit["m.relates_to"] = {"rel_type": "m.replace", "event_id": original}
    return edit


def _localpart(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0] if user_id.startswith("@") else user_id


def _status(response: Any) -> int:
    if isinstance(response, ErrorResponse) or hasattr(response, "transport_response"):
        transport = getattr(response, "transport_response", None)
        return int(getattr(transport, "status", 0) or 0)
    return 0

"""The bridge's copies on Matrix: posts (``m.text`` naming their author), edits
(``m.replace``), deletions (redactions), thread replies (``m.thread``), files (uploaded
to the media repository) and reactions (``m.annotation``).

Every request carries a transaction id derived from the outbox key (as the ordinary
sender does): a copy retried after a crash is not posted twice.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from nio import RoomRedactResponse, UploadResponse

from bot.bridge.transport import FileFetcher, FileUnavailable, SentIndex
from bot.delivery import Outbound, Sent
from bot.matrix.sender import MatrixSender, _edit, txn_id
from handlers.core.events import Reply, SharedFile
from messages.render.relay import human_size, matrix_content, matrix_file_content
from messages.texts import Catalog

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Bigger files are not copied (Synapse's default upload limit); a note says where they are."""


class MatrixRelay:
    def __init__(self, sender: MatrixSender, catalog: Catalog, index: SentIndex,
                 fetchers: dict[str, FileFetcher], max_file_bytes: int = MAX_FILE_BYTES
                 ) -> None:
        self.sender = sender
        self.catalog = catalog
        self.index = index
        self.fetchers = fetchers
        self.max_file_bytes = max_file_bytes

    @property
    def client(self) -> Any:
        return self.sender.connection.client

    async def send(self, message: Outbound) -> Sent:
        """Deliver one copy; errors become Transient/PermanentSendError as the port says."""
        return await self.sender.guarded(self._send, message)

    async def _send(self, message: Outbound) -> Sent:
        card = message.reply.card or {}
        op = card.get("op")
        room = message.destination
        if op == "post":
            return await self._post(message, card, room)
        target = message.edit_message_id or await self.index.resolve(card.get("target"))
        if target is None:
            return Sent(None)
        if op == "edit":
            content = _edit(matrix_content(message.reply, card), target)
            return Sent(await self.sender._room_send(room, "m.room.message", content,
                                                     message.key))
        if op == "delete":
            await self._redact(room, target, message.key)
            return Sent(target)
        if op == "react":
            content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": target,
                                        "key": str(card.get("reaction") or "")}}
            return Sent(await self.sender._room_send(room, "m.reaction", content, message.key))
        if op == "unreact":
            reaction = await self.index.resolve(card.get("reaction_ref"))
            if reaction is not None:
                await self._redact(room, reaction, message.key)
            return Sent(reaction)
        log.warning("unknown relay operation %r", op, extra={"outbox_key": message.key})
        return Sent(None)

    async def _post(self, message: Outbound, card: dict[str, Any], room: str) -> Sent:
        if card.get("file"):
            content = await self._file(card)
        else:
            content = matrix_content(message.reply, card)
        root = await self.index.resolve(card.get("thread"))
        if root is not None:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": root,
                                       "is_falling_back": True,
                                       "m.in_reply_to": {"event_id": root}}
        return Sent(await self.sender._room_send(room, "m.room.message", content, message.key))

    async def _file(self, card: dict[str, Any]) -> dict[str, Any]:
        shared = SharedFile.from_dict(card["file"])
        lang = str(card.get("lang") or "fr")
        source = str((card.get("source") or {}).get("platform") or "")
        if shared.size is not None and shared.size > self.max_file_bytes:
            return self._note(card, "bridge/file_too_big", shared, lang, source)
        fetch = self.fetchers.get(source)
        try:
            if fetch is None:
                raise FileUnavailable(f"no way to fetch files from {source!r}")
            data = await fetch(shared)
        except FileUnavailable as error:
            log.warning("file not copied to Matrix: %s", error)
            return self._note(card, "bridge/file_missing", shared, lang, source)
        if len(data) > self.max_file_bytes:
            return self._note(card, "bridge/file_too_big", shared, lang, source)
        response, _ = await self.client.upload(io.BytesIO(data), content_type=shared.mimetype,
                                               filename=shared.name, filesize=len(data))
        if not isinstance(response, UploadResponse):
            raise self.sender._error(response, "upload a bridged file")
        width, height = shared.width, shared.height
        if shared.kind == "image" and not (width and height):
            width, height = _image_size(data)
        return matrix_file_content(card, response.content_uri, size=len(data), width=width,
                                   height=height)

    def _note(self, card: dict[str, Any], template: str, shared: SharedFile, lang: str,
              source: str) -> dict[str, Any]:
        text = self.catalog.render(lang, template, name=shared.name,
                                   size=human_size(shared.size, lang), platform=source)
        return matrix_content(Reply(text), card)

    async def _redact(self, room: str, event_id: str, key: str) -> None:
        response = await self.client.room_redact(room, event_id, tx_id=txn_id(key))
        if isinstance(response, RoomRedactResponse):
            return
        if getattr(response, "status_code", None) == "M_NOT_FOUND":
            return
        raise self.sender._error(response, f"redact in {room}")


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return image.width, image.height
    except Exception:
        return None, None

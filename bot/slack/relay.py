"""The bridge's copies on Slack: posts under their author's name (``username``, needs the
``chat:write.customize`` scope), edits (``chat.update``), deletions (``chat.delete``),
thread replies (``thread_ts``), files (``files_upload_v2``) and reactions.

Posts carry their outbox key in their metadata, like every message of the bot: after
an attempt whose answer never came back, the channel (or thread) is searched for the
key before posting again (see :mod:`bot.slack.sender`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import emoji

from bot.bridge.transport import FileFetcher, FileUnavailable, SentIndex
from bot.delivery import Outbound, Sent
from bot.slack.sender import METADATA_EVENT_TYPE, UPDATE_TEXT_LIMIT, SlackSender, _Refused
from handlers.core.events import Reply, SharedFile
from messages.render.relay import author, human_size, slack_identity, slack_text
from messages.render.slack import escape_mrkdwn
from messages.texts import Catalog

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 100 * 1024 * 1024
GONE = frozenset({"message_not_found", "no_reaction", "already_reacted", "file_not_found",
                  "file_deleted"})
"""Answers meaning the change is already in place."""


class SlackRelay:
    def __init__(self, sender: SlackSender, catalog: Catalog, index: SentIndex,
                 fetchers: dict[str, FileFetcher], max_file_bytes: int = MAX_FILE_BYTES,
                 picture_url: Callable[[str], str | None] | None = None) -> None:
        self.picture_url = picture_url
        """Turns a Matrix avatar (``mxc://``) into a URL Slack can fetch, if there is one."""
        self.sender = sender
        self.catalog = catalog
        self.index = index
        self.fetchers = fetchers
        self.max_file_bytes = max_file_bytes

    async def send(self, message: Outbound) -> Sent:
        try:
            return await self._send(message)
        except _Refused as refused:
            if refused.error in GONE:
                return Sent(None, message.destination)
            raise self.sender._as_send_error(refused, message) from None

    async def _send(self, message: Outbound) -> Sent:
        card = message.reply.card or {}
        op = card.get("op")
        channel = message.destination
        if op == "post":
            return await self._post(message, card, channel)
        target = message.edit_message_id or await self.index.resolve(card.get("target"))
        if target is None:
            return Sent(None, channel)
        api = self.sender._api
        if op == "edit":
            if target.startswith("file:"):
                return Sent(target, channel)
            text = slack_text(message.reply, card)
            if len(text) > UPDATE_TEXT_LIMIT:
                cut = self.catalog.render(str(card.get("lang") or "fr"), "bridge/edit_cut")
                text = text[:UPDATE_TEXT_LIMIT - len(cut) - 2] + "\n" + cut
            await api(channel, "chat_update", channel=channel, ts=target, text=text)
            return Sent(target, channel)
        if op == "delete":
            if target.startswith("file:"):
                await api(channel, "files_delete", file=target[5:])
            else:
                await api(channel, "chat_delete", channel=channel, ts=target)
            return Sent(target, channel)
        name = _reaction_name(str(card.get("reaction") or ""))
        if op == "react":
            await api(channel, "reactions_add", channel=channel, timestamp=target, name=name)
            return Sent(target, channel)
        if op == "unreact":
            await api(channel, "reactions_remove", channel=channel, timestamp=target, name=name)
            return Sent(target, channel)
        log.warning("unknown relay operation %r", op, extra={"outbox_key": message.key})
        return Sent(None, channel)

    async def _post(self, message: Outbound, card: dict[str, Any], channel: str) -> Sent:
        thread = await self.index.resolve(card.get("thread"))
        if card.get("file"):
            posted = await self._file(message, card, channel, thread)
            if posted is not None:
                return posted
            message = _with_text(message, self._note(card))
        if await self.sender._begin_attempt(message.key, channel):
            found = await self.sender._find_posted(channel, thread, message.key)
            if found is not None:
                return Sent(found, channel)
        args: dict[str, Any] = {
            "channel": channel, "text": slack_text(message.reply, card) or " ",
            "metadata": {"event_type": METADATA_EVENT_TYPE,
                         "event_payload": {"key": message.key}},
            **slack_identity(self._public_picture(card))}
        if thread:
            args["thread_ts"] = thread
        try:
            response = await self.sender._api(channel, "chat_postMessage", **args)
        except _Refused:
            await self.sender._settle(message.key)
            raise
        return Sent(str(response["ts"]), channel)

    async def _file(self, message: Outbound, card: dict[str, Any], channel: str,
                    thread: str | None) -> Sent | None:
        """Upload a copied file; None when it cannot be (a note is posted instead)."""
        shared = SharedFile.from_dict(card["file"])
        source = str((card.get("source") or {}).get("platform") or "")
        if shared.size is not None and shared.size > self.max_file_bytes:
            card["note"] = "bridge/file_too_big"
            return None
        fetch = self.fetchers.get(source)
        try:
            if fetch is None:
                raise FileUnavailable(f"no way to fetch files from {source!r}")
            data = await fetch(shared)
        except FileUnavailable as error:
            log.warning("file not copied to Slack: %s", error)
            card["note"] = "bridge/file_missing"
            return None
        if len(data) > self.max_file_bytes:
            card["note"] = "bridge/file_too_big"
            return None
        comment = f"*{escape_mrkdwn(author(card))}* : {escape_mrkdwn(shared.name)}"
        args: dict[str, Any] = {"channel": channel, "file": data, "filename": shared.name,
                                "title": shared.name, "initial_comment": comment}
        if thread:
            args["thread_ts"] = thread
        response = await self.sender._api(channel, "files_upload_v2", **args)
        files = response.get("files") or [{}]
        file_id = files[0].get("id") if isinstance(files[0], dict) else None
        return Sent(f"file:{file_id}" if file_id else None, channel)

    def _public_picture(self, card: dict[str, Any]) -> dict[str, Any]:
        sender = card.get("sender") or {}
        avatar = sender.get("avatar")
        if not isinstance(avatar, str) or not avatar.startswith("mxc://") or \
                self.picture_url is None:
            return card
        return {**card, "sender": {**sender, "avatar": self.picture_url(avatar)}}

    def _note(self, card: dict[str, Any]) -> str:
        shared = SharedFile.from_dict(card["file"])
        lang = str(card.get("lang") or "fr")
        return self.catalog.render(lang, str(card.get("note") or "bridge/file_missing"),
                                   name=shared.name, size=human_size(shared.size, lang),
                                   platform=(card.get("source") or {}).get("platform"))


def _with_text(message: Outbound, text: str) -> Outbound:
    from dataclasses import replace

    return replace(message, reply=Reply(text, card=message.reply.card))


def _reaction_name(reaction: str) -> str:
    """A reaction as Slack names it: ``👍`` → ``+1``-style alias, ``:name:`` → ``name``."""
    if reaction.startswith(":") and reaction.endswith(":") and len(reaction) > 2:
        return reaction[1:-1]
    named = emoji.demojize(reaction, language="alias")
    if named.startswith(":") and named.endswith(":") and named.count(":") == 2:
        return named[1:-1]
    return "speech_balloon"

"""Delivering outbox messages to Slack through the Web API (slack_sdk).

- Messages go out as Block Kit (``messages/render/slack.py``) with a ``text``
  fallback, threads through ``thread_ts``, files through ``files_upload_v2``,
  edits through ``chat.update``, and a reply only one person should see as an
  ephemeral message (through the interaction's ``response_url`` when there is
  one, else ``chat.postEphemeral``, else their DM).
- ``@dm:<user>`` destinations are opened with ``conversations.open`` once and
  remembered in ``direct_rooms``.
- Every channel is paced (about one post per second, bursts allowed). A 429 holds
  the channel for ``Retry-After`` and becomes a :class:`TransientSendError`
  carrying it, so the delivery worker retries that message (and what follows it
  in the same channel) in order, later: nothing is dropped, slack_sdk never
  retries on its own.
- Idempotency: each message carries its outbox key in its ``metadata``. Before a
  post the sender notes the attempt; if an earlier attempt of the same key never
  got a clear answer (crash, timeout), it first looks for a message with that
  key in the channel (or thread) and does not post it twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import Outbound, PermanentSendError, Sent, TransientSendError
from bot.slack.pace import ChannelPacer
from bot.slack.translate import form_metadata, is_direct_channel
from handlers.core.clock import Clock
from handlers.core.events import Reply
from handlers.core.ids import Platform
from messages.render.slack import (
    POLL_FORM_LABELS,
    fallback_text,
    is_form,
    poll_form,
    to_blocks,
    to_modal,
)
from storage.db import Database
from storage.uow import Store

log = logging.getLogger(__name__)

METADATA_EVENT_TYPE = "cohortbot_outbox"
UPDATE_TEXT_LIMIT = 4000
HISTORY_LOOKBACK = 100
AUTH_RETRY_SECONDS = 60.0
ATTEMPT_RETENTION_SECONDS = 2 * 24 * 3600

PERMANENT_ERRORS = frozenset({
    "channel_not_found", "is_archived", "not_in_channel", "user_not_found",
    "user_not_in_channel", "msg_too_long", "no_text", "invalid_blocks", "invalid_blocks_format",
    "cannot_dm_bot", "user_disabled", "restricted_action", "too_many_attachments",
    "invalid_metadata_format", "invalid_arguments", "message_not_found",
    "cant_update_message", "edit_window_closed", "method_not_supported_for_channel_type",
    "not_allowed_token_type", "missing_scope", "users_list_not_supplied", "too_many_users",
    "not_enough_users", "channel_is_archived", "restricted_action_read_only_channel",
    "is_inactive",
})
"""Slack errors that no retry can fix: the message is given up (and logged)."""
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired",
                         "account_inactive", "no_permission"})
"""Configuration problems an operator can fix: retried slowly, loudly logged."""
NOT_POSTABLE = frozenset({"not_in_channel", "channel_not_found"})


class _Refused(Exception):
    """Slack answered the call with an error: nothing was posted."""

    def __init__(self, method: str, error: str, status: int, retry_after: float | None,
                 channel: str) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.channel = channel
        self.error = error
        self.status = status
        self.retry_after = retry_after

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.error == "ratelimited"


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    for name, value in (headers.items() if isinstance(headers, Mapping) else headers):
        if str(name).lower() == "retry-after":
            try:
                return max(0.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                return None
    return None


class SlackSender:
    """The :class:`~bot.delivery.Sender` for Slack."""

    platform = Platform.SLACK

    def __init__(self, client: AsyncWebClient, db: Database, clock: Clock, *,
                 pacer: ChannelPacer | None = None,
                 session: aiohttp.ClientSession | None = None,
                 form_labels: Mapping[str, dict[str, str]] | None = None,
                 language: str = "fr", files_in_dm: Mapping[str, str] | None = None) -> None:
        self.client = client
        self.db = db
        self.clock = clock
        self.pacer = pacer or ChannelPacer()
        self.language = language
        """The bot's language: for words whose reader is not known (a pointer to the DM)."""
        self.form_labels = dict(form_labels or {})
        """Words of a poll's modal (submit, yes, maybe…) per language: the modal is shown
        in the language the poll card says it was asked in (the reader's)."""
        self.files_in_dm = dict(files_in_dm or {})
        """Per language, the ephemeral pointer left where files were asked for privately."""
        self.session = session
        """The HTTP session for ``response_url`` posts (the adapter shares its own)."""
        self._own_session: aiohttp.ClientSession | None = None
        self._last_cleanup = 0.0

    async def close(self) -> None:
        if self._own_session is not None and not self._own_session.closed:
            await self._own_session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self.session is not None and not self.session.closed:
            return self.session
        if self._own_session is None or self._own_session.closed:
            self._own_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._own_session

    # ------------------------------------------------------------------ the Sender port

    async def send(self, message: Outbound) -> Sent:
        """Deliver one outbox message; raises Transient/PermanentSendError as the port says."""
        try:
            return await self._send(message)
        except _Refused as refused:
            raise self._as_send_error(refused, message) from None

    async def _send(self, message: Outbound) -> Sent:
        await self._cleanup_now_and_then()
        channel = await self._channel_of(message)
        reply = message.reply
        if message.edit_message_id:
            return await self._update(message, channel)
        trigger = message.hints.get("trigger_id")
        if reply.card is not None and trigger and (
                is_form(reply.card) or poll_form(reply.card, self.labels_for(reply.card))):
            opened = await self._open_form(message, channel, trigger)
            if opened is not None:
                return opened
        if message.private_to:
            return await self._private(message, channel)
        return await self._public(message, channel)

    def labels_for(self, card: Mapping[str, Any]) -> dict[str, str]:
        """A modal's words in the card's language, else the bot's."""
        lang = card.get("lang") if isinstance(card.get("lang"), str) else None
        return self.form_labels.get(lang or self.language) or \
            self.form_labels.get(self.language) or {name: name for name in POLL_FORM_LABELS}

    # ------------------------------------------------------------------ destinations

    async def _channel_of(self, message: Outbound) -> str:
        user = message.direct_user
        if user is None:
            return message.destination
        async with self.db.session() as session:
            known = await Store(session).direct_rooms.get(str(Platform.SLACK), user)
        if known:
            return known
        response = await self._api(user, "conversations_open", users=user)
        channel = str(response["channel"]["id"])
        async with self.db.session() as session:
            await Store(session).direct_rooms.remember(str(Platform.SLACK), user, channel,
                                                       self.clock.now())
        return channel

    async def _open_dm(self, user: str) -> str:
        return await self._channel_of(Outbound(0, "", Platform.SLACK, f"@dm:{user}",
                                               Reply("")))

    # ------------------------------------------------------------------ kinds of posts

    async def _public(self, message: Outbound, channel: str) -> Sent:
        started = await self._begin_attempt(message.key, channel)
        if started:
            found = await self._find_posted(channel, message.thread_id, message.key)
            if found is not None:
                log.info("message found after an unsettled attempt; not posted again",
                         extra={"outbox_key": message.key})
                return Sent(found, channel)
        try:
            ts = await self._post_message(message, channel)
        except _Refused as refused:
            await self._settle(message.key)
            response_url = message.hints.get("response_url")
            if refused.error in NOT_POSTABLE and response_url:
                await self._respond(response_url, message.reply, ephemeral=False)
                return Sent(None, channel)
            raise
        await self._upload_files(message, channel)
        return Sent(ts, channel)

    async def _post_message(self, message: Outbound, channel: str) -> str:
        reply = message.reply
        args: dict[str, Any] = {
            "channel": channel, "text": fallback_text(reply), "unfurl_links": False,
            "metadata": {"event_type": METADATA_EVENT_TYPE,
                         "event_payload": {"key": message.key}},
        }
        blocks = to_blocks(reply)
        if blocks:
            args["blocks"] = blocks
        if message.thread_id:
            args["thread_ts"] = message.thread_id
        try:
            response = await self._api(channel, "chat_postMessage", **args)
        except _Refused as refused:
            if refused.error not in ("invalid_blocks", "invalid_blocks_format") or not blocks:
                raise
            log.error("Slack refused our blocks; posting the text alone",
                      extra={"outbox_key": message.key, "slack_error": refused.error})
            args.pop("blocks")
            response = await self._api(channel, "chat_postMessage", **args)
        return str(response["ts"])

    async def _private(self, message: Outbound, channel: str) -> Sent:
        """Only ``private_to`` sees it: response_url, else an ephemeral, else their DM."""
        user = message.private_to
        assert user is not None
        if message.reply.attachments:
            if is_direct_channel(channel):
                return await self._public(message, channel)
            return await self._files_to_dm(message, user, channel)
        response_url = message.hints.get("response_url")
        if response_url and await self._respond(response_url, message.reply, ephemeral=True,
                                                 fallible=True):
            return Sent(None, channel)
        if is_direct_channel(channel):
            return await self._public(message, channel)
        args: dict[str, Any] = {"channel": channel, "user": user,
                                "text": fallback_text(message.reply)}
        blocks = to_blocks(message.reply)
        if blocks:
            args["blocks"] = blocks
        if message.thread_id:
            args["thread_ts"] = message.thread_id
        try:
            await self._api(channel, "chat_postEphemeral", **args)
        except _Refused as refused:
            if refused.error not in ("user_not_in_channel", "channel_not_found",
                                     "not_in_channel"):
                raise
            dm = await self._open_dm(user)
            return await self._public(
                Outbound(message.outbox_id, message.key, message.platform, dm, message.reply,
                         created_at=message.created_at), dm)
        return Sent(None, channel)

    async def _files_to_dm(self, message: Outbound, user: str, channel: str) -> Sent:
        """A private reply with files: Slack has no ephemeral files, so the whole reply goes
        to the person's DM, and where they asked an ephemeral pointer says so."""
        dm = await self._open_dm(user)
        hints = {k: v for k, v in message.hints.items() if k != "response_url"}
        sent = await self._public(replace(message, destination=dm, private_to=None,
                                          hints=hints), dm)
        pointer = self.files_in_dm.get(self.language)
        if pointer:
            await self._point_to_dm(message, user, channel, Reply(pointer))
        return Sent(sent.message_id, dm)

    async def _point_to_dm(self, message: Outbound, user: str, channel: str,
                           pointer: Reply) -> None:
        """Best effort: the files are in the DM already, the pointer is only a courtesy."""
        response_url = message.hints.get("response_url")
        try:
            if response_url and await self._respond(response_url, pointer, ephemeral=True,
                                                    fallible=True):
                return
            args: dict[str, Any] = {"channel": channel, "user": user,
                                    "text": fallback_text(pointer)}
            if message.thread_id:
                args["thread_ts"] = message.thread_id
            await self._api(channel, "chat_postEphemeral", **args)
        except (_Refused, TransientSendError, PermanentSendError) as error:
            log.info("could not leave a pointer to the DM (%s)", error,
                     extra={"outbox_key": message.key})

    async def _update(self, message: Outbound, channel: str) -> Sent:
        reply = message.reply
        assert message.edit_message_id is not None
        args: dict[str, Any] = {"channel": channel, "ts": message.edit_message_id,
                                "text": fallback_text(reply, UPDATE_TEXT_LIMIT),
                                "blocks": to_blocks(reply)}
        await self._api(channel, "chat_update", **args)
        return Sent(message.edit_message_id, channel)

    async def _open_form(self, message: Outbound, channel: str, trigger: str) -> Sent | None:
        """Show a form card as a modal; None (post it as a message) when Slack refuses."""
        assert message.reply.card is not None
        card = poll_form(message.reply.card, self.labels_for(message.reply.card)) \
            or message.reply.card
        origin_channel = None if channel.startswith("@dm:") else channel
        view = to_modal(card, private_metadata=form_metadata(
            card["action"], str(card.get("value", "")), origin_channel, message.thread_id))
        try:
            response = await self._api(channel, "views_open", trigger_id=trigger, view=view)
        except _Refused as refused:
            if refused.rate_limited:
                raise
            log.warning("could not open a modal (%s); sending the form as a message",
                        refused.error, extra={"outbox_key": message.key})
            return None
        return Sent(str(response["view"]["id"]), channel)

    async def _upload_files(self, message: Outbound, channel: str) -> None:
        for attachment in message.reply.attachments:
            args: dict[str, Any] = {"channel": channel, "file": attachment.content,
                                    "filename": attachment.filename,
                                    "title": attachment.filename}
            if attachment.alt_text:
                args["alt_txt"] = attachment.alt_text
            if message.thread_id:
                args["thread_ts"] = message.thread_id
            await self._api(channel, "files_upload_v2", **args)

    async def _respond(self, url: str, reply: Reply, *, ephemeral: bool,
                       fallible: bool = False) -> bool:
        """Post to an interaction's ``response_url``; False if it is used up (when fallible)."""
        body: dict[str, Any] = {"response_type": "ephemeral" if ephemeral else "in_channel",
                                "replace_original": False, "text": fallback_text(reply)}
        blocks = to_blocks(reply)
        if blocks:
            body["blocks"] = blocks
        try:
            async with self._http().post(url, json=body) as response:
                if response.status == 200:
                    return True
                detail = (await response.text())[:200]
                status = response.status
                retry_after = _retry_after(response.headers)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientSendError(f"response_url: {type(error).__name__}") from None
        if status == 429 or status >= 500:
            raise TransientSendError(f"response_url: HTTP {status}", retry_after=retry_after)
        if fallible:
            log.info("response_url refused (HTTP %s, %s); using the Web API", status, detail)
            return False
        raise PermanentSendError(f"response_url: HTTP {status} {detail}")

    # ------------------------------------------------------------------ idempotency

    async def _begin_attempt(self, key: str, channel: str) -> bool:
        async with self.db.session() as session:
            earlier = await Store(session).slack_posts.begin(key, channel, self.clock.now())
        return earlier is not None

    async def _settle(self, key: str) -> None:
        async with self.db.session() as session:
            await Store(session).slack_posts.settle(key)

    async def _find_posted(self, channel: str, thread: str | None, key: str) -> str | None:
        """The ts of a message carrying outbox ``key`` among the latest of the channel/thread."""
        try:
            if thread:
                response = await self._api(channel, "conversations_replies", channel=channel,
                                           ts=thread, include_all_metadata=True,
                                           limit=HISTORY_LOOKBACK, pace=False)
            else:
                response = await self._api(channel, "conversations_history", channel=channel,
                                           include_all_metadata=True, limit=HISTORY_LOOKBACK,
                                           pace=False)
        except _Refused as refused:
            if refused.rate_limited:
                raise
            log.warning("could not read the channel to check for an earlier post (%s); "
                        "posting", refused.error, extra={"outbox_key": key})
            return None
        for item in response.get("messages") or []:
            meta = item.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == METADATA_EVENT_TYPE and payload.get("key") == key:
                return str(item["ts"])
        return None

    async def _cleanup_now_and_then(self) -> None:
        if time.monotonic() - self._last_cleanup < 3600:
            return
        self._last_cleanup = time.monotonic()
        async with self.db.session() as session:
            await Store(session).slack_posts.forget_before(
                self.clock.now() - timedelta(seconds=ATTEMPT_RETENTION_SECONDS))

    # ------------------------------------------------------------------ the Web API

    async def _api(self, channel: str, method: str, /, *, pace: bool = True, **args: Any) -> Any:
        """Call a Web API method at the channel's pace; Slack's refusals become `_Refused`."""
        if pace:
            await self.pacer.wait(channel)
        try:
            return await getattr(self.client, method)(**args)
        except SlackApiError as error:
            response = error.response
            code = str(response.get("error") or "unknown_error")
            raise _Refused(method, code, int(getattr(response, "status_code", 200) or 200),
                           _retry_after(getattr(response, "headers", None)), channel) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientSendError(f"{method}: {type(error).__name__}") from None

    def _as_send_error(self, refused: _Refused, message: Outbound) -> Exception:
        if refused.rate_limited:
            wait = refused.retry_after if refused.retry_after is not None else 1.0
            self.pacer.hold(refused.channel, wait)
            return TransientSendError(str(refused), retry_after=wait)
        if refused.error in PERMANENT_ERRORS:
            return PermanentSendError(str(refused))
        if refused.error in AUTH_ERRORS:
            log.error("Slack refused the bot token (%s): check SLACK_BOT_TOKEN and the scopes",
                      refused.error)
            return TransientSendError(str(refused), retry_after=AUTH_RETRY_SECONDS)
        return TransientSendError(str(refused))

"""Bolt listeners: acknowledge at once, translate, hand the neutral event to the adapter.

The app runs with ``process_before_response=True``: Bolt answers Slack only when
a listener returns, so every listener here does nothing slow. It translates the
payload (pure, microseconds), acknowledges, and submits the event; the adapter
runs it through the dispatcher after the acknowledgement has left, and the
replies go out through the outbox (``response_url``, ``chat.postMessage``…).

One ``register_*`` per kind of request, joined in :func:`register`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from slack_bolt.async_app import AsyncApp

from bot.slack import room_events, translate
from handlers.core.events import Event

log = logging.getLogger(__name__)

ANY = re.compile(".*", re.DOTALL)


class Inbox(Protocol):
    """What the listeners need from the adapter."""

    bot_user_id: str | None

    def submit(self, event: Event, files: Sequence[translate.SharedFile] = ()) -> None: ...

    def is_bridged(self, channel: str) -> bool: ...

    def unreadable_text(self) -> str: ...


def register(bolt: AsyncApp, inbox: Inbox) -> None:
    """Every listener of the bot, in matching order (specific first, catch-alls last)."""
    register_commands(bolt, inbox)
    register_actions(bolt, inbox)
    register_views(bolt, inbox)
    register_events(bolt, inbox)
    bolt.error(_on_error)


def _describe(body: Mapping[str, Any]) -> dict[str, Any]:
    """Log context for a payload: its kind and ids, never its text."""
    event = body.get("event") if isinstance(body.get("event"), Mapping) else {}
    return {"slack_type": str(body.get("type") or body.get("command") or "?")[:64],
            "slack_event": str(event.get("type") or "")[:64],
            "slack_event_id": str(body.get("event_id") or "")[:64]}


def register_commands(bolt: AsyncApp, inbox: Inbox) -> None:
    @bolt.command(ANY)
    async def on_command(ack: Callable[..., Awaitable[Any]], body: dict[str, Any]) -> None:
        try:
            event = translate.slash_command(body)
        except translate.PayloadError as error:
            log.warning("unreadable slash command: %s", error, extra=_describe(body))
            await ack(text=inbox.unreadable_text(), response_type="ephemeral")
            return
        await ack()
        inbox.submit(event)


def register_actions(bolt: AsyncApp, inbox: Inbox) -> None:
    @bolt.block_action(ANY)
    async def on_block_action(ack: Callable[..., Awaitable[Any]], body: dict[str, Any]) -> None:
        await ack()
        try:
            event = translate.block_action(body)
        except translate.PayloadError as error:
            log.warning("unreadable button click: %s", error, extra=_describe(body))
            return
        inbox.submit(event)


def register_views(bolt: AsyncApp, inbox: Inbox) -> None:
    @bolt.view(ANY)
    async def on_view_submission(ack: Callable[..., Awaitable[Any]],
                                 body: dict[str, Any]) -> None:
        await ack()
        try:
            event = translate.view_submission(body)
        except translate.PayloadError as error:
            log.warning("unreadable form submission: %s", error, extra=_describe(body))
            return
        if event is not None:
            inbox.submit(event)

    @bolt.view_closed(ANY)
    async def on_view_closed(ack: Callable[..., Awaitable[Any]]) -> None:
        await ack()


def register_events(bolt: AsyncApp, inbox: Inbox) -> None:
    def event_id(body: Mapping[str, Any]) -> str:
        value = body.get("event_id")
        if not isinstance(value, str) or not value:
            raise translate.PayloadError("event_id: expected a non-empty string")
        return value

    @bolt.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any]) -> None:
        try:
            command = translate.app_mention(event, event_id(body), inbox.bot_user_id)
        except translate.PayloadError as error:
            log.warning("unreadable mention: %s", error, extra=_describe(body))
            return
        if command is not None:
            inbox.submit(command, translate.shared_files(event))

    @bolt.event("message")
    async def on_message(body: dict[str, Any], event: dict[str, Any]) -> None:
        try:
            translated = translate.direct_message(event, event_id(body), inbox.bot_user_id)
        except translate.PayloadError as error:
            log.warning("unreadable message event: %s", error, extra=_describe(body))
            return
        if translated is not None:
            inbox.submit(translated, translate.shared_files(event))
            return
        channel = event.get("channel")
        if isinstance(channel, str) and inbox.is_bridged(channel):
            relayed = room_events.message(event, body.get("event_id"), inbox.bot_user_id)
            if relayed is not None:
                inbox.submit(relayed)

    @bolt.event("reaction_added")
    async def on_reaction_added(body: dict[str, Any], event: dict[str, Any]) -> None:
        on_reaction(body, event)

    @bolt.event("reaction_removed")
    async def on_reaction_removed(body: dict[str, Any], event: dict[str, Any]) -> None:
        on_reaction(body, event)

    def on_reaction(body: dict[str, Any], event: dict[str, Any]) -> None:
        item = event.get("item")
        channel = item.get("channel") if isinstance(item, Mapping) else None
        if isinstance(channel, str) and inbox.is_bridged(channel):
            relayed = room_events.reaction(event, body.get("event_id"), inbox.bot_user_id)
            if relayed is not None:
                inbox.submit(relayed)

    @bolt.event(ANY)
    async def on_other_event(body: dict[str, Any]) -> None:
        log.debug("Slack event not used by the bot", extra=_describe(body))


def room_chatter(inbox: Inbox) -> Callable[[Mapping[str, Any]], bool]:
    """The Events API body of a bridged channel's message, handled without Bolt.

    Bolt's middleware chain (authorization, self-event filter, listener matching) cost
    about 10 ms per event on the bridge's path; for plain channel chatter none of it is
    needed (the signature is checked, the bot's own messages are recognised by
    :func:`room_events.message`). Returns False for anything else (commands typed in the
    channel, DMs, other events, unreadable bodies): Bolt handles those as before.
    """

    def handle(body: Mapping[str, Any]) -> bool:
        event = body.get("event")
        if body.get("type") != "event_callback" or not isinstance(event, Mapping) or \
                event.get("type") != "message":
            return False
        channel = event.get("channel")
        event_id = body.get("event_id")
        if not isinstance(channel, str) or not isinstance(event_id, str) or not event_id or \
                inbox.bot_user_id is None or not inbox.is_bridged(channel):
            return False
        try:
            if translate.direct_message(event, event_id, inbox.bot_user_id) is not None:
                return False
            relayed = room_events.message(event, event_id, inbox.bot_user_id)
        except Exception:
            return False
        if relayed is not None:
            inbox.submit(relayed)
        return True

    return handle


async def _on_error(error: Exception, body: dict[str, Any]) -> None:
    log.error("Slack listener failed", exc_info=error,
              extra=_describe(body if isinstance(body, Mapping) else {}))

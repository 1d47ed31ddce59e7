"""The bridge's side of delivery: copies (``relay`` cards) go to the platform's relay, every
other outbox message to the platform's ordinary sender, in the same ordered queue.

- :class:`SentIndex` finds the platform id of a copy from its outbox key (a thread
  reply whose root was sent a moment earlier in the same delivery pass, or long ago).
- :class:`RelayingSender` wraps a platform's :class:`~bot.delivery.Sender`; its
  copies are never given up while the platform is out of reach (delivery retries them,
  in order, for as long as it takes).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bot.delivery import Outbound, Sender, Sent
from handlers.bridge.relay import is_relay
from handlers.core.events import SharedFile
from storage.db import Database
from storage.uow import Store

FileFetcher = Callable[[SharedFile], Awaitable[bytes]]
"""Download a file shared on its platform (raises ``FileUnavailable``)."""


class FileUnavailable(Exception):
    """The file is gone, out of reach or too big: the copy says so instead."""


class SentIndex:
    """Outbox key → platform message id of the bridge's copies (recent ones in memory)."""

    def __init__(self, db: Database, size: int = 10_000) -> None:
        self.db = db
        self.size = size
        self._ids: OrderedDict[str, str] = OrderedDict()

    def remember(self, key: str, message_id: str | None) -> None:
        if not message_id:
            return
        self._ids[key] = message_id
        self._ids.move_to_end(key)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)

    async def resolve(self, ref: Any) -> str | None:
        """``{"id": …}`` → the id; ``{"key": …}`` → the id its copy got when delivered."""
        if not isinstance(ref, dict):
            return None
        if isinstance(ref.get("id"), str):
            return ref["id"]
        key = ref.get("key")
        if not isinstance(key, str):
            return None
        if key in self._ids:
            return self._ids[key]
        async with self.db.session() as session:
            found = await Store(session).outbox.sent_message_id(key)
        return found[2] if found else None


class Relay(Protocol):
    async def send(self, message: Outbound) -> Sent: ...


class RelayingSender:
    """A platform's sender, with the bridge's copies handed to its relay."""

    def __init__(self, inner: Sender, relay: Relay, index: SentIndex) -> None:
        self.inner = inner
        self.relay = relay
        self.index = index
        self.platform = inner.platform

    async def send(self, message: Outbound) -> Sent:
        if not is_relay(message.reply.card):
            return await self.inner.send(message)
        sent = await self.relay.send(message)
        self.index.remember(message.key, sent.message_id)
        return sent

    def persistent(self, message: Outbound) -> bool:
        return is_relay(message.reply.card)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

"""Delivering the outbox: in order per destination, once, with retries.

Handlers only ever write to the outbox (in the transaction of what caused the
message). This worker reads pending rows, hands each to the platform's
:class:`Sender`, and marks it sent. A crash between the send and the mark is
covered by the senders' idempotency (Matrix transaction ids derived from the
outbox key; Slack messages carrying the key in their metadata).

The replies to an event are also handed over by the dispatcher right after its
commit (:meth:`Delivery.hand_over`): when nothing older waits for the platform, they
are sent from memory without reading them back (they are in the outbox already, so a
crash loses nothing), and marked sent in the background, several at a time, while the
next replies go out (the ids sent are remembered, so nothing is sent twice meanwhile).
Anything else — a message queued by another path, a retry waiting, a failure — sends
the worker back to the outbox, in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from handlers.core.clock import Clock
from handlers.core.dispatch import QueuedReply
from handlers.core.events import Reply
from handlers.core.ids import Platform
from handlers.core.metrics import Metrics, NullMetrics
from storage.db import Database
from storage.models import OutboxMessage
from storage.uow import Store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_PARALLEL_DESTINATIONS = 16
STOP_GRACE = 5.0
"""Seconds a clean stop waits for a delivery pass in progress."""
DONE_MEMORY = 4096
"""How many outbox ids sent recently a worker remembers, so a reply handed over after a
pass already took it from the outbox is not sent a second time."""


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message to deliver, as the sender sees it."""

    outbox_id: int
    key: str
    platform: Platform
    destination: str
    reply: Reply
    thread_id: str | None = None
    private_to: str | None = None
    hints: dict[str, Any] = field(default_factory=dict)
    edit_message_id: str | None = None
    """The platform id of the message this one replaces in place, if any."""
    created_at: datetime | None = None
    edit_of: str | None = None
    """The outbox key of the message edited; resolved again at send time when that message
    was not sent yet when this one was read (both in one pass)."""

    @property
    def direct_user(self) -> str | None:
        """The user id when the destination is "this person's DM"."""
        return self.destination[4:] if self.destination.startswith("@dm:") else None


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str | None
    room_id: str | None = None
    """Set when the sender resolved a DM destination to a room."""


class TransientSendError(Exception):
    """Try again later (rate limit, network, server error)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(Exception):
    """This message can never be delivered (room gone, bot kicked, invalid content)."""


class Sender(Protocol):
    platform: Platform

    async def send(self, message: Outbound) -> Sent: ...


def never_given_up(sender: Sender | None, message: Outbound) -> bool:
    """Whether ``sender`` asks to retry ``message`` for as long as its platform is out of reach
    (a sender may define ``persistent(message) -> bool``; the bridge's copies are such)."""
    persistent = getattr(sender, "persistent", None)
    return bool(persistent is not None and persistent(message))


class Delivery:
    """One worker per platform, woken when the dispatcher commits new messages."""

    def __init__(self, db: Database, clock: Clock, metrics: Metrics | None = None) -> None:
        self.db = db
        self.clock = clock
        self.metrics: Metrics = metrics or NullMetrics()
        self.senders: dict[Platform, Sender] = {}
        self._wake: dict[Platform, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_lock: dict[Platform, asyncio.Lock] = {}
        self._fresh: dict[Platform, OrderedDict[int, Outbound]] = {}
        self._done: dict[Platform, OrderedDict[int, None]] = {}
        self._clean: dict[Platform, bool] = {}
        self._marks: list[tuple[Outbound, Sent]] = []
        self._marker: asyncio.Task[None] | None = None
        self._recent: OrderedDict[str, str] = OrderedDict()
        self.fast_sends = 0
        self.listeners: list[Callable[[Outbound, Sent], Awaitable[None]]] = []
        self.running = False
        self.elsewhere: Callable[[set[Platform]], None] | None = None
        """Told instead of the local workers when they do not run in this process (another
        process leads and delivers: :mod:`bot.wake` passes the word on)."""

    def add_sender(self, sender: Sender) -> None:
        self.senders[sender.platform] = sender
        self._wake[sender.platform] = asyncio.Event()
        self._flush_lock[sender.platform] = asyncio.Lock()
        self._fresh[sender.platform] = OrderedDict()
        self._done[sender.platform] = OrderedDict()
        self._clean[sender.platform] = False

    def notify(self, platforms: set[Platform]) -> None:
        """Wake the workers of these platforms (called after a commit): new messages are
        in the outbox, to be read from there."""
        if not self.running and self.elsewhere is not None:
            self.elsewhere(platforms)
            return
        for platform in platforms:
            event = self._wake.get(platform)
            if event is not None:
                self._clean[platform] = False
                event.set()

    def hand_over(self, items: Sequence[QueuedReply]) -> bool:
        """Replies just committed to the outbox, to send without reading them back.

        Only where the workers run: a standby instance leaves them in the outbox for the
        leader, which :meth:`notify` wakes. Returns whether they were taken."""
        if not self.running:
            return False
        for item in items:
            platform = Platform(item.platform)
            fresh = self._fresh.get(platform)
            if fresh is None:
                continue
            fresh[item.outbox_id] = Outbound(
                outbox_id=item.outbox_id, key=item.key, platform=platform,
                destination=item.destination, reply=item.reply, thread_id=item.thread_id,
                private_to=item.private_to, hints=dict(item.hints or {}),
                created_at=item.created_at)
            self._wake[platform].set()
        return True

    def clean(self, platform: Platform) -> bool:
        """Whether the last pass found nothing waiting for ``platform``: what is handed over
        now goes out from memory."""
        return self._clean.get(platform, False)

    def start(self) -> None:
        """Start one worker per sender; calling it again starts only new senders' workers."""
        self.running = True
        started = {task.get_name() for task in self._tasks}
        for platform in self.senders:
            if f"delivery-{platform}" in started:
                continue
            self._tasks.append(asyncio.create_task(self._worker(platform),
                                                   name=f"delivery-{platform}"))

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop the workers, letting a pass in progress finish for up to ``grace`` seconds.

        A pass records what it sent in one commit at its end; cancelling it there (a
        SIGTERM right after a burst) left delivered messages pending, to be sent again
        at the next start and absorbed by the platforms' idempotency. Waiting a little
        keeps the bookkeeping exact on a clean stop.
        """
        self.running = False
        for wake in self._wake.values():
            wake.set()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:
                task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        await self.drain_marks()

    async def drain_marks(self) -> None:
        """Wait until every message sent from memory is marked sent in the outbox."""
        while self._marker is not None and not self._marker.done():
            await asyncio.shield(self._marker)

    async def _worker(self, platform: Platform) -> None:
        wake = self._wake[platform]
        while self.running:
            wake.clear()
            try:
                if self._clean[platform] and self._fresh[platform]:
                    delay = await self._flush_fresh(platform)
                else:
                    delay = await self.flush(platform)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery pass failed", extra={"platform": str(platform)})
                delay = 2.0
            if not self.running:
                return
            try:
                await asyncio.wait_for(wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    async def flush(self, platform: Platform) -> float:
        """Deliver what is due now; returns how long to wait before the next pass."""
        semaphore = asyncio.Semaphore(MAX_PARALLEL_DESTINATIONS)
        async with self._flush_lock[platform]:
            while True:
                now = self.clock.now()
                async with self.db.session() as session:
                    store = Store(session)
                    rows = await store.outbox.pending(str(platform), now)
                    batch = [await self._outbound(store, row) for row in rows]
                    next_due = await store.outbox.next_due(str(platform))
                fresh, done = self._fresh[platform], self._done[platform]
                for row in rows:
                    fresh.pop(row.id, None)
                if rows and any(row.id in done for row in rows):
                    batch = [b for b in batch if b is not None and b.outbox_id not in done]
                    if not batch:
                        if self._marker is not None and not self._marker.done():
                            await self.drain_marks()
                            continue
                        return 30.0
                if not batch:
                    self._clean[platform] = next_due is None
                    if next_due is not None:
                        return max(0.05, min(30.0, (next_due - now).total_seconds()))
                    return 30.0
                queues: OrderedDict[str, list[Outbound | None]] = OrderedDict()
                for item in batch:
                    queues.setdefault(item.destination if item else "?", []).append(item)
                accepted: list[tuple[Outbound, Sent]] = []

                async def run(items: list[Outbound | None],
                              accepted: list[tuple[Outbound, Sent]] = accepted) -> int:
                    async with semaphore:
                        return await self._deliver_in_order(platform, items, accepted)

                try:
                    delivered = await asyncio.gather(*(run(q) for q in queues.values()))
                finally:
                    await self._mark_sent(accepted)
                if sum(delivered) == 0:
                    return 0.5

    async def _flush_fresh(self, platform: Platform) -> float:
        """Send the replies handed over, from memory, when nothing older is waiting."""
        async with self._flush_lock[platform]:
            fresh, done = self._fresh[platform], self._done[platform]
            if not self._clean[platform] or not fresh:
                return 0.0
            items = [item for outbox_id, item in fresh.items() if outbox_id not in done]
            fresh.clear()
            queues: OrderedDict[str, list[Outbound | None]] = OrderedDict()
            for item in items:
                queues.setdefault(item.destination, []).append(item)
            accepted: list[tuple[Outbound, Sent]] = []
            try:
                delivered = await asyncio.gather(*(
                    self._deliver_in_order(platform, queue, accepted)
                    for queue in queues.values()))
            finally:
                self._mark_later(accepted)
            self.fast_sends += len(accepted)
            if sum(delivered) < len(items):
                self._clean[platform] = False
                return 0.0
            return 30.0

    def _mark_later(self, accepted: list[tuple[Outbound, Sent]]) -> None:
        """Remember these as sent now, and mark them in the outbox in the background."""
        if not accepted:
            return
        self._remember(accepted)
        self._marks.extend(accepted)
        if self._marker is None or self._marker.done():
            self._marker = asyncio.create_task(self._mark_loop(), name="delivery-marks")

    async def _mark_loop(self) -> None:
        while self._marks:
            batch, self._marks = self._marks, []
            try:
                await self._mark_sent(batch)
            except Exception:
                log.exception("could not mark messages sent; they are remembered as sent "
                              "here, and a restart re-sends them under the same keys",
                              extra={"messages": len(batch)})

    def _remember(self, accepted: list[tuple[Outbound, Sent]]) -> None:
        done = self._done.get(accepted[0][0].platform)
        for item, sent in accepted:
            if done is not None:
                done[item.outbox_id] = None
            if sent.message_id:
                self._recent[item.key] = sent.message_id
        while done is not None and len(done) > DONE_MEMORY:
            done.popitem(last=False)
        while len(self._recent) > DONE_MEMORY:
            self._recent.popitem(last=False)

    async def _outbound(self, store: Store, row: OutboxMessage) -> Outbound | None:
        edit_id = None
        if row.edit_of:
            found = await store.outbox.sent_message_id(row.edit_of)
            edit_id = found[2] if found else None
        try:
            reply = Reply.from_dict(row.payload)
        except (KeyError, ValueError, TypeError):
            log.error("unreadable outbox payload", extra={"outbox_id": row.id})
            await store.outbox.mark_failed(row.id, "unreadable payload")
            return None
        return Outbound(outbox_id=row.id, key=row.key, platform=Platform(row.platform),
                        destination=row.destination, reply=reply, thread_id=row.thread_id,
                        private_to=row.private_to, hints=dict(row.hints or {}),
                        edit_message_id=edit_id, created_at=row.created_at,
                        edit_of=row.edit_of)

    async def _mark_sent(self, accepted: list[tuple[Outbound, Sent]]) -> None:
        """Record a pass's sent messages in one transaction, then tell the listeners.

        One commit per pass instead of one per message keeps a burst (500 reminders at
        the same minute) from queueing on SQLite's write lock. A crash before this
        commit re-sends the pass's messages at restart under the same keys, which the
        senders' idempotency absorbs — the same promise as before, for a whole pass.
        """
        if not accepted:
            return
        async with self.db.session() as session:
            await Store(session).outbox.mark_sent_many(
                [(item.outbox_id, sent.message_id,
                  sent.room_id if item.direct_user and sent.room_id else None)
                 for item, sent in accepted], self.clock.now())
        self._remember(accepted)
        now = self.clock.now()
        for item, sent in accepted:
            self.metrics.incr("outbox_sent", platform=str(item.platform))
            if item.created_at is not None:
                self.metrics.observe("delivery_seconds", (now - item.created_at).total_seconds(),
                                     platform=str(item.platform))
            for listener in self.listeners:
                try:
                    await listener(item, sent)
                except Exception:
                    log.exception("delivery listener failed", extra={"outbox_key": item.key})

    async def _resolve_edit(self, item: Outbound, accepted: list[tuple[Outbound, Sent]]
                            ) -> Outbound:
        """Find the platform id of the message an edit replaces: sent earlier in this pass
        (not yet marked in the database), or in an earlier pass."""
        for earlier, sent in reversed(accepted):
            if earlier.key == item.edit_of and sent.message_id:
                return replace(item, edit_message_id=sent.message_id)
        recent = self._recent.get(item.edit_of or "")
        if recent is not None:
            return replace(item, edit_message_id=recent)
        async with self.db.session() as session:
            found = await Store(session).outbox.sent_message_id(item.edit_of or "")
        if found is not None and found[2]:
            return replace(item, edit_message_id=found[2])
        return item

    async def _deliver_in_order(self, platform: Platform, items: list[Outbound | None],
                                accepted: list[tuple[Outbound, Sent]]) -> int:
        sender = self.senders[platform]
        done = 0
        for item in items:
            if item is None:
                continue
            if item.edit_of and item.edit_message_id is None:
                item = await self._resolve_edit(item, accepted)
            try:
                sent = await sender.send(item)
            except TransientSendError as error:
                await self._retry(item, str(error), error.retry_after)
                return done
            except PermanentSendError as error:
                log.error("message dropped: %s", error,
                          extra={"outbox_key": item.key, "platform": str(platform)})
                self.metrics.incr("outbox_failed", platform=str(platform))
                async with self.db.session() as session:
                    await Store(session).outbox.mark_failed(item.outbox_id, str(error))
                continue
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.exception("sender failed", extra={"outbox_key": item.key,
                                                      "platform": str(platform)})
                await self._retry(item, repr(error), None)
                return done
            accepted.append((item, sent))
            done += 1
        return done

    async def _retry(self, item: Outbound, error: str, retry_after: float | None) -> None:
        async with self.db.session() as session:
            store = Store(session)
            row = await store.outbox.get(item.outbox_id)
            attempts = (row.attempts if row else 0) + 1
            if attempts >= MAX_ATTEMPTS and not never_given_up(self.senders.get(item.platform),
                                                               item):
                log.error("message dropped after %d attempts: %s", attempts, error,
                          extra={"outbox_key": item.key})
                await store.outbox.mark_failed(item.outbox_id, error)
                return
            delay = retry_after if retry_after is not None else min(60.0, 0.5 * 2 ** attempts)
            log.warning("delivery will be retried in %.1fs: %s", delay, error,
                        extra={"outbox_key": item.key})
            await store.outbox.mark_retry(item.outbox_id, error,
                                          self.clock.now() + timedelta(seconds=delay))

"""Waking the leading process from the others: "there is mail" and "the timers changed".

When several processes share a database only the leader delivers the outbox and runs the
scheduler (:mod:`bot.leader`). A command handled by another process (a Slack request that
reached the other instance) commits its reply to the outbox there; this module tells the
leader at once instead of letting it find the row at its next poll (up to 30 s later).

- PostgreSQL: ``NOTIFY cohortbot_wake, '<topic>'`` after the commit; the leader ``LISTEN``\\s
  on a connection of its own while it leads.
- SQLite (one machine by nature): a datagram on an abstract Unix socket named after the
  database file; the leader binds it while it leads.

A lost wake-up costs latency, never a message: delivery and the scheduler still poll.
Topics are ``outbox:<platform>`` and ``jobs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from storage.db import Database

log = logging.getLogger(__name__)

CHANNEL = "cohortbot_wake"
RECONNECT_SECONDS = 1.0

Handler = Callable[[str], None]


class Wake(Protocol):
    def publish(self, topic: str) -> None:
        """Tell the leader about ``topic`` (never blocks, never raises)."""

    async def listen(self, handler: Handler) -> None:
        """Call ``handler(topic)`` for every wake-up until cancelled (the leader runs it)."""


class NoWake:
    """For a database no other process can see (SQLite in memory)."""

    def publish(self, topic: str) -> None:
        return None

    async def listen(self, handler: Handler) -> None:
        await asyncio.Event().wait()


class PostgresWake:
    """``pg_notify`` through the app's pool; ``LISTEN`` on a dedicated connection."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dsn = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._pending: set[str] = set()
        self._flushing: asyncio.Task[None] | None = None

    def publish(self, topic: str) -> None:
        self._pending.add(topic)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush(),
                                                                    name="wake-publish")

    async def _flush(self) -> None:
        from sqlalchemy import text

        while self._pending:
            topics, self._pending = sorted(self._pending), set()
            try:
                async with self.db.engine.begin() as conn:
                    for topic in topics:
                        await conn.execute(text("SELECT pg_notify(:channel, :topic)"),
                                           {"channel": CHANNEL, "topic": topic})
            except Exception as error:  # noqa: BLE001 — a lost wake-up only delays
                log.warning("could not wake the leader (%s); it will poll",
                            type(error).__name__)

    async def listen(self, handler: Handler) -> None:
        import asyncpg

        while True:
            closed = asyncio.Event()
            conn = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=10)
                conn.add_termination_listener(lambda _conn, closed=closed: closed.set())
                await conn.add_listener(CHANNEL, lambda _c, _pid, _ch, payload: handler(payload))
                await closed.wait()
                log.warning("wake-up connection closed; listening again")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001
                log.warning("cannot listen for wake-ups (%s); retrying", type(error).__name__)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(RECONNECT_SECONDS)


class SocketWake:
    """A datagram per topic to an abstract Unix socket only the leader binds."""

    def __init__(self, database_file: Path) -> None:
        digest = hashlib.sha256(str(database_file.resolve()).encode()).hexdigest()[:24]
        self.address = f"\0cohortbot-wake-{digest}"
        self._sender: socket.socket | None = None

    def publish(self, topic: str) -> None:
        try:
            if self._sender is None:
                self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sender.setblocking(False)
            self._sender.sendto(topic.encode(), self.address)
        except OSError:
            return None

    async def listen(self, handler: Handler) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(self.address)
            except OSError as error:
                sock.close()
                log.warning("cannot listen for wake-ups (%s); retrying", error.strerror)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            sock.setblocking(False)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(handler), sock=sock)
            try:
                await asyncio.Event().wait()
            finally:
                transport.close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.handler(data.decode(errors="replace"))


def wake_for(db: Database) -> Wake:
    """The right channel for the configured database."""
    if not db.is_sqlite:
        return PostgresWake(db)
    database = db.url.database or ""
    if not database or database == ":memory:" or not sys.platform.startswith("linux"):
        return NoWake()
    return SocketWake(Path(database))

"""One leader among the bot processes sharing a database.

Some parts must run in exactly one process at a time: the scheduler, the outbox
delivery and the Matrix sync loop (see :mod:`bot.runtime`). Every process runs
:func:`lead`; one of them holds the lock and runs those parts; when it dies, the
operating system or PostgreSQL drops its lock and another process takes over within
``retry`` seconds. Every process serves HTTP (Slack, health, metrics, feeds, dashboard).

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) held on a dedicated
  connection, outside the pool. A watchdog pings that connection; if it breaks the
  lock is gone with it, so the parts are stopped and the process queues again.
- SQLite: an exclusive ``fcntl`` lock on a file next to the database (only processes
  on the same machine can share a SQLite file anyway). The kernel releases it
  when the process dies, SIGKILL included.

Exactly-once does not rest on this lock: jobs and reminders are claimed in the
database. The lock keeps the work in one place and avoids useless contention.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from storage.db import Database

log = logging.getLogger(__name__)

LOCK_NAME = "cohortbot:scheduler"
RETRY_SECONDS = 1.0
WATCHDOG_SECONDS = 2.0


class Role(StrEnum):
    STARTING = "starting"
    """The lock was not tried yet."""
    LEADING = "leading"
    STANDBY = "standby"
    """Another process holds the lock (or the database cannot be reached to take it)."""


HealthCheck = Callable[[], Awaitable[tuple[bool, str]]]


class LeaderState:
    """What this process is in the deployment, for health checks and metrics."""

    def __init__(self) -> None:
        self.role = Role.STARTING
        self.changes = 0

    def set(self, role: Role) -> None:
        if role is not self.role:
            self.role = role
            self.changes += 1

    @property
    def leading(self) -> bool:
        return self.role is Role.LEADING

    def gate(self, check: HealthCheck) -> HealthCheck:
        """The health of a part that runs in the leader only (the Matrix sync loop).

        In a standby process the part is fine by definition (another process runs it),
        so ``/healthz`` of every instance answers "ready" while the deployment works;
        otherwise (leading, or a process that runs the part without the leadership loop)
        it is the part's own health.
        """
        async def gated() -> tuple[bool, str]:
            if self.role is Role.STANDBY:
                return True, "standby: another instance runs it"
            return await check()

        return gated

    async def health(self) -> tuple[bool, str]:
        """Informative (``leading``, ``standby``): either role is a healthy instance."""
        return True, str(self.role)


class Leadership(Protocol):
    lost: asyncio.Event
    """Set when a held leadership is lost (the process must stop leading)."""

    async def try_acquire(self) -> bool: ...

    async def release(self) -> None: ...


def lock_key(name: str = LOCK_NAME) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` from a readable name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class FileLeadership:
    """An exclusive ``flock`` on a file: held while the process lives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lost = asyncio.Event()
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        self.lost.clear()
        return True

    async def release(self) -> None:
        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


class PostgresLeadership:
    """A session advisory lock on a connection of its own."""

    def __init__(self, dsn: str, key: int | None = None, *,
                 watchdog: float = WATCHDOG_SECONDS) -> None:
        self.dsn = dsn
        self.key = lock_key() if key is None else key
        self.watchdog_interval = watchdog
        self.lost = asyncio.Event()
        self._conn: object | None = None
        self._watchdog: asyncio.Task[None] | None = None

    async def try_acquire(self) -> bool:
        import asyncpg

        if self._conn is not None and self._watchdog is not None:
            return True
        try:
            if self._conn is None:
                self._conn = await asyncpg.connect(self.dsn, timeout=10)
            got = await self._conn.fetchval(  # type: ignore[attr-defined]
                "SELECT pg_try_advisory_lock($1)", self.key, timeout=10)
        except (TimeoutError, OSError, asyncpg.PostgresError) as error:
            log.warning("leadership: database unreachable (%s)", type(error).__name__)
            await self._drop()
            return False
        if not got:
            return False
        self.lost.clear()
        self._watchdog = asyncio.create_task(self._watch(), name="leader-watchdog")
        return True

    async def _watch(self) -> None:
        import asyncpg

        while True:
            await asyncio.sleep(self.watchdog_interval)
            try:
                await self._conn.fetchval("SELECT 1", timeout=self.watchdog_interval)  # type: ignore[union-attr]
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
                    AttributeError):
                log.error("leadership lost: the lock connection broke")
                self._watchdog = None
                await self._drop()
                self.lost.set()
                return

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)  # type: ignore[attr-defined]

    async def release(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.fetchval(  # type: ignore[attr-defined]
                    "SELECT pg_advisory_unlock($1)", self.key, timeout=2)
        await self._drop()


class AlwaysLeader:
    """For a database no other process can see (SQLite in memory)."""

    def __init__(self) -> None:
        self.lost = asyncio.Event()

    async def try_acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


def leadership_for(db: Database, name: str = LOCK_NAME) -> Leadership:
    """The right kind of lock for the configured database."""
    if db.is_sqlite:
        database = db.url.database or ""
        if not database or database == ":memory:":
            return AlwaysLeader()
        return FileLeadership(Path(f"{database}.{name.replace(':', '-')}.lock"))
    dsn = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresLeadership(dsn, lock_key(name))


async def lead(leadership: Leadership, start: Callable[[], Awaitable[None]],
               stop: Callable[[], Awaitable[None]], *, stopping: asyncio.Event,
               retry: float = RETRY_SECONDS, state: LeaderState | None = None) -> None:
    """Run ``start`` while this process leads and ``stop`` when it no longer does.

    Returns when ``stopping`` is set (the lock is released then). ``state`` follows
    the role of this process.
    """
    state = state or LeaderState()
    try:
        while not stopping.is_set():
            if not await leadership.try_acquire():
                state.set(Role.STANDBY)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=retry)
                continue
            state.set(Role.LEADING)
            log.info("leadership acquired: this process runs the scheduler, the delivery "
                     "and the Matrix sync", extra={"pid": os.getpid()})
            try:
                await start()
            except Exception:
                log.exception("the leader's parts failed to start; trying again")
                state.set(Role.STANDBY)
                await stop()
                await leadership.release()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=retry)
                continue
            try:
                lost = asyncio.ensure_future(leadership.lost.wait())
                stopped = asyncio.ensure_future(stopping.wait())
                await asyncio.wait({lost, stopped}, return_when=asyncio.FIRST_COMPLETED)
                lost.cancel()
                stopped.cancel()
            finally:
                state.set(Role.STANDBY)
                await stop()
            if not stopping.is_set():
                log.warning("leadership lost: the leader's parts stopped here; queueing again")
    finally:
        await leadership.release()

"""SQLite for SQLAlchemy's asyncio engine, run on the event loop's own thread.

SQLAlchemy reaches SQLite through aiosqlite, which runs every call in a thread of its
own and hands the result back to the event loop. A statement costs four such round
trips (cursor, execute, fetch, close), a transaction about ten; measured here, an empty
transaction took 1.8 ms, nearly all of it spent waiting for the thread. The bot's
statements are small (an index lookup, one row written) and take microseconds in
SQLite itself, so this driver runs them directly, without a thread.

What must not block the loop is waiting for SQLite's write lock. Within the process,
writers already take turns on an :class:`asyncio.Lock` before they begin
(:class:`storage.db.Database`), so the lock is only ever held by another process (an
operator's ``cohortbot`` command, a backup). The connection's own busy timeout is
therefore zero: a statement that finds the database locked fails at once, without
having done anything, and is run again in a worker thread that waits for the lock up to
the configured patience — the loop goes on meanwhile.

It plugs into SQLAlchemy's ``sqlite+aiosqlite`` dialect through ``async_creator``: the
objects below offer the part of aiosqlite's interface that the dialect uses.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["InlineConnection", "InlineCursor", "connector"]


def _locked(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class _Now:
    """Stands for aiosqlite's request queue: SQLAlchemy's ``isolation_level`` setter puts
    ``(future, function)`` on it; the function runs at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to the awaiting caller
            future.set_exception(error)
        else:
            future.set_result(result)


class InlineConnection:
    """A ``sqlite3`` connection whose coroutines finish without leaving the thread."""

    def __init__(self, conn: sqlite3.Connection, patience_ms: int) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn
        self._tx = _Now()
        self.patience_ms = patience_ms
        self.slow_waits = 0
        """Statements that found the database locked and waited in a thread."""
        conn.execute("PRAGMA busy_timeout=0")

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` now; when the database is locked by another process, again
        in a thread that waits for the lock (SQLite undid the failed statement)."""
        try:
            return function(*args)
        except sqlite3.OperationalError as error:
            if not _locked(error) or self.patience_ms <= 0:
                raise
        self.slow_waits += 1
        return await asyncio.to_thread(self._patiently, function, args)

    def _patiently(self, function: Callable[..., T], args: Sequence[Any]) -> T:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout={int(self.patience_ms)}")
        try:
            return function(*args)
        finally:
            conn.execute("PRAGMA busy_timeout=0")

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def commit(self) -> None:
        await self.run(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close now (SQLAlchemy's "terminate")."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()


class InlineCursor:
    """The cursor side of :class:`InlineConnection`. A query's rows are read with it (a
    retry after a lock runs the whole statement again), as SQLAlchemy does anyway."""

    def __init__(self, connection: InlineConnection) -> None:
        self._owner = connection
        self._cursor = connection._conn.cursor()
        self._rows: deque[Any] = deque()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    def _execute(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        cursor = self._cursor
        cursor.execute(sql, parameters)
        return cursor.fetchall() if cursor.description else []

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        self._rows = deque(await self._owner.run(
            self._execute, sql, () if parameters is None else parameters))
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]]
                          ) -> InlineCursor:
        rows = list(seq_of_parameters)  # a retry in a thread needs them again
        self._rows = deque()
        await self._owner.run(self._cursor.executemany, sql, rows)
        return self

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = min(self._cursor.arraysize if size is None else size, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()
        self._cursor.close()


def connector(database: str, patience_ms: int) -> Callable[[], Any]:
    """An ``async_creator`` for :func:`sqlalchemy.ext.asyncio.create_async_engine`."""

    async def connect() -> InlineConnection:
        conn = sqlite3.connect(database, timeout=0, isolation_level=None,
                               check_same_thread=False)
        return InlineConnection(conn, patience_ms)

    return connect

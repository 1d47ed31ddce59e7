"""The database: engine, sessions and migrations, for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=NORMAL`` and a busy timeout, and every
transaction starts with ``BEGIN IMMEDIATE``: concurrent writers queue for the
lock instead of failing half-way with "database is locked". Within one process the
queue is an :class:`asyncio.Lock` (first come, first served): SQLite's own busy
handler retries by sleeping, so under a burst of writers some kept losing the race
until their busy timeout ran out (measured with ``bench/notes.py``: 100 concurrent
people, steps failing after 10 s). PostgreSQL sessions are not queued.

SQLite's statements run on the event loop's thread (:mod:`storage.sqlite_inline`), not
in aiosqlite's thread: a transaction went from 1.8 ms to 0.5 ms. Only a wait for
another process's write lock goes to a thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.sqlite_inline import InlineConnection, connector

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "cohortbot_read_only"
MIGRATION_LOCK = 0x636F686F72746D69
"""PostgreSQL advisory lock taken for the migration's transaction: instances started
together migrate one after the other (the second finds nothing left to do)."""

_IN_SQLITE_SESSION: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "cohortbot_in_sqlite_session", default=False)


class Database:
    """Owns the engine and hands out sessions; built once by the composition root."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 5) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        self.inline = False
        if self.is_sqlite:
            database = self.url.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                # statements run on the loop's thread, see storage.sqlite_inline
                kwargs["async_creator"] = connector(database, SQLITE_BUSY_TIMEOUT_MS)
                self.inline = True
            else:
                kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._sqlite_writer = asyncio.Lock() if self.is_sqlite else None
        self.read_sessions = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error.

        On SQLite every transaction is a write transaction, so sessions of this
        process take turns in arrival order. A session opened inside another one (same
        task) does not wait for the turn it already holds.
        """
        if self._sqlite_writer is None or _IN_SQLITE_SESSION.get():
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._sqlite_writer:
            token = _IN_SQLITE_SESSION.set(True)
            try:
                async with self.sessions() as session, session.begin():
                    yield session
            finally:
                _IN_SQLITE_SESSION.reset(token)

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reading only (dashboard pages): it never waits for writers.

        On SQLite it skips the write queue and opens a deferred transaction, which in
        WAL mode reads a consistent snapshot while events are being written; it must
        not write (SQLite would then fail with "database is locked" under contention).
        On PostgreSQL it is an ordinary session.
        """
        if self._sqlite_writer is None:
            async with self.session() as session:
                yield session
            return
        async with self.read_sessions() as session, session.begin():
            yield session

    async def upgrade(self, revision: str = "heads") -> None:
        """Apply Alembic migrations up to ``revision``.

        When the database is already at the scripts' heads (every start but the first
        after an upgrade), nothing is loaded: Alembic's import and script scan were a
        tenth of the bot's start-up time.
        """
        if revision == "heads":
            heads = await asyncio.to_thread(script_heads)
            if heads and await self._stamped() == heads:
                return
        from alembic import command

        config = alembic_config(self.url.render_as_string(hide_password=False))
        async with self.engine.begin() as conn:
            if not self.is_sqlite:
                from sqlalchemy import text

                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                   {"key": MIGRATION_LOCK})
            await conn.run_sync(_run_alembic, command.upgrade, config, revision)

    async def _stamped(self) -> set[str] | None:
        """The revisions recorded in ``alembic_version`` (None when there is no such table)."""
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        try:
            async with self.engine.connect() as conn:
                rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
                return {row[0] for row in rows}
        except DBAPIError:
            return None

    async def current_revisions(self) -> set[str]:
        from alembic.runtime.migration import MigrationContext

        async with self.engine.connect() as conn:
            return set(await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_heads()))

    async def dispose(self) -> None:
        await self.engine.dispose()

    def describe(self) -> str:
        """The URL without its password, safe for logs."""
        return self.url.render_as_string(hide_password=True)


_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


def script_heads() -> set[str] | None:
    """The head revisions of the migration scripts, read from their ``revision`` and
    ``down_revision`` lines without loading Alembic (None if a script does not say them
    in that plain form; the caller then asks Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is None or down is None:
            return None
        revisions.add(revision[1])
        parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down[1]))
    return revisions - parents or None


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _run_alembic(sync_conn: Any, fn: Any, config: Any, revision: str) -> None:
    config.attributes["connection"] = sync_conn
    fn(config, revision)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if not isinstance(dbapi_connection.driver_connection, InlineConnection):
            # (the inline driver waits for the lock in a thread, never on the loop)
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY)
                             else "BEGIN IMMEDIATE")

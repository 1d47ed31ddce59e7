"""SQLite statements run on the event loop's thread; waiting for another process's write
lock happens in a thread, so the bot keeps answering meanwhile (storage.sqlite_inline)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from storage.db import Database
from storage.sqlite_inline import InlineConnection
from storage.uow import Store

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO cohort_probe VALUES (1)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


async def _database(tmp_path: Path) -> tuple[Database, Path]:
    path = tmp_path / "bot.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.upgrade()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE cohort_probe (n INTEGER)")
    conn.commit()
    conn.close()
    return db, path


async def _hold_lock(path: Path, seconds: float) -> asyncio.subprocess.Process:
    """Another process (an operator's command, say) holding SQLite's write lock."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLD_LOCK, str(path),
                                                str(seconds), stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"locked"
    return proc


async def test_a_write_waits_for_another_process_without_stopping_the_bot(tmp_path: Path
                                                                         ) -> None:
    db, path = await _database(tmp_path)
    assert db.inline
    try:
        holder = await _hold_lock(path, 0.6)
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beat = asyncio.create_task(heartbeat())
        async with db.session() as session:
            await Store(session).cohorts.add(slug="a", name="A", language="fr",
                                             timezone="Europe/Paris", now=_now())
            connection = (await (await session.connection()).get_raw_connection()
                          ).driver_connection
        beat.cancel()
        await holder.wait()
        assert isinstance(connection, InlineConnection)
        assert connection.slow_waits >= 1, "the statement met the lock and waited in a thread"
        # the loop ran all along: ~60 ticks in 0.6 s, none if the wait had blocked it
        assert ticks >= 20
        async with db.session() as session:
            assert await Store(session).cohorts.by_slug("a") is not None
        assert sqlite3.connect(path).execute("SELECT n FROM cohort_probe").fetchall() == [(1,)]
    finally:
        await db.dispose()


async def test_a_lock_held_past_the_patience_fails_the_transaction_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storage.db.SQLITE_BUSY_TIMEOUT_MS", 200)
    db, path = await _database(tmp_path)
    try:
        holder = await _hold_lock(path, 1.5)
        with pytest.raises(OperationalError, match="locked"):
            async with db.session() as session:
                await Store(session).cohorts.add(slug="b", name="B", language="fr",
                                                 timezone="Europe/Paris", now=_now())
        await holder.wait()
        async with db.session() as session:
            assert await Store(session).cohorts.by_slug("b") is None
            await Store(session).cohorts.add(slug="b", name="B", language="fr",
                                             timezone="Europe/Paris", now=_now())
        async with db.session() as session:
            assert await Store(session).cohorts.by_slug("b") is not None
    finally:
        await db.dispose()


def _now():  # noqa: ANN202
    from datetime import UTC, datetime

    return datetime.now(UTC)

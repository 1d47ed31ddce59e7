"""One scheduler among processes sharing a database, and a quick takeover when it dies."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.leader import FileLeadership, PostgresLeadership, lead, lock_key
from storage.db import Database
from tests.integration.test_reminder_crash import prepare, spawn, stored, wait_for


async def test_a_file_lock_has_one_holder_until_released(tmp_path: Path) -> None:
    first = FileLeadership(tmp_path / "db.lock")
    second = FileLeadership(tmp_path / "db.lock")
    assert await first.try_acquire()
    assert not await second.try_acquire()
    await first.release()
    assert await second.try_acquire()
    await second.release()


async def test_an_advisory_lock_has_one_holder_and_is_freed_with_its_connection(
        pg_url: str) -> None:
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    key = lock_key("test:leader")
    first = PostgresLeadership(dsn, key, watchdog=0.2)
    second = PostgresLeadership(dsn, key, watchdog=0.2)
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        await first._conn.close()  # type: ignore[union-attr]
        await asyncio.wait_for(first.lost.wait(), timeout=5)
        assert await second.try_acquire()
    finally:
        await first.release()
        await second.release()


async def test_lead_starts_and_stops_the_parts_with_the_lock(tmp_path: Path) -> None:
    holder = FileLeadership(tmp_path / "db.lock")
    assert await holder.try_acquire()
    events: list[str] = []
    stopping = asyncio.Event()

    async def start() -> None:
        events.append("start")

    async def stop() -> None:
        events.append("stop")

    task = asyncio.create_task(lead(FileLeadership(tmp_path / "db.lock"), start, stop,
                                    stopping=stopping, retry=0.05))
    await asyncio.sleep(0.3)
    assert events == []
    await holder.release()
    assert await wait_for(lambda: events == ["start"], 5)
    stopping.set()
    await asyncio.wait_for(task, 5)
    assert events == ["start", "stop"]


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def notify_jobs(pg_url: str) -> None:
    import asyncpg

    from bot.wake import CHANNEL

    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("SELECT pg_notify($1, 'jobs')", CHANNEL)
    finally:
        await conn.close()


def leader_pids(out: Path, names: list[str]) -> list[int]:
    pids = []
    for name in names:
        path = out / f"{name}.log"
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if str(record.get("msg", "")).startswith("leadership acquired"):
                pids.append(int(record["pid"]))
    return pids


async def test_two_processes_on_postgresql_one_scheduler_and_a_takeover(
        pg_url: str, tmp_path: Path, children: list[subprocess.Popen[bytes]]) -> None:
    out = tmp_path / "platform"
    out.mkdir()
    database = Database(pg_url)
    await database.upgrade()
    await database.dispose()
    a = spawn(pg_url, out, "a")
    b = spawn(pg_url, out, "b")
    children += [a, b]
    assert await wait_for(lambda: len(leader_pids(out, ["a", "b"])) >= 1, 60)
    await asyncio.sleep(1.5)
    leaders = leader_pids(out, ["a", "b"])
    assert len(leaders) == 1, "exactly one process leads"
    leader, follower = (a, b) if leaders[0] == a.pid else (b, a)
    # The reminders are written once both run, by a third process, which wakes the leader
    # as a standby instance would (NOTIFY): their due times do not depend on how long the
    # processes took to start on a busy machine.
    first_due = datetime.now(UTC) + timedelta(seconds=3)
    expected = await prepare(pg_url, tmp_path, events=10, first_due=first_due,
                             spacing=timedelta(milliseconds=500))
    await notify_jobs(pg_url)
    assert await wait_for(lambda: len(stored(out)) >= 3, 30)
    leader.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    leader.wait()
    assert await wait_for(lambda: follower.pid in leader_pids(out, ["a", "b"]), 15)
    takeover = time.monotonic() - killed_at
    assert await wait_for(lambda: len(stored(out)) >= expected, 30)
    await asyncio.sleep(0.5)
    follower.send_signal(signal.SIGTERM)
    assert follower.wait(timeout=30) == 0
    messages = stored(out)
    keys = [m["key"] for m in messages]
    assert len(keys) == len(set(keys)) == expected
    senders = {m["pid"] for m in messages}
    assert senders <= {leader.pid, follower.pid} and follower.pid in senders
    assert takeover < 5, f"took over in {takeover:.1f} s"
    print(f"\nleader test: takeover {takeover:.2f} s after SIGKILL of the leader",
          flush=True)

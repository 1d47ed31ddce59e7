"""Online backups and restores of the bot's database.

SQLite: the sqlite3 online-backup API (consistent while the bot runs, WAL included).
PostgreSQL: ``pg_dump --format=custom`` / ``pg_restore --clean`` (the client tools
of the server's major version must be installed).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """The backup or restore could not be made; the message says why and what to do."""


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _sqlite_replace(source: Path, target: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    _sqlite_copy(source, target)


def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    parsed = make_url(url)
    args = ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432),
            "-U", parsed.username or "postgres", "-d", parsed.database or "postgres"]
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    return args, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise BackupError(f"{name} not found — install the PostgreSQL client tools "
                      "(Debian: apt install postgresql-client)")


async def _run(argv: list[str], env: dict[str, str]) -> None:
    import os

    process = await asyncio.create_subprocess_exec(
        *argv, env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _out, err = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {err.decode(errors='replace').strip()}")


async def backup(url: str, target: Path) -> Path:
    """Write a consistent copy of the database to ``target``."""
    if make_url(url).get_backend_name() == "sqlite":
        source = _sqlite_path(url)
        if not source.exists():
            raise BackupError(f"{source} does not exist")
        await asyncio.to_thread(_sqlite_copy, source, target)
        return target
    args, env = _pg_args(url)
    await _run([_tool("pg_dump"), "--format=custom", "--no-owner", "-f", str(target), *args],
               env)
    return target


async def restore(url: str, source: Path) -> None:
    """Replace the database's content by the backup at ``source`` (stop the bot first)."""
    if not await asyncio.to_thread(source.exists):
        raise BackupError(f"{source} does not exist")
    if make_url(url).get_backend_name() == "sqlite":
        await asyncio.to_thread(_sqlite_replace, source, _sqlite_path(url))
        return
    args, env = _pg_args(url)
    await _run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", *args,
                str(source)], env)

"""A throwaway PostgreSQL cluster run as a child process, for tests and the local demo.

`LocalPostgres` finds the server binaries, runs ``initdb`` into a fresh temporary
directory, starts ``postgres`` on a loopback port with durability switched off
(nothing here needs to survive a crash), creates a database and removes
everything at `stop`.

PostgreSQL refuses to run as root. When the current user is root, the cluster
directory is handed to the ``postgres`` system user (created by Debian's
``postgresql`` packages) and the server runs under that user's uid and gid,
set by `subprocess` itself (the effect of ``runuser -u postgres --`` without a
wrapper process in between, so signals reach the postmaster directly).
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, Any

import asyncpg

from bot.devtools.local_synapse import free_port, parent_death_signal, stop_process, tail

__all__ = ["LocalPostgres", "LocalPostgresError", "find_postgres_bindir"]

_PORT_ATTEMPTS = 3
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class LocalPostgresError(RuntimeError):
    """PostgreSQL could not be found, initialised or started."""


def find_postgres_bindir() -> Path:
    """The directory holding ``initdb`` and ``postgres``, newest major version first.

    Looks at ``pg_config --bindir``, then ``/usr/lib/postgresql/*/bin``, then
    ``$PATH``. Raises `LocalPostgresError` when none has both programs.
    """
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            candidates.append(Path(out))
        except (subprocess.SubprocessError, OSError):
            pass

    def major(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return -1.0

    candidates.extend(
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "postgres").is_file():
            return directory
    raise LocalPostgresError(
        "PostgreSQL server binaries (initdb, postgres) not found in pg_config --bindir, "
        "/usr/lib/postgresql/*/bin or $PATH. Install them with "
        "`apt-get install -y postgresql-15` (`make test` does it)."
    )


class LocalPostgres:
    """A PostgreSQL cluster in a temporary directory, removed at `stop`.

    Usage::

        pg = LocalPostgres()
        await pg.start()
        engine = create_async_engine(pg.url)
        other = await pg.create_database()
        ...
        await pg.stop()

    ``url`` is a SQLAlchemy URL (``postgresql+asyncpg://``), ``dsn`` the same
    database for raw asyncpg. The superuser is ``postgres``, with trust
    authentication on 127.0.0.1 only.
    """

    user = "postgres"

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        database: str = "cohortbot",
        base_dir: str | os.PathLike[str] | None = None,
        bindir: str | os.PathLike[str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        _check_db_name(database)
        self.host = host
        self.database = database
        self.start_timeout = start_timeout
        self._base_dir = Path(base_dir) if base_dir is not None else None
        self._bindir = Path(bindir) if bindir is not None else None
        self._fixed_port = port
        self._port: int | None = port
        self._root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._run_as: pwd.struct_passwd | None = None
        self.last_start_seconds: float | None = None

    @property
    def port(self) -> int:
        """The TCP port the server listens on, once started."""
        if self._port is None:
            raise LocalPostgresError("the port is chosen at start(); call start() first")
        return self._port

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the default database."""
        return self.url_for(self.database)

    @property
    def dsn(self) -> str:
        """asyncpg/libpq DSN of the default database."""
        return self.dsn_for(self.database)

    @property
    def data_dir(self) -> Path:
        """The cluster directory (``PGDATA``)."""
        if self._root is None:
            raise LocalPostgresError("not started")
        return self._root / "data"

    @property
    def log_path(self) -> Path:
        """The server's stdout and stderr."""
        if self._root is None:
            raise LocalPostgresError("not started")
        return self._root / "postgres.log"

    @property
    def running(self) -> bool:
        """Whether the postmaster is alive."""
        return self._proc is not None and self._proc.poll() is None

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` in this cluster."""
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{database}"

    def dsn_for(self, database: str) -> str:
        """asyncpg/libpq DSN of ``database`` in this cluster."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    async def __aenter__(self) -> LocalPostgres:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Create the cluster, start the server, wait for connections, create ``database``."""
        if self.running:
            return
        started = time.perf_counter()
        bindir = self._bindir or find_postgres_bindir()
        missing = [p for p in ("initdb", "postgres") if not (bindir / p).is_file()]
        if missing:
            raise LocalPostgresError(f"{', '.join(missing)} not found in {bindir}")
        self._run_as = _unprivileged_user()
        self._root = Path(tempfile.mkdtemp(prefix="cohortbot-pg-", dir=self._base_dir))
        try:
            if self._run_as is not None:
                os.chown(self._root, self._run_as.pw_uid, self._run_as.pw_gid)
            await self._initdb(bindir)
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                if self._port is None or attempt > 1:
                    self._port = self._fixed_port or free_port(self.host)
                self._spawn(bindir)
                try:
                    await self._wait_until_ready(started)
                    break
                except LocalPostgresError:
                    taken = "Address already in use" in tail(self.log_path, 50)
                    await self._terminate()
                    if self._fixed_port is not None or not taken or attempt == _PORT_ATTEMPTS:
                        raise
            await self.create_database(self.database)
        except BaseException:
            await self.stop()
            raise
        self.last_start_seconds = time.perf_counter() - started

    async def stop(self, grace: float = 10.0) -> None:
        """Stop the server (fast shutdown, then SIGKILL after ``grace`` seconds) and delete
        the cluster directory."""
        await self._terminate(grace)
        root, self._root = self._root, None
        if root is not None:
            await asyncio.to_thread(shutil.rmtree, root, True)
        if self._fixed_port is None:
            self._port = None

    async def create_database(self, name: str | None = None) -> str:
        """Create a database (a fresh unique name when ``name`` is None) and return its name."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        _check_db_name(name)
        conn = await asyncpg.connect(self.dsn_for("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return name

    async def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        _check_db_name(name)
        conn = await asyncpg.connect(self.dsn_for("postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def _initdb(self, bindir: Path) -> None:
        cmd = [
            str(bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
        result = await asyncio.to_thread(
            subprocess.run, cmd, capture_output=True, text=True, check=False, **self._user_kwargs()
        )
        if result.returncode != 0:
            raise LocalPostgresError(
                f"initdb failed with code {result.returncode}:\n{result.stdout}{result.stderr}"
            )

    def _spawn(self, bindir: Path) -> None:
        assert self._root is not None
        self._output = self.log_path.open("ab")
        settings = {
            "listen_addresses": self.host,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "32MB",
        }
        cmd = [str(bindir / "postgres"), "-D", str(self.data_dir), "-k", str(self._root)]
        cmd += ["-p", str(self.port)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            cwd=self._root,
            start_new_session=True,
            preexec_fn=parent_death_signal(signal.SIGQUIT),
            **self._user_kwargs(),
        )

    def _user_kwargs(self) -> dict[str, Any]:
        if self._run_as is None:
            return {}
        return {
            "user": self._run_as.pw_uid,
            "group": self._run_as.pw_gid,
            "extra_groups": [],
            "env": {
                **os.environ,
                "HOME": self._run_as.pw_dir,
                "USER": self._run_as.pw_name,
                "LOGNAME": self._run_as.pw_name,
            },
        }

    async def _wait_until_ready(self, started: float) -> None:
        deadline = started + self.start_timeout
        last_error: BaseException | None = None
        while True:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise LocalPostgresError(
                    f"postgres exited with code {code} while starting.\n"
                    f"--- {self.log_path} ---\n{tail(self.log_path)}"
                )
            try:
                conn = await asyncpg.connect(self.dsn_for("postgres"), timeout=2)
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                last_error = exc
            else:
                await conn.close()
                return
            if time.perf_counter() > deadline:
                raise LocalPostgresError(
                    f"postgres did not accept connections within {self.start_timeout:g} s "
                    f"({last_error!r}).\n--- {self.log_path} ---\n{tail(self.log_path)}"
                )
            await asyncio.sleep(0.03)

    async def _terminate(self, grace: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        try:
            if proc is not None and proc.poll() is None:
                await stop_process(proc, signal.SIGINT, grace)
        finally:
            if self._output is not None:
                self._output.close()
                self._output = None


def _unprivileged_user() -> pwd.struct_passwd | None:
    """None when not root; else the ``postgres`` account the server must run as."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise LocalPostgresError(
            "running as root and there is no `postgres` system user to run PostgreSQL as. "
            "Install Debian's postgresql-15 package (`make test` does it)."
        ) from None


def _check_db_name(name: str) -> None:
    if not _DB_NAME.match(name):
        raise ValueError(f"database names here are lowercase identifiers, got {name!r}")


async def _serve(port: int | None) -> None:
    cluster = LocalPostgres(port=port)
    await cluster.start()
    print("PostgreSQL is running (a throwaway cluster: deleted when you stop it).")
    print(f"  export COHORTBOT_DATABASE_URL={cluster.url}")
    print("Ctrl-C to stop.", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stopping.wait()
    finally:
        await cluster.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.devtools.local_postgres``: a PostgreSQL to try cohortbot on, no setup."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=None, help="TCP port (default: a free one)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.port))
    except KeyboardInterrupt:
        return 0
    except LocalPostgresError as error:
        print(f"local_postgres: {error}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

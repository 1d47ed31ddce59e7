"""The real bot as a child process on the session's Synapse, for tests that SIGKILL it.

`MatrixBotProcess` writes a configuration (SQLite in a temporary directory, Matrix on,
HTTP off), prepares the database in the test's process (demo cohort, linked accounts,
whatever the test adds through :meth:`MatrixBotProcess.store`), then runs
``python -m bot.cli run`` as often as the test starts it again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.bootstrap import bootstrap
from bot.config import load
from bot.devtools.local_synapse import LocalSynapse, parent_death_signal
from storage.uow import Store

ROOT = Path(__file__).resolve().parents[2]
DEMO_FILE = ROOT / "data" / "demo" / "occitanie.yaml"


class MatrixBotProcess:
    """One bot account, one database, and the processes that run it in turn."""

    def __init__(self, synapse: LocalSynapse, directory: Path, localpart: str) -> None:
        self.synapse = synapse
        self.directory = directory
        self.localpart = localpart
        self.password = f"{localpart}-password"
        self.config = directory / "cohortbot.toml"
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def user_id(self) -> str:
        return self.synapse.user_id(self.localpart)

    @property
    def db_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.directory / 'bot.db'}"

    async def prepare(self, *, admins: tuple[str, ...] = (), demo: bool = True) -> None:
        """Register the account, write the configuration, create the database."""
        await self.synapse.register(self.localpart, self.password, displayname="Cohortbot")
        self.directory.mkdir(parents=True, exist_ok=True)
        admin_list = ", ".join(f'"matrix:{a}"' for a in admins)
        self.config.write_text(
            "[bot]\n"
            f'data_dir = "{self.directory}"\n'
            f"admins = [{admin_list}]\n"
            "[database]\n"
            f'url = "{self.db_url}"\n'
            "[matrix]\n"
            "enabled = true\n"
            f'homeserver = "{self.synapse.base_url}"\n'
            f'user_id = "{self.user_id}"\n'
            "[http]\n"
            "enabled = false\n", encoding="utf-8")
        if demo:
            from handlers.admin.demo import load_cohort_file

            async with self.store() as (store, now):
                await load_cohort_file(store, DEMO_FILE, now)

    @asynccontextmanager
    async def store(self) -> AsyncIterator[tuple[Store, object]]:
        """One transaction on the bot's database, from the test's process."""
        app = await bootstrap(load(self.config, env={"COHORTBOT_MATRIX_PASSWORD": self.password}))
        try:
            async with app.db.session() as session:
                yield Store(session), app.clock.now()
        finally:
            await app.close()

    async def link(self, name: str, user_id: str) -> None:
        """Make ``user_id`` the Matrix account of the demo member called ``name``."""
        async with self.store() as (store, now):
            cohort = await store.cohorts.by_slug("occitanie")
            assert cohort is not None
            members = {m.display_name: m for m in await store.members.in_cohort_scope(cohort.id)}
            await store.identities.link("matrix", user_id, members[name].id, now)

    def start(self) -> None:
        self.runs += 1
        env = {**os.environ, "COHORTBOT_MATRIX_PASSWORD": self.password,
               "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            out.write(f"--- run {self.runs} ---\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "--config", str(self.config), "run"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, preexec_fn=parent_death_signal(signal.SIGKILL))

    @property
    def log(self) -> Path:
        return self.directory / "bot.log"

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() \
            else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGTERM and wait (the exit code), or nothing to stop."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

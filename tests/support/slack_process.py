"""``cohortbot run`` as a child process serving Slack over HTTP, pointed at the Web API emulator.

For the tests that kill the bot (SIGKILL) and start it again on the same database::

    async with SlackEmulator() as emu:
        people(emu)
        bot = SlackBotProcess(tmp_path, emu, db_url)
        await bot.start()
        await bot.command("aide")
        bot.kill()
        await bot.start()                     # a new process, same files
        await bot.stop()                      # SIGTERM: returns the exit code

The process reads a TOML file and its secrets from the environment, as an
operator starts it; its output goes to ``<tmp_path>/bot-<n>.log``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.devtools.local_synapse import parent_death_signal
from tests.support.slack_app import FORM, SECRET, Posted, dm_event
from tests.support.slack_emulator import SlackEmulator, sign, slash_command_form

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SlackBotProcess:
    """The real bot in a child process; requests to it are signed like Slack's."""

    def __init__(self, tmp_path: Path, emu: SlackEmulator, db_url: str, *,
                 admins: tuple[str, ...] = ("slack:U1",), extra_toml: str = "") -> None:
        self.tmp_path = tmp_path
        self.emu = emu
        self.port = free_port()
        self.config = tmp_path / "cohortbot.toml"
        admins_toml = ", ".join(f'"{a}"' for a in admins)
        self.config.write_text(f"""
[bot]
data_dir = "{tmp_path / 'var'}"
admins = [{admins_toml}]
log_format = "json"

[database]
url = "{db_url}"

[http]
host = "127.0.0.1"
port = {self.port}

[slack]
enabled = true
mode = "http"
api_url = "{emu.base_url}"
{extra_toml}
""", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self._session: aiohttp.ClientSession | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.tmp_path / f"bot-{self.runs}.log"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def start(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Start a new process and wait until ``/healthz`` says it is ready."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        self.proc = self._spawn()
        if self._session is None:
            self._session = aiohttp.ClientSession()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"cohortbot run stopped early:\n{self.output()[-3000:]}")
            try:
                async with self._session.get(f"{self.base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"cohortbot run never became ready:\n{self.output()[-3000:]}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET,
               "PYTHONPATH": str(ROOT)}
        with self.log.open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "--config", str(self.config), "run"],
                cwd=self.tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=parent_death_signal(signal.SIGKILL))

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, nothing finished."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    async def stop(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        """SIGTERM, then the exit code (0 when it stopped cleanly)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    async def close(self) -> None:
        """Kill a process still running (a failed test) and close the HTTP session."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---------------------------------------------------------------- what Slack sends

    async def post(self, body: bytes, content_type: str) -> Posted:
        assert self._session is not None
        started = time.perf_counter()
        async with self._session.post(f"{self.base}/slack/events", data=body, headers={
                "Content-Type": content_type, **sign(body, SECRET)}) as response:
            text = await response.text()
        return Posted(response.status, text, time.perf_counter() - started)

    async def command(self, text: str, *, user: str = "U1", channel: str = "C1") -> str:
        """``/cohorte <text>``; returns the command's response_url."""
        url = self.emu.new_response_url(channel=channel, user=user)
        body = slash_command_form(text, user_id=user, channel_id=channel, response_url=url)
        answer = await self.post(body, FORM)
        assert answer.status == 200, answer
        return url

    async def dm(self, text: str, *, user: str, **extra: Any) -> Posted:
        answer = await dm_event(self, self.emu, text, user=user, **extra)
        assert answer.status == 200, answer
        return answer


async def said(emu: SlackEmulator, channel: str, needle: str, *, times: int = 1,
               timeout: float = 15.0) -> list[str]:  # noqa: ASYNC109
    """Wait until the bot's messages in ``channel`` contain ``needle`` ``times`` times;
    returns the bot's messages there."""
    deadline = time.monotonic() + timeout
    while True:
        texts = [m["text"] for m in emu.messages(channel) if m.get("user") == emu.bot_user_id]
        if sum(needle in t for t in texts) >= times:
            return texts
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} never said in {channel}; the bot said:\n"
                                 + "\n---\n".join(texts[-5:]))
        await asyncio.sleep(0.02)

"""The bot as a real process, killed with SIGKILL in the middle of a burst of commands."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.devtools.local_synapse import LocalSynapse, parent_death_signal
from tests.support.matrix_bot import answers
from tests.support.matrix_user import MatrixUser, matching

pytestmark = pytest.mark.synapse

ROOT = Path(__file__).resolve().parents[2]
BURST = 50
Users = Callable[..., Awaitable[MatrixUser]]


class BotProcess:
    """``python -m bot.cli --config … run`` as a child process."""

    def __init__(self, config: Path, password: str, log: Path) -> None:
        self.config = config
        self.password = password
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "COHORTBOT_MATRIX_PASSWORD": self.password,
               "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "--config", str(self.config), "run"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                preexec_fn=parent_death_signal(signal.SIGKILL))

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def test_sigkill_in_a_burst_of_50_commands_each_answered_exactly_once(
        synapse: LocalSynapse, matrix_users: Users, tmp_path: Path) -> None:
    password = "crash-bot-password"
    bot_id = (await synapse.register("crash-bot", password)).user_id
    camille = await matrix_users("camille")
    config = tmp_path / "cohortbot.toml"
    config.write_text(
        "[bot]\n"
        f'data_dir = "{tmp_path}"\n'
        f'admins = ["matrix:{camille.user_id}"]\n'
        "[matrix]\n"
        "enabled = true\n"
        f'homeserver = "{synapse.base_url}"\n'
        f'user_id = "{bot_id}"\n'
        "[http]\n"
        "enabled = false\n", encoding="utf-8")
    bot = BotProcess(config, password, tmp_path / "bot.log")
    bot.start()
    try:
        room = await camille.create_room(name="burst", invite=[bot_id])
        await camille.wait_for(room, matching(sender=bot_id, msgtype="m.notice"), timeout=60)

        commands: list[str] = []

        async def burst() -> None:
            for i in range(BURST):
                commands.append(await camille.send_text(room, f"!cohorte aide cohorte {i}"))
                await asyncio.sleep(0.05)  # paced like people, so the kill lands inside it

        sending = asyncio.create_task(burst())
        await camille.wait_for_count(room, lambda e: e["sender"] == bot_id and bool(
            (e["content"].get("m.relates_to") or {}).get("m.in_reply_to")), 2, timeout=60)
        bot.kill()
        sent_before_kill = len(commands)
        await sending
        bot.start()
        for command in commands:
            await camille.wait_for(room, answers(bot_id, command), timeout=60)
        marker = await camille.send_text(room, "!cohorte aide")
        await camille.wait_for(room, answers(bot_id, marker), timeout=30)
    finally:
        bot.stop()

    counts = [sum(1 for e in camille.events(room) if answers(bot_id, c)(e)) for c in commands]
    log = (tmp_path / "bot.log").read_text(encoding="utf-8", errors="replace")
    assert sent_before_kill < BURST, "the kill came after the burst: nothing was tested"
    assert counts == [1] * BURST
    assert "Traceback" not in log
    print(f"\n[measure] SIGKILL after {sent_before_kill} of {BURST} commands sent; "
          f"all answered once")

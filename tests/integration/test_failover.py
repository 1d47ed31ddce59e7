"""Two ``cohortbot run`` processes on one PostgreSQL, a real Synapse and the Slack emulator:
both serve Slack over HTTP, one syncs Matrix and delivers, the other stands by; the leader
is killed with SIGKILL in the middle of a burst of commands and the other takes over the
sync within seconds — every command answered exactly once, on both platforms."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.devtools.local_synapse import LocalSynapse, free_port, parent_death_signal
from tests.support.matrix_bot import answers
from tests.support.matrix_user import MatrixUser, matching
from tests.support.slack_app import FORM, SECRET, people
from tests.support.slack_emulator import SlackEmulator, sign, slash_command_form

pytestmark = [pytest.mark.synapse, pytest.mark.postgres, pytest.mark.slack]

ROOT = Path(__file__).resolve().parents[2]
BURST = 30
Users = Callable[..., Awaitable[MatrixUser]]


class Instance:
    """``cohortbot --config … run`` as a child process with its own HTTP port."""

    def __init__(self, name: str, directory: Path, synapse: LocalSynapse, bot_id: str,
                 admin: str, db_url: str, password: str, slack_api: str) -> None:
        self.name = name
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "bot.log"
        self.config = directory / "cohortbot.toml"
        self.config.write_text(
            "[bot]\n"
            f'data_dir = "{directory}"\n'
            f'admins = ["matrix:{admin}", "slack:U1"]\n'
            'log_format = "json"\n'
            "[matrix]\n"
            "enabled = true\n"
            f'homeserver = "{synapse.base_url}"\n'
            f'user_id = "{bot_id}"\n'
            "[slack]\n"
            "enabled = true\n"
            f'api_url = "{slack_api}"\n'
            "[http]\n"
            f"port = {self.port}\n", encoding="utf-8")
        self.env = {**os.environ, "COHORTBOT_MATRIX_PASSWORD": password,
                    "COHORTBOT_DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1",
                    "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "--config", str(self.config), "run"],
                cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, preexec_fn=parent_death_signal(signal.SIGKILL))

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def health(self) -> tuple[int, dict]:
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http, \
                    http.get(url) as response:
                return response.status, await response.json()
        except (aiohttp.ClientError, TimeoutError):
            return 0, {}

    async def wait_ready(self, role: str, timeout: float = 60) -> dict:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            status, body = await self.health()
            if status == 200 and body["checks"]["role"]["detail"] == role:
                return body
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} not ready as {role}: {body}\n{self.text()[-3000:]}")

    async def slash(self, emu: SlackEmulator, text: str) -> str:
        """Post a signed ``/cohorte`` command to this instance; returns its response URL."""
        url = emu.new_response_url(channel="C1", user="U1")
        body = slash_command_form(text, user_id="U1", channel_id="C1", response_url=url)
        async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{self.port}/slack/events", data=body,
                headers={"Content-Type": FORM, **sign(body, SECRET)}) as response:
            assert response.status == 200
        return url

    def records(self) -> list[dict]:
        out = []
        for line in self.text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() \
            else ""

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@pytest.fixture
def instances() -> Iterator[list[Instance]]:
    started: list[Instance] = []
    yield started
    for instance in started:
        if instance.proc is not None and instance.proc.poll() is None:
            instance.proc.kill()
            instance.proc.wait()


def role_of(health: dict) -> str | None:
    """``leading`` or ``standby`` from a ``/healthz`` body (None when there was no answer)."""
    return (health.get("checks", {}).get("role") or {}).get("detail")


def logged_in(instance: Instance) -> int:
    return sum(1 for r in instance.records() if r.get("msg") == "matrix logged in")


async def answered(emu: SlackEmulator, url: str, timeout: float = 15) -> list[dict]:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not emu.responses(url) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    return emu.responses(url)


async def test_the_standby_takes_over_matrix_within_seconds_and_nothing_is_answered_twice(
        synapse: LocalSynapse, matrix_users: Users, pg_url: str, tmp_path: Path,
        instances: list[Instance]) -> None:
    async with SlackEmulator() as emu:
        people(emu)
        await _failover(synapse, matrix_users, pg_url, tmp_path, instances, emu)


async def _failover(synapse: LocalSynapse, matrix_users: Users, pg_url: str, tmp_path: Path,
                    instances: list[Instance], emu: SlackEmulator) -> None:
    password = "failover-bot-password"
    bot_id = (await synapse.register("failover-bot", password)).user_id
    camille = await matrix_users("camille")
    a, b = (Instance(name, tmp_path / name, synapse, bot_id, camille.user_id, pg_url, password,
                     emu.base_url) for name in ("a", "b"))
    instances += [a, b]
    a.start()
    first = await a.wait_ready("leading")
    assert first["checks"]["matrix"]["ok"] and "synced" in first["checks"]["matrix"]["detail"]
    b.start()
    standby = await b.wait_ready("standby")
    assert standby["checks"]["matrix"] == {"ok": True,
                                           "detail": "standby: another instance runs it"}
    assert standby["checks"]["slack"]["ok"] is True
    via_standby = await answered(emu, await b.slash(emu, "aide sondage"))
    assert len(via_standby) == 1 and "sondage" in json.dumps(via_standby[0], ensure_ascii=False)

    room = await camille.create_room(name="failover", invite=[bot_id])
    await camille.wait_for(room, matching(sender=bot_id, msgtype="m.notice"), timeout=60)
    assert logged_in(a) == 1 and logged_in(b) == 0, "one Matrix sync loop in the deployment"

    commands: list[str] = []

    async def burst() -> None:
        for i in range(BURST):
            commands.append(await camille.send_text(room, f"!cohorte aide cohorte {i}"))
            await asyncio.sleep(0.1)

    sending = asyncio.create_task(burst())
    await camille.wait_for_count(room, lambda e: e["sender"] == bot_id and bool(
        (e["content"].get("m.relates_to") or {}).get("m.in_reply_to")), 3, timeout=60)
    # The window opens with an answer taken just before the kill: the standby retries the
    # lock every second, and when a retry falls right after the kill it can take the
    # lead before the loop below has asked anything (seen under pytest-xdist load).
    http_during: list[tuple[int, dict]] = [await b.health()]
    a.kill()
    killed_at = time.monotonic()
    killed_perf = time.perf_counter()
    sent_before_kill = len(commands)
    while not any(r.get("msg", "").startswith("leadership acquired")
                            for r in b.records()):
        http_during.append(await b.health())
        assert time.monotonic() - killed_at < 15, b.text()[-3000:]
        await asyncio.sleep(0.05)
    took_lead = time.monotonic() - killed_at
    await sending
    for command in commands:
        await camille.wait_for(room, answers(bot_id, command), timeout=60)
    first_after = min(camille.received_at(e["event_id"]) or 0 for e in camille.events(room)
                      if e["sender"] == bot_id and any(answers(bot_id, c)(e)
                                                       for c in commands[sent_before_kill:]))
    leading = await b.wait_ready("leading", timeout=30)
    assert leading["checks"]["matrix"]["ok"]
    after = await answered(emu, await b.slash(emu, "aide agenda"))
    assert len(after) == 1 and "agenda" in json.dumps(after[0], ensure_ascii=False)
    assert b.stop() == 0

    counts = [sum(1 for e in camille.events(room) if answers(bot_id, c)(e)) for c in commands]
    assert sent_before_kill < BURST, "the kill came after the burst: nothing was tested"
    assert counts == [1] * BURST
    # Every request around the takeover is answered. Until it takes the lead, the standby
    # answers ready. A request in flight when it takes over (under load, possibly the
    # first one) can be answered by the new leader before its first Matrix sync: that
    # answer is 503 by design (the operator guide: Matrix not synced yet) and may only
    # fail on Matrix; the leader's readiness is waited for above (wait_ready "leading").
    for status, body in http_during:
        if role_of(body) == "leading":
            failing = {name for name, check in body["checks"].items() if not check["ok"]}
            assert failing <= {"matrix"}, http_during
        else:
            assert status == 200, http_during
    assert took_lead < 5, f"took the lead {took_lead:.1f} s after the kill"
    assert "Traceback" not in b.text()
    print(f"\n[measure] failover: leadership taken {took_lead:.2f} s after SIGKILL; "
          f"first answer from the new leader {first_after - killed_perf:.2f} s after; "
          f"{sent_before_kill} of {BURST} commands sent before the kill, all answered once; "
          f"{len(http_during) - 1} /healthz answers between the kill and the takeover")

"""The bridge as a real process, killed with SIGKILL in the middle of a 200-message burst
(100 written on Slack, 100 on Matrix), then restarted: every message exactly once on the
other side, in order."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.bootstrap import bootstrap
from bot.devtools.local_synapse import LocalSynapse, free_port, parent_death_signal
from handlers.admin.demo import load_cohort_file
from storage.uow import Store
from tests.support.bridge_rig import CHANNEL, DEMO_FILE, bridge_config
from tests.support.matrix_user import MatrixUser, matching
from tests.support.slack_app import SECRET, people
from tests.support.slack_emulator import SlackEmulator, event_callback, sign

pytestmark = [pytest.mark.synapse, pytest.mark.slack]

ROOT = Path(__file__).resolve().parents[2]
PER_SIDE = 100
Users = Callable[..., Awaitable[MatrixUser]]


class BridgeProcess:
    def __init__(self, config: Path, password: str, log: Path) -> None:
        self.config, self.password, self.log = config, password, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "COHORTBOT_MATRIX_PASSWORD": self.password,
               "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET,
               "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "--config", str(self.config), "run"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, preexec_fn=parent_death_signal(signal.SIGKILL))

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


async def wait_until(check: Callable[[], bool], timeout: float) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.05)


async def test_sigkill_in_a_200_message_burst_every_message_once_in_order(
        synapse: LocalSynapse, matrix_users: Users, tmp_path: Path) -> None:
    password = "bridge-crash-pw"
    bot_id = (await synapse.register("bridge-crash", password)).user_id
    camille = await matrix_users("camille-crash")
    emu = SlackEmulator(ts_start=int(time.time()))
    await emu.start()
    people(emu)
    port = free_port()
    config = bridge_config(tmp_path, synapse, emu.base_url, bot_id, password, port)
    room = await camille.create_room(name="crash", invite=[])
    app = await bootstrap(config)
    async with app.db.session() as db:
        store = Store(db)
        await load_cohort_file(store, DEMO_FILE, app.clock.now())
        cohort = await store.cohorts.by_slug("occitanie")
        assert cohort is not None
        await store.rooms.link("slack", CHANNEL, cohort.id, app.clock.now(), None)
        await store.rooms.link("matrix", room, cohort.id, app.clock.now(), None)
        await store.bridge.set_enabled(cohort.id, True, app.clock.now(), None)
        await store.bridge.set_cursor("slack", CHANNEL, f"{time.time():.6f}", app.clock.now())
    await app.close()
    toml = tmp_path / "cohortbot.toml"
    toml.write_text(
        "[bot]\n"
        f'data_dir = "{tmp_path}"\n'
        "[database]\n"
        f'url = "{config.database_url}"\n'
        "[matrix]\nenabled = true\n"
        f'homeserver = "{synapse.base_url}"\n'
        f'user_id = "{bot_id}"\n'
        "[slack]\nenabled = true\n"
        f'api_url = "{emu.base_url}"\n'
        "posts_per_second = 1000\n"
        "[http]\n"
        f"port = {port}\n", encoding="utf-8")
    bot = BridgeProcess(toml, password, tmp_path / "bot.log")
    bot.start()
    url = f"http://127.0.0.1:{port}/slack/events"
    lost_events = 0
    try:
        await camille.invite(room, bot_id)
        await camille.wait_for(room, matching(type="m.room.member", sender=bot_id), timeout=60)

        def on_matrix() -> list[str]:
            return [e["content"]["body"].split(": ", 1)[-1] for e in camille.events(room)
                    if e["sender"] == bot_id and "fr.cohortbot.relay" in e["content"]]

        def on_slack() -> list[str]:
            return [m["text"] for m in emu.messages(CHANNEL) if m.get("username")]

        async def slack_side(session: aiohttp.ClientSession) -> None:
            nonlocal lost_events
            for n in range(PER_SIDE):
                stored = emu.add_message(CHANNEL, "U2", f"slack {n}")
                body = event_callback({**stored, "channel": CHANNEL,
                                       "channel_type": "channel"})
                try:
                    async with session.post(url, data=body, headers={
                            "Content-Type": "application/json", **sign(body, SECRET)},
                            timeout=aiohttp.ClientTimeout(total=5)) as response:
                        if response.status != 200:
                            lost_events += 1
                except (aiohttp.ClientError, TimeoutError):
                    lost_events += 1
                await asyncio.sleep(0.08)

        async def matrix_side() -> None:
            for n in range(PER_SIDE):
                await camille.send_text(room, f"matrix {n}")
                await asyncio.sleep(0.08)

        async with aiohttp.ClientSession() as session:
            await wait_until(lambda: bot_listening(port), 60)
            sending = asyncio.gather(slack_side(session), matrix_side())
            await wait_until(lambda: len(on_matrix()) >= 15 and len(on_slack()) >= 15, 60)
            await asyncio.sleep(0.5)
            bot.kill()
            relayed_before = (len(on_matrix()), len(on_slack()))
            await sending
            bot.start()
            await wait_until(lambda: len(on_matrix()) >= PER_SIDE and
                             len(on_slack()) >= PER_SIDE, 120)
            await asyncio.sleep(2)
    finally:
        bot.stop()
        await emu.stop()

    log = (tmp_path / "bot.log").read_text(encoding="utf-8", errors="replace")
    assert relayed_before[0] < PER_SIDE and relayed_before[1] < PER_SIDE, \
        "the kill came after the burst: nothing was tested"
    assert on_matrix() == [f"slack {n}" for n in range(PER_SIDE)]
    assert on_slack() == [f"matrix {n}" for n in range(PER_SIDE)]
    assert "Traceback" not in log
    print(f"\n[measure] SIGKILL after {relayed_before[0]} Slack→Matrix and {relayed_before[1]} "
          f"Matrix→Slack copies; {lost_events} Slack events lost while down, read back "
          f"from history; all 200 once, in order")


def bot_listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0

"""Bridge benchmark: added latency per direction and ordered throughput per room pair.

One local Synapse, the Slack Web API emulator (in this process), and ``cohortbot run``
as a process with Slack (HTTP mode) and Matrix enabled, the demo cohort bridged
between ``#general`` and a Matrix room. Measured in the same run, round by round:

- **raw**: a Matrix user sends, another user's sync receives it (one Synapse hop);
- **Matrix → Slack**: a Matrix user sends; until the bot's ``chat.postMessage`` of the
  copy reaches the emulator (one Synapse hop to the bot + the bridge);
- **Slack → Matrix**: a signed Events API request reaches the bot; until the copy
  reaches the other Matrix user's sync (the bridge + one Synapse hop).
- **raw sequential sends**: one Matrix client sending a burst one message after the other,
  the floor for ordered copies into one room.

"Added" = direction minus raw, at the same percentile. Then a burst of ``--burst``
messages each way: ordered throughput (first send to last copy), lost and doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import percentile, write  # noqa: E402
from bot.bootstrap import bootstrap  # noqa: E402
from bot.devtools.local_synapse import LocalSynapse, free_port  # noqa: E402
from handlers.admin.demo import load_cohort_file  # noqa: E402
from storage.uow import Store  # noqa: E402
from tests.support.bridge_rig import CHANNEL, DEMO_FILE, bridge_config  # noqa: E402
from tests.support.matrix_user import MatrixUser, matching  # noqa: E402
from tests.support.slack_app import SECRET, people  # noqa: E402
from tests.support.slack_emulator import SlackEmulator, event_callback, sign  # noqa: E402


def stats(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 1),
            "p95_ms": round(percentile(values, 95), 1)}


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.synapse = LocalSynapse(work / "synapse")
        self.emu = SlackEmulator(ts_start=int(time.time()))
        self.users: list[MatrixUser] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = free_port()
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        await self.synapse.start()
        await self.emu.start()
        people(self.emu)
        self.alice = await MatrixUser.create(self.synapse, "alice")
        self.bob = await MatrixUser.create(self.synapse, "bob")
        self.users = [self.alice, self.bob]
        password = "relay-bench-pw"
        self.bot_id = (await self.synapse.register("relaybot", password)).user_id
        self.raw_room = await self.alice.create_room(name="raw", invite=[self.bob.user_id])
        await self.bob.wait_for_invite(self.raw_room)
        await self.bob.join(self.raw_room)
        self.room = await self.alice.create_room(name="pont", invite=[self.bob.user_id])
        await self.bob.wait_for_invite(self.room)
        await self.bob.join(self.room)
        config = bridge_config(self.work, self.synapse, self.emu.base_url, self.bot_id,
                               password, self.port)
        app = await bootstrap(config)
        async with app.db.session() as db:
            store = Store(db)
            await load_cohort_file(store, DEMO_FILE, app.clock.now())
            cohort = await store.cohorts.by_slug("occitanie")
            assert cohort is not None
            await store.rooms.link("slack", CHANNEL, cohort.id, app.clock.now(), None)
            await store.rooms.link("matrix", self.room, cohort.id, app.clock.now(), None)
            await store.bridge.set_enabled(cohort.id, True, app.clock.now(), None)
            await store.bridge.set_cursor("slack", CHANNEL, f"{time.time():.6f}",
                                          app.clock.now())
        await app.close()
        toml = self.work / "cohortbot.toml"
        toml.write_text(
            f'[bot]\ndata_dir = "{self.work}"\nlog_level = "WARNING"\n'
            f'[database]\nurl = "{config.database_url}"\n'
            f'[matrix]\nenabled = true\nhomeserver = "{self.synapse.base_url}"\n'
            f'user_id = "{self.bot_id}"\n'
            f'[slack]\nenabled = true\napi_url = "{self.emu.base_url}"\n'
            f'posts_per_second = 1000\n[http]\nport = {self.port}\n', encoding="utf-8")
        env = {**os.environ, "COHORTBOT_MATRIX_PASSWORD": password,
               "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET}
        with (self.work / "bot.log").open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, "-m", "bot.cli", "--config", str(toml), "run"], cwd=ROOT,
                env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        await self.alice.invite(self.room, self.bot_id)
        await self.alice.wait_for(self.room, matching(type="m.room.member",
                                                      sender=self.bot_id), timeout=60)
        self.session = aiohttp.ClientSession()
        await self._wait_listening()

    async def _wait_listening(self) -> None:
        url = f"http://127.0.0.1:{self.port}/health"
        async with asyncio.timeout(60):
            while True:
                try:
                    async with self.session.get(url) as response:  # type: ignore[union-attr]
                        if response.status < 500:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        for user in self.users:
            await user.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        await self.emu.stop()
        await self.synapse.stop()

    # ------------------------------------------------------------------ one message

    async def raw(self, n: int) -> float:
        started = time.perf_counter()
        event_id = await self.alice.send_text(self.raw_room, f"raw {n}")
        await self.bob.wait_for(self.raw_room, lambda e: e["event_id"] == event_id)
        return (self.bob.received_at(event_id) - started) * 1000  # type: ignore[operator]

    async def matrix_to_slack(self, text: str) -> float:
        started = time.time()
        await self.alice.send_text(self.room, text)
        call = await self.emu.wait_for_call("chat.postMessage",
                                            lambda c: c.args.get("text") == text, timeout=30)
        return (call.at - started) * 1000

    async def post_event(self, text: str) -> None:
        stored = self.emu.add_message(CHANNEL, "U2", text)
        body = event_callback({**stored, "channel": CHANNEL, "channel_type": "channel"})
        async with self.session.post(  # type: ignore[union-attr]
                f"http://127.0.0.1:{self.port}/slack/events", data=body,
                headers={"Content-Type": "application/json", **sign(body, SECRET)}) as response:
            assert response.status == 200

    async def slack_to_matrix(self, text: str) -> float:
        started = time.perf_counter()
        await self.post_event(text)
        event = await self.bob.wait_for(self.room, lambda e: e["sender"] == self.bot_id and
                                        e["content"].get("body", "").endswith(f": {text}"),
                                        timeout=30)
        return (self.bob.received_at(event["event_id"]) - started) * 1000  # type: ignore

    # ------------------------------------------------------------------ bursts

    async def raw_sends(self, count: int) -> dict[str, Any]:
        """The floor for ordered copies into one Matrix room: one client sending ``count``
        messages one after the other (what the bridge must do to keep the order), until
        the other client has the last one."""
        started = time.perf_counter()
        last = ""
        for n in range(count):
            last = await self.alice.send_text(self.raw_room, f"seq {n}")
        await self.bob.wait_for(self.raw_room, lambda e: e["event_id"] == last, timeout=120)
        elapsed = time.perf_counter() - started
        return {"messages": count, "seconds": round(elapsed, 2),
                "per_second": round(count / elapsed, 1)}

    async def burst_slack_to_matrix(self, count: int) -> dict[str, Any]:
        texts = [f"burst-s {n}" for n in range(count)]
        started = time.perf_counter()
        for text in texts:
            await self.post_event(text)
        sent = time.perf_counter() - started

        def copies() -> list[str]:
            return [e["content"]["body"].split(": ", 1)[-1]
                    for e in self.bob.events(self.room)
                    if e["sender"] == self.bot_id and "burst-s" in e["content"].get("body", "")]

        async with asyncio.timeout(300):
            while len(copies()) < count:  # noqa: ASYNC110 (another process)
                await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        got = copies()
        return self._burst(texts, got, elapsed, sent)

    async def burst_matrix_to_slack(self, count: int) -> dict[str, Any]:
        """The bot is paused (SIGSTOP) while the burst is written, then resumed: what is
        measured is how fast the bridge drains an ordered backlog, not how fast one Matrix
        client can send."""
        texts = [f"burst-m {n}" for n in range(count)]
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        started = time.perf_counter()
        try:
            for text in texts:
                await self.alice.send_text(self.room, text)
        finally:
            sent = time.perf_counter() - started
            first = time.time()
            self.proc.send_signal(signal.SIGCONT)

        def copies() -> list[str]:
            return [m["text"] for m in self.emu.messages(CHANNEL)
                    if m.get("username") and m["text"].startswith("burst-m")]

        async with asyncio.timeout(300):
            while len(copies()) < count:  # noqa: ASYNC110 (another process)
                await asyncio.sleep(0.01)
        last = max(c.at for c in self.emu.calls_to("chat.postMessage")
                   if str(c.args.get("text", "")).startswith("burst-m"))
        return self._burst(texts, copies(), last - first, sent)

    @staticmethod
    def _burst(texts: list[str], got: list[str], elapsed: float, sent: float
               ) -> dict[str, Any]:
        return {"messages": len(texts), "seconds": round(elapsed, 2),
                "per_second": round(len(texts) / elapsed, 1),
                "sender_per_second": round(len(texts) / sent, 1),
                "lost": len(set(texts) - set(got)),
                "doubled": len(got) - len(set(got)),
                "in_order": [t for t in got if t in set(texts)] == texts}


async def run(rounds: int, burst: int, work: Path) -> dict[str, Any]:
    bench = Bench(work)
    try:
        await bench.start()
        for n in range(5):
            await bench.raw(-n)
            await bench.matrix_to_slack(f"warm m {n}")
            await bench.slack_to_matrix(f"warm s {n}")
        raw, m2s, s2m = [], [], []
        for n in range(rounds):
            raw.append(await bench.raw(n))
            m2s.append(await bench.matrix_to_slack(f"m2s {n}"))
            s2m.append(await bench.slack_to_matrix(f"s2m {n}"))
        results: dict[str, Any] = {"rounds": rounds, "raw_one_hop": stats(raw),
                                   "matrix_to_slack": stats(m2s), "slack_to_matrix": stats(s2m)}
        for name in ("matrix_to_slack", "slack_to_matrix"):
            results[name]["added_p50_ms"] = round(results[name]["p50_ms"] -
                                                  results["raw_one_hop"]["p50_ms"], 1)
            results[name]["added_p95_ms"] = round(results[name]["p95_ms"] -
                                                  results["raw_one_hop"]["p95_ms"], 1)
        results["raw_sequential_sends"] = await bench.raw_sends(burst)
        results["burst_slack_to_matrix"] = await bench.burst_slack_to_matrix(burst)
        results["burst_matrix_to_slack"] = await bench.burst_matrix_to_slack(burst)
        log = (work / "bot.log").read_text(encoding="utf-8", errors="replace")
        results["tracebacks_in_bot_log"] = log.count("Traceback")
        return results
    finally:
        await bench.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cohortbot-relay-") as tmp:
        results = asyncio.run(run(args.rounds, args.burst, Path(tmp)))
    print(json.dumps(results, indent=2))
    print(write("relay", results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Matrix round trips, side by side on one local Synapse, in one run:

(a) raw: one client sends, another client's sync receives it (one hop);
(b) echo: a command to a minimal matrix-nio echo bot and its reply (two hops, the floor),
    with the same reply content as cohortbot's (Synapse's cost grows with the event);
(c) cohortbot: ``!cohorte …`` to the real bot (``cohortbot run`` as a process) and its reply,

with 1 and 8 concurrent users. Prints p50/p95 of each, the bot's added latency over the
echo bot measured in the same run, and the RSS of both bot processes; writes JSON to
``bench/results/``.

    .venv/bin/python bench/matrix_roundtrip.py [--rounds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.devtools.local_synapse import LocalSynapse, parent_death_signal  # noqa: E402
from tests.support.matrix_user import MatrixUser, matching  # noqa: E402

COMMAND = "!cohorte aide cohorte"
"""A real command: the router, the dispatcher's transaction, templates, the outbox."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[round(q * (len(ordered) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(statistics.median(values), 2),
            "p95_ms": round(percentile(values, 0.95), 2),
            "max_ms": round(max(values), 2)}


async def replied(user: MatrixUser, room: str, bot_id: str, command_id: str) -> float:
    def predicate(event: dict[str, Any]) -> bool:
        relation = event["content"].get("m.relates_to") or {}
        return event["sender"] == bot_id and (relation.get("m.in_reply_to") or {}).get(
            "event_id") == command_id

    event = await user.wait_for(room, predicate, timeout=30)
    received = user.received_at(event["event_id"])
    assert received is not None
    return received


async def round_trips(users: list[MatrixUser], room: str, bot_id: str, text: str,
                      rounds: int) -> list[float]:
    """Each user sends, waits for its answer, sends again (closed loop), all at once."""
    samples: list[float] = []

    async def one(user: MatrixUser) -> None:
        for i in range(rounds):
            started = time.perf_counter()
            command = await user.send_text(room, f"{text} {i}" if "echo" in text else text)
            samples.append((await replied(user, room, bot_id, command) - started) * 1000)

    await asyncio.gather(*(one(u) for u in users))
    return samples


async def raw_hops(alice: MatrixUser, bob: MatrixUser, room: str, rounds: int) -> list[float]:
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        event_id = await alice.send_text(room, f"tick {i}")
        await bob.wait_for(room, lambda e, eid=event_id: e["event_id"] == eid)
        received = bob.received_at(event_id)
        assert received is not None
        samples.append((received - started) * 1000)
    return samples


async def room_for(owner: MatrixUser, members: list[MatrixUser], bot_id: str | None) -> str:
    invite = [m.user_id for m in members] + ([bot_id] if bot_id else [])
    room = await owner.create_room(name="bench", invite=invite)
    for member in members:
        await member.wait_for_invite(room)
        await member.join(room)
    if bot_id:
        await owner.wait_for(room, matching(type="m.room.member", sender=bot_id), timeout=30)
    return room


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT,
                                preexec_fn=parent_death_signal(signal.SIGKILL))


async def wait_for_line(path: Path, text: str, timeout: float = 60) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(_contains, path, text):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{text!r} not in {path}")


def _contains(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(errors="replace")


def cpu_ms(proc: subprocess.Popen[bytes]) -> float:
    """CPU time (user + system) a process used so far: what it costs whatever the load."""
    times = psutil.Process(proc.pid).cpu_times()
    return (times.user + times.system) * 1000


def rss_mib(proc: subprocess.Popen[bytes]) -> float:
    return round(psutil.Process(proc.pid).memory_info().rss / 2**20, 1)


async def run(rounds: int, work: Path, profile: Path | None = None) -> dict[str, Any]:
    synapse = LocalSynapse(work / "synapse")
    await synapse.start()
    processes: list[subprocess.Popen[bytes]] = []
    users: list[MatrixUser] = []
    try:
        people = [await MatrixUser.create(synapse, f"user{i}") for i in range(8)]
        users.extend(people)
        echo = await synapse.register("echo", "echo-password")
        processes.append(start_process(
            [sys.executable, str(ROOT / "bench" / "echo_bot.py"), synapse.base_url,
             echo.user_id, echo.device_id, echo.access_token, str(work / "reply.json")],
            dict(os.environ),
            work / "echo.log"))
        await wait_for_line(work / "echo.log", "ready")

        bot_password = "bench-bot-password"
        bot_id = (await synapse.register("cohortbot", bot_password)).user_id
        config = work / "cohortbot.toml"
        admins = ", ".join(f'"matrix:{u.user_id}"' for u in people)
        config.write_text(f'[bot]\ndata_dir = "{work / "bot"}"\nadmins = [{admins}]\n'
                          f'log_level = "WARNING"\n[matrix]\nenabled = true\n'
                          f'homeserver = "{synapse.base_url}"\nuser_id = "{bot_id}"\n'
                          "[http]\nenabled = false\n", encoding="utf-8")
        env = {**os.environ, "COHORTBOT_MATRIX_PASSWORD": bot_password}
        profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
        bot = start_process([sys.executable, *profiler, "-m", "bot.cli", "--config",
                             str(config), "run"], env, work / "bot.log")
        processes.append(bot)

        raw_room = await room_for(people[0], [people[1]], None)
        echo_room = await room_for(people[0], people[1:], echo.user_id)
        bot_room = await room_for(people[0], people[1:], bot_id)
        await people[0].wait_for(bot_room, matching(sender=bot_id, msgtype="m.notice"),
                                 timeout=60)

        warm = max(5, rounds // 10)
        await round_trips(people[:1], bot_room, bot_id, COMMAND, warm)
        reply = next(e for e in reversed(people[0].events(bot_room))
                     if e["sender"] == bot_id and e["content"].get("msgtype") == "m.notice")
        same = {k: v for k, v in reply["content"].items() if k != "m.relates_to"}
        (work / "reply.json").write_text(json.dumps(same), encoding="utf-8")
        await round_trips(people[:1], echo_room, echo.user_id, "!echo warm", warm)
        results: dict[str, Any] = {"raw_one_hop": summary(await raw_hops(
            people[0], people[1], raw_room, rounds))}
        for concurrency in (1, 8):
            per_user = max(1, rounds // concurrency)
            group = people[:concurrency]
            before = cpu_ms(processes[0])
            echo_ms = await round_trips(group, echo_room, echo.user_id, "!echo ping", per_user)
            echo_cpu = (cpu_ms(processes[0]) - before) / len(echo_ms)
            before = cpu_ms(bot)
            bot_ms = await round_trips(group, bot_room, bot_id, COMMAND, per_user)
            bot_cpu = (cpu_ms(bot) - before) / len(bot_ms)
            e, b = summary(echo_ms), summary(bot_ms)
            e["cpu_ms_per_command"], b["cpu_ms_per_command"] = round(echo_cpu, 2), round(
                bot_cpu, 2)
            results[f"users_{concurrency}"] = {
                "echo_bot": e, "cohortbot": b,
                "added_p50_ms": round(b["p50_ms"] - e["p50_ms"], 2),
                "added_p95_ms": round(b["p95_ms"] - e["p95_ms"], 2)}
        results["load_average"] = [round(x, 2) for x in os.getloadavg()]
        results["rss_mib"] = {"echo_bot": rss_mib(processes[0]), "cohortbot": rss_mib(bot)}
        results["command"] = COMMAND
        results["reply_bytes"] = len(json.dumps(same).encode())
        results["rounds"] = rounds
        return results
    finally:
        for user in users:
            await user.close()
        for proc in processes:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        await synapse.stop()


def table(results: dict[str, Any]) -> str:
    raw = results["raw_one_hop"]
    lines = [f"raw client → client (one hop): p50 {raw['p50_ms']} ms, p95 {raw['p95_ms']} ms",
             "", f"{'users':>5} | {'echo bot p50/p95':>17} | {'cohortbot p50/p95':>18} | "
             f"{'added p50/p95':>14} | CPU ms/command echo, cohortbot", "-" * 96]
    for concurrency in (1, 8):
        row = results[f"users_{concurrency}"]
        e, b = row["echo_bot"], row["cohortbot"]
        lines.append(f"{concurrency:>5} | {e['p50_ms']:>7.1f} / {e['p95_ms']:>6.1f} ms | "
                     f"{b['p50_ms']:>7.1f} / {b['p95_ms']:>7.1f} ms | "
                     f"{row['added_p50_ms']:>5.1f} / {row['added_p95_ms']:>5.1f} ms | "
                     f"{e['cpu_ms_per_command']:.1f}, {b['cpu_ms_per_command']:.1f}")
    rss = results["rss_mib"]
    lines += ["", f"RSS: echo bot {rss['echo_bot']} MiB, cohortbot {rss['cohortbot']} MiB",
              f"command: {results['command']!r}, both bots reply with the same "
              f"{results['reply_bytes']} bytes of content",
              f"load average at the end: {results['load_average']}"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=80)
    parser.add_argument("--profile", type=Path, default=None,
                        help="run cohortbot under cProfile and write its stats there")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cohortbot-bench-") as tmp:
        results = asyncio.run(run(args.rounds, Path(tmp), args.profile))
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    print(table(results))
    out = ROOT / "bench" / "results" / (
        f"matrix_roundtrip-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"\n{out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

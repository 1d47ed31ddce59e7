"""What a sync filter leaving one's own events out costs on Synapse, without the bot.

A bare client (raw HTTP, no matrix-nio, no database) answers every ``ping`` in a room
with a ``pong``; a second client sends the pings one at a time and times ping → pong.
Measured alternately with the client's sync filter leaving its own events out
(``not_senders``, what cohortbot asks for) and without, ``--rounds`` rounds each way.
It isolates Synapse's side of the trade-off discussed in BENCHMARKS.md (Matrix).

    .venv/bin/python bench/sync_filter.py [--pings 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import machine, percentile, table, write  # noqa: E402
from bot.devtools.local_synapse import LocalSynapse  # noqa: E402
from tests.support.matrix_user import MatrixUser  # noqa: E402

WARM_UP = 5


async def one_round(synapse: LocalSynapse, mode: str, pings: int, tag: str) -> list[float]:
    alice = await MatrixUser.create(synapse, f"alice{tag}")
    bot = await synapse.register(f"pong{tag}", "pong-password")
    room = await alice.create_room(name=tag, invite=[bot.user_id])
    headers = {"Authorization": f"Bearer {bot.access_token}"}
    base = synapse.base_url + "/_matrix/client/v3"
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{base}/join/{room}", json={}) as response:
            assert response.status == 200, await response.text()
        timeline: dict[str, Any] = {"limit": 50}
        if mode == "not_senders":
            timeline["not_senders"] = [bot.user_id]
        flt = {"presence": {"not_types": ["*"]}, "account_data": {"not_types": ["*"]},
               "room": {"timeline": timeline, "state": {"lazy_load_members": True},
                        "ephemeral": {"not_types": ["*"]},
                        "account_data": {"not_types": ["*"]}}}
        async with http.post(f"{base}/user/{bot.user_id}/filter", json=flt) as response:
            filter_id = (await response.json())["filter_id"]
        async with http.get(f"{base}/sync", params={"filter": filter_id,
                                                    "timeout": "0"}) as response:
            since = (await response.json())["next_batch"]

        async def answer() -> None:
            nonlocal since
            while True:
                async with http.get(f"{base}/sync", params={
                        "filter": filter_id, "timeout": "30000", "since": since}) as response:
                    body = await response.json()
                since = body["next_batch"]
                for joined in body.get("rooms", {}).get("join", {}).values():
                    for event in joined.get("timeline", {}).get("events", []):
                        if event["sender"] == bot.user_id:
                            continue
                        async with http.put(
                                f"{base}/rooms/{room}/send/m.room.message/{event['event_id']}",
                                json={"msgtype": "m.notice", "body": "pong"}) as sent:
                            await sent.read()

        answering = asyncio.create_task(answer())
        latencies: list[float] = []
        seen: set[str] = set()
        try:
            for n in range(pings + WARM_UP):
                started = time.perf_counter()
                await alice.send_text(room, f"ping {n}")
                event = await alice.wait_for(
                    room, lambda e: e["sender"] == bot.user_id and e["event_id"] not in seen,
                    timeout=30)
                seen.add(event["event_id"])
                arrived = alice.received_at(event["event_id"])
                assert arrived is not None
                latencies.append((arrived - started) * 1000)
                await asyncio.sleep(0.05)
        finally:
            answering.cancel()
            await alice.close()
    return latencies[WARM_UP:]


async def run(pings: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cohortbot-syncfilter-") as tmp:
        synapse = LocalSynapse(Path(tmp) / "synapse")
        await synapse.start()
        try:
            by_mode: dict[str, list[float]] = {"not_senders": [], "no filter on senders": []}
            for r in range(rounds):
                for mode in by_mode:
                    by_mode[mode] += await one_round(synapse, mode, pings,
                                                     f"{r}{'f' if mode == 'not_senders' else 'n'}")
        finally:
            await synapse.stop()
    rows = [{"sync filter": mode, "pings": len(values),
             "p50 ms": round(percentile(values, 50), 1),
             "p95 ms": round(percentile(values, 95), 1)} for mode, values in by_mode.items()]
    return {"rows": rows, "machine": machine()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pings", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results = asyncio.run(run(args.pings, args.rounds))
    print(table(results["rows"], ["sync filter", "pings", "p50 ms", "p95 ms"]))
    print(write("sync_filter", results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

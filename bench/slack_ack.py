"""How fast the Slack endpoint acknowledges: slash commands and button clicks over real HTTP.

Slack gives an app three seconds to acknowledge; the goal here is p99 ≤ 25 ms with
100 requests arriving at once. Each load is sent, signed, to three apps served
the same way (an aiohttp server on 127.0.0.1, Web API on the local emulator), in
the same run:

- cohortbot: the real bot (HTTP mode, SQLite, delivery worker running), which
  acknowledges, then runs the command or click and delivers the reply;
- bare Bolt (defaults): an ``AsyncApp`` whose listener only calls ``ack()``;
- bare Bolt (process_before_response): the same, acknowledging synchronously;
- aiohttp alone: the same server answering 200 with no Slack code at all (the floor).

All three run on the event loop ``cohortbot run`` uses (uvloop where installed).
Latency is measured by a load generator in its own process (as Slack is: the
bot's event loop does not also run the client), from sending a request to reading
its answer, over kept-alive connections. Each scenario runs ``--rounds`` rounds of
``--concurrency`` requests sent at once, after a warm-up round; between rounds
the bot finishes the work it acknowledged. Prints a table and writes
bench/results/slack_ack.json.

    .venv/bin/python bench/slack_ack.py [--concurrency 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web  # noqa: E402
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request  # noqa: E402
from slack_bolt.async_app import AsyncApp  # noqa: E402
from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402

from bench._common import rss_mib, summary, table, write  # noqa: E402
from bot.bootstrap import App, bootstrap  # noqa: E402
from bot.cli import _event_loop_runner as event_loop_runner  # noqa: E402
from bot.config import BotConfig, Config, DatabaseConfig, HttpConfig, SlackConfig  # noqa: E402
from bot.runtime import serving  # noqa: E402
from handlers.core.context import Context  # noqa: E402
from handlers.core.events import ActionEvent, Reply, Visibility  # noqa: E402
from handlers.core.ids import Platform  # noqa: E402
from handlers.registry import build_router  # noqa: E402
from tests.support.slack_emulator import (  # noqa: E402
    SlackEmulator,
    block_actions_form,
    sign,
    slash_command_form,
)

SECRET = "bench-signing-secret"
FORM = "application/x-www-form-urlencoded"
USERS = 50


def people(emu: SlackEmulator) -> None:
    for n in range(USERS):
        emu.add_user(f"U{n:04d}", f"person{n}", real_name=f"Personne {n}")
    emu.add_channel("C1", "general", members=[f"U{n:04d}" for n in range(USERS)])


async def start_cohortbot(tmp: Path, emu: SlackEmulator) -> tuple[App, str]:
    router = build_router()

    async def on_click(ctx: Context, event: ActionEvent) -> Reply:
        return Reply(f"Réponse « {event.value} » notée.", visibility=Visibility.PRIVATE)

    router.on_action("bench", on_click)
    config = Config(bot=BotConfig(data_dir=tmp, admins=("slack:U0000",)),
                    database=DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp}/bench.db"),
                    http=HttpConfig(port=0),
                    slack=SlackConfig(enabled=True, mode="http", api_url=emu.base_url,
                                      bot_token="xoxb-test", signing_secret=SECRET))
    app = await bootstrap(config, router=router)
    await app.web.start()
    await app.slack.start()
    app.delivery.start()
    serving()
    return app, f"http://127.0.0.1:{app.web.port}/slack/events"


async def start_bare_bolt(emu: SlackEmulator, *, process_before_response: bool
                          ) -> tuple[web.AppRunner, str]:
    bolt = AsyncApp(signing_secret=SECRET, process_before_response=process_before_response,
                    client=AsyncWebClient(base_url=emu.base_url, token="xoxb-test"))

    @bolt.command(re.compile(".*"))
    async def on_command(ack: Callable[[], Awaitable[None]]) -> None:
        await ack()

    @bolt.block_action(re.compile(".*"))
    async def on_click(ack: Callable[[], Awaitable[None]]) -> None:
        await ack()

    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    return await serve(endpoint)


async def start_bare_aiohttp() -> tuple[web.AppRunner, str]:
    """The floor: the same aiohttp server answering 200 after reading the body, no Slack code."""
    async def endpoint(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    return await serve(endpoint)


async def serve(endpoint: Callable[[web.Request], Awaitable[web.Response]]
                ) -> tuple[web.AppRunner, str]:
    server = web.Application()
    server.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/slack/events"


def command_body(user: str, n: int, response_url: str, trigger: str) -> bytes:
    texts = ["aide", "moi", "cohorte lister", "sondge", "aide membre"]
    return slash_command_form(texts[n % len(texts)], user_id=user, channel_id="C1",
                              response_url=response_url, trigger_id=trigger)


def click_body(user: str, n: int, response_url: str, trigger: str) -> bytes:
    return block_actions_form(user_id=user, channel_id="C1", message_ts="1700000000.000100",
                              action_id=f"bench.vote#{n % 3}",
                              value=["oui", "non", "peut-être"][n % 3],
                              response_url=response_url, trigger_id=trigger)


BODIES = {"command": command_body, "click": click_body}


async def client() -> None:
    """The load generator: reads ``{"url", "kind", "response_urls"}`` lines, fires, answers
    with the latencies (ms) of that round as one JSON line.

    It speaks HTTP/1.1 itself over one kept-alive connection per concurrent request:
    every request is built and signed beforehand, all are written at once, and each
    latency ends when its answer has been read — so the client's own work adds
    microseconds, not milliseconds, to what is measured. Its garbage collector is
    off during a round (a collection of its own heap would show as server latency).
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pools: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
    try:
        while line := await reader.readline():
            order = json.loads(line)
            build = BODIES[order["kind"]]
            url = urlsplit(order["url"])
            pool = pools.setdefault(order["url"], [])
            while len(pool) < len(order["response_urls"]):
                pool.append(await asyncio.open_connection(url.hostname, url.port))
            requests = []
            for n, response_url in enumerate(order["response_urls"]):
                body = build(f"U{n % USERS:04d}", n, response_url, f"{time.time_ns()}.{n}")
                headers = {"Host": url.netloc, "Content-Type": FORM,
                           "Content-Length": str(len(body)), **sign(body, SECRET)}
                head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                requests.append(f"POST {url.path} HTTP/1.1\r\n{head}\r\n".encode() + body)
            gc.collect()
            gc.disable()
            started = time.perf_counter()
            for (_, writer), request in zip(pool, requests, strict=False):
                writer.write(request)
            latencies = await asyncio.gather(*(answer(r, started) for r, _ in
                                               pool[:len(requests)]))
            gc.enable()
            sys.stdout.write(json.dumps(latencies) + "\n")
            sys.stdout.flush()
    finally:
        for connections in pools.values():
            for _, writer in connections:
                writer.close()


async def answer(reader: asyncio.StreamReader, started: float) -> float:
    """Read one HTTP answer; the time from ``started`` to its last byte, in ms."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"answered {status}")
    return elapsed


class LoadGenerator:
    """The client process, driven one round at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> LoadGenerator:
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        return cls(process)

    async def fire(self, url: str, kind: str, response_urls: list[str]) -> list[float]:
        assert self.process.stdin is not None and self.process.stdout is not None
        order = {"url": url, "kind": kind, "response_urls": response_urls}
        self.process.stdin.write((json.dumps(order) + "\n").encode())
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("the load generator stopped")
        return json.loads(line)

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


async def load(generator: LoadGenerator, emu: SlackEmulator, url: str, kind: str,
               concurrency: int, rounds: int, settle: Callable[[], Awaitable[None]]
               ) -> tuple[list[float], float]:
    def urls(count: int) -> list[str]:
        return [emu.new_response_url(channel="C1", user=f"U{n % USERS:04d}")
                for n in range(count)]

    await generator.fire(url, kind, urls(concurrency))
    await settle()
    latencies: list[float] = []
    seconds = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        latencies += await generator.fire(url, kind, urls(concurrency))
        seconds += time.perf_counter() - started
        await settle()
    return latencies, seconds


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        await client()
        return
    rows: list[dict[str, Any]] = []
    loads = (("slash commands", "command"), ("button clicks", "click"))
    generator = await LoadGenerator.start()
    try:
        async with SlackEmulator() as emu:
            people(emu)
            with tempfile.TemporaryDirectory() as tmp:
                app, url = await start_cohortbot(Path(tmp), emu)
                work_ms: list[float] = []

                async def settle_bot() -> None:
                    started = time.perf_counter()
                    await app.slack.drain()
                    await app.delivery.flush(Platform.SLACK)
                    work_ms.append((time.perf_counter() - started) * 1000)

                try:
                    for label, kind in loads:
                        work_ms.clear()
                        latencies, seconds = await load(generator, emu, url, kind,
                                                        args.concurrency, args.rounds,
                                                        settle_bot)
                        rows.append({"app": "cohortbot", "load": label,
                                     **summary(latencies, seconds), "rss_mib": rss_mib(),
                                     "work_after_ack_ms": round(max(work_ms), 1)})
                finally:
                    await app.web.stop()
                    await app.close()

            async def pause() -> None:
                await asyncio.sleep(0.05)

            for label_app, pbr in (("bare Bolt (defaults)", False),
                                   ("bare Bolt (process_before_response)", True),
                                   ("aiohttp alone (floor)", None)):
                if pbr is None:
                    runner, bare_url = await start_bare_aiohttp()
                else:
                    runner, bare_url = await start_bare_bolt(emu, process_before_response=pbr)
                try:
                    for label, kind in loads:
                        latencies, seconds = await load(generator, emu, bare_url, kind,
                                                        args.concurrency, args.rounds, pause)
                        rows.append({"app": label_app, "load": label,
                                     **summary(latencies, seconds)})
                finally:
                    await runner.cleanup()
    finally:
        await generator.stop()
    print(table(rows, ["app", "load", "count", "p50_ms", "p95_ms", "p99_ms", "mean_ms",
                       "work_after_ack_ms"]))
    path = write("slack_ack", {"concurrency": args.concurrency, "rounds": args.rounds,
                               "goal": "p99 <= 25 ms", "rows": rows})
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    event_loop_runner("run")(main())

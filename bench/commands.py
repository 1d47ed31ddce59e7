"""10,000 commands through the real router and dispatcher, on SQLite and on PostgreSQL.

For each backend: a baseline (a no-op command: the dispatcher's own cost — one
transaction, the event claimed, the reply queued) and a realistic mix of what
members type (aide, membre lister, delegation lister, moi, an unknown verb).
Prints a table and writes bench/results/commands.json.

    .venv/bin/python bench/commands.py [--count 10000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import rss_mib, summary, table, write  # noqa: E402
from bot.bootstrap import App, bootstrap  # noqa: E402
from bot.config import BotConfig, Config, DatabaseConfig  # noqa: E402
from bot.devtools.local_postgres import LocalPostgres  # noqa: E402
from handlers.admin.demo import load_cohort_file  # noqa: E402
from handlers.core.commands import CohortScope, CommandGroup, Role  # noqa: E402
from handlers.core.events import CommandEvent, Origin  # noqa: E402
from handlers.core.ids import Platform, RoomRef, UserRef  # noqa: E402
from storage.uow import Store  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "occitanie.yaml"
MIX = ["aide", "membre lister", "delegation lister", "moi", "membre lister Gruissan",
       "cohorte voir", "sondge", "aide membre"]


async def prepare(url: str, data_dir: Path) -> App:
    app = await bootstrap(Config(bot=BotConfig(data_dir=data_dir),
                                 database=DatabaseConfig(url=url)))
    noop = CommandGroup("ping")

    @noop.command(None, role=Role.ANYONE, cohort=CohortScope.NONE, hidden=True)
    async def ping(ctx, args):  # type: ignore[no-untyped-def]
        return None

    app.router.include(noop)
    async with app.db.session() as session:
        store = Store(session)
        await load_cohort_file(store, DEMO, app.clock.now())
        members = await store.members.of_cohort((await store.cohorts.by_slug("occitanie")).id)
        for i, member in enumerate(members):
            await store.identities.link("matrix", f"@m{i}:localhost", member.id, app.clock.now())
        cohort = await store.cohorts.by_slug("occitanie")
        await store.rooms.link("matrix", "!cohort:localhost", cohort.id, app.clock.now(), None)
    return app


async def run(app: App, texts: list[str], concurrency: int, users: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for i, text in enumerate(texts):
        queue.put_nowait((i, text))

    async def worker() -> None:
        while not queue.empty():
            i, text = queue.get_nowait()
            origin = Origin(user=UserRef(Platform.MATRIX, f"@m{i % users}:localhost"),
                            room=RoomRef(Platform.MATRIX, "!cohort:localhost"),
                            event_id=f"$bench-{id(texts)}-{i}")
            started = time.perf_counter()
            await app.dispatcher.handle(CommandEvent(origin, text))
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


async def bench_backend(name: str, url: str, data_dir: Path, count: int, concurrency: int
                        ) -> list[dict[str, object]]:
    app = await prepare(url, data_dir)
    rows = []
    try:
        for label, texts in (("baseline: no-op command", ["ping"] * count),
                             ("command mix", [MIX[i % len(MIX)] for i in range(count)])):
            latencies, seconds = await run(app, texts, concurrency, users=32)
            rows.append({"backend": name, "load": label, **summary(latencies, seconds),
                         "rss_mib": rss_mib()})
    finally:
        await app.close()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += await bench_backend("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", Path(tmp),
                                    args.count, args.concurrency)
        pg = LocalPostgres()
        await pg.start()
        try:
            rows += await bench_backend("postgresql", pg.url, Path(tmp), args.count,
                                        args.concurrency)
        finally:
            await pg.stop()
    print(table(rows, ["backend", "load", "count", "per_second", "p50_ms", "p99_ms",
                       "rss_mib"]))
    path = write("commands", {"count": args.count, "concurrency": args.concurrency,
                              "rows": rows})
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    asyncio.run(main())

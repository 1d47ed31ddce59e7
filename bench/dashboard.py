"""The dashboard under load: 100 cohorts of seeded data, pages over real HTTP, grid pictures.

Seeds 100 cohorts (10 delegations × 4 members, 2 coordinators each), signs a
coordinator in through the real link flow, then measures, on SQLite and on
PostgreSQL:

- baseline: a bare aiohttp handler returning a static page of the overview's size,
  on the same server, through the same client (the HTTP floor);
- the cohort overview page (session check, roles, cohort, 10 delegations × 4 members,
  coordinators, rooms, rendered with Jinja2), cycling over the 100 cohorts;
- the 10 × 8 availability grid as an HTML fragment and as a PNG (Pillow) with its
  text summary (no HTTP: the renderers alone).

Prints p50/p99 per item and the peak RSS added by the whole run, and writes
bench/results/dashboard.json.

    .venv/bin/python bench/dashboard.py [--requests 2000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import ClientSession, CookieJar, web  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402

from bench._common import rss_mib, summary, table, write  # noqa: E402
from bot.bootstrap import App, bootstrap  # noqa: E402
from bot.config import BotConfig, Config, DatabaseConfig  # noqa: E402
from bot.devtools.local_postgres import LocalPostgres  # noqa: E402
from handlers.dashboard.access import issue_link  # noqa: E402
from handlers.dashboard.pictures import results_reply  # noqa: E402
from messages.grid import Answer, Column, Grid, GridRow  # noqa: E402
from messages.html import HtmlCatalog  # noqa: E402
from storage.models import Category  # noqa: E402
from storage.repos.dashboard import Holder  # noqa: E402
from storage.uow import Store  # noqa: E402

COHORTS = 100
DELEGATIONS = 10
CATEGORIES = tuple(Category)


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def seed(app: App) -> str:
    """100 cohorts; returns the identity of an admin-free coordinator of all of them."""
    now = app.clock.now()
    async with app.db.session() as session:
        store = Store(session)
        boss = await store.members.add(display_name="Camille Coordinatrice", now=now)
        await store.identities.link("matrix", "@camille:bench", boss.id, now)
    for c in range(COHORTS):
        async with app.db.session() as session:
            store = Store(session)
            cohort = await store.cohorts.add(slug=f"cohorte-{c:03d}", name=f"Cohorte n°{c}",
                                             language="fr", timezone="Europe/Paris", now=now)
            await store.members.grant_coordinator(cohort.id, boss.id, now)
            other = await store.members.add(display_name=f"Hugo Coordinateur {c}", now=now)
            await store.members.grant_coordinator(cohort.id, other.id, now)
            await store.rooms.link("matrix", f"!cohort{c}:bench", cohort.id, now, None)
            for d in range(DELEGATIONS):
                delegation = await store.delegations.add(cohort.id, f"Commune n°{d} de {c}", now)
                for m, category in enumerate(CATEGORIES):
                    member = await store.members.add(
                        display_name=f"Membre {c}-{d}-{m} Nom-Assez-Long", now=now,
                        delegation_id=delegation.id, category=category, is_referent=m == d % 4)
                    if (d + m) % 3:
                        await store.identities.link("matrix", f"@m{c}-{d}-{m}:bench", member.id,
                                                    now)
    return "@camille:bench"


async def signed_in_session(app: App, base: str) -> ClientSession:
    async with app.db.session() as session:
        store = Store(session)
        identity = await store.identities.get("matrix", "@camille:bench")
        assert identity is not None
        url, _ = await issue_link(store, Holder(identity.id, None, None), app.settings,
                                  app.clock.now())
    path = url.split("/tableau/", 1)[1]
    client = ClientSession(cookie_jar=CookieJar(unsafe=True))
    landing = await (await client.get(f"{base}/tableau/{path}")).text()
    nonce = re.search(r'name="nonce" value="([^"]+)"', landing)
    assert nonce is not None
    response = await client.post(f"{base}/tableau/{path}", data={"nonce": nonce.group(1)})
    assert response.status == 200, await response.text()
    return client


async def timed_requests(client: ClientSession, urls: list[str], concurrency: int,
                         expect: str) -> tuple[list[float], float, int, float]:
    latencies: list[float] = []
    sizes: list[int] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)

    async def worker() -> None:
        while not queue.empty():
            url = queue.get_nowait()
            started = time.perf_counter()
            async with client.get(url) as response:
                body = await response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status == 200 and expect.encode() in body, (url, response.status)
            sizes.append(len(body))

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu_ms = round((time.process_time() - cpu) * 1000 / len(urls), 3)
    return latencies, time.perf_counter() - started, max(sizes), cpu_ms


def availability_grid() -> Grid:
    answers = list(Answer)
    return Grid(
        title="Date de la journée plénière de juin",
        columns=tuple(Column(f"{d} juin", "10 h – 12 h") for d in range(2, 10)),
        rows=tuple(GridRow(f"Membre {r} Nom-Assez-Long",
                           tuple(answers[(r * 3 + c) % 4] for c in range(8)))
                   for r in range(10)))


def timed(fn, count: int) -> tuple[list[float], float, float]:  # type: ignore[no-untyped-def]
    latencies = []
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        t = time.perf_counter()
        fn()
        latencies.append((time.perf_counter() - t) * 1000)
    return (latencies, time.perf_counter() - started,
            round((time.process_time() - cpu) * 1000 / count, 3))


async def bench_backend(name: str, url: str, data_dir: Path, requests: int, concurrency: int
                        ) -> list[dict[str, object]]:
    app = await bootstrap(Config(bot=BotConfig(data_dir=data_dir),
                                 database=DatabaseConfig(url=url)))
    rows: list[dict[str, object]] = []
    try:
        await seed(app)
        static_page: dict[str, bytes] = {}

        async def bare(request: web.Request) -> web.Response:
            return web.Response(body=static_page["body"], content_type="text/html")

        app.web.add_routes([web.get("/bench/static", bare)])
        server = TestServer(app.web.app, host="127.0.0.1")
        await server.start_server()
        base = str(server.make_url("")).rstrip("/")
        client = await signed_in_session(app, base)
        try:
            overview_urls = [f"{base}/tableau/cohortes/cohorte-{i % COHORTS:03d}"
                             for i in range(requests)]
            await timed_requests(client, overview_urls[:50], concurrency, "Cohorte n°")
            static_page["body"] = await (await client.get(overview_urls[0])).read()
            latencies, seconds, size, cpu = await timed_requests(
                client, [f"{base}/bench/static"] * requests, concurrency, "Cohorte n°")
            rows.append({"backend": name, "item": "baseline: bare aiohttp, static page",
                         "bytes": size, **summary(latencies, seconds), "cpu_ms": cpu,
                         "rss_mib": rss_mib()})
            latencies, seconds, size, cpu = await timed_requests(client, overview_urls,
                                                                 concurrency, "Cohorte n°")
            rows.append({"backend": name, "item": "overview page (HTTP, signed in)",
                         "bytes": size, **summary(latencies, seconds), "cpu_ms": cpu,
                         "rss_mib": rss_mib()})
        finally:
            await client.close()
            await server.close()
    finally:
        await app.close()
    return rows


def bench_renderers(count: int) -> list[dict[str, object]]:
    from messages.texts import Catalog

    grid = availability_grid()
    texts = Catalog().bind("fr")
    html = HtmlCatalog(globals_={"url": lambda *a, **k: "/", "static": lambda n: n})
    rows = []
    latencies, seconds, cpu = timed(lambda: html.render("fr", "fragments/grid", grid=grid),
                                    count)
    rows.append({"backend": "-", "item": "10 × 8 grid, HTML fragment",
                 "bytes": len(html.render("fr", "fragments/grid", grid=grid).encode()),
                 **summary(latencies, seconds), "cpu_ms": cpu, "rss_mib": rss_mib()})
    latencies, seconds, cpu = timed(lambda: results_reply(texts, grid), count // 4)
    size = len(results_reply(texts, grid).attachments[0].content)
    rows.append({"backend": "-", "item": "10 × 8 grid, PNG + summary",
                 "bytes": size, **summary(latencies, seconds), "cpu_ms": cpu,
                 "rss_mib": rss_mib()})
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--renders", type=int, default=2000)
    args = parser.parse_args()
    rss_start, peak_start = rss_mib(), peak_rss_mib()
    rows: list[dict[str, object]] = []
    rows += bench_renderers(args.renders)
    with tempfile.TemporaryDirectory() as tmp:
        rows += await bench_backend("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db", Path(tmp),
                                    args.requests, args.concurrency)
        pg = LocalPostgres()
        await pg.start()
        try:
            rows += await bench_backend("postgresql", pg.url, Path(tmp), args.requests,
                                        args.concurrency)
        finally:
            await pg.stop()
    peak_added = round(peak_rss_mib() - peak_start, 1)
    print(table(rows, ["backend", "item", "bytes", "count", "p50_ms", "p99_ms", "per_second",
                       "cpu_ms", "rss_mib"]))
    print(f"\nRSS at start {rss_start} MiB; peak RSS added by the run {peak_added} MiB")
    path = write(f"dashboard-c{args.concurrency}", {
        "requests": args.requests, "concurrency": args.concurrency, "cohorts": COHORTS,
        "rss_start_mib": rss_start,
        "peak_rss_added_mib": peak_added, "rows": rows})
    print(f"written to {path}")


if __name__ == "__main__":
    asyncio.run(main())

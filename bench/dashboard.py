"""The dashboard under load: 100 cohorts of seeded data, pages over real HTTP, grid pictures.

Seeds 100 cohorts (10 delegations × 4 members, 2 coordinators each, one room, an
8-arbitrage campaign sent and half answered, a 10 × 8 availability poll answered by
every delegation, and notes: each delegation's note d'intention filled), signs a
coordinator in through the real link flow, then measures, on SQLite and on PostgreSQL:

- baseline: a bare aiohttp handler returning a static page of the overview's size,
  on the same server, through the same client (the HTTP floor);
- the cohort overview (people, next events, polls and campaigns, note completion),
  the campaign table (delegation × arbitrage, category grid), and the availability
  poll's page with its 10 × 8 grid — each cycling over the 100 cohorts;
- the same grid and the campaign table as PNG downloads (a POST with the form's CSRF
  token: session, grid, Pillow, audit row);
- the 10 × 8 availability grid as an HTML fragment and as a PNG (Pillow) with its
  text summary (no HTTP: the renderers alone).

Prints p50/p99 per item and the peak RSS added by the whole run, and writes
bench/results/dashboard.json.

    .venv/bin/python bench/dashboard.py [--requests 2000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
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
from storage.models_polls import (  # noqa: E402
    AnsweredBy,
    Campaign,
    CampaignStatus,
    Poll,
    PollKind,
    PollOption,
    PollScope,
)
from storage.repos.dashboard import Holder  # noqa: E402
from storage.repos.polls import AnswerWrite  # noqa: E402
from storage.uow import Store  # noqa: E402

COHORTS = 100
DELEGATIONS = 10
CATEGORIES = tuple(Category)
CAMPAIGN = (  # question key, kind, scope, answered by, options
    ("a1", PollKind.AVAILABILITY, PollScope.CATEGORY, AnsweredBy.ANY, 3),
    ("a2", PollKind.YES_NO, PollScope.DELEGATION, AnsweredBy.REFERENT, 2),
    ("a3", PollKind.TEXT, PollScope.DELEGATION, AnsweredBy.ANY, 0),
    ("a4", PollKind.TEXT, PollScope.DELEGATION, AnsweredBy.ANY, 0),
    ("a5", PollKind.AVAILABILITY, PollScope.DELEGATION, AnsweredBy.REFERENT, 5),
    ("a6", PollKind.TEXT, PollScope.DELEGATION, AnsweredBy.ANY, 0),
    ("a7", PollKind.TEXT, PollScope.DELEGATION, AnsweredBy.ANY, 0),
    ("a8", PollKind.SINGLE, PollScope.DELEGATION, AnsweredBy.REFERENT, 3),
)
AVAILABILITY = ("yes", "maybe", "no")
CPU_SAMPLES: list[float] = []


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
            people = []
            for d in range(DELEGATIONS):
                delegation = await store.delegations.add(cohort.id, f"Commune n°{d} de {c}", now)
                for m, category in enumerate(CATEGORIES):
                    member = await store.members.add(
                        display_name=f"Membre {c}-{d}-{m} Nom-Assez-Long", now=now,
                        delegation_id=delegation.id, category=category, is_referent=m == d % 4)
                    people.append((delegation.id, category.value, member.id))
                    if (d + m) % 3:
                        await store.identities.link("matrix", f"@m{c}-{d}-{m}:bench", member.id,
                                                    now)
                note = await store.notes.get_or_create(
                    cohort_id=cohort.id, delegation_id=delegation.id, questionnaire="intention",
                    version=1, now=now, by=None)
                for q, question in enumerate(("nature_projet", "enjeux_territoire",
                                              "recommandation_diagnostic", "sert_transition")):
                    if q <= d % 5:
                        await store.notes.save_answer(note_id=note.id, question_id=question,
                                                      value=True if q == 2 else f"Réponse {q}",
                                                      by=None, now=now)
            await seed_polls(store, cohort.id, people, now)
    return "@camille:bench"


async def seed_polls(store: Store, cohort_id: int, people: list[tuple[int, str, int]],
                     now: datetime) -> None:
    """The campaign (8 arbitrages, half the delegations answer) and a 10 × 8 date poll."""
    deadline = now + timedelta(days=30)
    campaign = await store.campaigns.add(Campaign(
        cohort_id=cohort_id, slug="campagne", title="Note d'arbitrage (banc d'essai)", intro="",
        definition={"questions": []}, status=CampaignStatus.SENT, deadline=deadline,
        created_at=now, sent_at=now))
    writes = []
    delegations = sorted({d for d, _, _ in people})
    for key, kind, scope, answered_by, count in CAMPAIGN:
        options = [PollOption(position=i, label=f"Option {i}",
                              starts_at=now + timedelta(days=7 + i) if
                              kind is PollKind.AVAILABILITY else None)
                   for i in range(1, count + 1)]
        poll = await store.polls.add(Poll(
            cohort_id=cohort_id, campaign_id=campaign.id, question_key=key,
            title=f"Arbitrage {key}", question="?", kind=kind, scope=scope,
            answered_by=answered_by, deadline=deadline, created_at=now, only_delegations=[],
            nudge_offsets=[]), options)
        for n, delegation in enumerate(delegations[: len(delegations) // 2]):
            members = [(cat, m) for d, cat, m in people if d == delegation]
            slots = [(f"c:{delegation}:{cat}", cat, m) for cat, m in members] \
                if scope is PollScope.CATEGORY else [(f"d:{delegation}", None, members[0][1])]
            for slot, category, member_id in slots[: 1 + n % len(slots)]:
                writes.append(AnswerWrite(poll.id, slot, member_id, delegation, category,
                                          _value(kind, count, n), None, "matrix"))
    dates = await store.polls.add(Poll(
        cohort_id=cohort_id, title="Date de la plénière", question="?",
        kind=PollKind.AVAILABILITY, scope=PollScope.DELEGATION, answered_by=AnsweredBy.ANY,
        deadline=deadline, created_at=now, only_delegations=[], nudge_offsets=[]),
        [PollOption(position=i, label=f"Date {i}", starts_at=now + timedelta(days=10 + i),
                    ends_at=now + timedelta(days=10 + i, hours=2)) for i in range(1, 9)])
    for n, delegation in enumerate(delegations):
        member_id = next(m for d, _, m in people if d == delegation)
        writes.append(AnswerWrite(dates.id, f"d:{delegation}", member_id, delegation, None,
                                  _value(PollKind.AVAILABILITY, 8, n), None, "matrix"))
    await store.polls.upsert_answers(writes, now)


def _value(kind: PollKind, count: int, n: int) -> dict[str, object]:
    if kind is PollKind.AVAILABILITY:
        return {"availability": {str(i): AVAILABILITY[(n + i) % 3] for i in range(1, count + 1)}}
    if kind is PollKind.TEXT:
        return {"text": f"Une contribution de la délégation n°{n}."}
    return {"choices": [1 + n % count]}


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
            started, cpu_started = time.perf_counter(), time.process_time()
            async with client.get(url) as response:
                body = await response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            CPU_SAMPLES.append((time.process_time() - cpu_started) * 1000)
            assert response.status == 200 and expect.encode() in body, (url, response.status)
            sizes.append(len(body))

    CPU_SAMPLES.clear()
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu_ms = round((time.process_time() - cpu) * 1000 / len(urls), 3)
    return latencies, time.perf_counter() - started, max(sizes), cpu_ms


async def timed_posts(client: ClientSession, urls: list[str], data: dict[str, str],
                      concurrency: int) -> tuple[list[float], float, int, float]:
    """Like :func:`timed_requests`, for form posts answered with a download."""
    latencies: list[float] = []
    sizes: list[int] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)

    async def worker() -> None:
        while not queue.empty():
            url = queue.get_nowait()
            started, cpu_started = time.perf_counter(), time.process_time()
            async with client.post(url, data=data) as response:
                body = await response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            CPU_SAMPLES.append((time.process_time() - cpu_started) * 1000)
            assert response.status == 200 and body[:4] == b"\x89PNG", (url, response.status)
            sizes.append(len(body))

    CPU_SAMPLES.clear()
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu_ms = round((time.process_time() - cpu) * 1000 / len(urls), 3)
    return latencies, time.perf_counter() - started, max(sizes), cpu_ms


def cpu_percentiles() -> dict[str, float]:
    """CPU time per request (server and client, this process): p50/p99 at concurrency 1.

    What a page costs, whatever the neighbours on a shared machine do to wall time.
    """
    from bench._common import percentile

    return {"cpu_p50": round(percentile(CPU_SAMPLES, 50), 2),
            "cpu_p99": round(percentile(CPU_SAMPLES, 99), 2)}


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
    CPU_SAMPLES.clear()
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        t, c = time.perf_counter(), time.process_time()
        fn()
        latencies.append((time.perf_counter() - t) * 1000)
        CPU_SAMPLES.append((time.process_time() - c) * 1000)
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
                         **cpu_percentiles(), "rss_mib": rss_mib()})
            latencies, seconds, size, cpu = await timed_requests(client, overview_urls,
                                                                 concurrency, "Cohorte n°")
            rows.append({"backend": name, "item": "overview page (HTTP, signed in)",
                         "bytes": size, **summary(latencies, seconds), "cpu_ms": cpu,
                         **cpu_percentiles(), "rss_mib": rss_mib()})
            cohorts = [f"{base}/tableau/cohortes/cohorte-{i % COHORTS:03d}"
                       for i in range(requests)]
            ids = await poll_ids(app)
            pages = {
                "campaign table page (HTTP)": ([f"{c}/campagnes/campagne" for c in cohorts],
                                               "Arbitrage a8"),
                "10 × 8 availability poll page (HTTP)": (
                    [f"{c}/sondages/{ids[i % COHORTS]}" for i, c in enumerate(cohorts)],
                    'class="grid"'),
            }
            for item, (urls, expect) in pages.items():
                await timed_requests(client, urls[:20], concurrency, expect)
                latencies, seconds, size, cpu = await timed_requests(client, urls, concurrency,
                                                                     expect)
                rows.append({"backend": name, "item": item, "bytes": size,
                             **summary(latencies, seconds), "cpu_ms": cpu, **cpu_percentiles(),
                             "rss_mib": rss_mib()})
            home = await (await client.get(cohorts[0])).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', home)
            assert csrf is not None
            form = {"csrf": csrf.group(1), "format": "png"}
            posts = {
                "10 × 8 grid PNG download (HTTP POST)": [
                    f"{c}/sondages/{ids[i % COHORTS]}/exporter" for i, c in enumerate(cohorts)],
                "campaign table PNG download (HTTP POST)": [
                    f"{c}/campagnes/campagne/exporter" for c in cohorts],
            }
            for item, urls in posts.items():
                count = max(50, requests // 4)
                latencies, seconds, size, cpu = await timed_posts(client, urls[:count], form,
                                                                  concurrency)
                rows.append({"backend": name, "item": item, "bytes": size,
                             **summary(latencies, seconds), "cpu_ms": cpu, **cpu_percentiles(),
                             "rss_mib": rss_mib()})
        finally:
            await client.close()
            await server.close()
    finally:
        await app.close()
    return rows


async def poll_ids(app: App) -> list[int]:
    """The date poll of each cohort, in cohort order."""
    from sqlalchemy import select

    async with app.db.session() as session:
        rows = (await session.execute(select(Poll.cohort_id, Poll.id).where(
            Poll.campaign_id.is_(None)).order_by(Poll.cohort_id))).all()
    return [poll_id for _, poll_id in rows]


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
                 **summary(latencies, seconds), "cpu_ms": cpu, **cpu_percentiles(),
                 "rss_mib": rss_mib()})
    latencies, seconds, cpu = timed(lambda: results_reply(texts, grid), count // 4)
    size = len(results_reply(texts, grid).attachments[0].content)
    rows.append({"backend": "-", "item": "10 × 8 grid, PNG + summary",
                 "bytes": size, **summary(latencies, seconds), "cpu_ms": cpu,
                 **cpu_percentiles(), "rss_mib": rss_mib()})
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
                       "cpu_ms", "cpu_p50", "cpu_p99", "rss_mib"]))
    print(f"load average at the end: {os.getloadavg()}")
    print(f"\nRSS at start {rss_start} MiB; peak RSS added by the run {peak_added} MiB")
    path = write(f"dashboard-c{args.concurrency}", {
        "requests": args.requests, "concurrency": args.concurrency, "cohorts": COHORTS,
        "rss_start_mib": rss_start,
        "peak_rss_added_mib": peak_added, "rows": rows})
    print(f"written to {path}")


if __name__ == "__main__":
    asyncio.run(main())

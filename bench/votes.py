"""200 concurrent voters through the real dispatcher, on SQLite and on PostgreSQL.

Each voter is a cohort member with a Slack account; each clicks ``poll.vote`` several
times (changing their choice), and a share of the clicks is delivered twice with the
same event id (a Slack retry). Reported per backend: votes/s, p50/p99 latency of
``dispatcher.handle``, and the checks against the database — lost = voters whose
stored answer is not their last click, doubled = answer rows beyond one per voter,
confirmations beyond one per accepted click, or retries that were not recognised.

Two paths are measured in the same run: the batched vote writer (what the bot runs)
and the ordinary one-transaction-per-vote path (the writer switched off), next to a
baseline: a raw driver loop inserting one row per transaction.

Usage: ``python bench/votes.py [--voters 200] [--rounds 10] [--backend sqlite|postgres|all]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform as host_platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bot.bootstrap import App, bootstrap  # noqa: E402
from bot.config import BotConfig, Config, DatabaseConfig, HttpConfig  # noqa: E402
from handlers.core.events import ActionEvent, Origin  # noqa: E402
from handlers.core.ids import Platform, RoomRef, UserRef  # noqa: E402
from storage.models import Category, OutboxMessage, ProcessedEvent  # noqa: E402
from storage.models_polls import PollAnswer  # noqa: E402
from storage.uow import Store  # noqa: E402

OPTIONS = 4
RETRY_EVERY = 20


async def make_app(data_dir: Path, url: str) -> App:
    config = Config(bot=BotConfig(data_dir=data_dir, log_level="ERROR"),
                    database=DatabaseConfig(url=url), http=HttpConfig(port=8080))
    return await bootstrap(config)


async def populate(app: App, voters: int) -> tuple[int, list[str]]:
    """A cohort, one delegation per 4 voters, a member-scope poll; returns (poll, accounts)."""
    now = datetime.now(UTC)
    accounts = []
    async with app.db.session() as session:
        store = Store(session)
        cohort = await store.cohorts.add(slug="bench", name="Bench", language="fr",
                                         timezone="Europe/Paris", now=now)
        categories = list(Category)
        delegation = None
        for i in range(voters):
            if i % 4 == 0:
                delegation = await store.delegations.add(cohort.id, f"Territoire {i // 4}", now)
            assert delegation is not None
            member = await store.members.add(display_name=f"Votant {i}", now=now,
                                              delegation_id=delegation.id,
                                              category=categories[i % 4])
            account = f"UBENCH{i:04d}"
            await store.identities.link("slack", account, member.id, now)
            accounts.append(account)
        coordinator = await store.members.add(display_name="Coordination", now=now)
        await store.members.grant_coordinator(cohort.id, coordinator.id, now)
        await store.identities.link("slack", "UCOORD", coordinator.id, now)
        await store.rooms.link("slack", "CBENCH", cohort.id, now, coordinator.id)
    from handlers.core.events import CommandEvent

    outcome = await app.dispatcher.handle(CommandEvent(Origin(
        UserRef(Platform.SLACK, "UCOORD"), RoomRef(Platform.SLACK, "CBENCH"),
        event_id="create-poll"), 'sondage creer "Bench ?" options="A|B|C|D"'))
    text = outcome.replies[0].text
    poll_id = int(text.split("n°")[1].split(" ")[0])
    return poll_id, accounts


async def run_votes(app: App, poll_id: int, accounts: list[str], rounds: int, tag: str
                    ) -> dict[str, Any]:
    latencies: list[float] = []
    last: dict[str, int] = {}
    retries = 0
    duplicates = 0
    accepted = 0
    failed = 0

    async def voter(index: int, account: str) -> None:
        nonlocal retries, duplicates, accepted, failed
        for r in range(rounds):
            choice = 1 + (index + r) % OPTIONS
            event_id = f"{tag}-{account}-{r}"
            origin = Origin(UserRef(Platform.SLACK, account), RoomRef(Platform.SLACK, "CBENCH"),
                            event_id=event_id)
            start = time.perf_counter()
            outcome = await app.dispatcher.handle(ActionEvent(origin, "poll.vote",
                                                              f"{poll_id}:{choice}"))
            latencies.append(time.perf_counter() - start)
            if outcome.duplicate:
                raise RuntimeError(f"a first click was taken for a retry: {outcome}")
            if outcome.failed:
                failed += 1
                continue
            accepted += 1
            last[account] = choice
            if (index * rounds + r) % RETRY_EVERY == 0:
                retries += 1
                again = await app.dispatcher.handle(ActionEvent(origin, "poll.vote",
                                                                f"{poll_id}:{choice}"))
                duplicates += 1 if again.duplicate else 0

    started = time.perf_counter()
    await asyncio.gather(*(voter(i, a) for i, a in enumerate(accounts)))
    elapsed = time.perf_counter() - started
    async with app.db.session() as session:
        raw_rows = (await session.execute(select(PollAnswer.scope_key, PollAnswer.value)
                                          .where(PollAnswer.poll_id == poll_id))).all()
        per_key: dict[str, list[Any]] = {}
        for key, value in raw_rows:
            per_key.setdefault(key, []).append(value)
        rows = [(key, values[-1], len(values)) for key, values in per_key.items()]
        confirmations = await session.scalar(select(func.count()).select_from(OutboxMessage)
                                             .where(OutboxMessage.key.like(f"reply:slack:{tag}-%")))
        claimed = await session.scalar(select(func.count()).select_from(ProcessedEvent)
                                       .where(ProcessedEvent.event_id.like(f"{tag}-%")))
        from storage.models import Member, PlatformIdentity

        key_of = {f"m:{mid}": uid for uid, mid in (await session.execute(select(
            PlatformIdentity.user_id, Member.id).join(Member))).all()}
    stored = {key_of[k]: v["choices"][0] for k, v, _ in rows}
    lost = sum(1 for account, choice in last.items() if stored.get(account) != choice)
    doubled = sum(c - 1 for _, _, c in rows if c > 1) + max(0, len(rows) - len(accounts)) \
        + max(0, confirmations - accepted - failed) + (retries - duplicates) \
        + max(0, claimed - accepted - failed)
    ordered = sorted(latencies)
    return {
        "votes": accepted, "failed_and_told_to_retry": failed, "seconds": round(elapsed, 3),
        "votes_per_s": round(accepted / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
        "retries_sent": retries, "retries_recognised": duplicates,
        "answers": len(rows), "confirmations": confirmations,
        "lost": lost, "doubled": doubled,
    }


async def raw_baseline_sqlite(path: Path, count: int) -> float:
    import aiosqlite

    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("CREATE TABLE raw_vote (id INTEGER PRIMARY KEY, poll INT, voter TEXT, "
                         "choice INT, UNIQUE(poll, voter))")
        start = time.perf_counter()
        for i in range(count):
            await db.execute("BEGIN IMMEDIATE")
            await db.execute("INSERT INTO raw_vote (poll, voter, choice) VALUES (1, ?, ?) "
                             "ON CONFLICT (poll, voter) DO UPDATE SET choice = excluded.choice",
                             (f"v{i % 200}", i % 4))
            await db.commit()
        return count / (time.perf_counter() - start)


async def raw_baseline_postgres(dsn: str, count: int) -> float:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE raw_vote (id serial PRIMARY KEY, poll int, voter text, "
                           "choice int, UNIQUE(poll, voter))")
        start = time.perf_counter()
        for i in range(count):
            async with conn.transaction():
                await conn.execute("INSERT INTO raw_vote (poll, voter, choice) VALUES (1, $1, $2) "
                                   "ON CONFLICT (poll, voter) DO UPDATE SET choice = "
                                   "excluded.choice", f"v{i % 200}", i % 4)
        return count / (time.perf_counter() - start)
    finally:
        await conn.close()


async def bench_backend(name: str, url: str, data_dir: Path, voters: int, rounds: int,
                        baseline: float) -> dict[str, Any]:
    app = await make_app(data_dir, url)
    try:
        poll_id, accounts = await populate(app, voters)
        batched = await run_votes(app, poll_id, accounts, rounds, "batched")
        writer = app.services.votes
        batches = {"batches": writer.batches, "largest_batch": writer.largest_batch}
        app.services.votes = None
        ordinary = await run_votes(app, poll_id, accounts, max(1, rounds // 5), "ordinary")
        app.services.votes = writer
    finally:
        await app.close()
    return {"backend": name, "voters": voters, "rounds": rounds,
            "raw_insert_loop_per_s": round(baseline, 1),
            "batched_writer": {**batched, **batches}, "one_transaction_per_vote": ordinary}


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        if args.backend in ("sqlite", "all"):
            baseline = await raw_baseline_sqlite(base / "raw.db", 2000)
            results.append(await bench_backend("sqlite", f"sqlite+aiosqlite:///{base}/bench.db",
                                               base, args.voters, args.rounds, baseline))
        if args.backend in ("postgres", "all"):
            from bot.devtools.local_postgres import LocalPostgres

            cluster = LocalPostgres()
            await cluster.start()
            try:
                raw_db = await cluster.create_database()
                baseline = await raw_baseline_postgres(cluster.dsn_for(raw_db), 2000)
                name = await cluster.create_database()
                results.append(await bench_backend("postgres", cluster.url_for(name), base,
                                                   args.voters, args.rounds, baseline))
            finally:
                await cluster.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "votes.json")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    results = asyncio.run(main_async(args))
    report = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": f"{host_platform.machine()}, {__import__('os').cpu_count()} cores",
              "python": host_platform.python_version(), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    bad = [r for r in results for path in ("batched_writer", "one_transaction_per_vote")
           if r[path]["lost"] or r[path]["doubled"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

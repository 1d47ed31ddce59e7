"""Reminder benchmark: planning at start-up, memory, and a burst of 500 reminders.

``python bench/reminders.py [--postgres] [--cohorts 100] [--burst 500]``

1. 100 cohorts, each with one linked room and a year of events: two weekly peer
   groups, the monthly permanence, six webinars and three plenary days
   (125 occurrences a cohort, 12,500 in all, × 3 offsets).
2. Start-up planning, timed: what the scheduler does when the bot starts (plan the
   rolling window, load the timers) — then, for scale, the whole year planned at once.
3. RSS of the process after planning.
4. A burst: 500 reminders due at the same instant, delivered through the real
   scheduler (APScheduler), dispatcher, outbox and delivery to a recording sender.
   Lateness = arrival at the sender − due time. Duplicates are counted per
   reminder key at the sender and per (event, occurrence, offset, room) in the
   database.
5. The floor, measured in the same run: bare APScheduler firing 500 no-op jobs due
   at the same instant.

Results are printed and written to ``bench/results/reminders.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bot.bootstrap import bootstrap  # noqa: E402
from bot.config import BotConfig, Config, DatabaseConfig, HttpConfig  # noqa: E402
from bot.delivery import Outbound, Sent  # noqa: E402
from handlers.calendar.planner import plan_all, plan_cohort  # noqa: E402
from handlers.calendar.recurrence import localize  # noqa: E402
from handlers.core.ids import Platform  # noqa: E402
from storage.models import ScheduledJob  # noqa: E402
from storage.models_calendar import (  # noqa: E402
    CalendarEvent,
    EventStatus,
    Reminder,
    ReminderStatus,
    TargetKind,
)
from storage.uow import Store  # noqa: E402

PARIS = "Europe/Paris"
RESULTS = ROOT / "bench" / "results" / "reminders.json"


class ArrivalSender:
    """A platform that notes when each message arrives."""

    platform = Platform.MATRIX

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}

    async def send(self, message: Outbound) -> Sent:
        self.arrivals.setdefault(message.key, []).append(time.time())
        return Sent(message_id=message.key)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(values, 0.5) * 1000, 1),
            "p99_ms": round(percentile(values, 0.99) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1),
            "mean_ms": round(statistics.fmean(values) * 1000, 1)}


async def populate(app, cohorts: int, year_start: datetime) -> int:  # type: ignore[no-untyped-def]
    """Cohorts, one room each, a year of events; returns the number of occurrences."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(PARIS)
    now = datetime.now(UTC)
    occurrences = 0
    async with app.db.session() as session:
        store = Store(session)
        for index in range(cohorts):
            cohort = await store.cohorts.add(slug=f"c{index:03d}", name=f"Cohorte {index}",
                                             language="fr", timezone=PARIS, now=now)
            await store.rooms.link("matrix", f"!room{index:03d}:bench", cohort.id, now, None)
            local = year_start.astimezone(tz).replace(tzinfo=None)

            def at(days: int, hour: int, minute: int = 0, local: datetime = local) -> datetime:
                day = (local + timedelta(days=days)).replace(hour=hour, minute=minute, second=0,
                                                            microsecond=0)
                return localize(day, tz)

            series = [
                ("Groupe de pairs — élu·es", at(1, 14), "FREQ=WEEKLY;COUNT=52", 52),
                ("Groupe de pairs — agent·es", at(3, 9, 30), "FREQ=WEEKLY;COUNT=52", 52),
                ("Permanence mensuelle", at(2, 11), "FREQ=MONTHLY;BYDAY=1TU;COUNT=12", 12),
            ]
            series += [(f"Webinaire {n}", at(20 + 45 * n, 10), None, 1) for n in range(6)]
            series += [(f"Journée #{n}", at(60 + 110 * n, 9, 30), None, 1) for n in range(3)]
            for number, (title, start, rule, count) in enumerate(series):
                session.add(CalendarEvent(
                    cohort_id=cohort.id, uid=f"bench-{index}-{number}@cohortbot", title=title,
                    timezone=PARIS, all_day=False, starts_at=start,
                    ends_at=start + timedelta(hours=2), rrule=rule, status=EventStatus.ACTIVE,
                    source="bench", sequence=0, i18n={}, kind="event",
                    target_kind=TargetKind.COHORT, created_at=now - timedelta(days=1),
                    updated_at=now - timedelta(days=1)))
                occurrences += count
        await session.flush()
    return occurrences


async def count(app, model) -> int:  # type: ignore[no-untyped-def]
    async with app.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def burst(app, size: int, cohorts: int, sender: ArrivalSender  # type: ignore[no-untyped-def]
                ) -> dict[str, object]:
    """``size`` reminders due at one instant, through the running scheduler and delivery."""
    now = datetime.now(UTC)
    due = (now + timedelta(seconds=15)).replace(microsecond=0)
    planning = time.perf_counter()
    async with app.db.session() as session:
        store = Store(session)
        all_cohorts = await store.cohorts.all()
        added: dict[int, list[CalendarEvent]] = {}
        for index in range(size):
            cohort = all_cohorts[index % cohorts]
            start = due + timedelta(minutes=1)
            event = CalendarEvent(
                cohort_id=cohort.id, uid=f"burst-{index}@cohortbot", title=f"Atelier {index}",
                timezone=PARIS, all_day=False, starts_at=start,
                ends_at=start + timedelta(hours=1), offsets=[1], status=EventStatus.ACTIVE,
                source="bench-burst", sequence=0, i18n={}, kind="event",
                target_kind=TargetKind.COHORT, created_at=now, updated_at=now)
            session.add(event)
            added.setdefault(cohort.id, []).append(event)
        await session.flush()
        for cohort in all_cohorts[:cohorts]:
            await plan_cohort(store, cohort, now, only=[e.id for e in added.get(cohort.id, [])])
    planning = time.perf_counter() - planning
    if datetime.now(UTC) > due - timedelta(seconds=2):
        raise SystemExit(f"the burst took {planning:.1f} s to plan: due time too close")
    app.scheduler.notify({"jobs"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _burst_done(sender, due, size):
        await asyncio.sleep(0.05)
    await app.services.calendar.idle()
    arrivals = [t for key, times in sender.arrivals.items() if key.startswith("reminder:")
                for t in times[:1] if t >= due.timestamp() - 1]
    lateness = [t - due.timestamp() for t in arrivals]
    duplicates_at_sender = sum(len(times) - 1 for times in sender.arrivals.values())
    async with app.db.session() as session:
        rows = (await session.execute(select(Reminder.event_id, Reminder.occurrence_start,
                                             Reminder.offset_minutes, Reminder.room_id,
                                             Reminder.status).where(Reminder.due_at == due))
                ).all()
    keys = Counter((r[0], r[1], r[2], r[3]) for r in rows)
    return {"reminders": len(lateness), "rows_due": len(rows),
            "planning_s": round(planning, 2),
            "sent_rows": sum(1 for r in rows if r[4] in (ReminderStatus.SENT,
                                                         ReminderStatus.QUEUED)),
            "lateness": summary(lateness) if lateness else {},
            "duplicates_at_sender": duplicates_at_sender,
            "duplicate_rows": sum(v - 1 for v in keys.values())}


def _burst_done(sender: ArrivalSender, due: datetime, size: int) -> bool:
    return sum(1 for times in sender.arrivals.values()
               if times and times[0] >= due.timestamp() - 1) >= size


async def apscheduler_floor(size: int) -> dict[str, float]:
    """Bare APScheduler: ``size`` no-op coroutine jobs due at one instant."""
    fired: list[float] = []

    async def job() -> None:
        fired.append(time.time())

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start()
    due = datetime.now(UTC) + timedelta(seconds=2)
    for index in range(size):
        scheduler.add_job(job, "date", run_date=due, id=f"noop-{index}",
                          misfire_grace_time=None)
    while len(fired) < size:
        await asyncio.sleep(0.05)
    scheduler.shutdown(wait=False)
    return summary([t - due.timestamp() for t in fired])


async def main(args: argparse.Namespace) -> dict[str, object]:
    process = psutil.Process()
    results: dict[str, object] = {"machine": {"cpus": os.cpu_count(),
                                              "python": sys.version.split()[0]}}
    pg = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            from bot.devtools.local_postgres import LocalPostgres

            pg = LocalPostgres()
            await pg.start()
            url = pg.url_for(await pg.create_database())
        else:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        results["database"] = "postgresql" if args.postgres else "sqlite"
        config = Config(bot=BotConfig(data_dir=Path(tmp), log_level="WARNING"),
                        database=DatabaseConfig(url=url), http=HttpConfig(enabled=False))
        app = await bootstrap(config)
        sender = ArrivalSender()
        app.delivery.add_sender(sender)
        try:
            year_start = datetime.now(UTC)
            started = time.perf_counter()
            occurrences = await populate(app, args.cohorts, year_start)
            results["dataset"] = {"cohorts": args.cohorts, "occurrences_per_year": occurrences,
                                  "offsets": 3, "rooms_per_cohort": 1,
                                  "reminders_per_year": occurrences * 3,
                                  "populate_s": round(time.perf_counter() - started, 2)}
            rss_before = process.memory_info().rss
            started = time.perf_counter()
            await app.scheduler.start()
            startup = time.perf_counter() - started
            results["startup"] = {
                "scheduler_start_s": round(startup, 3),
                "reminder_rows": await count(app, Reminder),
                "timers": await count(app, ScheduledJob),
                "rss_mib": round(process.memory_info().rss / 2**20, 1),
                "rss_growth_mib": round((process.memory_info().rss - rss_before) / 2**20, 1)}
            await app.scheduler.stop()
            started = time.perf_counter()
            async with app.db.session() as session:
                stats = await plan_all(Store(session), datetime.now(UTC),
                                       window=timedelta(days=366))
            results["full_year_plan"] = {
                "seconds": round(time.perf_counter() - started, 2),
                "rows_added": stats.added, "reminder_rows": await count(app, Reminder),
                "timers": await count(app, ScheduledJob),
                "rss_mib": round(process.memory_info().rss / 2**20, 1)}
            started = time.perf_counter()
            async with app.db.session() as session:
                again = await plan_all(Store(session), datetime.now(UTC),
                                       window=timedelta(days=366))
            results["replan_unchanged_year"] = {
                "seconds": round(time.perf_counter() - started, 2), "rows_added": again.added}
            app.delivery.start()
            await app.scheduler.start()
            results["burst"] = await burst(app, args.burst, args.cohorts, sender)
            results["burst"]["size"] = args.burst  # type: ignore[index]
            results["floor_apscheduler_noop"] = await apscheduler_floor(args.burst)
            results["rss_mib_end"] = round(process.memory_info().rss / 2**20, 1)
        finally:
            await app.close()
            if pg is not None:
                await pg.stop()
    return results


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="run on a throwaway PostgreSQL")
    parser.add_argument("--cohorts", type=int, default=100)
    parser.add_argument("--burst", type=int, default=500)
    args = parser.parse_args()
    results = asyncio.run(main(args))
    text = json.dumps(results, indent=2, ensure_ascii=False)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    name = RESULTS.with_name(f"reminders-{results['database']}.json")
    name.write_text(text + "\n", encoding="utf-8")
    burst = results["burst"]
    assert isinstance(burst, dict)
    ok = burst.get("duplicates_at_sender") == 0 and burst.get("duplicate_rows") == 0 and \
        burst.get("reminders") == args.burst
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(cli())

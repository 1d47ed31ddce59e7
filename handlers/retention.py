"""The daily purge of the bot's bookkeeping (see :mod:`storage.repos.retention`).

One timer a day at 03:30 in the bot's time zone, in the leading process (the
scheduler's); each run plans the next, and start-up plans one if none is pending.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.core.commands import Router
from handlers.core.context import Context
from handlers.core.events import TimerEvent
from storage.db import Database
from storage.repos.retention import RetentionPolicy
from storage.uow import unit_of_work

log = logging.getLogger(__name__)

PURGE_TIMER = "retention.purge"
PURGE_AT = time(3, 30)


def next_run(now: datetime, timezone: str) -> datetime:
    """The next 03:30 local time strictly after ``now`` (a wall-clock time, DST-safe)."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    day = local.date()
    while True:
        candidate = datetime.combine(day, PURGE_AT, tzinfo=zone)
        if candidate > local:
            return candidate.astimezone(now.tzinfo)
        day += timedelta(days=1)


def purge_key(when: datetime) -> str:
    return f"retention:{when.date().isoformat()}"


async def purge(ctx: Context, event: TimerEvent) -> None:
    policy = ctx.services.retention or RetentionPolicy()
    touched = await ctx.store.retention.purge(policy, ctx.now())
    for rule, rows in touched.items():
        if rows:
            ctx.services.metrics.incr("retention_purged", rows, rule=rule)
    log.info("retention purge done", extra={"rows": sum(touched.values()),
                                            **{f"rows_{k}": v for k, v in touched.items()}})
    upcoming = next_run(ctx.now(), ctx.settings.default_timezone)
    await ctx.schedule(purge_key(upcoming), PURGE_TIMER, upcoming)


async def plan(db: Database, now: datetime, timezone: str) -> None:
    """Make sure the next purge is planned (called when the scheduler starts)."""
    upcoming = next_run(now, timezone)
    async with unit_of_work(db) as store:
        await store.jobs.schedule(key=purge_key(upcoming), name=PURGE_TIMER, due_at=upcoming,
                                  now=now)


def register(router: Router) -> None:
    router.on_timer(PURGE_TIMER, purge)

"""The cohort calendar and its reminders: ``agenda …`` and ``rappel …``.

Events (one-off or RFC 5545 recurring, ICS import and export), reminders planned in
the database and sent exactly once to every room linked to the cohort, with a
documented policy for reminders missed while the bot was down (docs/reminders.md).
"""

from __future__ import annotations

import logging
from typing import Any

from handlers.admin.demo import EXTRA_LOADERS
from handlers.calendar import commands as agenda
from handlers.calendar import rappel
from handlers.calendar import web as calendar_web
from handlers.calendar.demo import load_events
from handlers.calendar.imports import import_ics
from handlers.calendar.planner import PLAN_TIMER, REMIND_TIMER
from handlers.calendar.reminders import on_plan, on_remind
from handlers.core.commands import Router
from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.core.events import Reply, TimerEvent
from handlers.core.ids import Platform, RoomRef
from handlers.web.registry import WebRegistry

log = logging.getLogger(__name__)

IMPORT_TIMER = "calendar.import"


async def on_import(ctx: Context, event: TimerEvent) -> None:
    """Apply an ICS file fetched from a URL, once, and tell the person who asked."""
    store = ctx.store
    row = await store.calendar.get_import(int(event.payload["import"]))
    if row is None:
        return
    content, error, url = row.content, row.error, row.url
    reply_to: dict[str, Any] = dict(row.reply_to or {})
    if not await store.calendar.finish_import(row.id, ctx.now(), failed=error is not None):
        return
    cohort = await store.cohorts.get(row.cohort_id)
    if cohort is None:
        return
    platform = Platform(reply_to.get("platform", "console"))
    lang = reply_to.get("lang") or cohort.language
    prefix = ctx.settings.prefix(platform)
    if error is not None:
        text = ctx.catalog.render(lang, error, prefix=prefix, url=url)
    else:
        try:
            async with store.session.begin_nested():
                result = await import_ics(store, cohort, content or b"", source=url,
                                          now=ctx.now(), member_id=row.requested_by)
        except UserFacingError as failure:
            row.status = row.status.FAILED
            text = ctx.catalog.render(lang, failure.template, prefix=prefix, **failure.context)
        else:
            if result.timers:
                ctx.changed.add("jobs")
            ctx.changed.add("calendar")
            await store.audit.record(actor=reply_to.get("actor") or "cohortbot",
                                     action="calendar.import_url", now=ctx.now(),
                                     actor_member_id=row.requested_by, cohort_id=cohort.id,
                                     added=result.added, updated=result.updated,
                                     cancelled=result.cancelled)
            text = ctx.catalog.render(lang, "calendar/imported", prefix=prefix, result=result,
                                      source=url)
    ctx.send(RoomRef(platform, str(reply_to.get("room", "console"))), Reply(text),
             key=f"calendar-import:{row.id}", thread_id=reply_to.get("thread"))
    row.reply_to = {}


def register_web(web: WebRegistry) -> None:
    """The calendar page, the overview's next events and the ICS download."""
    calendar_web.register_web(web)


def register(router: Router) -> None:
    router.include(agenda.commands)
    router.include(rappel.commands)
    router.on_timer(REMIND_TIMER, on_remind)
    router.on_timer(PLAN_TIMER, on_plan)
    router.on_timer(IMPORT_TIMER, on_import)
    if load_events not in EXTRA_LOADERS:
        EXTRA_LOADERS.append(load_events)

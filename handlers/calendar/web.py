"""The cohort calendar on the dashboard: the coming weeks month by month, the next events
on the overview, and the ICS file of ``agenda exporter``.

The occurrences are those the reminders are planned from (:func:`expand` over each
event's series with its exceptions), so the page, the chat's ``agenda`` and the
reminders agree. The calendar is the whole cohort's, as in chat: every member sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby

from markupsafe import Markup

from handlers.calendar import commands as agenda
from handlers.calendar.model import EventView, series_of, view
from handlers.calendar.recurrence import expand
from handlers.calendar.reminders import target_name
from handlers.core.commands import Args
from handlers.web.core import Access, WebResponse
from handlers.web.page import PageContext
from handlers.web.registry import WebRegistry
from storage.models import Cohort
from storage.models_calendar import EventStatus

PAGE_DAYS = 92
SECTION_DAYS = 60
SECTION_ITEMS = 4
SAFE_LINKS = ("https://", "http://")


@dataclass(frozen=True, slots=True)
class Month:
    first: date
    items: list[EventView]


async def occurrences(page: PageContext, cohort: Cohort, days: int, limit: int | None = None
                      ) -> list[EventView]:
    """The occurrences still to come (or under way) in the next ``days`` days, in order.

    (Reminder offsets are not shown here, so the cohort's reminder settings are not read.)
    """
    now = page.now()
    found = []
    for event in await page.store.calendar.events(cohort.id, (EventStatus.ACTIVE,
                                                              EventStatus.PAUSED)):
        for occurrence in expand(series_of(event), now - timedelta(days=1),
                                 now + timedelta(days=days)):
            if occurrence.end > now:
                found.append((occurrence, event))
    found.sort(key=lambda pair: (pair[0].start, pair[1].id))
    shown = found[:limit] if limit is not None else found
    return [view(e, page.lang, occurrence=o, target_name=await target_name(page.store, e))
            for o, e in shown]


def safe_link(link: str | None) -> str | None:
    """A visio link made clickable only when it is a web address."""
    if link and link.strip().lower().startswith(SAFE_LINKS):
        return link.strip()
    return None


async def agenda_page(page: PageContext) -> WebResponse:
    assert page.cohort is not None
    items = await occurrences(page, page.cohort, PAGE_DAYS)
    months = [Month(first, list(group)) for first, group in groupby(
        items, key=lambda e: e.start.astimezone(page.tz).date().replace(day=1))]
    return page.render("calendar/agenda", months=months, days=PAGE_DAYS, safe_link=safe_link,
                       now=page.now())


async def export_ics(page: PageContext) -> WebResponse:
    """The file of ``agenda exporter``: every active event, for a calendar application."""
    reply = await agenda.export(page.chat(), Args({}))
    file = reply.attachments[0]
    return WebResponse.download(file.content, file.mimetype, file.filename)


async def next_events(page: PageContext, cohort: Cohort) -> Markup:
    """The overview's block: the next few events."""
    items = await occurrences(page, cohort, SECTION_DAYS, limit=SECTION_ITEMS)
    return page.fragment("sections/events", items=items, days=SECTION_DAYS,
                         safe_link=safe_link, now=page.now())


def register_web(web: WebRegistry) -> None:
    web.nav("calendar", "calendar.agenda", order=20)
    web.section("overview", "events", order=20)(next_events)
    web.page("calendar.agenda", "/tableau/cohortes/{cohort}/agenda")(agenda_page)
    web.page("calendar.export", "/tableau/cohortes/{cohort}/agenda/ics", method="POST",
             access=Access.MEMBER)(export_ics)


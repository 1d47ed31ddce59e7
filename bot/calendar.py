"""The calendar's runtime parts: the ICS feed, URL fetches, start-up re-planning, and
marking reminders sent once the platforms accepted them.

Everything here is wired by :func:`wire_calendar` from the composition root; the
feature itself (``handlers/calendar``) stays platform- and network-free.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
import aiohttp.abc
from aiohttp import web
from yarl import URL

from bot.delivery import Delivery, Outbound, Sent
from bot.scheduler import Scheduler
from bot.web import WebServer
from handlers.calendar import IMPORT_TIMER
from handlers.calendar.ics import MAX_ICS_BYTES, build_ics
from handlers.calendar.planner import PLAN_KEY, PLAN_TIMER
from handlers.calendar.reminders import OUTBOX_PREFIX
from handlers.core.clock import Clock
from handlers.core.context import Services
from handlers.core.dispatch import Dispatcher
from handlers.core.events import TimerEvent
from storage.db import Database
from storage.models_calendar import EventStatus
from storage.uow import Store

log = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 15.0
MARK_SENT_DELAY = 0.2
USER_AGENT = "cohortbot (calendar import)"
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


class PrivateAddress(OSError):
    """The calendar URL's host resolves to this machine or a private network."""


def is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global


class PublicOnlyResolver(aiohttp.abc.AbstractResolver):
    """Resolves like aiohttp's default, and refuses hosts with a non-public address, so a
    calendar URL (and any redirect it leads to) cannot make the bot read an internal
    service: the loopback, private networks, link-local (cloud metadata)…"""

    def __init__(self) -> None:
        self._inner = aiohttp.DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[dict[str, Any]]:
        found = await self._inner.resolve(host, port, family)
        if any(is_private(entry["host"]) for entry in found):
            raise PrivateAddress(f"{host} is not a public address")
        return found

    async def close(self) -> None:
        await self._inner.close()


def _refuse_private_literal(url: URL) -> None:
    """An address written in the URL is checked here (the resolver sees host names only)."""
    host = url.host or ""
    try:
        private = is_private(host.strip("[]"))
    except ValueError:
        return
    if private:
        raise PrivateAddress(f"{host} is not a public address")


async def _read_calendar(response: aiohttp.ClientResponse) -> tuple[bytes | None, str | None]:
    if response.status >= 400 or 300 <= response.status < 400:
        log.warning("calendar import refused by the server", extra={"status": response.status})
        return None, "calendar/import_http_error"
    if (response.content_length or 0) > MAX_ICS_BYTES:
        return None, "calendar/import_too_big"
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_ICS_BYTES:
            return None, "calendar/import_too_big"
    return bytes(body), None


class CalendarRuntime:
    """The calendar's long-lived parts; one per process, built by :func:`wire_calendar`."""

    def __init__(self, db: Database, dispatcher: Dispatcher, clock: Clock, *,
                 jobs_changed: Callable[[set[str]], None] = lambda _changed: None,
                 fetch_timeout: float = FETCH_TIMEOUT_SECONDS,
                 allow_private_urls: bool = False) -> None:
        self.db = db
        self.allow_private_urls = allow_private_urls
        self.dispatcher = dispatcher
        self.clock = clock
        self.jobs_changed = jobs_changed
        self.fetch_timeout = fetch_timeout
        self._background: set[asyncio.Task[None]] = set()
        self._fetching: asyncio.Task[None] | None = None
        self._fetch_again = False
        self._sent: list[tuple[str, str | None, datetime]] = []
        self._marking: asyncio.Task[None] | None = None

    # -- after a change -------------------------------------------------------------------

    def on_change(self, changed: set[str]) -> None:
        """Called after commit: fetch requested URLs; re-plan when rooms were (un)linked."""
        if "calendar.fetch" in changed:
            self.kick_fetch()
        if "rooms" in changed:
            task = asyncio.get_running_loop().create_task(self.request_plan(),
                                                          name="calendar-plan")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def request_plan(self) -> None:
        """Ask the scheduler (wherever it runs) for a planning pass now."""
        now = self.clock.now()
        try:
            async with self.db.session() as session:
                await Store(session).jobs.schedule(key=f"{PLAN_KEY}now:{now.isoformat()}",
                                                   name=PLAN_TIMER, due_at=now, now=now)
        except Exception:
            log.exception("could not ask for a calendar planning pass")
            return
        self.jobs_changed({"jobs"})

    # -- start-up (in the process that runs the scheduler) ----------------------------------

    async def on_scheduler_start(self) -> None:
        """Close what a crash left open, then plan from the database before overdue jobs run."""
        now = self.clock.now()
        async with self.db.session() as session:
            store = Store(session)
            settled = await store.calendar.settle_delivered()
            await store.jobs.schedule(key=f"{PLAN_KEY}start:{now.isoformat()}", name=PLAN_TIMER,
                                      due_at=now, now=now)
        if settled:
            log.info("reminders delivered before a restart marked sent",
                     extra={"count": settled})
        self.kick_fetch()

    # -- reminders accepted by a platform -----------------------------------------------------

    async def on_delivered(self, item: Outbound, sent: Sent) -> None:
        """Mark ``reminder:<id>`` rows sent, in small batches (one transaction per burst)."""
        if not item.key.startswith(OUTBOX_PREFIX):
            return
        self._sent.append((item.key, sent.message_id, self.clock.now()))
        if self._marking is None or self._marking.done():
            self._marking = asyncio.get_running_loop().create_task(self._mark_soon())

    async def _mark_soon(self) -> None:
        await asyncio.sleep(MARK_SENT_DELAY)
        await self.flush_sent()

    async def flush_sent(self) -> None:
        batch, self._sent = self._sent, []
        if not batch:
            return
        try:
            async with self.db.session() as session:
                await Store(session).calendar.mark_sent_keys(batch, OUTBOX_PREFIX)
        except Exception:
            log.exception("could not mark reminders sent (the next start-up will)")

    # -- URL imports --------------------------------------------------------------------------

    def kick_fetch(self) -> None:
        if self._fetching is not None and not self._fetching.done():
            self._fetch_again = True
            return
        self._fetching = asyncio.get_running_loop().create_task(self._fetch_all(),
                                                                name="calendar-fetch")

    async def idle(self) -> None:
        """Wait for fetches, planning requests and sent-marks in progress (tests, shutdown)."""
        for task in (self._fetching, self._marking, *self._background):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.flush_sent()

    async def close(self) -> None:
        """Stop fetching; keep what was delivered (the sent marks are written now)."""
        if self._fetching is not None and not self._fetching.done():
            self._fetching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._fetching
        for task in (self._marking, *self._background):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.flush_sent()

    async def _fetch_all(self) -> None:
        while True:
            self._fetch_again = False
            try:
                async with self.db.session() as session:
                    todo = [(r.id, r.url) for r in
                            await Store(session).calendar.imports_to_fetch()]
                for import_id, url in todo:
                    content, error = await self.fetch(url)
                    async with self.db.session() as session:
                        await Store(session).calendar.fetched(import_id, content, error)
                async with self.db.session() as session:
                    ready = list(await Store(session).calendar.imports_fetched())
                for import_id in ready:
                    await self.dispatcher.handle(TimerEvent(
                        name=IMPORT_TIMER, due_at=self.clock.now(), payload={"import": import_id},
                        key=f"calendar-import:{import_id}"))
            except Exception:
                log.exception("calendar import pass failed")
            if not self._fetch_again:
                return

    async def fetch(self, url: str) -> tuple[bytes | None, str | None]:
        """The body at ``url`` (size-limited), or the template explaining why not.

        Unless ``allow_private_urls``, host names are checked when resolved and addresses
        written in a URL before it is requested, for the URL and every redirect (followed
        here, at most ``MAX_REDIRECTS``), so an import cannot read an internal service.
        """
        timeout = aiohttp.ClientTimeout(total=self.fetch_timeout)
        connector = None if self.allow_private_urls else \
            aiohttp.TCPConnector(resolver=PublicOnlyResolver())
        try:
            async with aiohttp.ClientSession(timeout=timeout, connector=connector,
                                             headers={"User-Agent": USER_AGENT}) as client:
                current = URL(url)
                for _ in range(MAX_REDIRECTS + 1):
                    if not self.allow_private_urls:
                        _refuse_private_literal(current)
                    async with client.get(current, allow_redirects=False, headers={
                            "Accept": "text/calendar, */*;q=0.5"}) as response:
                        location = response.headers.get("Location")
                        if response.status in REDIRECTS and location:
                            current = current.join(URL(location))
                            continue
                        return await _read_calendar(response)
                return None, "calendar/import_http_error"
        except TimeoutError:
            return None, "calendar/import_timeout"
        except PrivateAddress:
            log.warning("calendar import refused: not a public address")
            return None, "calendar/import_private"
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, PrivateAddress):
                log.warning("calendar import refused: not a public address")
                return None, "calendar/import_private"
            log.warning("calendar import unreachable: %s", type(error).__name__)
            return None, "calendar/import_unreachable"
        except (aiohttp.ClientError, aiohttp.InvalidURL, ValueError, OSError) as error:
            log.warning("calendar import unreachable: %s", type(error).__name__)
            return None, "calendar/import_unreachable"

    # -- the subscribable feed ----------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [web.get(r"/ics/{slug}/{token:[A-Za-z0-9_-]{8,128}}.ics", self.feed)]

    async def feed(self, request: web.Request) -> web.StreamResponse:
        """``GET /ics/<cohort>/<token>.ics``: the cohort's calendar for calendar apps."""
        slug = request.match_info["slug"]
        token = request.match_info["token"]
        async with self.db.session() as session:
            store = Store(session)
            found = await store.calendar.by_feed(slug)
            if found is None or not hmac.compare_digest(found[1].feed_token or "", token):
                raise web.HTTPNotFound(text="unknown calendar\n")
            cohort = found[0]
            events = await store.calendar.events(cohort.id, (EventStatus.ACTIVE,
                                                             EventStatus.PAUSED))
            stamp = max((e.updated_at for e in events), default=cohort.created_at)
            body = build_ics(events, name=cohort.name, default_tz=cohort.timezone, now=stamp)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": "private, max-age=300",
                   "Content-Disposition": f'inline; filename="{cohort.slug}.ics"'}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type="text/calendar", charset="utf-8",
                            headers=headers)


def wire_calendar(*, db: Database, dispatcher: Dispatcher, clock: Clock, scheduler: Scheduler,
                  delivery: Delivery, web_server: WebServer, services: Services,
                  allow_private_urls: bool = False) -> CalendarRuntime:
    """Plug the calendar into the scheduler, the delivery, the web server and change hooks."""
    runtime = CalendarRuntime(db, dispatcher, clock, jobs_changed=scheduler.notify,
                              allow_private_urls=allow_private_urls)
    scheduler.on_start.append(runtime.on_scheduler_start)
    delivery.listeners.append(runtime.on_delivered)
    web_server.add_routes(runtime.routes())
    previous: Callable[[set[str]], None] | None = services.on_change

    def on_change(changed: set[str]) -> None:
        if previous is not None:
            previous(changed)
        runtime.on_change(changed)

    services.on_change = on_change
    services.calendar = runtime
    return runtime


__all__ = ["CalendarRuntime", "wire_calendar"]

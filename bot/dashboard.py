"""The dashboard on the bot's one aiohttp server: HTTP in, neutral pages, HTTP out.

Every page of the :class:`~handlers.web.registry.WebRegistry` becomes an aiohttp
route; anything else under ``/tableau`` gets the French 404 page. Static files
(one CSS file) are served from ``messages/web/static``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy import update

from handlers.core.events import Reply
from handlers.dashboard.access import LINK_MARKER, issue_link
from handlers.registry import build_web
from handlers.web.core import FormData, WebRequest, WebResponse
from handlers.web.dispatch import WebDispatcher
from handlers.web.registry import PageSpec, WebRegistry
from messages.html import STATIC_DIR, HtmlCatalog
from storage.models import OutboxMessage
from storage.repos.dashboard import Holder
from storage.uow import Store

if TYPE_CHECKING:
    from bot.bootstrap import App
    from bot.delivery import Outbound, Sent

log = logging.getLogger(__name__)

STATIC_PREFIX = "/tableau/static"
MAX_FORM_BYTES = 256 * 1024


def mount(app: App, registry: WebRegistry | None = None) -> WebDispatcher:
    """Add the dashboard's routes to ``app.web`` and return its dispatcher."""
    registry = registry or build_web()
    html = HtmlCatalog(globals_={"url": registry.url, "static": _static_url})
    dispatcher = WebDispatcher(db=app.db, registry=registry, html=html, catalog=app.catalog,
                               clock=app.clock, settings=app.settings, services=app.services,
                               notify=app.delivery.notify, router=app.router)
    routes = [web.route(spec.method, spec.path, _adapt(dispatcher, spec))
              for spec in registry.pages()]
    routes.append(web.static(STATIC_PREFIX, STATIC_DIR, append_version=False))
    routes.append(web.route("*", "/tableau{tail:.*}", _adapt(dispatcher, None)))
    app.web.add_routes(routes)
    app.delivery.listeners.append(_blank_delivered_links(app))
    return dispatcher


def _static_url(name: str) -> str:
    return f"{STATIC_PREFIX}/{name}"


def _adapt(dispatcher: WebDispatcher, spec: PageSpec | None):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.StreamResponse:
        neutral = WebRequest(method=request.method, path=request.path,
                             params=dict(request.match_info), query=dict(request.query),
                             cookies=dict(request.cookies))
        if request.method == "POST" and spec is not None:
            if (request.content_length or 0) > MAX_FORM_BYTES:
                return to_aiohttp(await dispatcher.refuse(neutral, 413))
            try:
                posted = await request.post()
            except ValueError:
                return to_aiohttp(await dispatcher.refuse(neutral, 400))
            form = FormData({k: [v for v in posted.getall(k) if isinstance(v, str)]
                             for k in set(posted.keys())})
            neutral = replace(neutral, form=form)
        return to_aiohttp(await dispatcher.handle(spec, neutral))

    return handler


def to_aiohttp(response: WebResponse) -> web.Response:
    out = web.Response(status=response.status, body=response.body,
                       headers=response.headers)
    out.content_type = response.content_type.split(";")[0]
    if "charset=" in response.content_type:
        out.charset = response.content_type.split("charset=")[1]
    for cookie in response.cookies:
        out.set_cookie(cookie.name, cookie.value, max_age=cookie.max_age, path=cookie.path,
                       httponly=cookie.http_only, samesite=cookie.same_site,
                       secure=cookie.secure or None)
    return out


def _blank_delivered_links(app: App):  # type: ignore[no-untyped-def]
    """Once a sign-in link has been delivered, the outbox keeps no copy of it."""

    async def listener(item: Outbound, sent: Sent) -> None:
        if LINK_MARKER not in item.reply.text:
            return
        blank = Reply(text="(lien personnel envoyé)", visibility=item.reply.visibility)
        async with app.db.session() as session:
            await session.execute(update(OutboxMessage).where(
                OutboxMessage.id == item.outbox_id).values(payload=blank.to_dict()))

    return listener


async def demo_link(app: App, member_name: str) -> str | None:
    """``make demo``: serve the dashboard and give the demo coordinator a sign-in link.

    When the configured port is taken (another demo, another service), a free port
    is used instead and links name it. Returns None if no server could start.
    """
    try:
        await app.web.start()
    except OSError as error:
        log.warning("port %s taken (%s), using a free one", app.web.port, error)
        app.web.port = 0
        try:
            await app.web.start()
        except OSError:
            return None
    if app.web.port != app.config.http.port or app.settings.public_url.endswith(":0"):
        settings = replace(app.settings, public_url=f"http://{app.web.host}:{app.web.port}")
        app.settings = app.dispatcher.settings = settings
        if app.dashboard is not None:
            app.dashboard.settings = settings
    async with app.db.session() as session:
        store = Store(session)
        cohort = await store.cohorts.by_slug("occitanie")
        members = await store.members.in_cohort_scope(cohort.id) if cohort else []
        member = next((m for m in members if m.display_name == member_name), None)
        if member is None:
            return None
        user_id = f"member-{member.id}"
        await store.identities.link("console", user_id, member.id, app.clock.now())
        identity = await store.identities.get("console", user_id)
        assert identity is not None
        url, _ = await issue_link(store, Holder(identity.id, None, cohort.id if cohort else None),
                                  app.settings, app.clock.now())
    return url

"""Serving one dashboard request: who is looking, may they, one transaction, one page.

Every request re-reads the session *and* the person's current roles: a member
removed, unlinked or erased in chat loses access at their next click, and a
coordinator whose role is revoked stops seeing coordinator pages at once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable

from handlers.core.clock import Clock
from handlers.core.commands import Router
from handlers.core.context import Services
from handlers.core.ids import Platform
from handlers.core.settings import Settings
from handlers.web.core import (
    Access,
    FormInvalid,
    Viewer,
    WebError,
    WebRequest,
    WebResponse,
)
from handlers.web.page import PageContext
from handlers.web.registry import PageSpec, WebRegistry
from messages.html import HtmlCatalog
from messages.texts import Catalog
from storage.db import Database
from storage.uow import Store

log = logging.getLogger(__name__)

SESSION_COOKIE = "cb_session"
CONSOLE_OPERATOR = "console:operator"
MAX_SECRET_LENGTH = 128

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""No script runs, no page is framed, and no URL (a sign-in link) leaks as a Referer."""


def csrf_token(secret: str) -> str:
    """The form token of a session: derived from the cookie, which only that browser holds."""
    return hmac.new(secret.encode(), b"cohortbot-csrf", hashlib.sha256).hexdigest()


class WebDispatcher:
    def __init__(self, *, db: Database, registry: WebRegistry, html: HtmlCatalog,
                 catalog: Catalog, clock: Clock, settings: Settings,
                 services: Services | None = None,
                 notify: Callable[[set[Platform]], None] | None = None,
                 router: Router | None = None) -> None:
        self.db = db
        self.router = router
        self.registry = registry
        self.html = html
        self.catalog = catalog
        self.clock = clock
        self.settings = settings
        self.services = services or Services()
        self.notify = notify or (lambda _platforms: None)

    @property
    def secure_cookies(self) -> bool:
        """Cookies are ``Secure`` when the dashboard is served over TLS."""
        return self.settings.public_url.startswith("https://")

    async def handle(self, spec: PageSpec | None, request: WebRequest) -> WebResponse:
        """Answer ``request`` with ``spec``'s page (``None``: no such page, a French 404)."""
        page: PageContext | None = None
        reading = spec is None or spec.method in ("GET", "HEAD")
        try:
            async with (self.db.read_session() if reading else self.db.session()) as session:
                page = self._context(request, Store(session))
                await self._authenticate(page)
                if spec is None:
                    raise WebError(404, "not_found")
                await self._authorize(page, spec)
                response = await spec.handler(page)
                await page.store.outbox.enqueue_many([
                    {"key": out.key, "platform": out.platform, "destination": out.destination,
                     "payload": out.reply.to_dict(), "thread_id": out.thread_id,
                     "edit_of": out.edit_of, "not_before": out.not_before,
                     "private_to": out.private_to} for out in page.outgoing], page.now())
            if page.outgoing:
                self.notify({o.platform for o in page.outgoing})
            if page.changed and self.services.on_change is not None:
                try:
                    self.services.on_change(set(page.changed))
                except Exception:
                    log.exception("change listener failed",
                                  extra={"changed": sorted(page.changed)})
            self.services.metrics.incr("web_requests", page=spec.name, outcome="ok")
        except FormInvalid as invalid:
            response = invalid.response
            self.services.metrics.incr("web_requests", page=spec.name if spec else "?",
                                       outcome="invalid")
        except WebError as error:
            response = await self._error_page(page, request, error)
            self.services.metrics.incr("web_requests", page=spec.name if spec else "?",
                                       outcome=str(error.status))
        except Exception:
            log.exception("page failed", extra={"page": spec.name if spec else "?",
                                                "method": request.method})
            self.services.metrics.incr("errors", where="web")
            response = await self._error_page(page, request, WebError(500, "internal"))
        if page is not None:
            response.cookies.extend(page.cookies)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    async def refuse(self, request: WebRequest, status: int) -> WebResponse:
        """A request the adapter could not read (too large, malformed): a French 4xx page."""
        response = await self._error_page(None, request, WebError(status, "bad_request"))
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def _context(self, request: WebRequest, store: Store) -> PageContext:
        return PageContext(request=request, store=store, clock=self.clock,
                           settings=self.settings, registry=self.registry, html=self.html,
                           catalog=self.catalog, services=self.services,
                           lang=self.settings.default_language, router=self.router)

    async def _authenticate(self, page: PageContext) -> None:
        secret = page.request.cookies.get(SESSION_COOKIE, "")
        if not secret or len(secret) > MAX_SECRET_LENGTH:
            return
        signed = await page.store.dashboard.signed_in(secret, page.now())
        if signed is None:
            return
        admins = self.settings.admins | {CONSOLE_OPERATOR}
        member = signed.member
        if signed.identity is not None:
            if member is None or member.erased_at is not None:
                return
            account = f"{signed.identity.platform}:{signed.identity.user_id}"
            is_admin = account in admins
            cohorts, coordinates = await page.store.members.cohort_ids(member)
        elif signed.admin_account in admins:
            is_admin, cohorts, coordinates = True, set(), set()
        else:
            return
        page.viewer = Viewer(member=member, identity=signed.identity, is_admin=is_admin,
                             session_id=signed.session_id, csrf=csrf_token(secret),
                             cohorts=frozenset(cohorts), coordinates=frozenset(coordinates),
                             admin_account=signed.admin_account)
        if member is not None and member.language:
            page.lang = member.language

    async def _authorize(self, page: PageContext, spec: PageSpec) -> None:
        viewer = page.viewer
        if spec.access >= Access.SIGNED_IN and viewer is None:
            raise WebError(403, "signed_out")
        if spec.needs_cohort:
            assert viewer is not None
            slug = page.request.params.get("cohort", "")
            cohort = await page.store.cohorts.by_slug(slug.lower()) if len(slug) <= 64 else None
            if cohort is None or not viewer.belongs_to(cohort.id):
                raise WebError(404, "not_found")
            page.cohort = cohort
            if viewer.member is None or not viewer.member.language:
                page.lang = cohort.language
            if spec.access >= Access.COORDINATOR and not viewer.coordinates_cohort(cohort.id):
                raise WebError(403, "forbidden")
        if spec.method == "POST" and spec.csrf:
            sent = page.request.form.get("csrf")
            if viewer is None or not sent or not hmac.compare_digest(sent, viewer.csrf):
                raise WebError(403, "csrf")

    async def _error_page(self, page: PageContext | None, request: WebRequest,
                          error: WebError) -> WebResponse:
        """The error explained in French (or the viewer's language), never a traceback.

        The failed request's transaction is gone (rolled back), so the page is built in
        a fresh one: who is looking and their cohort are read again, nothing is written.
        """
        try:
            async with self.db.read_session() as session:
                fresh = self._context(request, Store(session))
                await self._authenticate(fresh)
                slug = request.params.get("cohort", "")
                if fresh.viewer is not None and slug and len(slug) <= 64:
                    cohort = await fresh.store.cohorts.by_slug(slug.lower())
                    if cohort is not None and fresh.viewer.belongs_to(cohort.id):
                        fresh.cohort = cohort
                        if fresh.viewer.member is None or not fresh.viewer.member.language:
                            fresh.lang = cohort.language
                if error.template == "signed_out" and page is not None:
                    fresh.viewer = None
                return fresh.render(f"errors/{error.template}", status=error.status,
                                    **error.context)
        except Exception:
            log.exception("error page failed", extra={"template": error.template})
            return WebResponse(status=error.status, body=b"Erreur / Error",
                               content_type="text/plain; charset=utf-8")

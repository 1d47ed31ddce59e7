"""What a page handler gets: the request, who is looking, the cohort, storage, templates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from markupsafe import Markup

from handlers.core.clock import Clock
from handlers.core.commands import Router
from handlers.core.context import Caller, Context, Outgoing, Services
from handlers.core.events import Reply
from handlers.core.ids import Platform, RoomRef, UserRef
from handlers.core.settings import Settings
from handlers.web.core import Access, FormInvalid, Viewer, WebEvent, WebRequest, WebResponse
from handlers.web.registry import WebRegistry
from messages.html import HtmlCatalog
from messages.texts import Catalog, Texts

if TYPE_CHECKING:
    from storage.models import Cohort
    from storage.repos.dashboard import CohortPeople
    from storage.uow import Store

D = TypeVar("D")


@dataclass(slots=True)
class PageContext:
    """One request's view of the world; built by the web dispatcher, never by a page."""

    request: WebRequest
    store: Store
    clock: Clock
    settings: Settings
    registry: WebRegistry
    html: HtmlCatalog
    catalog: Catalog
    services: Services
    lang: str
    viewer: Viewer | None = None
    cohort: Cohort | None = None
    outgoing: list[Outgoing] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    """What changed (``"jobs"``, ``"calendar"`` …), told to runtime parts after commit."""
    cookies: list[Any] = field(default_factory=list)
    router: Router | None = None
    _now: datetime | None = None
    _people: Any = None

    def now(self) -> datetime:
        """The instant this request is handled (constant within one request)."""
        if self._now is None:
            self._now = self.clock.now()
        return self._now

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.cohort.timezone if self.cohort else self.settings.default_timezone)

    @property
    def texts(self) -> Texts:
        """Chat templates in the viewer's language, for messages a page sends to chat."""
        return self.catalog.bind(self.lang)

    @property
    def is_coordinator(self) -> bool:
        return bool(self.viewer and self.cohort and
                    self.viewer.coordinates_cohort(self.cohort.id))

    def url(self, name: str, /, **params: Any) -> str:
        if "cohort" not in params and self.cohort is not None:
            params["cohort"] = self.cohort.slug
        return self.registry.url(name, **params)

    def absolute_url(self, name: str, /, **params: Any) -> str:
        return self.settings.public_url.rstrip("/") + self.url(name, **params)

    def _common(self) -> dict[str, Any]:
        return {"viewer": self.viewer, "cohort": self.cohort, "csrf": self.viewer.csrf
                if self.viewer else "", "nav": self.navigation(), "tz": self.tz,
                "is_coordinator": self.is_coordinator, "current": self.request.path}

    def fragment(self, template: str, /, **context: Any) -> Markup:
        """A piece of a page (an overview section) in the viewer's language."""
        return self.html.render(self.lang, template, **{**self._common(), **context})

    def render(self, template: str, /, *, status: int = 200, **context: Any) -> WebResponse:
        """A whole page in the viewer's language."""
        return WebResponse.html(self.fragment(template, **context), status=status)

    def redirect(self, name: str, /, **params: Any) -> WebResponse:
        return WebResponse.redirect(self.url(name, **params))

    def invalid(self, template: str, /, *, errors: dict[str, str], **context: Any
                ) -> FormInvalid:
        """The form again, 422, with ``errors`` (field name → error key) marked."""
        return FormInvalid(self.render(template, status=422, errors=errors, **context))

    def navigation(self) -> list[dict[str, Any]]:
        if self.cohort is None or self.viewer is None:
            return []
        items = []
        for nav in self.registry.navigation():
            if nav.access >= Access.COORDINATOR and not self.is_coordinator:
                continue
            url = self.url(nav.page)
            items.append({"name": nav.name, "url": url, "current": url == self.request.path})
        return items

    async def sections(self, area: str) -> list[Markup]:
        """The blocks features add to ``area`` for this viewer, in order."""
        assert self.cohort is not None
        shown = []
        for section in self.registry.sections(area):
            if section.access >= Access.COORDINATOR and not self.is_coordinator:
                continue
            html = await section.provider(self, self.cohort)
            if html:
                shown.append(html)
        return shown

    async def people(self) -> CohortPeople:
        """The cohort's delegations, members and coordinators as plain rows, read once per
        request (every overview section and table of a page shares them).

        Delegations and members are the shapes the poll rules read (``expected_slots``,
        grids, views), so pages need not load the ORM graph a chat event uses.
        """
        assert self.cohort is not None
        if self._people is None:
            self._people = await self.store.dashboard.people(self.cohort.id)
        return self._people

    def visible(self, delegations: Sequence[D]) -> list[D]:
        """The delegations this viewer may see: all for coordinators, else their own."""
        assert self.viewer is not None and self.cohort is not None
        return [d for d in delegations
                if self.viewer.sees_delegation(self.cohort.id, d.id)]  # type: ignore[attr-defined]

    def send(self, target: RoomRef | UserRef, reply: Reply, *, key: str) -> None:
        """Queue a chat message in this request's transaction (same outbox as handlers)."""
        destination = f"@dm:{target.user_id}" if isinstance(target, UserRef) else target.room_id
        self.outgoing.append(Outgoing(key=key, platform=target.platform,
                                      destination=destination, reply=reply))

    def chat(self, *, detached: bool = False) -> Context:
        """The chat features' :class:`Context` for this request, as the person signed in.

        A form calls the very service or command a chat message would (same checks,
        same stored objects), in this request's transaction; what it sends goes to the
        same outbox and what it schedules wakes the scheduler after commit. With
        ``detached`` the messages and changes are thrown away (a preview run in a
        savepoint that is rolled back).
        """
        viewer = self.viewer
        assert viewer is not None
        if viewer.identity is not None:
            user = UserRef(Platform(viewer.identity.platform), viewer.identity.user_id)
        else:
            user = UserRef.parse(viewer.admin_account or "console:operator")
        caller = Caller(user=user, member=viewer.member, is_admin=viewer.is_admin,
                        cohorts=viewer.cohorts, coordinates=viewer.coordinates,
                        platform_name=viewer.display_name)
        return Context(event=WebEvent(self.request.method, self.request.path),  # type: ignore[arg-type]
                       store=self.store, clock=self.clock, catalog=self.catalog,
                       settings=self.settings, router=self.router or Router(),
                       services=self.services, lang=self.lang, caller=caller,
                       cohort=self.cohort, outgoing=[] if detached else self.outgoing,
                       changed=set() if detached else self.changed, _now=self.now())

    async def audit(self, action: str, **details: Any) -> None:
        viewer = self.viewer
        await self.store.audit.record(
            actor=viewer.actor if viewer else "web", action=action, now=self.now(),
            actor_member_id=viewer.member.id if viewer and viewer.member else None,
            cohort_id=self.cohort.id if self.cohort else None, **details)

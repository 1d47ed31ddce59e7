"""Where features add their dashboard pages, overview sections and navigation links.

A feature module with web pages has a ``register_web(web)`` function and is listed
in ``handlers/registry.py`` (``WEB_FEATURES``). For example the polls feature::

    def register_web(web: WebRegistry) -> None:
        web.nav("polls", "polls.list", order=30)
        web.section("overview", "polls", order=30)(open_polls_section)
        web.page("polls.list", "/tableau/cohortes/{cohort}/sondages")(list_polls)
        web.page("polls.close", "/tableau/cohortes/{cohort}/sondages/{poll}/fermer",
                 method="POST", access=Access.COORDINATOR)(close_poll)

Reserved overview orders: 20 next events (calendar), 30 open polls and campaigns
(polls), 40 note completion (notes), 50 the cohort's people (dashboard): who still
owes what comes first, the roll of delegations and accounts last.
A nav label is the template ``nav/<name>.html.j2``, a section renders its own
fragment; a section returns ``None`` when it has nothing to show.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from handlers.web.core import Access, WebResponse

if TYPE_CHECKING:
    from markupsafe import Markup

    from handlers.web.page import PageContext
    from storage.models import Cohort

PageHandler = Callable[["PageContext"], Awaitable[WebResponse]]
SectionProvider = Callable[["PageContext", "Cohort"], Awaitable["Markup | None"]]

_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class PageSpec:
    name: str
    path: str
    handler: PageHandler
    method: str = "GET"
    access: Access = Access.MEMBER
    csrf: bool = True
    """POST pages check the session's CSRF token (the sign-in page checks its own)."""

    # GET pages run in a read-only transaction (they never wait for chat events being
    # written, nor delay them); whatever changes something is a POST form.

    @property
    def needs_cohort(self) -> bool:
        return "{cohort}" in self.path


@dataclass(frozen=True, slots=True)
class SectionSpec:
    area: str
    name: str
    order: int
    provider: SectionProvider
    access: Access = Access.MEMBER


@dataclass(frozen=True, slots=True)
class NavSpec:
    name: str
    page: str
    order: int
    access: Access = Access.MEMBER


@dataclass(slots=True)
class WebRegistry:
    _pages: dict[str, PageSpec] = field(default_factory=dict)
    _sections: list[SectionSpec] = field(default_factory=list)
    _nav: list[NavSpec] = field(default_factory=list)

    def page(self, name: str, path: str, *, method: str = "GET", access: Access = Access.MEMBER,
             csrf: bool = True) -> Callable[[PageHandler], PageHandler]:
        """Serve ``method path`` with the decorated coroutine; ``name`` is for :meth:`url`."""

        def decorate(fn: PageHandler) -> PageHandler:
            if name in self._pages:
                raise ValueError(f"page {name!r} registered twice")
            if any(p.path == path and p.method == method for p in self._pages.values()):
                raise ValueError(f"{method} {path} registered twice")
            self._pages[name] = PageSpec(name, path, fn, method.upper(), access, csrf)
            return fn

        return decorate

    def section(self, area: str, name: str, *, order: int, access: Access = Access.MEMBER
                ) -> Callable[[SectionProvider], SectionProvider]:
        """Add a block to a page that shows sections (``overview``), in ``order``."""

        def decorate(fn: SectionProvider) -> SectionProvider:
            self._sections.append(SectionSpec(area, name, order, fn, access))
            self._sections.sort(key=lambda s: (s.area, s.order, s.name))
            return fn

        return decorate

    def nav(self, name: str, page: str, *, order: int, access: Access = Access.MEMBER) -> None:
        """A link in every cohort page's navigation bar (label: ``nav/<name>.html.j2``)."""
        self._nav.append(NavSpec(name, page, order, access))
        self._nav.sort(key=lambda n: n.order)

    def pages(self) -> Iterator[PageSpec]:
        yield from self._pages.values()

    def sections(self, area: str) -> list[SectionSpec]:
        return [s for s in self._sections if s.area == area]

    def navigation(self) -> list[NavSpec]:
        return list(self._nav)

    def get(self, name: str) -> PageSpec:
        return self._pages[name]

    def url(self, name: str, /, **params: Any) -> str:
        """The path of page ``name`` with its ``{parts}`` filled in (and escaped)."""
        spec = self._pages[name]

        def fill(match: re.Match[str]) -> str:
            return quote(str(params[match.group(1)]), safe="")

        return _PARAM.sub(fill, spec.path)

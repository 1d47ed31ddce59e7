"""The cohort at a glance: my cohorts, the overview, a delegation, the accounts to link.

Coordinators see every delegation of the cohorts they coordinate; a member sees
their own delegation only. The overview is made of sections other features add
(next events, open polls, note completion); this module adds the people.
"""

from __future__ import annotations

from datetime import timedelta

from markupsafe import Markup

from handlers.admin.members import new_code
from handlers.web.core import Access, FormInvalid, WebError, WebResponse
from handlers.web.page import PageContext
from handlers.web.registry import WebRegistry
from storage.models import Category, Cohort
from storage.repos.dashboard import DelegationView, PersonView

CATEGORIES = tuple(Category)


def _row(delegation: DelegationView) -> dict[str, object]:
    """One delegation as the tables show it: who per category, référents, accounts linked."""
    members = delegation.members
    by_category: dict[str, list[PersonView]] = {c.value: [] for c in CATEGORIES}
    for member in members:
        if member.category is not None:
            by_category[member.category.value].append(member)
    return {
        "delegation": delegation,
        "members": members,
        "by_category": by_category,
        "missing": [c.value for c in CATEGORIES if not by_category[c.value]],
        "referents": [m for m in members if m.is_referent],
        "linked": sum(1 for m in members if m.platforms),
    }


async def home(page: PageContext) -> WebResponse:
    """The cohorts of the person signed in (straight to it when there is only one)."""
    viewer = page.viewer
    assert viewer is not None
    if viewer.is_admin:
        cohorts = list(await page.store.cohorts.all())
    else:
        cohorts = list(await page.store.cohorts.with_ids(sorted(viewer.cohorts)))
    if len(cohorts) == 1:
        return WebResponse.redirect(page.url("dashboard.overview", cohort=cohorts[0].slug))
    rows = []
    for cohort in cohorts:
        delegations, members = await page.store.cohorts.counts(cohort.id)
        rows.append({"cohort": cohort, "delegations": delegations, "members": members,
                     "coordinator": viewer.coordinates_cohort(cohort.id)})
    return page.render("home", rows=rows)


async def overview(page: PageContext) -> WebResponse:
    assert page.cohort is not None
    return page.render("overview", sections=await page.sections("overview"))


async def people_section(page: PageContext, cohort: Cohort) -> Markup:
    people = await page.store.dashboard.people(cohort.id)
    rooms = await page.store.rooms.of_cohort(cohort.id)
    return page.fragment("sections/people", rows=[_row(d) for d in page.visible(
        people.delegations)], coordinators=people.coordinators, rooms=rooms,
        categories=CATEGORIES)


async def _delegation(page: PageContext) -> DelegationView:
    assert page.cohort is not None and page.viewer is not None
    raw = page.request.params.get("delegation", "")
    wanted = int(raw) if raw.isdigit() and len(raw) < 10 else None
    people = await page.store.dashboard.people(page.cohort.id)
    found = next((d for d in people.delegations if d.id == wanted), None)
    if found is None:
        raise WebError(404, "not_found")
    if not page.viewer.sees_delegation(page.cohort.id, found.id):
        raise WebError(403, "forbidden")
    return found


async def delegation_page(page: PageContext) -> WebResponse:
    delegation = await _delegation(page)
    return page.render("delegation", row=_row(delegation), categories=CATEGORIES)


async def accounts(page: PageContext) -> WebResponse:
    """Coordinators: who has linked a Slack or Matrix account, and codes for the others."""
    return await _accounts_page(page)


async def _accounts_page(page: PageContext, *, status: int = 200, errors: dict[str, str]
                         | None = None, issued: dict[str, object] | None = None
                         ) -> WebResponse:
    assert page.cohort is not None
    people = await page.store.dashboard.people(page.cohort.id)
    return page.render("accounts", status=status, rows=[_row(d) for d in people.delegations],
                       coordinators=people.coordinators, errors=errors or {}, issued=issued)


async def issue_code(page: PageContext) -> WebResponse:
    """The form twin of ``membre lier "<nom>"``: a one-time code the person types in chat."""
    assert page.cohort is not None and page.viewer is not None
    raw = page.request.form.get("member").strip()
    members = await page.store.members.in_cohort_scope(page.cohort.id)
    member = next((m for m in members if raw.isdigit() and m.id == int(raw)), None)
    if member is None:
        raise FormInvalid(await _accounts_page(page, status=422,
                                               errors={"member": "unknown_member"}))
    code = new_code()
    ttl = timedelta(minutes=page.settings.link_code_ttl_minutes)
    await page.store.codes.issue(code, purpose="link", member_id=member.id,
                                 created_by=page.viewer.member.id if page.viewer.member else None,
                                 now=page.now(), ttl=ttl)
    await page.audit("member.link_code", member_id=member.id, via="web")
    return await _accounts_page(page, issued={"member": member, "code": code,
                                              "expires": page.now() + ttl})


def register_web(web: WebRegistry) -> None:
    web.page("dashboard.home", "/tableau/", access=Access.SIGNED_IN)(home)
    web.page("dashboard.overview", "/tableau/cohortes/{cohort}")(overview)
    web.page("dashboard.delegation",
             "/tableau/cohortes/{cohort}/delegations/{delegation}")(delegation_page)
    web.page("dashboard.accounts", "/tableau/cohortes/{cohort}/comptes",
             access=Access.COORDINATOR)(accounts)
    web.page("dashboard.issue_code", "/tableau/cohortes/{cohort}/comptes/code", method="POST",
             access=Access.COORDINATOR)(issue_code)
    web.section("overview", "people", order=10)(people_section)
    web.nav("overview", "dashboard.overview", order=0)
    web.nav("accounts", "dashboard.accounts", order=90, access=Access.COORDINATOR)

"""The cohort at a glance: my cohorts, the overview, a delegation, the accounts to link.

Coordinators see every delegation of the cohorts they coordinate; a member sees
their own delegation only. The overview is made of sections other features add
(next events, open polls, note completion); this module adds the people.
"""

from __future__ import annotations

from datetime import timedelta

from markupsafe import Markup

from handlers.admin.members import add_member, new_code
from handlers.core.errors import UserFacingError
from handlers.web.core import Access, FormInvalid, WebError, WebResponse
from handlers.web.page import PageContext
from handlers.web.registry import WebRegistry
from messages.render.plain import to_plain
from storage.models import Category, Cohort
from storage.repos.dashboard import DelegationView, PersonView

CATEGORIES = tuple(Category)
CATEGORY_VALUES = tuple(c.value for c in Category)
CHAT_ERROR_FIELDS = {"errors/name_too_long": "nom", "admin/member_exists": "nom",
                     "admin/member_needs_delegation": "delegation"}
"""Which form field a refusal of the shared checks (the chat's sentences) belongs to."""


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
    people = await page.people()
    rooms = await page.store.rooms.of_cohort(cohort.id)
    return page.fragment("sections/people", rows=[_row(d) for d in page.visible(
        people.delegations)], coordinators=people.coordinators, rooms=rooms,
        categories=CATEGORIES)


async def _delegation(page: PageContext) -> DelegationView:
    assert page.cohort is not None and page.viewer is not None
    raw = page.request.params.get("delegation", "")
    wanted = int(raw) if raw.isdigit() and len(raw) < 10 else None
    people = await page.people()
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
    people = await page.people()
    wanted = page.request.query.get("ajout", "")
    everybody = [p for d in people.delegations for p in d.members] + people.coordinators
    added = next((p for p in everybody if str(p.id) == wanted), None)
    return page.render("accounts", status=status, rows=[_row(d) for d in people.delegations],
                       coordinators=people.coordinators, errors=errors or {}, issued=issued,
                       added=added)


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


async def member_form(page: PageContext) -> WebResponse:
    """The form twin of ``membre ajouter``."""
    return await _member_form_page(page, values={}, errors={})


async def _member_form_page(page: PageContext, *, values: dict[str, object],
                            errors: dict[str, dict[str, str]], status: int = 200
                            ) -> WebResponse:
    assert page.cohort is not None
    people = await page.people()
    return page.render("member_form", status=status, delegations=people.delegations,
                       categories=CATEGORIES, values=values, errors=errors)


async def add_member_submit(page: PageContext) -> WebResponse:
    """Add a member from the form: the chat's checks, the fields at fault marked."""
    assert page.cohort is not None
    form = page.request.form
    values: dict[str, object] = {
        "nom": form.get("nom")[:300], "delegation": form.get("delegation").strip(),
        "categorie": form.get("categorie").strip(), "referent": form.get("referent") == "oui",
        "coordinateur": form.get("coordinateur") == "oui"}
    errors: dict[str, dict[str, str]] = {}
    name = " ".join(str(values["nom"]).split())
    if not name:
        errors["nom"] = {"key": "required"}
    delegation = None
    raw = str(values["delegation"])
    if raw:
        found = await page.store.delegations.get(int(raw)) \
            if raw.isdigit() and len(raw) < 10 else None
        if found is None or found.cohort_id != page.cohort.id:
            errors["delegation"] = {"key": "unknown"}
        delegation = found
    category = None
    if values["categorie"]:
        if values["categorie"] not in CATEGORY_VALUES:
            errors["categorie"] = {"key": "unknown"}
        else:
            category = Category(str(values["categorie"]))
    member = None
    if not errors:
        try:
            member = await add_member(
                page.store, page.cohort, name=name, delegation=delegation, category=category,
                referent=bool(values["referent"]), coordinator=bool(values["coordinateur"]),
                language=None, now=page.now())
        except UserFacingError as refused:
            text = to_plain(page.texts(refused.template, prefix="", **refused.context))
            errors[CHAT_ERROR_FIELDS.get(refused.template, "nom")] = {"key": "chat",
                                                                      "text": text}
    if member is None:
        raise FormInvalid(await _member_form_page(page, values=values, errors=errors,
                                                  status=422))
    await page.audit("member.add", member_id=member.id, via="web")
    return WebResponse.redirect(page.url("dashboard.accounts") + f"?ajout={member.id}")


def register_web(web: WebRegistry) -> None:
    web.page("dashboard.home", "/tableau/", access=Access.SIGNED_IN)(home)
    web.page("dashboard.overview", "/tableau/cohortes/{cohort}")(overview)
    web.page("dashboard.delegation",
             "/tableau/cohortes/{cohort}/delegations/{delegation}")(delegation_page)
    web.page("dashboard.accounts", "/tableau/cohortes/{cohort}/comptes",
             access=Access.COORDINATOR)(accounts)
    web.page("dashboard.issue_code", "/tableau/cohortes/{cohort}/comptes/code", method="POST",
             access=Access.COORDINATOR)(issue_code)
    web.page("dashboard.member_form", "/tableau/cohortes/{cohort}/membres/ajouter",
             access=Access.COORDINATOR)(member_form)
    web.page("dashboard.add_member", "/tableau/cohortes/{cohort}/membres/ajouter",
             method="POST", access=Access.COORDINATOR)(add_member_submit)
    web.section("overview", "people", order=50)(people_section)
    web.nav("overview", "dashboard.overview", order=0)
    web.nav("accounts", "dashboard.accounts", order=90, access=Access.COORDINATOR)

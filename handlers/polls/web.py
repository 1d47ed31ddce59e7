"""The polls on the dashboard: the list, a poll's page with live counts and the
Framadate-style grid, the form to compose one, and the coordinators' buttons (close,
reopen, nudge, export).

Every action runs the chat command's own handler (:meth:`PageContext.chat`): the same
checks, the same stored poll, the same messages in the rooms. A member sees the counts
the room shows, and who answered what in their own delegation only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from handlers.core.commands import Args
from handlers.core.context import Context
from handlers.core.dates import parse_datetime
from handlers.core.errors import UserFacingError
from handlers.core.events import Attachment
from handlers.core.ids import Platform
from handlers.dashboard.pictures import results_picture
from handlers.polls import commands as poll_commands
from handlers.polls import service
from handlers.polls.grids import availability_grid
from handlers.polls.logic import expected_slots, is_open
from handlers.web.core import Access, WebError, WebResponse
from handlers.web.forms import done, field_error, number, path_number, run_button
from handlers.web.page import PageContext
from handlers.web.registry import WebRegistry
from storage.models import Cohort
from storage.models_polls import CampaignStatus, Poll, PollKind

KINDS = (("ouinon", PollKind.YES_NO), ("choix", PollKind.SINGLE), ("multiple", PollKind.MULTI),
         ("dispo", PollKind.AVAILABILITY), ("texte", PollKind.TEXT))
SCOPES = ("membre", "delegation", "categorie")
ANSWERED_BY = ("tous", "referent")
CATEGORIES = ("elu", "agent", "socioeco", "etat")
NUDGES = ("J-7", "J-3", "J-2", "J-1", "H-2")
MAX_FIELD = 4000

CREATE_FIELDS = {
    "polls/bad_kind": "type",
    "polls/needs_options": "options", "polls/too_few_options": "options",
    "polls/too_many_options": "options", "polls/duplicate_option": "options",
    "polls/bad_slot": "options", "polls/option_in_past": "options",
    "polls/bad_scope": "portee", "polls/bad_answered_by": "repond", "polls/bad_max": "max",
    "errors/bad_number": "max",
    "admin/bad_category": "categorie",
    "errors/unknown_delegation": "delegations", "errors/ambiguous_delegation": "delegations",
    "polls/deadline_past": "echeance", "errors/bad_date": "echeance",
    "errors/bad_time": "echeance", "errors/impossible_date": "echeance",
    "polls/nudges_need_deadline": "relances", "polls/bad_offsets": "relances",
    "polls/bad_results": "resultats",
}
"""Which field of the poll form a refusal of ``sondage creer`` is about."""


# --- reading ------------------------------------------------------------------------------


async def poll_of(page: PageContext) -> Poll:
    """The poll of the URL, in this cohort (another cohort's number is not found)."""
    assert page.cohort is not None
    poll = await page.store.polls.get(path_number(page, "poll"))
    if poll is None or poll.cohort_id != page.cohort.id:
        raise WebError(404, "not_found")
    if poll.campaign_id is not None and not page.is_coordinator:
        campaign = await page.store.campaigns.get(poll.campaign_id)
        if campaign is None or campaign.status is CampaignStatus.DRAFT:
            raise WebError(404, "not_found")
    return poll


def own_territory(page: PageContext, delegations: Sequence[Any]) -> str | None:
    """The territory of the viewer's delegation (None for a coordinator: they see all)."""
    if page.is_coordinator:
        return None
    own = page.viewer.delegation_id if page.viewer else None
    return next((d.territory for d in delegations if d.id == own), "")


@dataclass(slots=True)
class PollSummary:
    """A poll as a list shows it: answers in, expected, open or not."""

    poll: Poll
    open: bool
    answered: int
    expected: int
    mine_missing: int = 0
    """Answers the viewer's delegation still owes (members' lists)."""

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.expected) if self.expected else 0


@dataclass(slots=True)
class Progress:
    """Answers in per poll and per delegation (the lists, the overview, campaigns)."""

    rows: list[PollSummary]
    complete: dict[int, set[int]]
    """Per poll, the delegations with every expected answer in."""


async def summaries(page: PageContext, polls: Sequence[Poll], delegations: Sequence[Any]
                    ) -> Progress:
    """Answers in and expected for each poll (reading only which scope keys answered),
    and what the viewer's own delegation still owes when they are not a coordinator."""
    keys = await page.store.dashboard.answered_keys([p.id for p in polls])
    own = None if page.is_coordinator else (page.viewer.delegation_id if page.viewer
                                            else None)
    rows, complete = [], {}
    for poll in polls:
        answered, expected, owed = 0, 0, 0
        done: set[int] = set()
        for delegation in delegations:
            slots = [e.key for e in expected_slots(poll, [delegation])]
            got = sum(1 for k in slots if k in keys[poll.id])
            answered, expected = answered + got, expected + len(slots)
            if got == len(slots):
                done.add(delegation.id)
            if own is not None and delegation.id == own:
                owed = len(slots) - got
        rows.append(PollSummary(poll, is_open(poll, page.now()), answered, expected, owed))
        complete[poll.id] = done
    return Progress(rows, complete)


async def list_polls(page: PageContext) -> WebResponse:
    """Open and closed polls, and the campaigns they belong to."""
    assert page.cohort is not None
    delegations = (await page.people()).delegations
    polls = [p for p in await page.store.dashboard.polls(page.cohort.id)
             if p.campaign_id is None]
    rows = (await summaries(page, polls, delegations)).rows
    campaigns = [c for c in await page.store.dashboard.campaigns(page.cohort.id)
                 if page.is_coordinator or c.status is not CampaignStatus.DRAFT]
    return page.render("polls/list", open_rows=[r for r in rows if r.open],
                       closed_rows=[r for r in rows if not r.open], campaigns=campaigns,
                       done=done(page))


@dataclass(slots=True)
class PollPageData:
    poll: Poll
    pv: Any
    open: bool
    answered: list[Any] = field(default_factory=list)
    missing: list[Any] = field(default_factory=list)
    texts: list[Any] = field(default_factory=list)
    comments: list[Any] = field(default_factory=list)
    grid: Any = None
    labels: dict[int, str] = field(default_factory=dict)
    territory: str | None = None
    """The viewer's delegation when they see it only (None: a coordinator sees all)."""


async def poll_data(page: PageContext, poll: Poll) -> PollPageData:
    """What the poll page shows this viewer (see the module docstring)."""
    assert page.cohort is not None
    ctx = page.chat()
    delegations = (await page.people()).delegations
    pv = await service.view(ctx, poll, delegations=delegations,
                            for_coordinator=page.is_coordinator)
    territory = own_territory(page, delegations)

    def mine(who: Any) -> bool:
        return territory is None or poll.anonymous or (bool(who) and who.territory == territory)

    data = PollPageData(poll, pv, is_open(poll, page.now()),
                        labels={o.position: o.label for o in poll.options},
                        territory=territory)
    data.answered = [(e, w) for e, w in pv.answered if mine(w)]
    data.missing = [e for e in pv.missing if territory is None or e.delegation == territory]
    data.texts = [(w, t) for w, t in pv.tally.texts if mine(w)]
    data.comments = [(w, c) for w, c in pv.tally.comments if mine(w)]
    if poll.kind is PollKind.AVAILABILITY and pv.show_results:
        own_id = None if territory is None else (page.viewer.delegation_id if page.viewer
                                                 else None)
        visible: Callable[[int | None], bool] | None = None if territory is None or \
            poll.anonymous else (
            lambda d: d is not None and d == own_id)
        data.grid = availability_grid(poll, await page.store.polls.answers(poll.id),
                                      delegations, page.texts, page.tz, visible=visible)
    return data


async def poll_page(page: PageContext) -> WebResponse:
    poll = await poll_of(page)
    return await _poll_page(page, poll)


async def _poll_page(page: PageContext, poll: Poll, *, status: int = 200,
                     problem: str | None = None) -> WebResponse:
    campaign = await page.store.campaigns.get(poll.campaign_id) if poll.campaign_id else None
    return page.render("polls/poll", status=status, d=await poll_data(page, poll),
                       campaign=campaign, done=done(page), problem=problem,
                       nudge_words=NUDGES)


# --- the coordinators' buttons --------------------------------------------------------------


async def _run(page: PageContext, poll: Poll, call: Callable[[Context], Awaitable[int | None]],
               done_word: str) -> WebResponse:
    """Run a ``sondage …`` command on ``poll``, then show its page again with a notice."""

    async def refused(problem: str) -> WebResponse:
        return await _poll_page(page, poll, status=409, problem=problem)

    return await run_button(page, call, back_to=page.url("polls.poll", poll=poll.id),
                            done_word=done_word, refused=refused)


async def close_poll(page: PageContext) -> WebResponse:
    """The form twin of ``sondage fermer``."""
    poll = await poll_of(page)

    async def call(ctx: Context) -> None:
        await poll_commands.close(ctx, Args({"numero": poll.id}))

    return await _run(page, poll, call, "ferme")


async def reopen_poll(page: PageContext) -> WebResponse:
    """The form twin of ``sondage rouvrir [echeance=…]``."""
    poll = await poll_of(page)
    raw = page.request.form.get("echeance").strip()[:40]

    async def call(ctx: Context) -> None:
        deadline = parse_datetime(raw, ctx.now(), ctx.tz) if raw else None
        await poll_commands.reopen(ctx, Args({"numero": poll.id, "echeance": deadline}))

    return await _run(page, poll, call, "rouvert")


async def nudge_poll(page: PageContext) -> WebResponse:
    """The form twin of ``sondage relancer``: a DM to each person who still owes an answer;
    the notice says how many people were written to."""
    poll = await poll_of(page)
    prefix = f"nudge:{poll.id}:"

    async def call(ctx: Context) -> int:
        await poll_commands.nudge(ctx, Args({"numero": poll.id}))
        return len({o.key.split(":")[2] for o in ctx.outgoing if o.key.startswith(prefix)})

    return await _run(page, poll, call, "relance")


EXPORTS = ("csv", "xlsx", "png")


async def export_poll(page: PageContext) -> WebResponse:
    """The files of ``sondage exporter`` (CSV, XLSX), or the results picture (PNG)."""
    poll = await poll_of(page)
    which = page.request.form.get("format")
    if which not in EXPORTS:
        raise WebError(404, "not_found")
    if which == "png":
        data = await poll_data(page, poll)
        if data.grid is None:
            raise WebError(404, "not_found")
        file = results_picture(page.texts, data.grid, filename=f"sondage-{poll.id}.png")
        await page.audit("poll.export", poll_id=poll.id, format="png", via="web")
        return _download(file)
    reply = await poll_commands.export_poll(page.chat(), Args({"numero": poll.id,
                                                               "format": which}))
    return _download(reply.attachments[0])


def _download(file: Attachment) -> WebResponse:
    return WebResponse.download(file.content, file.mimetype, file.filename)


# --- composing a poll -----------------------------------------------------------------------


def blank_values() -> dict[str, Any]:
    return {"question": "", "type": "ouinon", "options": "", "max": "", "portee": "membre",
            "repond": "tous", "categorie": "", "delegations": [], "echeance": "",
            "relances": [], "anonyme": False, "resultats": "direct", "modifiable": True,
            "commentaires": True}


def read_values(page: PageContext) -> dict[str, Any]:
    """The form's fields as typed (kept to show the form again), lengths bounded."""
    form = page.request.form
    return {
        "question": form.get("question")[:MAX_FIELD], "type": form.get("type")[:32],
        "options": form.get("options")[:MAX_FIELD * 4], "max": form.get("max")[:12],
        "portee": form.get("portee")[:32], "repond": form.get("repond")[:32],
        "categorie": form.get("categorie")[:32],
        "delegations": [v[:12] for v in form.getall("delegations")[:200]],
        "echeance": form.get("echeance")[:40],
        "relances": [v[:8] for v in form.getall("relances")[:10]],
        "anonyme": form.get("anonyme") == "oui", "resultats": form.get("resultats")[:32],
        "modifiable": form.get("modifiable") == "oui",
        "commentaires": form.get("commentaires") == "oui",
    }


async def args_of(page: PageContext, values: dict[str, Any]
                  ) -> tuple[Args | None, dict[str, dict[str, str]]]:
    """The ``sondage creer`` arguments a chat user would have typed for these fields."""
    assert page.cohort is not None
    errors: dict[str, dict[str, str]] = {}
    question = " ".join(str(values["question"]).split())
    if not question:
        errors["question"] = {"key": "required"}
    lines = [" ".join(line.split()) for line in str(values["options"]).splitlines()]
    lines = [line for line in lines if line]
    if any("|" in line for line in lines):
        errors["options"] = {"key": "pipe"}
    delegations = (await page.people()).delegations
    by_id = {str(d.id): d.territory for d in delegations}
    chosen = [by_id.get(v) for v in values["delegations"]]
    if any(name is None for name in chosen):
        errors["delegations"] = {"key": "unknown"}
    raw: dict[str, Any] = {"question": question, "type": values["type"],
                           "portee": values["portee"], "repond": values["repond"],
                           "resultats": values["resultats"],
                           "anonyme": "oui" if values["anonyme"] else "non",
                           "modifiable": "oui" if values["modifiable"] else "non",
                           "commentaires": "oui" if values["commentaires"] else "non"}
    if lines:
        raw["options"] = " | ".join(lines)
    if values["categorie"]:
        raw["categorie"] = values["categorie"]
    if chosen and "delegations" not in errors:
        raw["delegations"] = " | ".join(str(name) for name in chosen)
    if values["relances"]:
        raw["relances"] = ",".join(values["relances"])
    if str(values["max"]).strip():
        found = number(str(values["max"]))
        if found is None:
            errors["max"] = {"key": "number"}
        else:
            raw["max"] = found
    if str(values["echeance"]).strip():
        try:
            raw["echeance"] = parse_datetime(str(values["echeance"]), page.now(), page.tz)
        except UserFacingError as refused:
            name, error = field_error(page, refused, CREATE_FIELDS)
            errors[name] = error
    if errors:
        return None, errors
    return Args(raw), errors


def refusal(page: PageContext, refused: UserFacingError) -> tuple[str, dict[str, str]]:
    """The form field a refusal of ``sondage creer`` belongs to, with its sentence."""
    name, error = field_error(page, refused, CREATE_FIELDS)
    if refused.template == "errors/name_too_long":
        name = "question" if refused.context.get("limit") == 1000 else "options"
    elif refused.template == "errors/bad_yes_no":
        name = str(refused.context.get("name", "_form"))
    return name, error


async def new_poll(page: PageContext) -> WebResponse:
    """The form twin of ``sondage creer``."""
    return await _form(page, blank_values(), {})


async def _form(page: PageContext, values: dict[str, Any], errors: dict[str, dict[str, str]],
                *, status: int = 200) -> WebResponse:
    return page.render("polls/form", status=status, errors=errors,
                       **await _form_context(page, values))


class _Rollback(Exception):
    """Leaves a savepoint: a preview keeps nothing it wrote."""


async def create_poll(page: PageContext) -> WebResponse:
    """Preview (nothing kept) or send (the poll is created and posted, as in chat)."""
    assert page.cohort is not None
    values = read_values(page)
    step = page.request.form.get("etape")
    if step == "modifier":
        return await _form(page, values, {})
    args, errors = await args_of(page, values)
    if args is None:
        raise page.invalid("polls/form", errors=errors, **await _form_context(page, values))
    if step == "envoyer":
        ctx = page.chat()
        try:
            await poll_commands.create(ctx, args)
        except UserFacingError as refused:
            name, error = refusal(page, refused)
            raise page.invalid("polls/form", errors={name: error},
                               **await _form_context(page, values)) from None
        poll = await _just_created(page)
        return WebResponse.redirect(page.url("polls.poll", poll=poll.id) + "?fait=cree")
    preview: dict[str, Any] = {}
    ctx = page.chat(detached=True)
    try:
        async with page.store.session.begin_nested():
            await poll_commands.create(ctx, args)
            poll = await _just_created(page)
            pv = await service.view(ctx, poll)
            card = service.render_card(ctx, poll, pv, page.cohort, Platform.MATRIX)
            rooms = await page.store.rooms.of_cohort(page.cohort.id)
            preview = {"text": card.text, "rooms": len(rooms), "kind": poll.kind.value,
                       "options": [o.label for o in poll.options],
                       "deadline": poll.deadline}
            raise _Rollback
    except _Rollback:
        pass
    except UserFacingError as refused:
        name, error = refusal(page, refused)
        raise page.invalid("polls/form", errors={name: error},
                           **await _form_context(page, values)) from None
    return page.render("polls/preview", values=values, preview=preview)


async def _form_context(page: PageContext, values: dict[str, Any]) -> dict[str, Any]:
    assert page.cohort is not None
    return {"values": values, "kinds": [k for k, _ in KINDS], "scopes": SCOPES,
            "answered_by": ANSWERED_BY, "categories": CATEGORIES, "nudges": NUDGES,
            "delegations": (await page.people()).delegations}


async def _just_created(page: PageContext) -> Poll:
    """The poll ``sondage creer`` made in this request (stamped with this request's instant)."""
    assert page.cohort is not None
    mine = [p for p in await page.store.polls.of_cohort(page.cohort.id)
            if p.created_at == page.now()]
    return mine[-1]


# --- the overview ---------------------------------------------------------------------------


async def overview_section(page: PageContext, cohort: Cohort) -> Markup | None:
    """Open polls and campaigns at a glance: answers in, and what my delegation owes."""
    delegations = (await page.people()).delegations
    polls = [p for p in await page.store.dashboard.polls(cohort.id, open_only=True)
             if is_open(p, page.now())]
    campaigns = [c for c in await page.store.dashboard.campaigns(cohort.id)
                 if c.status is CampaignStatus.SENT or
                 (page.is_coordinator and c.status is CampaignStatus.DRAFT)]
    progress = await summaries(page, polls, delegations)
    loose = [r for r in progress.rows if r.poll.campaign_id is None]
    by_campaign: dict[int, list[PollSummary]] = {}
    for row in progress.rows:
        if row.poll.campaign_id is not None:
            by_campaign.setdefault(row.poll.campaign_id, []).append(row)
    campaign_rows = []
    for campaign in campaigns:
        mine = by_campaign.get(campaign.id, [])
        complete = sum(1 for d in delegations
                       if all(d.id in progress.complete[r.poll.id] for r in mine))
        campaign_rows.append({"campaign": campaign, "polls": mine,
                              "answered": sum(r.answered for r in mine),
                              "expected": sum(r.expected for r in mine),
                              "owed": sum(r.mine_missing for r in mine),
                              "complete": complete, "delegations": len(delegations)})
    return page.fragment("sections/polls", rows=loose, campaigns=campaign_rows)


def register_web(web: WebRegistry) -> None:
    web.nav("polls", "polls.list", order=30)
    web.section("overview", "polls", order=30)(overview_section)
    web.page("polls.list", "/tableau/cohortes/{cohort}/sondages")(list_polls)
    web.page("polls.new", "/tableau/cohortes/{cohort}/sondages/nouveau",
             access=Access.COORDINATOR)(new_poll)
    web.page("polls.create", "/tableau/cohortes/{cohort}/sondages/nouveau", method="POST",
             access=Access.COORDINATOR)(create_poll)
    web.page("polls.poll", "/tableau/cohortes/{cohort}/sondages/{poll}")(poll_page)
    web.page("polls.close", "/tableau/cohortes/{cohort}/sondages/{poll}/fermer", method="POST",
             access=Access.COORDINATOR)(close_poll)
    web.page("polls.reopen", "/tableau/cohortes/{cohort}/sondages/{poll}/rouvrir",
             method="POST", access=Access.COORDINATOR)(reopen_poll)
    web.page("polls.nudge", "/tableau/cohortes/{cohort}/sondages/{poll}/relancer",
             method="POST", access=Access.COORDINATOR)(nudge_poll)
    web.page("polls.export", "/tableau/cohortes/{cohort}/sondages/{poll}/exporter",
             method="POST", access=Access.COORDINATOR)(export_poll)

"""Campaigns on the dashboard: the delegation × question table (who answered, what is
missing, the category grid of category-scoped questions), the form to compose a whole
campaign (the Note d'arbitrage as the model) with its preview, and the coordinators'
buttons (send, nudge, close, export).

Composing stores the same object as ``campagne charger`` (a draft whose definition is
checked by :func:`handlers.polls.campaigns.definition_from`), and sending runs
``campagne envoyer`` itself: one poll per question, the deadline, the nudges, the
messages in every room.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from handlers.admin.cohorts import slugify
from handlers.core.commands import Args
from handlers.core.context import Context
from handlers.core.dates import parse_datetime
from handlers.core.errors import UserFacingError
from handlers.core.events import Attachment
from handlers.dashboard.pictures import results_picture
from handlers.polls import campaigns as campaign_commands
from handlers.polls.campaigns import (
    _NAME,
    CampaignFileError,
    campaigns_dir,
    definition_from,
    rebase,
)
from handlers.polls.commands import build_options, parse_slot
from handlers.polls.grids import campaign_grid
from handlers.polls.logic import CATEGORIES, expected_slots, is_open
from handlers.polls.web import NUDGES
from handlers.web.core import Access, FormInvalid, WebError, WebResponse
from handlers.web.forms import done, field_error, number, run_button
from handlers.web.page import PageContext
from handlers.web.registry import WebRegistry
from storage.models_polls import Campaign, CampaignStatus, Poll, PollKind
from storage.repos.cohorts import AlreadyExists

KINDS = tuple(k.value for k in PollKind)
SCOPES = ("member", "delegation", "category")
ANSWERED_BY = ("any", "referent")
MAX_QUESTIONS = 30
MAX_TEXT = 4000
SEND_FIELDS = {"polls/deadline_past": "echeance", "errors/bad_date": "echeance",
               "errors/bad_time": "echeance", "errors/impossible_date": "echeance",
               "polls/bad_offsets": "relances", "campaigns/exists": "slug",
               "campaigns/already_sent": "slug"}


# --- the table ------------------------------------------------------------------------------


async def campaign_of(page: PageContext) -> Campaign:
    """The campaign of the URL in this cohort; a draft exists for coordinators only."""
    assert page.cohort is not None
    slug = page.request.params.get("campaign", "")
    campaign = await page.store.campaigns.by_slug(page.cohort.id, slug) \
        if _NAME.match(slug) else None
    if campaign is None or (campaign.status is CampaignStatus.DRAFT and
                            not page.is_coordinator):
        raise WebError(404, "not_found")
    return campaign


@dataclass(slots=True)
class Cell:
    """One delegation's answer to one question."""

    poll: Poll
    done: int
    expected: int
    answered_by: list[str] = field(default_factory=list)
    """Who gave the answers that stand (a member's name per scope key)."""
    waiting: list[str] = field(default_factory=list)
    """Member scope: who has not answered yet."""
    categories: list[dict[str, Any]] = field(default_factory=list)
    """Category scope: ``{"category", "state": yes|no|none, "by"}`` for the four categories
    (``none``: nobody of that category in the delegation)."""

    @property
    def state(self) -> str:
        if self.expected == 0:
            return "na"
        if self.done >= self.expected:
            return "yes"
        return "partly" if self.done else "no"


async def table_data(page: PageContext, campaign: Campaign) -> dict[str, Any]:
    """Delegation × question for the delegations this viewer may see."""
    assert page.cohort is not None
    polls = list(await page.store.polls.of_cohort(page.cohort.id, campaign_id=campaign.id))
    delegations = (await page.people()).delegations
    answers = await page.store.polls.answers_of_polls([p.id for p in polls])
    names = {m.id: m.display_name for d in delegations for m in d.members}
    rows = []
    for delegation in page.visible(delegations):
        cells = []
        for poll in polls:
            standing = {a.scope_key: a for a in answers[poll.id]}
            slots = expected_slots(poll, [delegation])
            cell = Cell(poll, sum(1 for s in slots if s.key in standing), len(slots))
            for slot in slots:
                answer = standing.get(slot.key)
                by = names.get(answer.member_id, "") if answer and answer.member_id else ""
                if answer is not None and by:
                    cell.answered_by.append(by)
                elif answer is None and slot.member_name:
                    cell.waiting.append(slot.member_name)
            if poll.scope.value == "category":
                present = {s.category: s for s in slots}
                for category in CATEGORIES:
                    slot = present.get(category)
                    answer = standing.get(slot.key) if slot else None
                    cell.categories.append({
                        "category": category,
                        "state": "none" if slot is None else ("yes" if answer else "no"),
                        "by": names.get(answer.member_id, "") if answer and answer.member_id
                        else ""})
            cells.append(cell)
        rows.append({"delegation": delegation, "cells": cells,
                     "complete": all(c.state in ("yes", "na") for c in cells)})
    totals = [(sum(r["cells"][i].done for r in rows), sum(r["cells"][i].expected for r in rows))
              for i in range(len(polls))]
    return {"polls": polls, "rows": rows, "totals": totals,
            "open": [is_open(p, page.now()) for p in polls]}


async def campaign_page(page: PageContext) -> WebResponse:
    campaign = await campaign_of(page)
    return await _campaign_page(page, campaign)


async def _campaign_page(page: PageContext, campaign: Campaign, *, status: int = 200,
                         problem: str | None = None) -> WebResponse:
    if campaign.status is CampaignStatus.DRAFT:
        return page.render("campaigns/draft", status=status, campaign=campaign,
                           questions=campaign.definition.get("questions", []), done=done(page),
                           problem=problem)
    return page.render("campaigns/table", status=status, campaign=campaign,
                       done=done(page), problem=problem, **await table_data(page, campaign))


async def _run(page: PageContext, campaign: Campaign,
               call: Callable[[Context], Awaitable[int | None]], done_word: str
               ) -> WebResponse:
    async def refused(problem: str) -> WebResponse:
        return await _campaign_page(page, campaign, status=409, problem=problem)

    return await run_button(page, call,
                            back_to=page.url("campaigns.view", campaign=campaign.slug),
                            done_word=done_word, refused=refused)


async def close_campaign(page: PageContext) -> WebResponse:
    """The form twin of ``campagne fermer``."""
    campaign = await campaign_of(page)

    async def call(ctx: Context) -> None:
        await campaign_commands.close(ctx, Args({"campagne": campaign.slug}))

    return await _run(page, campaign, call, "close")


async def nudge_campaign(page: PageContext) -> WebResponse:
    """The form twin of ``campagne relancer``: one DM per person who still owes something."""
    campaign = await campaign_of(page)
    prefix = f"nudge:campaign:{campaign.id}:"

    async def call(ctx: Context) -> int:
        await campaign_commands.nudge(ctx, Args({"campagne": campaign.slug}))
        return len({o.key.split(":")[3] for o in ctx.outgoing if o.key.startswith(prefix)})

    return await _run(page, campaign, call, "relance")


async def export_campaign(page: PageContext) -> WebResponse:
    """``campagne exporter`` (CSV, XLSX) or the progress picture (PNG)."""
    campaign = await campaign_of(page)
    which = page.request.form.get("format")
    if which not in ("csv", "xlsx", "png") or campaign.status is CampaignStatus.DRAFT:
        raise WebError(404, "not_found")
    if which == "png":
        assert page.cohort is not None
        polls = list(await page.store.polls.of_cohort(page.cohort.id, campaign_id=campaign.id))
        answers = await page.store.polls.answers_of_polls([p.id for p in polls])
        delegations = (await page.people()).delegations
        grid = campaign_grid(campaign.title, polls,
                             {pid: {a.scope_key for a in rows} for pid, rows in answers.items()},
                             page.visible(delegations))
        await page.audit("campaign.export", campaign=campaign.slug, format="png", via="web")
        return _download(results_picture(page.texts, grid,
                                         filename=f"campagne-{campaign.slug}.png"))
    reply = await campaign_commands.export_campaign(page.chat(),
                                                    Args({"campagne": campaign.slug}))
    wanted = ".csv" if which == "csv" else ".xlsx"
    return _download(next(f for f in reply.attachments if f.filename.endswith(wanted)))


def _download(file: Attachment) -> WebResponse:
    return WebResponse.download(file.content, file.mimetype, file.filename)


# --- composing ------------------------------------------------------------------------------


def blank_question() -> dict[str, Any]:
    return {"id": "", "titre": "", "question": "", "type": "yes_no", "portee": "delegation",
            "repond": "any", "options": "", "max": "", "commentaires": True}


def option_lines(question: dict[str, Any], lang: str, tz: ZoneInfo) -> str:
    """A definition's options as the form writes them (dates as ``28/04 14h-17h | label``)."""
    lines = []
    for option in question.get("options") or ():
        if option.get("start"):
            start = datetime.fromisoformat(option["start"]).astimezone(tz)
            end = datetime.fromisoformat(option["end"]).astimezone(tz) if option.get("end") \
                else None
            slot = start.strftime("%d/%m/%Y ") + _hour(start)
            if end is not None and end.date() == start.date():
                slot += "-" + _hour(end)
            lines.append(f"{slot} | {option['label']}")
        else:
            lines.append(str(option["label"]))
    return "\n".join(lines)


def _hour(moment: datetime) -> str:
    return f"{moment.hour}h{moment.minute:02d}" if moment.minute else f"{moment.hour}h"


def values_from(definition: dict[str, Any], lang: str, tz: ZoneInfo, *, slug: str,
                draft: str = "") -> dict[str, Any]:
    """The form's values for a stored or model definition."""
    questions = [{"id": q["id"], "titre": q["title"], "question": q.get("prompt", ""),
                  "type": q["kind"], "portee": q.get("scope", "member"),
                  "repond": q.get("answered_by") or "any",
                  "options": option_lines(q, lang, tz),
                  "max": str(q["max_choices"]) if q.get("max_choices") else "",
                  "commentaires": bool(q.get("allow_comment", True))}
                 for q in definition.get("questions", [])]
    return {"slug": slug, "titre": definition.get("title", ""),
            "intro": definition.get("intro", ""), "echeance": "", "relances": [],
            "brouillon": draft, "questions": questions + [blank_question()],
            "rebased": int(definition.get("rebased_weeks") or 0)}


def read_values(page: PageContext) -> dict[str, Any]:
    """The composer's fields as typed (lengths and counts bounded)."""
    form = page.request.form
    count = min(number(form.get("nombre")) or 0, MAX_QUESTIONS)
    questions = []
    for i in range(count):
        key = f"q{i}_"
        questions.append({
            "id": form.get(key + "id")[:64], "titre": form.get(key + "titre")[:300],
            "question": form.get(key + "question")[:MAX_TEXT],
            "type": form.get(key + "type")[:16], "portee": form.get(key + "portee")[:16],
            "repond": form.get(key + "repond")[:16],
            "options": form.get(key + "options")[:MAX_TEXT * 2],
            "max": form.get(key + "max")[:12],
            "commentaires": form.get(key + "commentaires") == "oui"})
    return {"slug": form.get("slug")[:64], "titre": form.get("titre")[:300],
            "intro": form.get("intro")[:MAX_TEXT], "echeance": form.get("echeance")[:40],
            "relances": [v[:8] for v in form.getall("relances")[:10]],
            "brouillon": form.get("brouillon")[:64], "questions": questions,
            "rebased": number(form.get("rebased")) or 0}


def _filled(question: dict[str, Any]) -> bool:
    return bool(question["titre"].strip() or question["question"].strip() or
                question["options"].strip())


async def definition_of(page: PageContext, values: dict[str, Any]
                        ) -> tuple[dict[str, Any] | None, dict[str, dict[str, str]]]:
    """The campaign file (``data/README.md`` schema) the form describes, checked with the
    chat's rules: options as ``sondage creer`` reads them, then ``definition_from``."""
    assert page.cohort is not None
    errors: dict[str, dict[str, str]] = {}
    ctx = page.chat(detached=True)
    slug = values["slug"].strip().lower() or slugify(values["titre"])
    if not _NAME.match(slug):
        errors["slug"] = {"key": "slug"}
    if not " ".join(values["titre"].split()):
        errors["titre"] = {"key": "required"}
    questions = []
    seen: set[str] = set()
    for index, q in enumerate(values["questions"]):
        if not _filled(q):
            continue
        key = f"q{index}_"
        qid = q["id"].strip().lower() or f"a{len(questions) + 1}"
        if not _NAME.match(qid) or qid in seen:
            errors[key + "id"] = {"key": "qid"}
        seen.add(qid)
        title = " ".join(q["titre"].split())
        if not title:
            errors[key + "titre"] = {"key": "required"}
        if q["type"] not in KINDS:
            errors[key + "type"] = {"key": "choice"}
        if q["portee"] not in SCOPES:
            errors[key + "portee"] = {"key": "choice"}
        if q["repond"] not in ANSWERED_BY:
            errors[key + "repond"] = {"key": "choice"}
        options: list[dict[str, Any]] = []
        lines = [" ".join(line.split()) for line in q["options"].splitlines()]
        lines = [line for line in lines if line]
        max_choices = None
        try:
            if q["type"] == PollKind.AVAILABILITY.value:
                options = _slots(lines, page)
                if not options:
                    raise UserFacingError("polls/needs_options", kind=q["type"])
            elif q["type"] in (PollKind.SINGLE.value, PollKind.MULTI.value):
                if any("|" in line for line in lines):
                    errors[key + "options"] = {"key": "pipe"}
                else:
                    built = build_options(ctx, PollKind(q["type"]), " | ".join(lines))
                    options = [{"id": str(o.position), "label": o.label} for o in built]
        except UserFacingError as refused:
            errors[key + "options"] = field_error(page, refused, {})[1]
        if q["max"].strip():
            found = number(q["max"])
            if found is None or q["type"] != PollKind.MULTI.value or \
                    not 1 <= found <= max(len(options), 1):
                errors[key + "max"] = field_error(page, UserFacingError(
                    "polls/bad_max", value=q["max"], count=len(options)), {})[1]
            else:
                max_choices = found
        questions.append({"id": qid, "title": title, "prompt": q["question"].strip(),
                          "kind": q["type"], "scope": q["portee"], "answered_by": q["repond"],
                          "options": options, "max_choices": max_choices,
                          "allow_comment": q["commentaires"]})
    if not questions:
        errors["q0_titre"] = {"key": "no_question"}
    if errors:
        return None, errors
    data = {"id": slug, "title": " ".join(values["titre"].split()),
            "intro": values["intro"].strip(), "questions": questions}
    try:
        definition = definition_from(data, page.cohort.language, page.tz)
    except CampaignFileError as problem:
        return None, {"_form": {"key": "file", "text": str(problem)}}
    definition["rebased_weeks"] = values.get("rebased", 0)
    return definition, {}


def _slots(lines: list[str], page: PageContext) -> list[dict[str, Any]]:
    """``28/04 14h-17h | label`` lines read as ``sondage creer`` reads dates."""
    options = []
    for position, line in enumerate(lines, start=1):
        slot, _, label = line.partition("|")
        assert page.cohort is not None
        start, end, when = parse_slot(slot.strip(), page.now(), page.tz, page.cohort.language)
        local_start = start.astimezone(page.tz).replace(tzinfo=None)
        local_end = end.astimezone(page.tz).replace(tzinfo=None) if end else None
        options.append({"id": f"o{position}", "label": label.strip()[:300] or when,
                        "start": local_start.isoformat(timespec="minutes"),
                        "end": local_end.isoformat(timespec="minutes") if local_end else None})
    return options


async def models(page: PageContext) -> list[dict[str, str]]:
    """The campaign files one may start from (``data/campaigns``), with their titles."""
    directory = campaigns_dir(page.settings)
    found = []
    for path in sorted(await asyncio.to_thread(lambda: list(directory.glob("*.yaml")))):
        data = await _read_model(path)
        if data is None:
            continue
        title = data.get("title")
        if isinstance(title, dict):
            title = title.get(page.lang) or title.get("fr")
        found.append({"name": path.stem, "title": str(title or path.stem)})
    return found


async def _read_model(path: Path) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


async def free_slug(page: PageContext, slug: str) -> str:
    """``slug``, or ``slug-2``, ``slug-3`` … when a campaign of the cohort has it already."""
    assert page.cohort is not None
    taken = {c.slug for c in await page.store.campaigns.of_cohort(page.cohort.id)}
    candidate, n = slug, 2
    while candidate in taken:
        candidate = f"{slug[:60]}-{n}"
        n += 1
    return candidate


async def compose(page: PageContext) -> WebResponse:
    """The composer, blank, from a model file (``?modele=``) or from a draft (``?brouillon=``)."""
    assert page.cohort is not None
    query = page.request.query
    values: dict[str, Any] = {"slug": "", "titre": "", "intro": "", "echeance": "",
                              "relances": [], "brouillon": "", "rebased": 0,
                              "questions": [blank_question() for _ in range(3)]}
    model = query.get("modele", "")
    draft_slug = query.get("brouillon", "")
    if draft_slug:
        draft = await page.store.campaigns.by_slug(page.cohort.id, draft_slug) \
            if _NAME.match(draft_slug) else None
        if draft is None or draft.status is not CampaignStatus.DRAFT:
            raise WebError(404, "not_found")
        values = values_from(draft.definition, page.lang, page.tz, slug=draft.slug,
                             draft=draft.slug)
    elif model:
        names = {m["name"] for m in await models(page)}
        if model not in names:
            raise WebError(404, "not_found")
        data = await _read_model(campaigns_dir(page.settings) / f"{model}.yaml")
        try:
            definition = definition_from(data, page.cohort.language, page.tz)
        except CampaignFileError:
            raise WebError(404, "not_found") from None
        definition = rebase(definition, page.now(), page.cohort.language, page.tz)
        values = values_from(definition, page.lang, page.tz,
                             slug=await free_slug(page, definition["id"]))
    return await _composer(page, values, {})


async def _composer(page: PageContext, values: dict[str, Any],
                    errors: dict[str, dict[str, str]], *, status: int = 200) -> WebResponse:
    return page.render("campaigns/compose", status=status, values=values, errors=errors,
                       kinds=KINDS, scopes=SCOPES, answered_by=ANSWERED_BY, nudges=NUDGES,
                       models=await models(page))


class _Rollback(Exception):
    """Leaves a savepoint: a preview keeps nothing it wrote."""


async def compose_submit(page: PageContext) -> WebResponse:
    """``etape``: ``ajouter`` a question block, ``modifier`` (back to the form), ``apercu``,
    ``brouillon`` (store the draft) or ``envoyer`` (store and send, as ``campagne envoyer``)."""
    assert page.cohort is not None
    values = read_values(page)
    step = page.request.form.get("etape")
    if step in ("ajouter", "modifier"):
        if step == "ajouter" and len(values["questions"]) < MAX_QUESTIONS:
            values["questions"].append(blank_question())
        return await _composer(page, values, {})
    definition, errors = await definition_of(page, values)
    if definition is None:
        raise FormInvalid(await _composer(page, values, errors, status=422))
    args: dict[str, Any] = {"campagne": definition["id"]}
    if values["echeance"].strip():
        try:
            args["echeance"] = parse_datetime(values["echeance"], page.now(), page.tz)
        except UserFacingError as refused:
            raise FormInvalid(await _composer(page, values, {
                "echeance": field_error(page, refused, {})[1]}, status=422)) from None
    if values["relances"]:
        args["relances"] = ",".join(values["relances"])
    if step == "apercu":
        ctx = page.chat(detached=True)
        try:
            async with page.store.session.begin_nested():
                campaign = await _store_draft(page, values, definition)
                await campaign_commands.send(ctx, Args(args))
                preview = {"deadline": campaign.deadline,
                           "rooms": len(await page.store.rooms.of_cohort(page.cohort.id))}
                raise _Rollback
        except _Rollback:
            pass
        except UserFacingError as refused:
            raise FormInvalid(await _composer(page, values, _send_error(page, refused, values),
                                              status=422)) from None
        return page.render("campaigns/preview", values=values, definition=definition,
                           preview=preview)
    if step not in ("brouillon", "envoyer"):
        raise WebError(400, "bad_request")
    try:
        campaign = await _store_draft(page, values, definition)
        if step == "envoyer":
            await campaign_commands.send(page.chat(), Args(args))
        else:
            await page.audit("campaign.compose", campaign=campaign.slug, via="web")
    except UserFacingError as refused:
        raise FormInvalid(await _composer(page, values, _send_error(page, refused, values),
                                          status=422)) from None
    word = "envoyee" if step == "envoyer" else "brouillon"
    return WebResponse.redirect(page.url("campaigns.view", campaign=campaign.slug) +
                                f"?fait={word}")


async def _store_draft(page: PageContext, values: dict[str, Any], definition: dict[str, Any]
                       ) -> Campaign:
    """The draft as ``campagne charger`` stores it: a new one, or the draft being edited."""
    assert page.cohort is not None
    if values["brouillon"]:
        draft = await page.store.campaigns.by_slug(page.cohort.id, values["brouillon"]) \
            if _NAME.match(values["brouillon"]) else None
        if draft is None or draft.status is not CampaignStatus.DRAFT:
            raise UserFacingError("campaigns/already_sent", slug=values["brouillon"],
                                  status=draft.status.value if draft else "sent")
        if definition["id"] != draft.slug:
            definition["id"] = draft.slug
        draft.definition = definition
        draft.title = definition["title"][:300]
        draft.intro = definition["intro"]
        await page.store.session.flush()
        return draft
    try:
        return await page.store.campaigns.add(Campaign(
            cohort_id=page.cohort.id, slug=definition["id"], title=definition["title"][:300],
            intro=definition["intro"], definition=definition, status=CampaignStatus.DRAFT,
            created_at=page.now()))
    except AlreadyExists:
        raise UserFacingError("campaigns/exists", name=definition["id"]) from None


def _send_error(page: PageContext, refused: UserFacingError, values: dict[str, Any]
                ) -> dict[str, dict[str, str]]:
    """Where a refusal of sending belongs: a question's options, the deadline, the id."""
    name, error = field_error(page, refused, SEND_FIELDS)
    if refused.template == "campaigns/option_in_past":
        title = refused.context.get("question")
        index = next((i for i, q in enumerate(values["questions"])
                      if " ".join(q["titre"].split()) == title), 0)
        name = f"q{index}_options"
    return {name: error}


def register_web(web: WebRegistry) -> None:
    web.page("campaigns.compose", "/tableau/cohortes/{cohort}/campagnes/composer",
             access=Access.COORDINATOR)(compose)
    web.page("campaigns.compose_submit", "/tableau/cohortes/{cohort}/campagnes/composer",
             method="POST", access=Access.COORDINATOR)(compose_submit)
    web.page("campaigns.view", "/tableau/cohortes/{cohort}/campagnes/{campaign}")(campaign_page)
    web.page("campaigns.close", "/tableau/cohortes/{cohort}/campagnes/{campaign}/fermer",
             method="POST", access=Access.COORDINATOR)(close_campaign)
    web.page("campaigns.nudge", "/tableau/cohortes/{cohort}/campagnes/{campaign}/relancer",
             method="POST", access=Access.COORDINATOR)(nudge_campaign)
    web.page("campaigns.export", "/tableau/cohortes/{cohort}/campagnes/{campaign}/exporter",
             method="POST", access=Access.COORDINATOR)(export_campaign)


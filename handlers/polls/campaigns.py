"""``campagne charger|lister|envoyer|suivi|afaire|relancer|fermer|exporter``: a bundle of
questions (the Note d'arbitrage) sent to every delegation at once, with one deadline;
each delegation sees what it still owes; coordinators see a delegation × question
table and nudge only what is missing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from handlers.core.commands import Args, CommandGroup, Kind, Opt, Param, Role
from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.core.events import Attachment, Reply
from handlers.core.grammar import fold
from handlers.core.ids import Platform, RoomRef, UserRef
from handlers.dashboard.pictures import results_picture, summary
from handlers.polls import export, service
from handlers.polls.grids import campaign_progress
from handlers.polls.logic import (
    CATEGORIES,
    expected_slots,
    is_open,
    offset_label,
    parse_offsets,
    slot_for,
)
from messages import dates
from storage.models import Cohort
from storage.models_polls import (
    AnsweredBy,
    Campaign,
    CampaignStatus,
    Poll,
    PollKind,
    PollOption,
    PollScope,
    PollStatus,
)
from storage.repos.cohorts import AlreadyExists
from storage.uow import Store

commands = CommandGroup("campagne", aliases=("campaign", "campagnes", "arbitrage"))

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KINDS = {k.value for k in PollKind}
SCOPES = {s.value for s in PollScope}


class CampaignFileError(Exception):
    """The campaign file does not follow data/README.md; the message says where."""


def _text(value: Any, lang: str, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and value:
        found = value.get(lang) or value.get("fr") or next(iter(value.values()))
        if isinstance(found, str):
            return found
    raise CampaignFileError(f"{where}: text expected ({{fr: …, en: …}})")


def definition_from(data: Any, lang: str, tz: ZoneInfo) -> dict[str, Any]:
    """Check a campaign file and keep its questions in one language, dates made aware."""
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise CampaignFileError("a mapping with 'id' and 'questions' is required")
    slug = str(data.get("id", ""))
    if not _NAME.match(slug):
        raise CampaignFileError(f"id {slug!r}: lowercase letters, digits and dashes")
    questions = []
    seen: set[str] = set()
    for index, q in enumerate(data["questions"], start=1):
        where = f"question {index}"
        if not isinstance(q, dict):
            raise CampaignFileError(f"{where}: a mapping is required")
        qid = str(q.get("id", ""))
        if not qid or qid in seen:
            raise CampaignFileError(f"{where}: missing or repeated id {qid!r}")
        seen.add(qid)
        kind, scope = q.get("kind"), q.get("scope", "member")
        if kind not in KINDS or scope not in SCOPES:
            raise CampaignFileError(f"{qid}: kind {kind!r} / scope {scope!r} unknown")
        options = []
        for o_index, option in enumerate(q.get("options") or [], start=1):
            entry: dict[str, Any] = {"key": str(option.get("id", o_index)),
                                     "label": _text(option.get("label"), lang,
                                                    f"{qid} option {o_index}")}
            if kind == "availability":
                try:
                    start = datetime.fromisoformat(str(option["start"])).replace(tzinfo=tz)
                    end = datetime.fromisoformat(str(option["end"])).replace(tzinfo=tz) \
                        if option.get("end") else None
                except (KeyError, ValueError):
                    raise CampaignFileError(f"{qid} option {o_index}: start/end "
                                            "YYYY-MM-DDTHH:MM expected") from None
                entry.update(start=start.isoformat(), end=end.isoformat() if end else None)
            options.append(entry)
        if kind in ("single", "multi", "availability") and not options:
            raise CampaignFileError(f"{qid}: options are required for {kind}")
        questions.append({
            "id": qid, "title": _text(q.get("title"), lang, f"{qid} title"),
            "prompt": _text(q.get("prompt", ""), lang, f"{qid} prompt"),
            "kind": kind, "scope": scope,
            "answered_by": q.get("answered_by", "any"),
            "options": options, "max_choices": q.get("max_choices"),
            "allow_comment": bool(q.get("allow_comment", True)),
            "questionnaire": q.get("questionnaire"),
        })
    return {"id": slug, "title": _text(data.get("title", slug), lang, "title"),
            "intro": _text(data.get("intro", ""), lang, "intro"),
            "default_deadline_days": int(data.get("default_deadline_days", 14)),
            "questions": questions, "rebased_weeks": 0}


_FR_DATE = re.compile(r"\b(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\s+(\d{1,2})"
                      r"(?:er)?\s+(janvier|février|mars|avril|mai|juin|juillet|août|septembre|"
                      r"octobre|novembre|décembre)\b", re.IGNORECASE)
_EN_DATE = re.compile(r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\s+"
                      r"(\d{1,2})\s+(January|February|March|April|May|June|July|August|"
                      r"September|October|November|December)\b")


def rebase(definition: dict[str, Any], now: datetime, lang: str,
           tz: ZoneInfo | None = None) -> dict[str, Any]:
    """Move a past campaign's dates by whole weeks so they lie ahead (weekdays kept), and
    rewrite the dates its option labels spell out. Used for the demo's 2022 note.

    The shift is made on the cohort's wall clock (``tz``): 14:00 in March stays 14:00
    in April, across a change to summer time (stored dates carry a fixed UTC offset).
    """
    starts = [datetime.fromisoformat(o["start"]) for q in definition["questions"]
              for o in q["options"] if o.get("start")]
    if not starts or min(starts) > now:
        return definition
    weeks = (now - min(starts)).days // 7 + 4
    shift = timedelta(weeks=weeks)

    def moved(text: str) -> datetime:
        moment = datetime.fromisoformat(text)
        return (moment.astimezone(tz) if tz is not None else moment) + shift

    for question in definition["questions"]:
        for option in question["options"]:
            if not option.get("start"):
                continue
            old = datetime.fromisoformat(option["start"])
            new = moved(option["start"])
            option["start"] = new.isoformat()
            if option.get("end"):
                option["end"] = moved(option["end"]).isoformat()
            option["label"] = _rewrite_date(option["label"], old, new, lang)
    definition["rebased_weeks"] = weeks
    return definition


def _rewrite_date(label: str, old: datetime, new: datetime, lang: str) -> str:
    pattern = _FR_DATE if lang == "fr" else _EN_DATE

    def swap(match: re.Match[str]) -> str:
        if int(match[2]) != old.day:
            return match[0]
        text = dates.long_date(new, lang, year=False)
        return text[:1].upper() + text[1:] if match[0][:1].isupper() else text

    return pattern.sub(swap, label)


def campaigns_dir(ctx_settings: Any) -> Path:
    return Path(ctx_settings.content_dir) / "campaigns"


async def load_campaign(store: Store, cohort: Cohort, path: Path, now: datetime, *,
                        shift_past: bool = False) -> Campaign | None:
    """Store the campaign file as a draft of ``cohort``; None if it is there already."""
    try:
        data = yaml.safe_load(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CampaignFileError(str(error).splitlines()[0]) from None
    definition = definition_from(data, cohort.language, ZoneInfo(cohort.timezone))
    if shift_past:
        definition = rebase(definition, now, cohort.language, ZoneInfo(cohort.timezone))
    if await store.campaigns.by_slug(cohort.id, definition["id"]) is not None:
        return None
    try:
        return await store.campaigns.add(Campaign(
            cohort_id=cohort.id, slug=definition["id"], title=definition["title"][:300],
            intro=definition["intro"], definition=definition, status=CampaignStatus.DRAFT,
            created_at=now))
    except AlreadyExists:
        return None


async def _demo_loader(store: Store, cohort: Cohort, data: dict[str, Any], now: datetime
                       ) -> None:
    """``campaigns: [note_arbitrage]`` in a cohort file loads those drafts (dates moved
    ahead when the file's are past, so the demo can send them)."""
    from handlers.core.settings import Settings

    directory = Path(Settings().content_dir) / "campaigns"
    for name in data.get("campaigns") or ():
        await load_campaign(store, cohort, directory / f"{name}.yaml", now, shift_past=True)


def register_loader() -> None:
    from handlers.admin.demo import EXTRA_LOADERS

    if _demo_loader not in EXTRA_LOADERS:
        EXTRA_LOADERS.append(_demo_loader)


async def find_campaign(ctx: Context, typed: str) -> Campaign:
    assert ctx.cohort is not None
    campaign = await ctx.store.campaigns.by_slug(ctx.cohort.id, fold(typed.strip()))
    if campaign is None:
        known = await ctx.store.campaigns.of_cohort(ctx.cohort.id)
        raise UserFacingError("campaigns/unknown", name=typed,
                              candidates=[c.slug for c in known])
    return campaign


@commands.command("charger", aliases=("load",), role=Role.COORDINATOR,
                  params=(Param("fichier", name_en="file"),))
async def load(ctx: Context, args: Args) -> Reply:
    """Load ``data/campaigns/<fichier>.yaml`` as a draft of this cohort."""
    assert ctx.cohort is not None
    name = fold(args["fichier"]).removesuffix(".yaml")
    directory = campaigns_dir(ctx.settings)
    available = sorted(p.stem for p in directory.glob("*.yaml"))
    if not _NAME.match(name) or name not in available:
        raise UserFacingError("campaigns/no_file", name=args["fichier"], candidates=available)
    try:
        campaign = await load_campaign(ctx.store, ctx.cohort, directory / f"{name}.yaml",
                                       ctx.now())
    except CampaignFileError as error:
        raise UserFacingError("campaigns/bad_file", name=name, problem=str(error)) from None
    if campaign is None:
        raise UserFacingError("campaigns/exists", name=name)
    await ctx.audit("campaign.load", campaign=campaign.slug)
    return ctx.reply("campaigns/loaded", campaign=campaign,
                     questions=campaign.definition["questions"])


@commands.command("lister", aliases=("list",), role=Role.MEMBER)
async def list_campaigns(ctx: Context, args: Args) -> Reply:
    assert ctx.cohort is not None
    campaigns = await ctx.store.campaigns.of_cohort(ctx.cohort.id)
    return ctx.reply("campaigns/list", campaigns=campaigns, tz=ctx.tz, private=True)


def _poll_from(campaign: Campaign, question: dict[str, Any], deadline: datetime,
               now: datetime, by: int | None) -> tuple[Poll, list[PollOption]]:
    kind = PollKind(question["kind"])
    options = []
    for position, option in enumerate(question["options"], start=1):
        start = datetime.fromisoformat(option["start"]) if option.get("start") else None
        end = datetime.fromisoformat(option["end"]) if option.get("end") else None
        if start is not None and start < now:
            raise UserFacingError("campaigns/option_in_past", question=question["title"],
                                  option=option["label"])
        options.append(PollOption(position=position, label=option["label"][:300],
                                  starts_at=start, ends_at=end, key=option["key"][:64]))
    poll = Poll(cohort_id=campaign.cohort_id, campaign_id=campaign.id,
                question_key=question["id"], title=question["title"][:300],
                question=question["prompt"], kind=kind, scope=PollScope(question["scope"]),
                answered_by=AnsweredBy(question.get("answered_by") or "any"),
                max_choices=question.get("max_choices"), allow_comment=question["allow_comment"],
                deadline=deadline, nudge_offsets=[], created_by=by, created_at=now,
                only_delegations=[])
    return poll, options


@commands.command("envoyer", aliases=("send",), role=Role.COORDINATOR,
                  params=(Param("campagne", name_en="campaign"),),
                  options=(Opt("echeance", Kind.DATETIME, aliases=("deadline",),
                               key_en="deadline"),
                           Opt("relances", aliases=("nudges",), key_en="nudges")))
async def send(ctx: Context, args: Args) -> Reply:
    """Create one poll per question, post them in every room, plan deadline and nudges."""
    assert ctx.cohort is not None
    campaign = await find_campaign(ctx, args["campagne"])
    if campaign.status is not CampaignStatus.DRAFT:
        raise UserFacingError("campaigns/already_sent", slug=campaign.slug,
                              status=campaign.status.value)
    deadline = args.get("echeance") or default_deadline(
        ctx.now(), ctx.tz, campaign.definition.get("default_deadline_days", 14))
    if deadline <= ctx.now():
        raise UserFacingError("polls/deadline_past", tz=ctx.tz, deadline=deadline)
    offsets = parse_offsets(args["relances"]) if "relances" in args else []
    caller = ctx.caller
    by = caller.member.id if caller and caller.member else None
    polls = []
    for question in campaign.definition["questions"]:
        poll, options = _poll_from(campaign, question, deadline, ctx.now(), by)
        if poll.kind is PollKind.YES_NO:
            options = [PollOption(position=1, label=ctx.catalog.render_block(
                ctx.cohort.language, "polls/labels", "yes") or "Oui", key="yes"),
                PollOption(position=2, label=ctx.catalog.render_block(
                    ctx.cohort.language, "polls/labels", "no") or "Non", key="no")]
        polls.append(await ctx.store.polls.add(poll, options))
    campaign.status = CampaignStatus.SENT
    campaign.deadline = deadline
    campaign.sent_at = ctx.now()
    prefix = f"campaign:{campaign.id}:"
    await ctx.schedule(prefix + "deadline", "campaigns.deadline", deadline,
                       {"campaign": campaign.id})
    for minutes in offsets:
        due = deadline - timedelta(minutes=minutes)
        if due > ctx.now():
            await ctx.schedule(f"{prefix}nudge:{minutes}", "campaigns.nudge", due,
                               {"campaign": campaign.id, "offset": minutes})
    rooms = await ctx.store.rooms.of_cohort(ctx.cohort.id)
    for room in rooms:
        platform = Platform(room.platform)
        text = ctx.catalog.render(ctx.cohort.language, "campaigns/intro", campaign=campaign,
                                  polls=polls, tz=ctx.cohort.timezone,
                                  prefix=ctx.settings.prefix(platform))
        ctx.send(RoomRef(platform, room.room_id), Reply(text),
                 key=f"campaign:{campaign.id}:intro:{room.platform}:{room.room_id}")
    for poll in polls:
        await service.publish(ctx, poll)
    await ctx.audit("campaign.send", campaign=campaign.slug, polls=len(polls))
    return ctx.reply("campaigns/sent", campaign=campaign, polls=polls, rooms=len(rooms),
                     tz=ctx.tz, offsets=[offset_label(m) for m in offsets])


def default_deadline(now: datetime, tz: ZoneInfo, days: int) -> datetime:
    """``days`` days from now, at 18:00 local time (a deadline people can remember)."""
    day = (now.astimezone(tz) + timedelta(days=days)).date()
    return datetime.combine(day, time(18, 0), tzinfo=tz)


async def campaign_polls(ctx: Context, campaign: Campaign) -> list[Poll]:
    return list(await ctx.store.polls.of_cohort(campaign.cohort_id, campaign_id=campaign.id))


async def grid(ctx: Context, campaign: Campaign) -> dict[str, Any]:
    """Delegation × question: for each cell, answered / expected scope keys."""
    polls = await campaign_polls(ctx, campaign)
    delegations = await ctx.store.delegations.of_cohort(campaign.cohort_id)
    answers = await ctx.store.polls.answers_of_polls([p.id for p in polls])
    rows = []
    totals = [[0, 0] for _ in polls]
    for delegation in delegations:
        cells = []
        for index, poll in enumerate(polls):
            keys = {e.key for e in expected_slots(poll, [delegation])}
            done = len(keys & {a.scope_key for a in answers[poll.id]})
            cells.append((done, len(keys)))
            totals[index][0] += done
            totals[index][1] += len(keys)
        rows.append({"delegation": delegation, "cells": cells,
                     "complete": all(d == n for d, n in cells)})
    return {"polls": polls, "rows": rows, "totals": totals}


@commands.command("suivi", aliases=("tableau", "status", "table"), role=Role.COORDINATOR,
                  params=(Param("campagne", name_en="campaign"),))
async def table(ctx: Context, args: Args) -> Reply:
    campaign = await find_campaign(ctx, args["campagne"])
    if campaign.status is CampaignStatus.DRAFT:
        raise UserFacingError("campaigns/not_sent", slug=campaign.slug,
                              status=campaign.status.value)
    data = await grid(ctx, campaign)
    return ctx.reply("campaigns/table", campaign=campaign, tz=ctx.tz, **data)


@commands.command("afaire", aliases=("todo", "reste", "du"), role=Role.MEMBER)
async def todo(ctx: Context, args: Args) -> Reply:
    """What my delegation still owes, across the cohort's open polls."""
    assert ctx.cohort is not None
    voter = service.voter_of(ctx)
    if voter is None or voter.delegation_id is None or \
            voter.delegation_cohort_id != ctx.cohort.id:
        raise UserFacingError("campaigns/todo_needs_delegation")
    polls = [p for p in await ctx.store.polls.of_cohort(ctx.cohort.id, open_only=True)
             if is_open(p, ctx.now())]
    answers = await ctx.store.polls.answers_of_polls([p.id for p in polls])
    delegation = next(d for d in await ctx.store.delegations.of_cohort(ctx.cohort.id)
                      if d.id == voter.delegation_id)
    items = []
    for poll in polls:
        slots = expected_slots(poll, [delegation])
        if not slots:
            continue
        answered = {a.scope_key for a in answers[poll.id]}
        missing = [s for s in slots if s.key not in answered]
        try:
            mine = slot_for(poll, voter).key
            can = True
        except UserFacingError:
            mine, can = None, False
        items.append({"poll": poll, "missing": missing, "done": not missing,
                      "mine_missing": mine is not None and mine not in answered, "can": can,
                      "answerers": sorted({m.display_name for s in missing
                                           for m in s.answerers})})
    return ctx.reply("campaigns/todo", items=items, delegation=delegation, tz=ctx.tz,
                     private=True)


async def nudge_campaign(ctx: Context, campaign: Campaign, round_id: str
                         ) -> tuple[int, list[str]]:
    """One DM per person who can still answer something, listing only what is missing."""
    cohort = ctx.cohort if ctx.cohort is not None and ctx.cohort.id == campaign.cohort_id \
        else await ctx.store.cohorts.get(campaign.cohort_id)
    assert cohort is not None
    polls = [p for p in await campaign_polls(ctx, campaign) if is_open(p, ctx.now())]
    delegations = await ctx.store.delegations.of_cohort(campaign.cohort_id)
    answers = await ctx.store.polls.answers_of_polls([p.id for p in polls])
    owed: dict[int, tuple[Any, list[Poll]]] = {}
    for poll in polls:
        answered = {a.scope_key for a in answers[poll.id]}
        for slot in expected_slots(poll, delegations):
            if slot.key in answered:
                continue
            for member in slot.answerers:
                owed.setdefault(member.id, (member, []))[1].append(poll)
    campaign.nudges += 1
    for member, member_polls in owed.values():
        unique = list({p.id: p for p in member_polls}.values())
        lang = member.language or cohort.language
        for identity in member.identities:
            platform = Platform(identity.platform)
            text = ctx.catalog.render(lang, "campaigns/nudge", campaign=campaign, member=member,
                                      polls=unique, tz=cohort.timezone,
                                      prefix=ctx.settings.prefix(platform))
            ctx.send(UserRef(platform, identity.user_id), Reply(text),
                     key=f"nudge:campaign:{campaign.id}:{member.id}:{round_id}:{platform}")
    reached = [m for m, _ in owed.values() if m.identities]
    return len(reached), sorted(m.display_name for m, _ in owed.values() if not m.identities)


@commands.command("relancer", aliases=("nudge", "remind"), role=Role.COORDINATOR,
                  params=(Param("campagne", name_en="campaign"),))
async def nudge(ctx: Context, args: Args) -> Reply:
    campaign = await find_campaign(ctx, args["campagne"])
    if campaign.status is not CampaignStatus.SENT:
        raise UserFacingError("campaigns/not_open", slug=campaign.slug,
                              status=campaign.status.value)
    people, unreachable = await nudge_campaign(ctx, campaign, str(campaign.nudges + 1))
    await ctx.audit("campaign.nudge", campaign=campaign.slug, people=people)
    return ctx.reply("campaigns/nudged", campaign=campaign, people=people,
                     unreachable=unreachable, private=True)


async def close_campaign(ctx: Context, campaign: Campaign) -> int:
    """Close every open poll of the campaign, then post in each room who handed in what,
    as words and as a delegation × question picture."""
    closed = 0
    polls = await campaign_polls(ctx, campaign)
    for poll in polls:
        if poll.status is PollStatus.OPEN:
            await service.close(ctx, poll)
            closed += 1
    campaign.status = CampaignStatus.CLOSED
    await ctx.store.jobs.cancel_prefix(f"campaign:{campaign.id}:")
    ctx.changed.add("jobs")
    rooms = await ctx.store.rooms.of_cohort(campaign.cohort_id)
    if rooms:
        cohort = await ctx.store.cohorts.get(campaign.cohort_id)
        assert cohort is not None
        texts = ctx.catalog.bind(cohort.language)
        grid = await campaign_progress(ctx, campaign, polls)
        picture = results_picture(texts, grid, filename=f"campagne-{campaign.slug}.png")
        for room in rooms:
            ctx.send(RoomRef(Platform(room.platform), room.room_id),
                     Reply(summary(texts, grid), attachments=(picture,)),
                     key=f"campaign:{campaign.id}:closed:{room.platform}:{room.room_id}")
    return closed


@commands.command("fermer", aliases=("close", "clore"), role=Role.COORDINATOR,
                  params=(Param("campagne", name_en="campaign"),))
async def close(ctx: Context, args: Args) -> Reply:
    campaign = await find_campaign(ctx, args["campagne"])
    if campaign.status is not CampaignStatus.SENT:
        raise UserFacingError("campaigns/not_open", slug=campaign.slug,
                              status=campaign.status.value)
    closed = await close_campaign(ctx, campaign)
    await ctx.audit("campaign.close", campaign=campaign.slug)
    return ctx.reply("campaigns/closed", campaign=campaign, polls=closed)


@commands.command("exporter", aliases=("export",), role=Role.COORDINATOR,
                  params=(Param("campagne", name_en="campaign"),))
async def export_campaign(ctx: Context, args: Args) -> Reply:
    campaign = await find_campaign(ctx, args["campagne"])
    if campaign.status is CampaignStatus.DRAFT:
        raise UserFacingError("campaigns/not_sent", slug=campaign.slug,
                              status=campaign.status.value)
    data = await grid(ctx, campaign)
    words = export.Words(ctx)
    header = [words("delegation")] + [p.question_key or str(p.id) for p in data["polls"]]
    rows = [[r["delegation"].territory] + [f"{d}/{n}" if n else "" for d, n in r["cells"]]
            for r in data["rows"]]
    sheets: list[tuple[str, Sequence[str], Sequence[Sequence[Any]]]] = [
        (words("table_sheet"), header, rows)]
    for poll in data["polls"]:
        poll_header, poll_rows = await export.poll_table(ctx, poll)
        sheets.append((f"{poll.question_key} {poll.title}", poll_header, poll_rows))
    stem = f"campagne-{campaign.slug}-{ctx.now().strftime('%Y%m%d')}"
    files = (Attachment(f"{stem}.csv", export.CSV_MIME, export.to_csv(header, rows),
                        alt_text=campaign.title),
             Attachment(f"{stem}.xlsx", export.XLSX_MIME, export.to_xlsx(sheets),
                        alt_text=campaign.title))
    await ctx.audit("campaign.export", campaign=campaign.slug)
    return ctx.reply("campaigns/exported", campaign=campaign, files=[f.filename for f in files],
                     attachments=files, private=True)


async def on_deadline(ctx: Context, event: Any) -> None:
    campaign = await ctx.store.campaigns.get(int(event.payload["campaign"]))
    if campaign is not None and campaign.status is CampaignStatus.SENT:
        await close_campaign(ctx, campaign)
        await ctx.audit("campaign.auto_close", campaign=campaign.slug)


async def on_nudge(ctx: Context, event: Any) -> None:
    campaign = await ctx.store.campaigns.get(int(event.payload["campaign"]))
    if campaign is not None and campaign.status is CampaignStatus.SENT:
        await nudge_campaign(ctx, campaign, f"auto-{event.payload['offset']}")


__all__ = ["CATEGORIES", "commands", "load_campaign", "on_deadline", "on_nudge",
           "register_loader"]

"""``sondage creer|voter|resultats|lister|fermer|rouvrir|relancer|exporter|commenter``."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any

from handlers.admin.lookup import find_delegation
from handlers.admin.members import parse_bool, parse_category
from handlers.core.commands import Args, CommandGroup, Kind, Opt, Param, Role
from handlers.core.context import Context
from handlers.core.dates import _localize, looks_like_time, parse_date, parse_datetime, parse_time
from handlers.core.errors import UserFacingError
from handlers.core.events import Reply
from handlers.core.grammar import fold
from handlers.polls import export, service
from handlers.polls.logic import (
    MAX_OPTIONS,
    is_open,
    parse_offsets,
    parse_typed_vote,
    slot_for,
)
from messages import dates
from storage.models_polls import AnsweredBy, Poll, PollKind, PollOption, PollScope

commands = CommandGroup("sondage", aliases=("poll", "sondages"))

KIND_WORDS = {
    "ouinon": PollKind.YES_NO, "oui-non": PollKind.YES_NO, "oui/non": PollKind.YES_NO,
    "yesno": PollKind.YES_NO, "yes-no": PollKind.YES_NO,
    "choix": PollKind.SINGLE, "unique": PollKind.SINGLE, "single": PollKind.SINGLE,
    "multiple": PollKind.MULTI, "multiples": PollKind.MULTI, "multi": PollKind.MULTI,
    "dispo": PollKind.AVAILABILITY, "dispos": PollKind.AVAILABILITY,
    "disponibilites": PollKind.AVAILABILITY, "dates": PollKind.AVAILABILITY,
    "availability": PollKind.AVAILABILITY, "date": PollKind.AVAILABILITY,
    "texte": PollKind.TEXT, "text": PollKind.TEXT, "libre": PollKind.TEXT,
}
SCOPE_WORDS = {
    "membre": PollScope.MEMBER, "personne": PollScope.MEMBER, "member": PollScope.MEMBER,
    "chacun": PollScope.MEMBER, "delegation": PollScope.DELEGATION,
    "categorie": PollScope.CATEGORY, "category": PollScope.CATEGORY,
}
BY_WORDS = {"referent": AnsweredBy.REFERENT, "referente": AnsweredBy.REFERENT,
            "tous": AnsweredBy.ANY, "any": AnsweredBy.ANY, "membre": AnsweredBy.ANY,
            "all": AnsweredBy.ANY, "nimporte": AnsweredBy.ANY}
RESULT_WORDS = {"direct": False, "live": False, "cloture": True, "close": True,
                "caches": True, "hidden": True, "fin": True}
_RANGE = re.compile(r"^(.*\S)\s+(\d{1,2}\s*(?:h|:)\s*\d{0,2})\s*(?:-|–|à|a|to)\s*"
                    r"(\d{1,2}\s*(?:h|:)\s*\d{0,2})$", re.IGNORECASE)

_CREATE_OPTIONS = (
    Opt("type", aliases=("kind", "genre")),
    Opt("options", aliases=("choix", "choices", "dates")),
    Opt("max", Kind.INT, aliases=("maximum",)),
    Opt("portee", aliases=("scope",), key_en="scope"),
    Opt("repond", aliases=("answered_by", "par", "by"), key_en="by"),
    Opt("categorie", aliases=("category", "cat"), key_en="category"),
    Opt("delegations", aliases=("territoires",)),
    Opt("echeance", Kind.DATETIME, aliases=("deadline", "fin"), key_en="deadline"),
    Opt("relances", aliases=("nudges", "rappels"), key_en="nudges"),
    Opt("anonyme", aliases=("anonymous",), key_en="anonymous"),
    Opt("resultats", aliases=("results",), key_en="results"),
    Opt("modifiable", aliases=("changeable",), key_en="changeable"),
    Opt("commentaires", aliases=("comments",), key_en="comments"),
)


def parse_kind(text: str) -> PollKind:
    kind = KIND_WORDS.get(fold(text))
    if kind is None:
        raise UserFacingError("polls/bad_kind", text=text)
    return kind


def split_options(text: str) -> list[str]:
    separator = "|" if "|" in text else ";"
    return [" ".join(p.split()) for p in text.split(separator) if p.strip()]


def parse_slot(text: str, now: datetime, tz: Any, lang: str
               ) -> tuple[datetime, datetime | None, str]:
    """``28/04 14h-17h``, ``28/04 14h`` or ``28/04`` → (start, end, label); never past."""
    match = _RANGE.match(text)
    try:
        if match:
            start = parse_datetime(f"{match[1]} {match[2]}", now, tz)
            end_time = parse_time(match[3])
            end = _localize(datetime.combine(start.astimezone(tz).date(), end_time), tz)
            if end <= start:
                raise UserFacingError("polls/bad_slot", text=text)
            label = dates.when(start, end, lang, tz)
        elif looks_like_time(text.split()[-1]) and len(text.split()) > 1:
            start = parse_datetime(text, now, tz)
            end = None
            label = dates.when(start, None, lang, tz)
        else:
            day = parse_date(text, now.astimezone(tz).date())
            start = _localize(datetime.combine(day, time(0, 0)), tz)
            end = start + timedelta(days=1)
            if day < now.astimezone(tz).date():
                raise UserFacingError("polls/option_in_past", text=text)
            return start, end, dates.long_date(day, lang)
    except UserFacingError as error:
        if error.template in ("errors/bad_date", "errors/bad_time", "errors/impossible_date"):
            raise UserFacingError("polls/bad_slot", text=text) from None
        raise
    if start < now:
        raise UserFacingError("polls/option_in_past", text=text)
    return start, end, label


def build_options(ctx: Context, kind: PollKind, raw: str | None) -> list[PollOption]:
    if kind is PollKind.YES_NO:
        yes = ctx.texts.block("polls/labels", "yes") or "Oui"
        no = ctx.texts.block("polls/labels", "no") or "Non"
        return [PollOption(position=1, label=yes), PollOption(position=2, label=no)]
    if kind is PollKind.TEXT:
        return []
    if not raw:
        raise UserFacingError("polls/needs_options", kind=kind.value)
    items = split_options(raw)
    if len(items) < (1 if kind is PollKind.AVAILABILITY else 2):
        raise UserFacingError("polls/too_few_options", kind=kind.value)
    if len(items) > MAX_OPTIONS:
        raise UserFacingError("polls/too_many_options", limit=MAX_OPTIONS)
    folded = [fold(i) for i in items]
    for item, key in zip(items, folded, strict=True):
        if folded.count(key) > 1:
            raise UserFacingError("polls/duplicate_option", text=item)
        if len(item) > 300:
            raise UserFacingError("errors/name_too_long", limit=300)
    options = []
    for position, item in enumerate(items, start=1):
        if kind is PollKind.AVAILABILITY:
            start, end, label = parse_slot(item, ctx.now(), ctx.tz, ctx.lang)
            options.append(PollOption(position=position, label=label, starts_at=start,
                                      ends_at=end))
        else:
            options.append(PollOption(position=position, label=item))
    return options


@commands.command("creer", aliases=("create", "nouveau", "new"), role=Role.COORDINATOR,
                  params=(Param("question", Kind.REST),), options=_CREATE_OPTIONS)
async def create(ctx: Context, args: Args) -> Reply:
    """Create a poll and post it in every room of the cohort."""
    assert ctx.cohort is not None
    question = " ".join(args["question"].split())
    if len(question) > 1000:
        raise UserFacingError("errors/name_too_long", limit=1000)
    kind = parse_kind(args["type"]) if "type" in args else (
        PollKind.SINGLE if "options" in args else PollKind.YES_NO)
    options = build_options(ctx, kind, args.get("options"))
    scope = PollScope.MEMBER
    if "portee" in args:
        scope = SCOPE_WORDS.get(fold(args["portee"]))  # type: ignore[assignment]
        if scope is None:
            raise UserFacingError("polls/bad_scope", text=args["portee"])
    answered_by = AnsweredBy.ANY
    if "repond" in args:
        answered_by = BY_WORDS.get(fold(args["repond"]))  # type: ignore[assignment]
        if answered_by is None:
            raise UserFacingError("polls/bad_answered_by", text=args["repond"])
        if scope is PollScope.MEMBER and "portee" not in args:
            scope = PollScope.DELEGATION
    max_choices = None
    if "max" in args:
        if kind is not PollKind.MULTI or not 1 <= args["max"] <= len(options):
            raise UserFacingError("polls/bad_max", value=args["max"], count=len(options))
        max_choices = args["max"]
    only_category = parse_category(args["categorie"]).value if "categorie" in args else None
    only_delegations: list[int] = []
    if "delegations" in args:
        for name in split_options(args["delegations"]):
            only_delegations.append((await find_delegation(ctx, name)).id)
    deadline = args.get("echeance")
    if deadline is not None and deadline <= ctx.now():
        raise UserFacingError("polls/deadline_past", tz=ctx.tz, deadline=deadline)
    offsets: list[int] = []
    if "relances" in args:
        if deadline is None:
            raise UserFacingError("polls/nudges_need_deadline")
        offsets = parse_offsets(args["relances"])
    hide = False
    if "resultats" in args:
        hide = RESULT_WORDS.get(fold(args["resultats"]))  # type: ignore[assignment]
        if hide is None:
            raise UserFacingError("polls/bad_results", text=args["resultats"])
    caller = ctx.caller
    poll = Poll(
        cohort_id=ctx.cohort.id, title=question[:300], question=question, kind=kind,
        scope=scope, answered_by=answered_by, only_category=only_category,
        only_delegations=only_delegations, max_choices=max_choices,
        anonymous=parse_bool(args["anonyme"], "anonyme") if "anonyme" in args else False,
        hide_results=hide,
        changeable=parse_bool(args["modifiable"], "modifiable") if "modifiable" in args
        else True,
        allow_comment=parse_bool(args["commentaires"], "commentaires")
        if "commentaires" in args else True,
        deadline=deadline, nudge_offsets=offsets,
        created_by=caller.member.id if caller and caller.member else None,
        created_at=ctx.now())
    await ctx.store.polls.add(poll, options)
    await service.plan_timers(ctx, poll)
    rooms = await service.publish(ctx, poll)
    await ctx.audit("poll.create", poll_id=poll.id, kind=kind.value, scope=scope.value)
    replies = [ctx.reply("polls/created", poll=poll, rooms=rooms, tz=ctx.tz)]
    if rooms == 0 and ctx.origin is not None:
        pv = await service.view(ctx, poll)
        replies.append(service.render_card(ctx, poll, pv, ctx.cohort, ctx.origin.platform))
    return replies


@commands.command("voter", aliases=("vote", "repondre", "answer"), role=Role.MEMBER,
                  params=(Param("numero", Kind.INT, name_en="number"),
                          Param("reponse", Kind.REST, name_en="answer")),
                  options=(Opt("commentaire", aliases=("comment",), key_en="comment"),))
async def vote(ctx: Context, args: Args) -> Reply:
    poll = await service.poll_in_cohort(ctx, args["numero"])
    labels = {o.position: o.label for o in poll.options}
    request = parse_typed_vote(poll, labels, [args["reponse"]], args.get("commentaire"))
    slot, value = await service.cast(ctx, poll, request)
    return ctx.reply("polls/voted", poll=poll, value=value, slot=slot,
                     labels=labels, private=True, sensitive=poll.anonymous)


@commands.command("commenter", aliases=("comment",), role=Role.MEMBER,
                  params=(Param("numero", Kind.INT, name_en="number"),
                          Param("commentaire", Kind.REST, name_en="comment")))
async def comment(ctx: Context, args: Args) -> Reply:
    poll = await service.poll_in_cohort(ctx, args["numero"])
    if not poll.allow_comment:
        raise UserFacingError("polls/no_comments", poll_id=poll.id)
    voter = service.voter_of(ctx)
    if voter is None:
        raise UserFacingError("polls/not_member", poll_id=poll.id)
    slot = slot_for(poll, voter)
    if not is_open(poll, ctx.now()):
        raise await service.closed_error(ctx, poll)
    text = args["commentaire"].strip()
    if len(text) > 2000:
        raise UserFacingError("errors/too_long", length=len(text), limit=2000)
    if not await ctx.store.polls.set_comment(poll.id, slot.key, text, ctx.now()):
        raise UserFacingError("polls/no_answer_yet", poll_id=poll.id)
    await service.mark_dirty(ctx, [poll.id])
    return ctx.reply("polls/commented", poll=poll, private=True)


@commands.command("resultats", aliases=("results", "voir", "show"), role=Role.MEMBER,
                  params=(Param("numero", Kind.INT, name_en="number"),))
async def results(ctx: Context, args: Args) -> Reply:
    poll = await service.poll_in_cohort(ctx, args["numero"])
    coordinator = ctx.caller is not None and ctx.caller.coordinates_cohort(poll.cohort_id)
    pv = await service.view(ctx, poll, for_coordinator=coordinator)
    return ctx.reply("polls/results", poll=poll, pv=pv, tz=ctx.tz, private=True,
                     full=True, attachments=await service.results_pictures(ctx, poll, pv))


@commands.command("lister", aliases=("list",), role=Role.MEMBER)
async def list_polls(ctx: Context, args: Args) -> Reply:
    assert ctx.cohort is not None
    polls = await ctx.store.polls.of_cohort(ctx.cohort.id)
    rows = []
    voter = service.voter_of(ctx)
    answers = await ctx.store.polls.answers_of_polls([p.id for p in polls])
    for poll in polls:
        mine = None
        if voter is not None:
            try:
                key = slot_for(poll, voter).key
                mine = any(a.scope_key == key for a in answers[poll.id])
            except UserFacingError:
                mine = None
        rows.append({"poll": poll, "open": is_open(poll, ctx.now()),
                     "answers": len(answers[poll.id]), "mine": mine})
    return ctx.reply("polls/list", rows=rows, tz=ctx.tz, private=True)


@commands.command("fermer", aliases=("close", "clore"), role=Role.COORDINATOR,
                  params=(Param("numero", Kind.INT, name_en="number"),))
async def close(ctx: Context, args: Args) -> Reply:
    poll = await service.poll_in_cohort(ctx, args["numero"])
    if not is_open(poll, ctx.now()) and poll.closed_at is not None:
        raise UserFacingError("polls/already_closed", poll_id=poll.id)
    await service.close(ctx, poll)
    await ctx.audit("poll.close", poll_id=poll.id)
    pv = await service.view(ctx, poll, for_coordinator=True)
    return ctx.reply("polls/closed_ok", poll=poll, pv=pv, tz=ctx.tz)


@commands.command("rouvrir", aliases=("reopen",), role=Role.COORDINATOR,
                  params=(Param("numero", Kind.INT, name_en="number"),),
                  options=(Opt("echeance", Kind.DATETIME, aliases=("deadline",),
                               key_en="deadline"),))
async def reopen(ctx: Context, args: Args) -> Reply:
    poll = await service.poll_in_cohort(ctx, args["numero"])
    if is_open(poll, ctx.now()):
        raise UserFacingError("polls/already_open", poll_id=poll.id)
    deadline = args.get("echeance")
    if deadline is not None and deadline <= ctx.now():
        raise UserFacingError("polls/deadline_past", tz=ctx.tz, deadline=deadline)
    await service.reopen(ctx, poll, deadline)
    await ctx.audit("poll.reopen", poll_id=poll.id)
    return ctx.reply("polls/reopened", poll=poll, tz=ctx.tz)


@commands.command("relancer", aliases=("nudge", "remind"), role=Role.COORDINATOR,
                  params=(Param("numero", Kind.INT, name_en="number"),))
async def nudge(ctx: Context, args: Args) -> Reply:
    poll = await service.poll_in_cohort(ctx, args["numero"])
    if not is_open(poll, ctx.now()):
        raise await service.closed_error(ctx, poll)
    people, unreachable = await service.nudge(ctx, poll)
    await ctx.audit("poll.nudge", poll_id=poll.id, people=people)
    return ctx.reply("polls/nudged", poll=poll, people=people, unreachable=unreachable,
                     private=True)


@commands.command("exporter", aliases=("export",), role=Role.COORDINATOR,
                  params=(Param("numero", Kind.INT, name_en="number"),),
                  options=(Opt("format", Kind.CHOICE, choices=("csv", "xlsx", "tous")),))
async def export_poll(ctx: Context, args: Args) -> Reply:
    poll = await service.poll_in_cohort(ctx, args["numero"])
    pv = await service.view(ctx, poll, for_coordinator=True)
    files = await export.poll_files(ctx, poll, pv, args.get("format", "tous"))
    await ctx.audit("poll.export", poll_id=poll.id)
    return ctx.reply("polls/exported", poll=poll, files=[f.filename for f in files],
                     attachments=tuple(files), private=True)

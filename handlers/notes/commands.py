"""``note commencer|reprendre|statut|voir|historique|exporter|synthese|tableau|lister``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from handlers.admin.cohorts import slugify
from handlers.core.commands import Args, CommandGroup, Kind, Opt, Param, Role
from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.core.events import Reply
from handlers.core.ids import Platform, UserRef
from handlers.notes import export
from handlers.notes.answers import shown
from handlers.notes.machine import (
    Turn,
    apply,
    ask,
    load_turn,
    next_question,
)
from handlers.notes.questionnaires import Questionnaire, text
from handlers.notes.service import (
    chosen_delegation,
    cohort_delegations,
    find_questionnaire,
    may_see,
    member_names,
    note_views,
    policy,
)
from storage.models import Delegation
from storage.models_notes import OPEN_STATES, ConversationState
from storage.repos.notes import ConversationBusy

commands = CommandGroup("note", aliases=("notes",))

_DELEGATION = Param("delegation", Kind.REST, required=False)
LIVRET_WORDS = ("livret", "booklet", "tout", "all", "cohorte")
FORMAT_WORDS = {"md": ("md",), "markdown": ("md",), "csv": ("csv",), "docx": ("docx",),
                "word": ("docx",), "odt": ("docx",), "tout": export.FORMATS,
                "all": export.FORMATS}


def in_private(ctx: Context, reply: Reply) -> Reply:
    """A note's content goes to the person's DM when asked for in a shared room."""
    origin = ctx.origin
    assert origin is not None
    if origin.is_direct or origin.platform is Platform.CONSOLE:
        return reply
    ctx.send(UserRef(origin.platform, origin.user.user_id), reply,
             key=f"notes:private:{origin.platform}:{origin.event_id or uuid.uuid4().hex}")
    return ctx.reply("notes/sent_to_dm", private=True)


async def open_conversation(ctx: Context, questionnaire: Questionnaire,
                            delegation: Delegation) -> Reply:
    """Make (account, note) the current conversation and ask where it stands, in the DM."""
    origin = ctx.origin
    caller = ctx.caller
    assert origin is not None and caller is not None and ctx.cohort is not None
    member_id = caller.member.id if caller.member else None
    note = await ctx.store.notes.get_or_create(
        cohort_id=ctx.cohort.id, delegation_id=delegation.id, questionnaire=questionnaire.id,
        version=questionnaire.version, now=ctx.now(), by=member_id)
    try:
        conv = await ctx.store.note_conversations.open(
            platform=str(origin.platform), user_id=origin.user.user_id, note_id=note.id,
            member_id=member_id, now=ctx.now())
    except ConversationBusy:
        raise UserFacingError("notes/busy") from None
    turn = await load_turn(ctx, conv)
    assert turn is not None
    reply = await apply(turn, _first_step(conv.state))
    if origin.is_direct:
        return reply
    ctx.send(UserRef(origin.platform, origin.user.user_id), reply,
             key=f"notes:start:{origin.platform}:{origin.event_id or uuid.uuid4().hex}")
    if origin.platform is Platform.CONSOLE:
        return ctx.reply("notes/started_in_console", title=turn.title)
    return ctx.reply("notes/started_in_dm", private=True, title=turn.title)


def _first_step(previous: ConversationState):  # type: ignore[no-untyped-def]
    """Resume an open conversation where it was; start a closed or new one afresh."""

    async def begin(turn: Turn) -> ConversationState:
        conv = turn.conv
        question = turn.question
        if previous in OPEN_STATES and question is not None:
            turn.say("notes/resumed", title=turn.title)
            return await ask(turn, question, resumed=True)
        conv.skipped = []
        conv.buffer = []
        questions = turn.questionnaire.questions
        turn.say("notes/intro", title=turn.title, territory=turn.delegation.territory,
                 description=text(turn.questionnaire.description, turn.ctx.lang),
                 total=len(questions), required=len(turn.questionnaire.required))
        following = next_question(turn, None)
        if following is None:
            conv.question_id = None
            turn.say("notes/all_answered", title=turn.title)
            return ConversationState.REVIEW
        return await ask(turn, following)

    return begin


@commands.command("commencer", aliases=("start", "remplir", "fill"),
                  params=(Param("note"), _DELEGATION))
async def start(ctx: Context, args: Args) -> Reply:
    """Start (or go back to) filling a note, question by question, in a DM."""
    questionnaire = find_questionnaire(ctx, args["note"])
    delegation = await chosen_delegation(ctx, args.get("delegation"))
    return await open_conversation(ctx, questionnaire, delegation)


@commands.command("reprendre", aliases=("resume", "continuer"),
                  params=(Param("note", required=False), _DELEGATION))
async def resume(ctx: Context, args: Args) -> Reply:
    """Resume a note put aside (the most recent one when none is named)."""
    if "note" in args:
        return await start(ctx, args)
    origin = ctx.origin
    assert origin is not None and ctx.cohort is not None
    for conv in await ctx.store.note_conversations.of_account(str(origin.platform),
                                                               origin.user.user_id):
        if conv.state not in OPEN_STATES:
            continue
        note = await ctx.store.notes.get(conv.note_id)
        questionnaire = policy(ctx).questionnaires.get(note.questionnaire) if note else None
        if note is None or questionnaire is None or note.cohort_id != ctx.cohort.id:
            continue
        delegation = await ctx.store.delegations.get(note.delegation_id)
        if delegation is None:
            continue
        if not may_see(ctx.caller, delegation):
            continue
        return await open_conversation(ctx, questionnaire, delegation)
    raise UserFacingError("notes/nothing_to_resume")


@commands.command("statut", aliases=("status", "etat"), params=(_DELEGATION,))
async def status(ctx: Context, args: Args) -> Reply:
    """Where a delegation's notes stand: completion, missing questions, contributors."""
    delegation = await chosen_delegation(ctx, args.get("delegation"))
    views = await note_views(ctx, delegation, list(policy(ctx).questionnaires))
    origin = ctx.origin
    assert origin is not None
    mine = []
    for conv in await ctx.store.note_conversations.of_account(str(origin.platform),
                                                               origin.user.user_id):
        view = next((v for v in views if v.note and v.note.id == conv.note_id), None)
        if view is not None and conv.state in OPEN_STATES:
            question = view.questionnaire.question(conv.question_id)
            mine.append({"title": view.title, "state": conv.state.value,
                         "number": question.number if question else None})
    return ctx.reply("notes/status", territory=delegation.territory, views=views, mine=mine,
                     private=True, tz=ctx.tz)


@commands.command("voir", aliases=("show", "lire"), params=(Param("note"), _DELEGATION))
async def show(ctx: Context, args: Args) -> Reply:
    """A note's answers, with who gave them (sent privately)."""
    questionnaire = find_questionnaire(ctx, args["note"])
    delegation = await chosen_delegation(ctx, args.get("delegation"))
    view = (await note_views(ctx, delegation, [questionnaire]))[0]
    return in_private(ctx, ctx.reply("notes/show", view=view, tz=ctx.tz))


@commands.command("historique", aliases=("history",),
                  params=(Param("note"), Param("numero", Kind.INT, name_en="number"),
                          _DELEGATION))
async def history(ctx: Context, args: Args) -> Reply:
    """Every value a question's answer took: who, when, and what it replaced."""
    questionnaire = find_questionnaire(ctx, args["note"])
    question = questionnaire.by_number(args["numero"])
    if question is None:
        raise UserFacingError("notes/bad_question_number", number=args["numero"],
                              total=len(questionnaire.questions))
    delegation = await chosen_delegation(ctx, args.get("delegation"))
    note = await ctx.store.notes.find(delegation.id, questionnaire.id)
    rows = list(await ctx.store.notes.history(note.id, question.id)) if note else []
    names = await member_names(ctx.store, {r.changed_by for r in rows})
    entries = [{"version": r.version, "by": names.get(r.changed_by or -1), "at": r.changed_at,
                "value": shown(question, r.value, ctx.lang),
                "previous": shown(question, r.previous, ctx.lang)
                if r.previous is not None else None} for r in rows]
    return in_private(ctx, ctx.reply(
        "notes/history", title=text(questionnaire.title, ctx.lang), q=question,
        prompt=text(question.prompt, ctx.lang), territory=delegation.territory,
        entries=entries, tz=ctx.tz))


@commands.command("exporter", aliases=("export",),
                  params=(Param("note"), _DELEGATION),
                  options=(Opt("format", choices=tuple(FORMAT_WORDS)),))
async def export_notes(ctx: Context, args: Args) -> Reply:
    """A note, or the cohort's livret, as DOCX, Markdown and CSV files (sent privately).

    The livret holds the notes the caller may see: every delegation's for the
    coordination, their own delegation's for a member.
    """
    assert ctx.cohort is not None
    formats = _formats(args.get("format"))
    items = policy(ctx).questionnaires
    livret = args["note"].casefold() in LIVRET_WORDS
    if livret:
        questionnaires: Sequence[Questionnaire] = list(items)
        if "delegation" in args:
            delegations = [await chosen_delegation(ctx, args["delegation"])]
        else:
            delegations = list(await cohort_delegations(ctx, ctx.cohort))
        if not delegations:
            raise UserFacingError("notes/which_delegation")
    else:
        questionnaires = [find_questionnaire(ctx, args["note"])]
        delegations = [await chosen_delegation(ctx, args.get("delegation"))]
    doc, files = await export_files(ctx, questionnaires, delegations, livret=livret,
                                    formats=formats)
    return in_private(ctx, ctx.reply("notes/exported", title=doc.title, files=files,
                                     attachments=files, livret=livret,
                                     delegations=len(delegations)))


async def export_files(ctx: Context, questionnaires: Sequence[Questionnaire],
                       delegations: Sequence[Delegation], *, livret: bool,
                       formats: Sequence[str]) -> tuple[export.Export, tuple[Any, ...]]:
    """The files of a note or of the livret for delegations the caller may see (checked by
    the caller: the chat command and the dashboard both pick them with ``may_see``)."""
    assert ctx.cohort is not None
    groups = [export.Group(d.territory, await note_views(ctx, d, questionnaires))
              for d in delegations]
    if livret:
        title = ctx.t("notes/export/title_livret", cohort=ctx.cohort.name)
        base = f"livret-{ctx.cohort.slug}"
        if len(delegations) == 1:
            base += f"-{slugify(delegations[0].territory)}"
    else:
        title = ctx.t("notes/export/title_note", title=groups[0].views[0].title,
                      territory=delegations[0].territory)
        base = f"note-{questionnaires[0].id}-{slugify(delegations[0].territory)}"
    doc = export.Export(title=_plain(title), cohort=ctx.cohort.name, groups=groups,
                        generated_at=ctx.now(), tz=ctx.tz, lang=ctx.lang)
    files = export.attachments(doc, ctx.texts, base, formats)
    await ctx.audit("notes.export", livret=livret, delegations=len(delegations),
                    formats=list(formats))
    return doc, files


def _formats(word: str | None) -> tuple[str, ...]:
    if word is None:
        return export.FORMATS
    return FORMAT_WORDS[word]


def _plain(markup: str) -> str:
    from messages.render.plain import to_plain

    return to_plain(markup)


@commands.command("synthese", aliases=("digest", "mise-a-niveau", "miseaniveau"),
                  params=(_DELEGATION,))
async def digest(ctx: Context, args: Args) -> Reply:
    """The delegation's notes summed up in one message, for a newcomer (mise à niveau)."""
    delegation = await chosen_delegation(ctx, args.get("delegation"))
    views = await note_views(ctx, delegation, list(policy(ctx).questionnaires))
    return in_private(ctx, ctx.reply("notes/digest", territory=delegation.territory,
                                     views=views, tz=ctx.tz))


@commands.command("tableau", aliases=("dashboard", "bilan"), role=Role.COORDINATOR)
async def dashboard(ctx: Context, args: Args) -> Reply:
    """Completion of every note of every delegation of the cohort (coordination)."""
    assert ctx.cohort is not None
    questionnaires = list(policy(ctx).questionnaires)
    delegations = await ctx.store.delegations.of_cohort(ctx.cohort.id)
    notes = await ctx.store.notes.of_cohort(ctx.cohort.id)
    answered = await ctx.store.notes.answered_questions([n.id for n in notes])
    by_key = {(n.delegation_id, n.questionnaire): n for n in notes}
    from handlers.notes.service import completion

    rows = []
    for delegation in delegations:
        cells = []
        for questionnaire in questionnaires:
            note = by_key.get((delegation.id, questionnaire.id))
            done = completion(questionnaire, answered.get(note.id, set()) if note else set())
            cells.append({"id": questionnaire.id, "completion": done})
        rows.append({"territory": delegation.territory, "cells": cells})
    columns = [{"id": q.id, "title": text(q.title, ctx.lang),
                "complete": sum(1 for r in rows for c in r["cells"]
                                if c["id"] == q.id and c["completion"].complete)}
               for q in questionnaires]
    return ctx.reply("notes/dashboard", cohort=ctx.cohort, rows=rows, columns=columns,
                     private=True)


@commands.command("lister", aliases=("list",))
async def list_notes(ctx: Context, args: Args) -> Reply:
    """The notes a delegation fills, with the name to type for each."""
    items = [{"id": q.id, "title": text(q.title, ctx.lang), "count": len(q.questions),
              "description": text(q.description, ctx.lang)}
             for q in policy(ctx).questionnaires]
    return ctx.reply("notes/list", notes=items, private=True)

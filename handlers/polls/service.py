"""What happens to a poll: published in every room of its cohort, voted on, refreshed in
place (coalesced), nudged, closed and reopened. Handlers call these with their Context,
so everything lands in the event's one transaction and the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from handlers.core.context import Context, person
from handlers.core.errors import UserFacingError
from handlers.core.events import Action, ActionStyle, Attachment, Reply
from handlers.core.ids import Platform, RoomRef, UserRef
from handlers.polls.grids import poll_picture
from handlers.polls.logic import (
    AVAILABILITY_VALUES,
    Expected,
    Slot,
    Tally,
    Voter,
    VoteRequest,
    apply_vote,
    check_can_answer,
    expected_slots,
    is_open,
    slot_for,
    tally,
)
from messages.markup import Raw
from storage.models import Cohort, Delegation
from storage.models_polls import Poll, PollKind, PollScope, PollStatus
from storage.repos.polls import AnswerWrite

PRIVATE_BALLOTS = frozenset({Platform.MATRIX})
"""Platforms where any vote given in a room is seen by the room (on Matrix a native vote
or a typed command is a room event naming its sender): there an anonymous poll's answers
are collected in each person's DM (a private ballot), never in the room."""
ANSWER_BY_REPLY = frozenset({Platform.MATRIX})
"""Platforms whose adapter reads a reply to a poll's message as an answer to it."""
REFRESH_DELAY = timedelta(seconds=2)
"""Votes within this delay are shown in one edit of the poll message per room."""
CARD_VERSION = 1


@dataclass(frozen=True, slots=True)
class Who:
    """Whom an answer stands for, and who gave it (rendered by the ``who`` macro)."""

    territory: str | None
    category: str | None
    name: str | None
    by: str | None


@dataclass(slots=True)
class PollView:
    """Everything the templates need to show a poll: results, who answered, who has not."""

    poll: Poll
    tally: Tally
    answered: list[tuple[Expected | None, Who]]
    missing: list[Expected]
    show_results: bool
    expected_count: int


def voter_of(ctx: Context) -> Voter | None:
    caller = ctx.caller
    if caller is None or caller.member is None:
        return None
    member = caller.member
    delegation = member.__dict__.get("delegation")
    category = member.category.value if member.category is not None else None
    return Voter(member.id, member.display_name, member.delegation_id,
                 delegation.cohort_id if delegation is not None else None,
                 delegation.territory if delegation is not None else None,
                 category, bool(member.is_referent), caller.coordinates)


async def poll_in_cohort(ctx: Context, number: int) -> Poll:
    """The poll numbered ``number`` in the current cohort (a poll of another cohort is
    unknown here: its number says nothing about it)."""
    poll = await ctx.store.polls.get(number)
    if poll is None or ctx.cohort is None or poll.cohort_id != ctx.cohort.id:
        raise UserFacingError("polls/unknown_poll", number=number)
    return poll


async def cohort_of(ctx: Context, poll: Poll) -> Cohort:
    if ctx.cohort is not None and ctx.cohort.id == poll.cohort_id:
        return ctx.cohort
    cohort = await ctx.store.cohorts.get(poll.cohort_id)
    assert cohort is not None
    return cohort


async def view(ctx: Context, poll: Poll, *, delegations: Sequence[Delegation] | None = None,
               for_coordinator: bool = False) -> PollView:
    """Tally and participation of ``poll`` as of now."""
    if delegations is None:
        delegations = await ctx.store.delegations.of_cohort(poll.cohort_id)
    answers = await ctx.store.polls.answers(poll.id)
    names = {m.id: m.display_name for d in delegations for m in d.members}
    territories = {d.id: d.territory for d in delegations}
    unknown_ids = {a.member_id for a in answers if a.member_id and a.member_id not in names}
    for member_id in unknown_ids:
        member = await ctx.store.members.get(member_id)
        if member is not None:
            names[member.id] = member.display_name

    def who(answer: Any) -> Who:
        by = names.get(answer.member_id) if answer.member_id else None
        territory = territories.get(answer.delegation_id) if answer.delegation_id else None
        if poll.scope is PollScope.MEMBER:
            return Who(territory, None, by, None)
        return Who(territory, answer.category, None, by)

    results = tally(poll, answers, who)
    expected = expected_slots(poll, delegations)
    by_key = {a.scope_key: a for a in answers}
    expected_keys = {e.key for e in expected}
    answered = [(e, who(by_key[e.key])) for e in expected if e.key in by_key]
    answered += [(None, who(a)) for a in answers if a.scope_key not in expected_keys]
    missing = [e for e in expected if e.key not in by_key]
    show = for_coordinator or not poll.hide_results or poll.status is PollStatus.CLOSED
    return PollView(poll, results, answered, missing, show, len(expected))


def _labels(ctx: Context, lang: str) -> Any:
    texts = ctx.catalog.bind(lang)
    return lambda name: texts.block("polls/labels", name) or name


def actions_for(ctx: Context, poll: Poll, lang: str, *, results_only: bool = False
                ) -> tuple[Action, ...]:
    """Buttons under a poll message, with the command that does the same where there are
    no buttons (the console). ``results_only`` for a room where answering would be
    public (an anonymous poll answered in private ballots)."""
    if not is_open(poll, ctx.now()) or results_only:
        return (Action(_labels(ctx, lang)("results"), "poll.results", str(poll.id),
                       command=f"sondage resultats {poll.id}"),)
    label = _labels(ctx, lang)
    actions: list[Action] = []
    if poll.kind in (PollKind.YES_NO, PollKind.SINGLE, PollKind.MULTI) and \
            len(poll.options) <= 10:
        for option in poll.options:
            style = ActionStyle.PRIMARY if poll.kind is PollKind.YES_NO and \
                option.position == 1 else ActionStyle.DEFAULT
            actions.append(Action(option.label[:75], "poll.vote", f"{poll.id}:{option.position}",
                                  style, command=f"sondage voter {poll.id} {option.position}"))
    elif poll.kind is PollKind.AVAILABILITY:
        example = " ".join(["oui"] * len(poll.options))
        actions.append(Action(label("answer"), "poll.open_form", str(poll.id),
                              ActionStyle.PRIMARY, command=f"sondage voter {poll.id} {example}"))
    elif poll.kind is PollKind.TEXT:
        actions.append(Action(label("answer"), "poll.open_form", str(poll.id),
                              ActionStyle.PRIMARY,
                              command=f'sondage voter {poll.id} "…"'))
    if poll.kind in (PollKind.SINGLE, PollKind.MULTI) and len(poll.options) > 10:
        actions.append(Action(label("answer"), "poll.open_form", str(poll.id),
                              ActionStyle.PRIMARY, command=f"sondage voter {poll.id} 1"))
    actions.append(Action(label("results"), "poll.results", str(poll.id),
                          command=f"sondage resultats {poll.id}"))
    return tuple(actions)


def card_for(poll: Poll, pv: PollView, *, now: datetime) -> dict[str, Any]:
    """The neutral poll card (HACKING.md, "Polls: card and actions")."""
    open_now = is_open(poll, now)
    native = poll.kind in (PollKind.YES_NO, PollKind.SINGLE, PollKind.MULTI) and \
        not poll.anonymous and len(poll.options) <= 20
    return {
        "type": "poll",
        "version": CARD_VERSION,
        "poll_id": poll.id,
        "kind": poll.kind.value,
        "title": poll.title,
        "question": poll.question,
        "options": [{"id": str(o.position), "label": o.label,
                     "start": o.starts_at.isoformat() if o.starts_at else None,
                     "end": o.ends_at.isoformat() if o.ends_at else None}
                    for o in poll.options],
        "max_selections": (poll.max_choices or len(poll.options))
        if poll.kind is PollKind.MULTI else (0 if poll.kind in (
            PollKind.TEXT, PollKind.AVAILABILITY) else 1),
        "availability_values": list(AVAILABILITY_VALUES)
        if poll.kind is PollKind.AVAILABILITY else [],
        "anonymous": poll.anonymous,
        "results_visible": pv.show_results,
        "closed": not open_now,
        "changeable": poll.changeable,
        "allow_comment": poll.allow_comment,
        "deadline": poll.deadline.isoformat() if poll.deadline else None,
        "scope": poll.scope.value,
        "answered_by": poll.answered_by.value,
        "native": native,
        "counts": {str(o.position): (o.count if poll.kind is not PollKind.AVAILABILITY
                                     else {"yes": o.yes, "maybe": o.maybe, "no": o.no})
                   for o in pv.tally.options} if pv.show_results else None,
        "answered": pv.tally.answers,
        "expected": pv.expected_count,
        "actions": {
            "vote": {"action": "poll.vote", "value": f"{poll.id}:{{option}}",
                     "value_availability": f"{poll.id}:{{option}}:{{answer}}"},
            "form": {"action": "poll.open_form", "value": str(poll.id)},
            "submit": {"action": "poll.submit", "value": str(poll.id)},
            "results": {"action": "poll.results", "value": str(poll.id)},
        },
    }


def render_card(ctx: Context, poll: Poll, pv: PollView, cohort: Cohort, platform: Platform
                ) -> Reply:
    """The poll message for a room of ``platform``, in the cohort's language."""
    lang = cohort.language
    ballot = poll.anonymous and platform in PRIVATE_BALLOTS
    text = ctx.catalog.render(lang, "polls/card", poll=poll, pv=pv, tz=cohort.timezone,
                              now=ctx.now(), open=is_open(poll, ctx.now()),
                              prefix=ctx.settings.prefix(platform), private_ballot=ballot,
                              by_reply=platform in ANSWER_BY_REPLY and not ballot)
    return Reply(text, actions=actions_for(ctx, poll, lang, results_only=ballot),
                 card=card_for(poll, pv, now=ctx.now()))


def message_key(poll: Poll, platform: str, room_id: str) -> str:
    return f"poll:{poll.id}:{platform}:{room_id}"


async def publish(ctx: Context, poll: Poll) -> int:
    """Post the poll message in every room linked to its cohort; returns how many."""
    cohort = await cohort_of(ctx, poll)
    pv = await view(ctx, poll)
    rooms = await ctx.store.rooms.of_cohort(poll.cohort_id)
    for room in rooms:
        platform = Platform(room.platform)
        ctx.send(RoomRef(platform, room.room_id), render_card(ctx, poll, pv, cohort, platform),
                 key=message_key(poll, room.platform, room.room_id))
    if poll.anonymous:
        await send_ballots(ctx, poll, pv, cohort)
    return len(rooms)


async def send_ballots(ctx: Context, poll: Poll, pv: PollView, cohort: Cohort) -> int:
    """DM a private ballot to everyone who may answer an anonymous poll on a platform where
    room votes are public (:data:`PRIVATE_BALLOTS`); returns how many were sent. Keyed by
    poll, member and generation: sent once, also when a publication is retried."""
    delegations = await ctx.store.delegations.of_cohort(poll.cohort_id)
    people: dict[int, Any] = {}
    for slot in expected_slots(poll, delegations):
        for member in slot.answerers:
            people.setdefault(member.id, member)
    card = card_for(poll, pv, now=ctx.now())
    sent = 0
    for member in people.values():
        lang = member.language or cohort.language
        for identity in member.identities:
            platform = Platform(identity.platform)
            if platform not in PRIVATE_BALLOTS:
                continue
            text = ctx.catalog.render(lang, "polls/ballot", poll=poll, member=member,
                                      cohort=cohort, tz=cohort.timezone,
                                      prefix=ctx.settings.prefix(platform),
                                      by_reply=platform in ANSWER_BY_REPLY)
            ctx.send(UserRef(platform, identity.user_id),
                     Reply(text, actions=actions_for(ctx, poll, lang), card=card),
                     key=f"ballot:{poll.id}:{member.id}:g{poll.generation}:{platform}")
            sent += 1
    return sent


async def refresh(ctx: Context, poll: Poll, seq: int) -> None:
    """Edit the poll message in place in every room (one edit per room and refresh)."""
    cohort = await cohort_of(ctx, poll)
    pv = await view(ctx, poll)
    for room in await ctx.store.rooms.of_cohort(poll.cohort_id):
        platform = Platform(room.platform)
        original = message_key(poll, room.platform, room.room_id)
        ctx.send(RoomRef(platform, room.room_id), render_card(ctx, poll, pv, cohort, platform),
                 key=f"{original}:r{seq}", edit_of=original)


async def mark_dirty(ctx: Context, poll_ids: Sequence[int]) -> None:
    """Plan one refresh of these polls' messages, unless one is planned already."""
    for poll_id, seq in await ctx.store.polls.mark_dirty(poll_ids):
        await ctx.schedule(f"poll:{poll_id}:refresh:{seq}", "polls.refresh",
                           ctx.now() + REFRESH_DELAY, {"poll": poll_id})


async def refresh_now(ctx: Context, poll: Poll) -> None:
    await refresh(ctx, poll, await ctx.store.polls.bump_refresh(poll.id))


async def results_pictures(ctx: Context, poll: Poll, pv: PollView) -> tuple[Attachment, ...]:
    """The grid picture that goes with results shown to the caller (availability polls
    whose results they may see), in the caller's language."""
    if poll.kind is not PollKind.AVAILABILITY or not pv.show_results:
        return ()
    cohort = await cohort_of(ctx, poll)
    return (await poll_picture(ctx, poll, ctx.lang, cohort.timezone),)


async def closed_error(ctx: Context, poll: Poll) -> UserFacingError:
    """"This poll is closed", with its results, as the voter may see them."""
    pv = await view(ctx, poll)
    cohort = await cohort_of(ctx, poll)
    results = ctx.t("polls/results", poll=poll, pv=pv, tz=cohort.timezone)
    return UserFacingError("polls/closed", poll_id=poll.id, title=poll.title,
                           results=Raw(results))


async def cast(ctx: Context, poll: Poll, request: VoteRequest) -> tuple[Slot, dict[str, Any]]:
    """The transactional vote: checks, then one upsert under the (poll, scope key) key."""
    voter = voter_of(ctx)
    if voter is None:
        raise UserFacingError("polls/not_member", poll_id=poll.id)
    slot = slot_for(poll, voter)
    current = await ctx.store.polls.answer(poll.id, slot.key, for_update=True)
    if not is_open(poll, ctx.now()):
        raise await closed_error(ctx, poll)
    check_can_answer(poll, ctx.now(), current is not None)
    if request.comment is not None and not poll.allow_comment:
        raise UserFacingError("polls/no_comments", poll_id=poll.id)
    value = apply_vote(poll, [o.position for o in poll.options], request,
                       current.value if current else None)
    origin = ctx.origin
    await ctx.store.polls.upsert_answers([AnswerWrite(
        poll.id, slot.key, voter.member_id, slot.delegation_id, slot.category, value,
        request.comment, str(origin.platform) if origin else "console",
        keep_comment=request.comment is None)], ctx.now())
    await mark_dirty(ctx, [poll.id])
    ctx.count("votes", platform=str(origin.platform) if origin else "console")
    return slot, value


def timer_prefix(poll: Poll) -> str:
    return f"poll:{poll.id}:g{poll.generation}:"


async def plan_timers(ctx: Context, poll: Poll) -> None:
    """The deadline (auto-close) and the nudges before it, under this generation's keys."""
    if poll.deadline is None:
        return
    prefix = timer_prefix(poll)
    payload = {"poll": poll.id, "generation": poll.generation}
    await ctx.schedule(prefix + "deadline", "polls.deadline", poll.deadline, payload)
    for minutes in poll.nudge_offsets or ():
        due = poll.deadline - timedelta(minutes=minutes)
        if due > ctx.now():
            await ctx.schedule(f"{prefix}nudge:{minutes}", "polls.nudge", due,
                               {**payload, "offset": minutes})


async def close(ctx: Context, poll: Poll) -> None:
    """Close now: no vote is taken after this, messages show the final results."""
    poll.status = PollStatus.CLOSED
    poll.closed_at = ctx.now()
    await ctx.store.jobs.cancel_prefix(timer_prefix(poll))
    ctx.changed.add("jobs")
    await ctx.store.session.flush()
    await refresh_now(ctx, poll)
    cohort = await cohort_of(ctx, poll)
    pv = await view(ctx, poll)
    rooms = await ctx.store.rooms.of_cohort(poll.cohort_id)
    pictures: tuple[Attachment, ...] = ()
    if rooms and poll.kind is PollKind.AVAILABILITY:
        pictures = (await poll_picture(ctx, poll, cohort.language, cohort.timezone),)
    for room in rooms:
        platform = Platform(room.platform)
        text = ctx.catalog.render(cohort.language, "polls/closed_notice", poll=poll, pv=pv,
                                  tz=cohort.timezone, prefix=ctx.settings.prefix(platform))
        ctx.send(RoomRef(platform, room.room_id), Reply(text, attachments=pictures),
                 key=f"poll:{poll.id}:closed:{poll.generation}:{room.platform}:{room.room_id}")


async def reopen(ctx: Context, poll: Poll, deadline: datetime | None) -> None:
    poll.status = PollStatus.OPEN
    poll.closed_at = None
    poll.generation += 1
    poll.deadline = deadline
    await ctx.store.session.flush()
    await plan_timers(ctx, poll)
    await refresh_now(ctx, poll)


async def nudge(ctx: Context, poll: Poll, *, round_key: str | None = None
                ) -> tuple[int, list[str]]:
    """DM everyone who may give an answer still missing; returns how many were reached,
    and the names of those who have no account to reach them on.

    Each DM is keyed by poll, member and round, so a retried nudge sends nothing twice.
    """
    cohort = await cohort_of(ctx, poll)
    delegations = await ctx.store.delegations.of_cohort(poll.cohort_id)
    pv = await view(ctx, poll, delegations=delegations)
    poll.nudges += 1
    round_id = round_key or str(poll.nudges)
    people: dict[int, Any] = {}
    for slot in pv.missing:
        for member in slot.answerers:
            people.setdefault(member.id, member)
    for member in people.values():
        lang = member.language or cohort.language
        for identity in member.identities:
            platform = Platform(identity.platform)
            text = ctx.catalog.render(lang, "polls/nudge", poll=poll, member=member,
                                      tz=cohort.timezone, cohort=cohort,
                                      prefix=ctx.settings.prefix(platform),
                                      by_reply=platform in ANSWER_BY_REPLY)
            reply = Reply(text, actions=actions_for(ctx, poll, lang),
                          card=card_for(poll, pv, now=ctx.now()))
            ctx.send(UserRef(platform, identity.user_id), reply,
                     key=f"nudge:{poll.id}:{member.id}:{round_id}:{platform}")
    reached = [m for m in people.values() if m.identities]
    return len(reached), sorted(m.display_name for m in people.values() if not m.identities)


def mentionable(member: Any) -> Any:
    return person(member)

"""Polls and arbitrage campaigns: ``sondage …``, ``campagne …``, poll buttons and forms,
deadlines, nudges and the coalesced refresh of poll messages."""

from __future__ import annotations

from handlers.core.commands import Router
from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.core.events import ActionEvent, Reply, TimerEvent
from handlers.polls import campaigns, campaigns_web, service
from handlers.polls import web as poll_web
from handlers.polls.commands import commands
from handlers.polls.logic import (
    is_open,
    parse_action_value,
    parse_typed_vote,
    request_from_action,
    slot_for,
)
from handlers.polls.writer import direct_vote
from handlers.web.registry import WebRegistry
from storage.models_polls import Poll, PollStatus


async def _poll_of(ctx: Context, event: ActionEvent) -> tuple[Poll, list[str]]:
    poll_id, parts = parse_action_value(event.value)
    poll = await ctx.store.polls.get(poll_id)
    if poll is None:
        raise UserFacingError("errors/unknown_action")
    return poll, parts


async def on_action(ctx: Context, event: ActionEvent) -> Reply | None:
    """``poll.vote`` / ``poll.submit`` (when the lean path handed them over, or with
    ``form={"typed": …}``: an answer written as in ``sondage voter``, e.g. a Matrix reply
    to the poll's message), ``poll.open_form`` and ``poll.results``."""
    poll, parts = await _poll_of(ctx, event)
    if event.action in ("poll.vote", "poll.submit"):
        if not is_open(poll, ctx.now()):
            raise await service.closed_error(ctx, poll)
        labels = {o.position: o.label for o in poll.options}
        if isinstance(event.form.get("typed"), str):
            request = parse_typed_vote(poll, labels, [event.form["typed"]])
        else:
            request = request_from_action(poll.kind, parts, event.form)
        slot, value = await service.cast(ctx, poll, request)
        if event.form.get("silent"):
            return None
        return ctx.reply("polls/voted", poll=poll, value=value, slot=slot, labels=labels,
                         private=True, sensitive=poll.anonymous)
    if event.action == "poll.results":
        coordinator = ctx.caller is not None and ctx.caller.coordinates_cohort(poll.cohort_id)
        if ctx.caller is None or not ctx.caller.belongs_to(poll.cohort_id):
            raise UserFacingError("polls/not_member", poll_id=poll.id)
        pv = await service.view(ctx, poll, for_coordinator=coordinator)
        cohort = await service.cohort_of(ctx, poll)
        return ctx.reply("polls/results", poll=poll, pv=pv, tz=cohort.timezone, private=True,
                         full=True, attachments=await service.results_pictures(ctx, poll, pv))
    if event.action == "poll.open_form":
        return await _form(ctx, poll)
    raise UserFacingError("errors/unknown_action")


async def _form(ctx: Context, poll: Poll) -> Reply:
    """What a platform needs to show the answer form (Slack modal), pre-filled with the
    answer standing for the caller's scope key; elsewhere, how to answer by command."""
    if not is_open(poll, ctx.now()):
        raise await service.closed_error(ctx, poll)
    voter = service.voter_of(ctx)
    if voter is None:
        raise UserFacingError("polls/not_member", poll_id=poll.id)
    slot = slot_for(poll, voter)
    current = await ctx.store.polls.answer(poll.id, slot.key)
    pv = await service.view(ctx, poll)
    card = service.card_for(poll, pv, now=ctx.now())
    card.update(type="poll_form", current=current.value if current else None,
                comment=current.comment if current else None, lang=ctx.lang)
    return ctx.reply("polls/form", poll=poll, current=current, card=card, private=True,
                     labels={o.position: o.label for o in poll.options})


async def on_refresh(ctx: Context, event: TimerEvent) -> None:
    poll = await ctx.store.polls.get(int(event.payload["poll"]))
    if poll is None:
        return
    seq = await ctx.store.polls.take_refresh(poll.id)
    if seq is not None:
        await service.refresh(ctx, poll, seq)


async def _current(ctx: Context, event: TimerEvent) -> Poll | None:
    poll = await ctx.store.polls.get(int(event.payload["poll"]))
    if poll is None or poll.status is not PollStatus.OPEN or \
            poll.generation != event.payload.get("generation"):
        return None
    return poll


async def on_deadline(ctx: Context, event: TimerEvent) -> None:
    poll = await _current(ctx, event)
    if poll is not None:
        await service.close(ctx, poll)
        await ctx.audit("poll.auto_close", poll_id=poll.id)


async def on_nudge(ctx: Context, event: TimerEvent) -> None:
    poll = await _current(ctx, event)
    if poll is not None:
        await service.nudge(ctx, poll,
                            round_key=f"g{poll.generation}-{event.payload['offset']}")


def register_web(web: WebRegistry) -> None:
    """The polls' dashboard pages (list, poll, composer) and the campaigns' (table, composer)."""
    poll_web.register_web(web)
    campaigns_web.register_web(web)


def register(router: Router) -> None:
    router.include(commands)
    router.include(campaigns.commands)
    router.on_action("poll", on_action)
    router.on_direct_action("poll.vote", direct_vote)
    router.on_direct_action("poll.submit", direct_vote)
    router.on_timer("polls.refresh", on_refresh)
    router.on_timer("polls.deadline", on_deadline)
    router.on_timer("polls.nudge", on_nudge)
    router.on_timer("campaigns.deadline", campaigns.on_deadline)
    router.on_timer("campaigns.nudge", campaigns.on_nudge)
    campaigns.register_loader()

"""``cohorte pont activer|desactiver|statut``: coordinators switch their cohort's bridge
and see how it is doing (backlog, lag, last error)."""

from __future__ import annotations

from datetime import datetime

from handlers.core.commands import Args, CohortScope, CommandGroup, Kind, Param, Role
from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.core.events import Reply

commands = CommandGroup("cohorte", aliases=("cohort",))

ACTIONS = {"activer": "on", "on": "on", "enable": "on",
           "desactiver": "off", "off": "off", "disable": "off",
           "statut": "status", "status": "status"}


def slack_position(when: datetime) -> str:
    """A Slack ``ts`` for an instant (history up to it counts as seen)."""
    return f"{when.timestamp():.6f}"


@commands.command("pont", aliases=("bridge",), role=Role.COORDINATOR,
                  cohort=CohortScope.REQUIRED,
                  params=(Param("action", Kind.CHOICE, choices=tuple(ACTIONS)),))
async def bridge(ctx: Context, args: Args) -> Reply:
    """Switch the relay between the cohort's Slack channel(s) and Matrix room(s)."""
    action = ACTIONS[args["action"]]
    if action == "status":
        return await status(ctx)
    assert ctx.cohort is not None
    cohort = ctx.cohort
    rooms = await ctx.store.rooms.of_cohort(cohort.id)
    slack = [r for r in rooms if r.platform == "slack"]
    matrix = [r for r in rooms if r.platform == "matrix"]
    current = await ctx.store.bridge.get(cohort.id)
    member_id = ctx.caller.member.id if ctx.caller and ctx.caller.member else None
    if action == "on":
        if not slack or not matrix:
            raise UserFacingError("bridge/needs_rooms", name=cohort.name, slack=len(slack),
                                  matrix=len(matrix))
        if current is not None and current.enabled:
            return ctx.reply("bridge/already_enabled", cohort=cohort)
        await ctx.store.bridge.set_enabled(cohort.id, True, ctx.now(), member_id)
        for room in slack:
            await ctx.store.bridge.set_cursor("slack", room.room_id, slack_position(ctx.now()),
                                              ctx.now())
        await ctx.audit("bridge.enable")
        ctx.changed.add("bridge")
        return ctx.reply("bridge/enabled", cohort=cohort, slack=slack, matrix=matrix)
    if current is None or not current.enabled:
        return ctx.reply("bridge/already_disabled", cohort=cohort)
    await ctx.store.bridge.set_enabled(cohort.id, False, ctx.now(), member_id)
    await ctx.audit("bridge.disable")
    ctx.changed.add("bridge")
    return ctx.reply("bridge/disabled", cohort=cohort)


async def status(ctx: Context) -> Reply:
    assert ctx.cohort is not None
    cohort = ctx.cohort
    state = await ctx.store.bridge.get(cohort.id)
    rooms = [r for r in await ctx.store.rooms.of_cohort(cohort.id)
             if r.platform in ("slack", "matrix")]
    backlog = await ctx.store.relays.backlog([(r.platform, r.room_id) for r in rooms])
    relayed = await ctx.store.relays.count(cohort.id)
    now = ctx.now()
    lag = None
    if backlog.oldest_pending is not None:
        lag = max(0.0, (now - backlog.oldest_pending).total_seconds())
    elif state is not None and state.last_lag_ms is not None:
        lag = state.last_lag_ms / 1000
    error, error_at = (state.last_error, state.last_error_at) if state else (None, None)
    if backlog.last_error and (error_at is None or (
            backlog.last_error_at is not None and backlog.last_error_at >= error_at)):
        error, error_at = backlog.last_error, backlog.last_error_at
    return ctx.reply("bridge/status", cohort=cohort, enabled=bool(state and state.enabled),
                     rooms=rooms, relayed=relayed, pending=backlog.pending, lag=lag,
                     last_relayed=state.last_relayed_at if state else None,
                     error=(error or "").splitlines()[0][:300] if error else None,
                     error_at=error_at, tz=ctx.tz)

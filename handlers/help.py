"""``aide``: every command the caller may use where they are, with an example each."""

from __future__ import annotations

from handlers.core.commands import Args, CohortScope, CommandGroup, Param, Role, Router, Where
from handlers.core.context import Context
from handlers.core.dispatch import permitted_role
from handlers.core.errors import UserFacingError
from handlers.core.events import Reply
from handlers.core.grammar import fold
from handlers.core.ids import Platform

commands = CommandGroup("aide", aliases=("help",))


@commands.command(None, role=Role.ANYONE, cohort=CohortScope.OPTIONAL,
                  params=(Param("verbe", required=False, name_en="verb"),))
async def show_help(ctx: Context, args: Args) -> Reply:
    origin = ctx.origin
    assert origin is not None
    where_ok = {Where.ANYWHERE}
    if origin.platform is Platform.CONSOLE:
        where_ok |= {Where.ROOM, Where.DIRECT}
    else:
        where_ok.add(Where.DIRECT if origin.is_direct else Where.ROOM)
    wanted = fold(args["verbe"]) if "verbe" in args else None
    entries = []
    verbs_seen = set()
    for spec in ctx.router.specs():
        verbs_seen.add(spec.verb)
        if spec.hidden or spec.where not in where_ok:
            continue
        if wanted and wanted not in (spec.verb, *map(fold, spec.verb_aliases)):
            continue
        if not permitted_role(spec, ctx.caller, ctx.cohort):
            continue
        summary = ctx.texts.block(spec.help_template, "summary") or ""
        example = ctx.texts.block(spec.help_template, "example") or ""
        entries.append({"spec": spec, "usage": spec.usage(ctx.lang), "summary": summary,
                        "example": example,
                        "coordinator": spec.role >= Role.COORDINATOR})
    if wanted and not entries:
        if wanted not in verbs_seen:
            raise UserFacingError("errors/unknown_verb", verb=args["verbe"], suggestion=None)
        raise UserFacingError("help/nothing_allowed", verb=args["verbe"])
    return ctx.reply("help/list", entries=entries, cohort=ctx.cohort, caller=ctx.caller,
                     private=True, verb=args.get("verbe"))


def register(router: Router) -> None:
    router.include(commands)

"""``delegation ajouter|lister|renommer``: the territories of a cohort."""

from __future__ import annotations

from handlers.admin.lookup import find_delegation
from handlers.core.commands import Args, CommandGroup, Kind, Param, Role, Router
from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.core.events import Reply
from storage.repos.cohorts import AlreadyExists

commands = CommandGroup("delegation", aliases=("delegations",))


def _territory(text: str) -> str:
    name = " ".join(text.split())
    if len(name) > 200:
        raise UserFacingError("errors/name_too_long", limit=200)
    return name


@commands.command("ajouter", aliases=("add",), role=Role.COORDINATOR,
                  params=(Param("territoire", Kind.REST, name_en="territory"),))
async def add(ctx: Context, args: Args) -> Reply:
    assert ctx.cohort is not None
    territory = _territory(args["territoire"])
    try:
        delegation = await ctx.store.delegations.add(ctx.cohort.id, territory, ctx.now())
    except AlreadyExists:
        raise UserFacingError("admin/delegation_exists", territory=territory) from None
    await ctx.audit("delegation.add", territory=territory)
    return ctx.reply("admin/delegation_added", delegation=delegation, cohort=ctx.cohort)


@commands.command("lister", aliases=("list",), role=Role.MEMBER)
async def list_delegations(ctx: Context, args: Args) -> Reply:
    assert ctx.cohort is not None
    delegations = await ctx.store.delegations.of_cohort(ctx.cohort.id)
    return ctx.reply("admin/delegation_list", cohort=ctx.cohort, delegations=delegations,
                     private=True)


@commands.command("renommer", aliases=("rename",), role=Role.COORDINATOR,
                  params=(Param("territoire", name_en="territory"),
                          Param("nouveau_nom", Kind.REST, name_en="new_name")))
async def rename(ctx: Context, args: Args) -> Reply:
    delegation = await find_delegation(ctx, args["territoire"])
    old = delegation.territory
    new = _territory(args["nouveau_nom"])
    try:
        await ctx.store.delegations.rename(delegation, new)
    except AlreadyExists:
        raise UserFacingError("admin/delegation_exists", territory=new) from None
    await ctx.audit("delegation.rename", old=old, new=delegation.territory)
    return ctx.reply("admin/delegation_renamed", old=old, delegation=delegation)


def register(router: Router) -> None:
    router.include(commands)

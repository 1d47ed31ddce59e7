"""``cohorte creer|lister|lier|delier|voir``: cohorts and the rooms bound to them."""

from __future__ import annotations

import re
import unicodedata
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handlers.core.commands import (
    Args,
    CohortScope,
    CommandGroup,
    Kind,
    Opt,
    Param,
    Role,
    Router,
)
from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.core.events import Reply
from handlers.core.grammar import fold
from storage.repos.cohorts import AlreadyExists

commands = CommandGroup("cohorte", aliases=("cohort",))

LANGUAGES = ("fr", "en")


def slugify(name: str) -> str:
    """``Cohorte Occitanie 2024`` → ``cohorte-occitanie-2024``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64]


@commands.command(
    "creer", aliases=("create",), role=Role.ADMIN, cohort=CohortScope.NONE,
    params=(Param("nom", Kind.REST, name_en="name"),),
    options=(Opt("slug"), Opt("langue", Kind.CHOICE, aliases=("language", "lang"),
                              choices=LANGUAGES, key_en="language"),
             Opt("fuseau", aliases=("timezone", "tz"), key_en="timezone")))
async def create(ctx: Context, args: Args) -> Reply:
    name = " ".join(args["nom"].split())
    if len(name) > 200:
        raise UserFacingError("errors/name_too_long", limit=200)
    slug = slugify(args.get("slug", name))
    if not slug:
        raise UserFacingError("admin/bad_slug", name=name)
    tz_name = args.get("fuseau", ctx.settings.default_timezone)
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserFacingError("errors/bad_timezone", text=tz_name) from None
    try:
        cohort = await ctx.store.cohorts.add(
            slug=slug, name=name, language=args.get("langue", ctx.settings.default_language),
            timezone=tz_name, now=ctx.now())
    except AlreadyExists:
        raise UserFacingError("admin/cohort_exists", slug=slug) from None
    caller = ctx.caller
    if caller is not None and caller.member is not None:
        await ctx.store.members.grant_coordinator(cohort.id, caller.member.id, ctx.now())
    ctx.cohort = cohort
    await ctx.audit("cohort.create", slug=slug)
    return ctx.reply("admin/cohort_created", cohort=cohort)


@commands.command("lister", aliases=("list",), role=Role.ANYONE, cohort=CohortScope.NONE)
async def list_cohorts(ctx: Context, args: Args) -> Reply:
    caller = ctx.caller
    assert caller is not None
    if caller.is_admin:
        cohorts = await ctx.store.cohorts.all()
    else:
        cohorts = await ctx.store.cohorts.with_ids(sorted(caller.cohorts))
    rows = []
    for cohort in cohorts:
        delegations, members = await ctx.store.cohorts.counts(cohort.id)
        rows.append({"cohort": cohort, "delegations": delegations, "members": members,
                     "coordinator": caller.coordinates_cohort(cohort.id)})
    return ctx.reply("admin/cohort_list", rows=rows, private=True)


@commands.command("lier", aliases=("link",), role=Role.COORDINATOR, cohort=CohortScope.OPTIONAL,
                  params=(Param("cohorte", required=False, name_en="cohort"),))
async def link(ctx: Context, args: Args) -> Reply:
    """Bind the room the command is typed in to the cohort named (or the caller's only one)."""
    origin = ctx.origin
    caller = ctx.caller
    assert origin is not None and caller is not None
    if "cohorte" in args:
        cohort = await ctx.store.cohorts.by_slug(fold(args["cohorte"]))
        if cohort is None or not caller.coordinates_cohort(cohort.id):
            mine = await ctx.store.cohorts.with_ids(sorted(caller.coordinates))
            raise UserFacingError("errors/unknown_cohort", name=args["cohorte"],
                                  candidates=[c.slug for c in mine])
        ctx.cohort = cohort
    if ctx.cohort is None:
        mine = await ctx.store.cohorts.with_ids(sorted(caller.coordinates)) \
            if not caller.is_admin else await ctx.store.cohorts.all()
        raise UserFacingError("errors/which_cohort", candidates=[c.slug for c in mine])
    if not caller.coordinates_cohort(ctx.cohort.id):
        raise UserFacingError("errors/forbidden", spec=ctx.spec, registered=True)
    if origin.is_direct:
        raise UserFacingError("admin/cannot_link_direct")
    current = await ctx.store.rooms.cohort_of(origin.platform, origin.room.room_id)
    if current is not None and current.id != ctx.cohort.id:
        raise UserFacingError("admin/room_linked_elsewhere", cohort=current.name)
    if current is not None:
        return ctx.reply("admin/room_already_linked", cohort=ctx.cohort)
    await ctx.store.rooms.link(origin.platform, origin.room.room_id, ctx.cohort.id, ctx.now(),
                               ctx.caller.member.id if ctx.caller and ctx.caller.member else None)
    ctx.changed.add("rooms")
    await ctx.audit("room.link", platform=str(origin.platform), room=origin.room.room_id)
    return ctx.reply("admin/room_linked", cohort=ctx.cohort, platform=str(origin.platform))


@commands.command("delier", aliases=("unlink",), role=Role.COORDINATOR,
                  cohort=CohortScope.REQUIRED)
async def unlink(ctx: Context, args: Args) -> Reply:
    origin = ctx.origin
    assert origin is not None and ctx.cohort is not None
    current = await ctx.store.rooms.cohort_of(origin.platform, origin.room.room_id)
    if current is None or current.id != ctx.cohort.id:
        raise UserFacingError("admin/room_not_linked")
    await ctx.store.rooms.unlink(origin.platform, origin.room.room_id)
    ctx.changed.add("rooms")
    await ctx.audit("room.unlink", platform=str(origin.platform), room=origin.room.room_id)
    return ctx.reply("admin/room_unlinked", cohort=ctx.cohort)


@commands.command("voir", aliases=("show", "info"), role=Role.MEMBER,
                  cohort=CohortScope.REQUIRED)
async def show(ctx: Context, args: Args) -> Reply:
    assert ctx.cohort is not None
    delegations = await ctx.store.delegations.of_cohort(ctx.cohort.id)
    coordinators = await ctx.store.members.coordinators(ctx.cohort.id)
    rooms = await ctx.store.rooms.of_cohort(ctx.cohort.id)
    return ctx.reply("admin/cohort_show", cohort=ctx.cohort, delegations=delegations,
                     coordinators=coordinators, rooms=rooms)


def register(router: Router) -> None:
    router.include(commands)

"""``membre ajouter|lister|modifier|retirer|lier``: the people of a cohort and their accounts."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from handlers.admin.lookup import find_delegation, find_member
from handlers.core.commands import Args, CommandGroup, Kind, Opt, Param, Role, Router
from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.core.events import Reply
from handlers.core.grammar import fold
from handlers.core.ids import Platform, UserRef
from messages.markup import Person
from storage.models import Category, Cohort, Delegation, Member
from storage.repos.cohorts import AlreadyExists
from storage.uow import Store

commands = CommandGroup("membre", aliases=("member", "membres"))

CATEGORY_WORDS = {
    "elu": Category.ELU, "elue": Category.ELU, "elected": Category.ELU,
    "agent": Category.AGENT, "technicien": Category.AGENT, "technicienne": Category.AGENT,
    "socioeco": Category.SOCIOECO, "partenaire": Category.SOCIOECO, "socio-eco": Category.SOCIOECO,
    "etat": Category.ETAT, "ddt": Category.ETAT, "state": Category.ETAT,
}
YES = ("oui", "o", "yes", "y", "vrai", "true", "1")
NO = ("non", "n", "no", "faux", "false", "0")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

_MEMBER_OPTIONS = (
    Opt("delegation", aliases=("territoire", "territory")),
    Opt("categorie", aliases=("category", "cat"), key_en="category"),
    Opt("referent", aliases=("referente",)),
    Opt("langue", Kind.CHOICE, aliases=("language", "lang"), choices=("fr", "en"),
        key_en="language"),
    Opt("coordinateur", aliases=("coordinatrice", "coordinator"), key_en="coordinator"),
)


def parse_category(text: str) -> Category:
    category = CATEGORY_WORDS.get(fold(text))
    if category is None:
        raise UserFacingError("admin/bad_category", text=text)
    return category


def parse_bool(text: str, name: str) -> bool:
    word = fold(text)
    if word in YES:
        return True
    if word in NO:
        return False
    raise UserFacingError("errors/bad_yes_no", text=text, name=name)


def clean_name(name: str) -> str:
    """A person's name as typed, spaces tidied; too long is refused."""
    name = " ".join(name.split())
    if len(name) > 200:
        raise UserFacingError("errors/name_too_long", limit=200)
    return name


async def add_member(store: Store, cohort: Cohort, *, name: str, delegation: Delegation | None,
                     category: Category | None, referent: bool, coordinator: bool,
                     language: str | None, now: datetime) -> Member:
    """Add a person to ``cohort``, with the checks chat and the dashboard form share."""
    name = clean_name(name)
    if delegation is None and not coordinator:
        raise UserFacingError("admin/member_needs_delegation", name=name)
    existing = [m for m in await store.members.in_cohort_scope(cohort.id)
                if m.display_name.casefold() == name.casefold()]
    if existing:
        raise UserFacingError("admin/member_exists", name=name)
    member = await store.members.add(
        display_name=name, now=now, delegation_id=delegation.id if delegation else None,
        category=category, is_referent=referent, language=language)
    if coordinator:
        await store.members.grant_coordinator(cohort.id, member.id, now)
    return member


@commands.command("ajouter", aliases=("add",), role=Role.COORDINATOR,
                  params=(Param("nom", Kind.REST, name_en="name"),), options=_MEMBER_OPTIONS)
async def add(ctx: Context, args: Args) -> Reply:
    assert ctx.cohort is not None
    name = clean_name(args["nom"])
    coordinator = parse_bool(args["coordinateur"], "coordinateur") if "coordinateur" in args \
        else False
    delegation = await find_delegation(ctx, args["delegation"]) if "delegation" in args else None
    if delegation is None and not coordinator:
        raise UserFacingError("admin/member_needs_delegation", name=name)
    category = parse_category(args["categorie"]) if "categorie" in args else None
    member = await add_member(
        ctx.store, ctx.cohort, name=name, delegation=delegation, category=category,
        referent=parse_bool(args["referent"], "referent") if "referent" in args else False,
        coordinator=coordinator, language=args.get("langue"), now=ctx.now())
    await ctx.audit("member.add", member_id=member.id)
    return ctx.reply("admin/member_added", member=member, delegation=delegation,
                     coordinator=coordinator)


@commands.command("lister", aliases=("list",), role=Role.MEMBER,
                  params=(Param("delegation", Kind.REST, required=False),))
async def list_members(ctx: Context, args: Args) -> Reply:
    assert ctx.cohort is not None
    delegations = await ctx.store.delegations.of_cohort(ctx.cohort.id)
    if "delegation" in args:
        chosen = await find_delegation(ctx, args["delegation"])
        delegations = [d for d in delegations if d.id == chosen.id]
    coordinators = await ctx.store.members.coordinators(ctx.cohort.id) \
        if "delegation" not in args else []
    return ctx.reply("admin/member_list", cohort=ctx.cohort, delegations=delegations,
                     coordinators=coordinators, private=True)


@commands.command("modifier", aliases=("edit", "update"), role=Role.COORDINATOR,
                  params=(Param("nom", Kind.REST, name_en="name"),), options=(
                      *_MEMBER_OPTIONS, Opt("nom", aliases=("name",), key_en="name")))
async def edit(ctx: Context, args: Args) -> Reply:
    assert ctx.cohort is not None
    member = await find_member(ctx, args["nom"])
    changes: list[str] = []
    if "delegation" in args:
        member.delegation_id = (await find_delegation(ctx, args["delegation"])).id
        changes.append("delegation")
    if "categorie" in args:
        member.category = parse_category(args["categorie"])
        changes.append("categorie")
    if "referent" in args:
        member.is_referent = parse_bool(args["referent"], "referent")
        changes.append("referent")
    if "langue" in args:
        member.language = args["langue"]
        changes.append("langue")
    if "coordinateur" in args:
        if parse_bool(args["coordinateur"], "coordinateur"):
            await ctx.store.members.grant_coordinator(ctx.cohort.id, member.id, ctx.now())
        else:
            await ctx.store.members.revoke_coordinator(ctx.cohort.id, member.id)
        changes.append("coordinateur")
    if not changes:
        raise UserFacingError("errors/usage", spec=ctx.spec, missing="categorie=…")
    await ctx.store.session.flush()
    await ctx.audit("member.edit", member_id=member.id, fields=changes)
    await ctx.store.session.refresh(member, ["delegation"])
    return ctx.reply("admin/member_edited", member=member, changes=changes)


@commands.command("retirer", aliases=("remove",), role=Role.COORDINATOR,
                  params=(Param("nom", Kind.REST, name_en="name"),))
async def remove(ctx: Context, args: Args) -> Reply:
    """Take a member out of the cohort: no delegation, no coordinator role, accounts unlinked.

    Their past answers stay attached to the (now inactive) member record.
    """
    assert ctx.cohort is not None
    member = await find_member(ctx, args["nom"])
    member.delegation_id = None
    member.is_referent = False
    await ctx.store.members.revoke_coordinator(ctx.cohort.id, member.id)
    await ctx.store.identities.unlink_all(member.id)
    await ctx.audit("member.remove", member_id=member.id)
    return ctx.reply("admin/member_removed", member=member)


@commands.command("lier", aliases=("link",), role=Role.COORDINATOR,
                  params=(Param("nom", name_en="name"),
                          Param("compte", required=False, name_en="account")))
async def link(ctx: Context, args: Args) -> Reply:
    """Link an account to a member: directly (``slack:U123``), or by a one-time code."""
    assert ctx.cohort is not None
    member = await find_member(ctx, args["nom"])
    if "compte" in args:
        try:
            account = UserRef.parse(args["compte"])
        except ValueError:
            raise UserFacingError("admin/bad_account", text=args["compte"]) from None
        if account.platform is Platform.CONSOLE:
            raise UserFacingError("admin/bad_account", text=args["compte"])
        try:
            await ctx.store.identities.link(account.platform, account.user_id, member.id,
                                            ctx.now())
        except AlreadyExists:
            raise UserFacingError("admin/account_taken", account=str(account)) from None
        await ctx.audit("member.link", member_id=member.id, platform=str(account.platform))
        return ctx.reply("admin/member_linked", member=Person(
            member.display_name, {str(account.platform): account.user_id}))
    code = new_code()
    ttl = timedelta(minutes=ctx.settings.link_code_ttl_minutes)
    await ctx.store.codes.issue(code, purpose="link", member_id=member.id,
                                created_by=ctx.caller.member.id if ctx.caller and
                                ctx.caller.member else None, now=ctx.now(), ttl=ttl)
    await ctx.audit("member.link_code", member_id=member.id)
    return ctx.reply("admin/link_code", member=member, code=code, expires=ctx.now() + ttl, tz=ctx.tz,
                     sensitive=True)


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def register(router: Router) -> None:
    router.include(commands)

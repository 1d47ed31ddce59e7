"""``moi``: what the bot stores about me, my language, linking my account, erasing me."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from handlers.admin.members import new_code
from handlers.core.commands import (
    Args,
    CohortScope,
    CommandGroup,
    Kind,
    Param,
    Role,
    Router,
)
from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.core.events import Attachment, Reply, TimerEvent
from handlers.core.ids import Platform
from storage.repos.cohorts import AlreadyExists

commands = CommandGroup("moi", aliases=("me",))

ERASE_CODE_TTL = timedelta(minutes=15)
FORGET_TIMER = "privacy.forget"
FORGET_AFTER = timedelta(minutes=15)
"""How long the "your data was erased" answer (addressed to the person's account) may wait
for its delivery before it is blanked too."""
FORGET_ROUNDS = 8
EXPORT_FILE = "mes-donnees.json"
SHOWN = 5
"""Items of each list shown in chat; everything is in the attached file."""


@commands.command(None, role=Role.ANYONE, cohort=CohortScope.NONE)
async def show(ctx: Context, args: Args) -> Reply:
    caller = ctx.caller
    assert caller is not None
    if caller.member is None:
        linkable = caller.user.platform is not Platform.CONSOLE
        return ctx.reply("me/unknown", account=str(caller.user),
                         name=caller.platform_name if linkable else None, private=True)
    data = await ctx.store.privacy.collect(caller.member, ctx.now())
    cohorts = await ctx.store.cohorts.with_ids(sorted(caller.cohorts))
    delegation = caller.member.delegation
    upcoming = [(r["event"], datetime.fromisoformat(r["occurrence"]))
                for r in data.sections["reminders"][:SHOWN]]
    record = json.dumps(data.to_json(), ensure_ascii=False, indent=2).encode()
    return ctx.reply("me/show", data=data, member=caller.member, delegation=delegation,
                     cohorts=cohorts, coordinated=[c for c in cohorts
                                                  if c.id in caller.coordinates],
                     shown=SHOWN, upcoming=upcoming, filename=EXPORT_FILE,
                     tz=cohorts[0].timezone if cohorts else ctx.settings.default_timezone,
                     attachments=(Attachment(EXPORT_FILE, "application/json", record),),
                     sensitive=True)


@commands.command("langue", aliases=("language",), role=Role.MEMBER, cohort=CohortScope.NONE,
                  params=(Param("langue", Kind.CHOICE, choices=("fr", "en"),
                                name_en="language"),))
async def language(ctx: Context, args: Args) -> Reply:
    caller = ctx.caller
    assert caller is not None and caller.member is not None
    caller.member.language = args["langue"]
    ctx.lang = args["langue"]
    return ctx.reply("me/language_set", private=True)


@commands.command("lier", aliases=("link",), role=Role.ANYONE, cohort=CohortScope.NONE,
                  params=(Param("code"),))
async def link(ctx: Context, args: Args) -> Reply:
    """Link the account I am typing from to the member a coordinator made a code for."""
    caller = ctx.caller
    assert caller is not None
    member_id = await ctx.store.codes.redeem(args["code"], purpose="link", now=ctx.now())
    if member_id is None:
        raise UserFacingError("me/bad_code")
    if caller.member is not None and caller.member.id != member_id:
        raise UserFacingError("me/already_linked", name=caller.member.display_name)
    try:
        await ctx.store.identities.link(caller.user.platform, caller.user.user_id, member_id,
                                        ctx.now())
    except AlreadyExists:
        raise UserFacingError("me/already_linked", name=caller.display_name) from None
    member = await ctx.store.members.get(member_id)
    assert member is not None
    await ctx.store.session.refresh(member, ["delegation"])
    await ctx.store.audit.record(actor=f"{member.display_name} ({caller.user})",
                                 action="member.self_link", now=ctx.now(),
                                 actor_member_id=member.id, platform=str(caller.user.platform))
    ctx.lang = member.language or ctx.lang
    return ctx.reply("me/linked", member=member, delegation=member.delegation, private=True)


@commands.command("effacer", aliases=("erase", "delete"), role=Role.MEMBER,
                  cohort=CohortScope.NONE, params=(Param("code", required=False),))
async def erase(ctx: Context, args: Args) -> Reply:
    """Erase me, in two steps: a code first, then the same command with the code."""
    caller = ctx.caller
    assert caller is not None and caller.member is not None
    member = caller.member
    if "code" not in args:
        code = new_code()
        await ctx.store.codes.issue(code, purpose="erase", member_id=member.id, created_by=None,
                                    now=ctx.now(), ttl=ERASE_CODE_TTL)
        return ctx.reply("me/erase_confirm", code=code, minutes=15, sensitive=True)
    if await ctx.store.codes.redeem(args["code"], purpose="erase", now=ctx.now(),
                                   member_id=member.id) is None:
        raise UserFacingError("me/bad_code")
    await ctx.store.privacy.erase(member, ctx.now())
    await ctx.store.audit.record(actor="(donnée effacée)", action="member.erase",
                                 now=ctx.now(), actor_member_id=member.id)
    origin = ctx.origin
    if origin is not None and origin.event_id:
        await ctx.schedule(f"privacy:forget:{member.id}:0", FORGET_TIMER,
                           ctx.now() + FORGET_AFTER,
                           {"platform": str(origin.platform), "round": 0, "member": member.id,
                            "prefix": f"reply:{origin.platform}:{origin.event_id}:"})
    return ctx.reply("me/erased", private=True)


async def forget(ctx: Context, event: TimerEvent) -> None:
    """The erasure's last step: once its answer left, forget the account it went to."""
    payload = event.payload
    rounds = int(payload.get("round", 0))
    _, waiting = await ctx.store.privacy.forget_replies(
        payload["platform"], payload["prefix"], force=rounds + 1 >= FORGET_ROUNDS)
    if waiting:
        await ctx.schedule(f"privacy:forget:{payload.get('member')}:{rounds + 1}", FORGET_TIMER,
                           ctx.now() + FORGET_AFTER, {**payload, "round": rounds + 1})


def register(router: Router) -> None:
    router.include(commands)
    router.on_timer(FORGET_TIMER, forget)

"""Getting in: ``cohorte tableau`` gives a personal one-time link; the link opens a session.

No accounts and no passwords. The link holds a random token (only its hash is
stored), valid a few minutes and once. Opening it shows a button: link previews
that chat platforms fetch by themselves (GET) cannot use it up, and a page on
another site cannot sign a browser in (the button's form carries a nonce that
only this browser's cookie matches).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from handlers.core.commands import Args, CohortScope, CommandGroup, Role, Router
from handlers.core.context import Context
from handlers.core.events import Reply
from handlers.core.ids import Platform
from handlers.core.settings import Settings
from handlers.web.core import Access, SetCookie, WebError, WebResponse
from handlers.web.dispatch import SESSION_COOKIE
from handlers.web.page import PageContext
from handlers.web.registry import WebRegistry
from storage.repos.dashboard import Holder
from storage.uow import Store

LINK_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=8)
SIGN_IN_PATH = "/tableau/lien/{token}"
SIGN_IN_COOKIE = "cb_signin"
LINK_MARKER = "/tableau/lien/"
"""Outbox messages holding a sign-in link are blanked once delivered (see bot/dashboard.py)."""

commands = CommandGroup("cohorte", aliases=("cohort",))


async def issue_link(store: Store, holder: Holder, settings: Settings, now: datetime
                     ) -> tuple[str, datetime]:
    """A new personal sign-in URL for ``holder`` and the instant it stops working."""
    token = secrets.token_hex(24)
    await store.dashboard.issue_link(token, holder, now=now, ttl=LINK_TTL)
    return settings.public_url.rstrip("/") + SIGN_IN_PATH.format(token=token), now + LINK_TTL


@commands.command("tableau", aliases=("dashboard",), role=Role.MEMBER,
                  cohort=CohortScope.OPTIONAL)
async def dashboard_link(ctx: Context, args: Args) -> Reply:
    """Answer the caller, privately, with their own link (in their DM when asked in a room)."""
    caller, origin = ctx.caller, ctx.origin
    assert caller is not None and origin is not None
    identity = await ctx.store.identities.get(origin.platform, origin.user.user_id) \
        if caller.member is not None else None
    holder = Holder(identity_id=identity.id if identity else None,
                    admin_account=None if identity else str(caller.user),
                    cohort_id=ctx.cohort.id if ctx.cohort else None)
    url, expires = await issue_link(ctx.store, holder, ctx.settings, ctx.now())
    await ctx.audit("dashboard.link")
    minutes = int(LINK_TTL.total_seconds() // 60)
    reply = ctx.reply("dashboard/link", url=url, expires=expires, tz=ctx.tz, minutes=minutes,
                      cohort=ctx.cohort, private=True)
    if origin.is_direct or origin.platform is Platform.CONSOLE:
        return reply
    ctx.send(origin.user, reply,
             key=f"dashboard-link:{origin.platform}:{origin.event_id or secrets.token_hex(8)}")
    return ctx.reply("dashboard/link_sent", private=True)


async def sign_in_form(page: PageContext) -> WebResponse:
    """The link's landing page: still valid? then one button to open the session."""
    token = page.request.params.get("token", "")
    if len(token) > 128 or await page.store.dashboard.peek_link(token, page.now()) is None:
        raise WebError(403, "link_invalid")
    nonce = secrets.token_hex(16)
    page.cookies.append(SetCookie(SIGN_IN_COOKIE, nonce, max_age=int(LINK_TTL.total_seconds()),
                                  same_site="Strict", secure=_secure(page),
                                  path="/tableau/lien/"))
    return page.render("sign_in", nonce=nonce, action=page.request.path)


async def sign_in(page: PageContext) -> WebResponse:
    """Use the link (once), open a session, and go to the cohort it was asked about."""
    token = page.request.params.get("token", "")
    sent = page.request.form.get("nonce")
    expected = page.request.cookies.get(SIGN_IN_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise WebError(403, "csrf")
    holder = await page.store.dashboard.redeem_link(token, page.now()) \
        if len(token) <= 128 else None
    if holder is None:
        raise WebError(403, "link_invalid")
    await page.store.dashboard.forget_expired(page.now())
    secret = secrets.token_hex(32)
    await page.store.dashboard.open_session(secret, holder, now=page.now(), ttl=SESSION_TTL)
    page.cookies.append(SetCookie(SESSION_COOKIE, secret,
                                  max_age=int(SESSION_TTL.total_seconds()),
                                  same_site="Lax", secure=_secure(page)))
    page.cookies.append(SetCookie(SIGN_IN_COOKIE, "", max_age=0, same_site="Strict",
                                  secure=_secure(page), path="/tableau/lien/"))
    cohort = await page.store.cohorts.get(holder.cohort_id) if holder.cohort_id else None
    if cohort is not None:
        return WebResponse.redirect(page.registry.url("dashboard.overview", cohort=cohort.slug))
    return WebResponse.redirect(page.registry.url("dashboard.home"))


async def sign_out(page: PageContext) -> WebResponse:
    assert page.viewer is not None
    await page.store.dashboard.revoke(page.viewer.session_id, page.now())
    page.cookies.append(SetCookie(SESSION_COOKIE, "", max_age=0, secure=_secure(page)))
    page.viewer = None
    return page.render("signed_out")


def _secure(page: PageContext) -> bool:
    return page.settings.public_url.startswith("https://")


def register(router: Router) -> None:
    router.include(commands)


def register_web(web: WebRegistry) -> None:
    web.page("dashboard.sign_in_form", SIGN_IN_PATH, access=Access.PUBLIC)(sign_in_form)
    web.page("dashboard.sign_in", SIGN_IN_PATH, method="POST", access=Access.PUBLIC,
             csrf=False)(sign_in)
    web.page("dashboard.sign_out", "/tableau/deconnexion", method="POST",
             access=Access.SIGNED_IN)(sign_out)

"""The dispatcher: one incoming event → one transaction → replies in the outbox.

For every event it opens a unit of work, refuses a platform event it already
handled, finds out who is speaking and which cohort is meant, checks the role,
runs the handler, and queues the replies in the same transaction. Errors the
user can fix are answered from their template; anything else is logged with its
traceback and answered with a short apology — never a raw exception.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from handlers.core.clock import Clock
from handlers.core.commands import (
    CohortScope,
    CommandSpec,
    Role,
    Router,
    Where,
    bind,
)
from handlers.core.context import Caller, Context, Services
from handlers.core.errors import UserFacingError
from handlers.core.events import (
    ActionEvent,
    CommandEvent,
    Event,
    MessageEvent,
    Origin,
    Reply,
    RoomMessageEvent,
    TimerEvent,
    Visibility,
)
from handlers.core.grammar import Option, Word, fold, split_words
from handlers.core.ids import Platform, UserRef
from handlers.core.settings import Settings
from messages.texts import Catalog
from storage.db import Database
from storage.uow import Store

log = logging.getLogger(__name__)

COHORT_OPTION_KEYS = ("cohorte", "cohort")
HAND_OVER_OUTGOING = 4
"""Up to this many messages to other rooms are queued one by one and handed to delivery
from memory (a bridged message's copies); more (a reminder to every room) are queued in
one statement and read back by delivery."""


@dataclass(frozen=True, slots=True)
class QueuedReply:
    """A reply committed to the outbox, handed to delivery as is (no need to read it back)."""

    outbox_id: int
    key: str
    platform: Platform
    destination: str
    reply: Reply
    thread_id: str | None
    private_to: str | None
    hints: dict[str, Any]
    created_at: Any
    outgoing: bool = False
    """A message to another room (``Context.send``), not a reply to the event."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What handling an event produced, for adapters that answer synchronously and for tests."""

    replies: tuple[Reply, ...]
    duplicate: bool = False
    handled: bool = True
    failed: bool = False
    """The handler raised: nothing it wrote was kept (a timer job stays pending)."""


class Dispatcher:
    def __init__(self, *, db: Database, router: Router, catalog: Catalog, clock: Clock,
                 settings: Settings, services: Services | None = None,
                 notify: Callable[[set[Platform]], None] | None = None,
                 hand_over: Callable[[Sequence[QueuedReply]], bool] | None = None) -> None:
        self.db = db
        self.router = router
        self.catalog = catalog
        self.clock = clock
        self.settings = settings
        self.services = services or Services()
        self.notify = notify or (lambda _platforms: None)
        self.hand_over = hand_over
        """Receives the replies to an event once committed (delivery sends them at once);
        without it, delivery is only woken (``notify``) and reads them from the outbox."""

    async def handle(self, event: Event) -> Outcome:
        """Handle one event exactly once; returns the replies queued for its origin."""
        if isinstance(event, RoomMessageEvent):
            return await self._room_message(event)
        if isinstance(event, ActionEvent):
            direct = self.router.direct_action_handler(event.action)
            if direct is not None:
                try:
                    outcome = await direct(self, event)
                except Exception:
                    log.exception("direct action path failed, trying the ordinary one",
                                  extra=_describe(event))
                    outcome = None
                if outcome is not None:
                    return outcome
        try:
            async with self.db.session() as session:
                store = Store(session)
                ctx = self._context(event, store)
                origin = ctx.origin
                if origin is not None and origin.event_id is not None:
                    if not await store.processed.claim(origin.platform, origin.event_id,
                                                       ctx.now()):
                        return Outcome((), duplicate=True)
                replies = await self._run(ctx)
                if replies is None:
                    return Outcome((), handled=False)
                queued = await self._queue(ctx, replies)
            self._after_commit(ctx, replies, queued)
            self._count(event, ctx, "ok")
            return Outcome(tuple(replies))
        except UserFacingError as error:
            self._count(event, None, "user_error")
            outcome = await self._answer_error(event, error)
            return Outcome(outcome.replies, outcome.duplicate, failed=isinstance(
                event, TimerEvent))
        except Exception:
            log.exception("handler failed", extra=_describe(event))
            self._count(event, None, "error")
            self.services.metrics.incr("errors", where="handler")
            outcome = await self._answer_error(event, UserFacingError("errors/internal"))
            return Outcome(outcome.replies, outcome.duplicate, failed=True)

    async def _room_message(self, event: RoomMessageEvent) -> Outcome:
        """Room chatter: handlers write what they must (the bridge queues its copies in the
        outbox), and nothing is ever answered in the room, not even an apology when a
        handler fails (the failure is logged and counted).

        The platform event id is not claimed here: the same message comes back through
        other paths with other ids (Slack history read after an outage), so room-message
        handlers keep themselves to once with their own unique keys (the bridge's
        ``relay_message``), which also saves a write per message.
        """
        try:
            async with self.db.session() as session:
                store = Store(session)
                ctx = self._context(event, store)
                for _name, handler in self.router.room_message_handlers():
                    await handler(ctx, event)
                queued = await self._queue(ctx, [])
            self._after_commit(ctx, [], queued)
            self._count(event, ctx, "ok")
            return Outcome(())
        except Exception:
            log.exception("room message handling failed", extra=_describe(event))
            self._count(event, None, "error")
            self.services.metrics.incr("errors", where="room_message")
            return Outcome((), failed=True)

    def _count(self, event: Event, ctx: Context | None, outcome: str) -> None:
        origin: Origin | None = getattr(event, "origin", None)
        platform = str(origin.platform) if origin else "timer"
        self.services.metrics.incr("events", platform=platform, kind=type(event).__name__)
        if isinstance(event, CommandEvent):
            verb = ctx.spec.verb if ctx is not None and ctx.spec is not None else "?"
            self.services.metrics.incr("commands", verb=verb, outcome=outcome)

    def _context(self, event: Event, store: Store) -> Context:
        return Context(event=event, store=store, clock=self.clock, catalog=self.catalog,
                       settings=self.settings, router=self.router, services=self.services,
                       lang=self.settings.default_language)

    async def _run(self, ctx: Context) -> list[Reply] | None:
        event = ctx.event
        if isinstance(event, CommandEvent):
            return await self._command(ctx, event)
        if isinstance(event, MessageEvent):
            return await self._message(ctx, event)
        if isinstance(event, ActionEvent):
            return await self._action(ctx, event)
        if isinstance(event, TimerEvent):
            if event.job_id is not None and not await ctx.store.jobs.claim(event.job_id,
                                                                            ctx.now()):
                return None
            handler = self.router.timer_handler(event.name)
            if handler is None:
                log.error("no handler for timer %s", event.name)
                return []
            await handler(ctx, event)
            return []
        raise TypeError(f"unknown event {type(event).__name__}")

    async def _command(self, ctx: Context, event: CommandEvent) -> list[Reply]:
        items = split_words(event.text)
        await self._identify(ctx, event.origin)
        spec, rest = self.router.resolve(items)
        ctx.spec = spec
        named, rest = _take_cohort_option(rest) if spec.cohort is not CohortScope.NONE else (
            None, rest)
        await self._locate(ctx, spec, named)
        self._check(ctx, spec, event.origin)
        args = bind(spec, rest, now=ctx.now(), tz=ctx.tz)
        return _as_list(await spec.handler(ctx, args))

    async def _message(self, ctx: Context, event: MessageEvent) -> list[Reply] | None:
        await self._identify(ctx, event.origin)
        for _name, handler in self.router.message_handlers():
            result = await handler(ctx, event)
            if result is None or result is False:
                continue
            return [] if result is True else _as_list(result)
        if event.origin.is_direct:
            return [ctx.reply("errors/not_understood", private=True)]
        return None

    async def _action(self, ctx: Context, event: ActionEvent) -> list[Reply]:
        await self._identify(ctx, event.origin)
        handler = self.router.action_handler(event.action)
        if handler is None:
            log.warning("no handler for action %s", event.action)
            raise UserFacingError("errors/unknown_action")
        return _as_list(await handler(ctx, event))

    async def _identify(self, ctx: Context, origin: Origin) -> None:
        """Who is speaking: their member record, cohorts, coordinator roles, admin flag."""
        store = ctx.store
        view = await store.identities.caller_view(origin.platform, origin.user.user_id,
                                                  origin.room.room_id)
        member = view.member
        is_admin = (origin.platform is Platform.CONSOLE and origin.user.user_id == "operator") \
            or str(origin.user) in self.settings.admins
        cohorts: frozenset[int] = frozenset()
        coordinates: frozenset[int] = frozenset()
        if member is not None and member.erased_at is None:
            cohorts, coordinates = view.cohorts, view.coordinates
        else:
            member = None
        ctx.caller = Caller(user=origin.user, member=member, is_admin=is_admin,
                            cohorts=cohorts, coordinates=coordinates,
                            platform_name=origin.user_display_name)
        if member is not None and member.language:
            ctx.lang = member.language
        room_cohort = ctx.room_cohort = view.room_cohort
        if room_cohort is not None:
            if ctx.caller.belongs_to(room_cohort.id):
                ctx.cohort = room_cohort
            if member is None or not member.language:
                ctx.lang = room_cohort.language

    async def _locate(self, ctx: Context, spec: CommandSpec, named: str | None) -> None:
        """Which cohort the command acts on: the one named, the room's, or the caller's only one."""
        caller = ctx.caller
        assert caller is not None
        store = ctx.store
        if spec.cohort is CohortScope.NONE:
            ctx.cohort = None
            return
        if named is not None:
            cohort = await store.cohorts.by_slug(fold(named))
            if cohort is None or not caller.belongs_to(cohort.id):
                mine = await store.cohorts.with_ids(sorted(caller.cohorts)) if not \
                    caller.is_admin else await store.cohorts.all()
                raise UserFacingError("errors/unknown_cohort", name=named,
                                      candidates=[c.slug for c in mine])
            ctx.cohort = cohort
        elif ctx.cohort is None:
            room_cohort = ctx.room_cohort
            if room_cohort is not None and not caller.belongs_to(room_cohort.id):
                raise UserFacingError("errors/not_in_cohort", cohort=room_cohort.name)
            everything = await store.cohorts.all() if caller.is_admin and not caller.cohorts \
                else None
            if len(caller.cohorts) == 1:
                ctx.cohort = await store.cohorts.get(next(iter(caller.cohorts)))
            elif everything is not None and len(everything) == 1:
                ctx.cohort = everything[0]
            elif spec.cohort is CohortScope.REQUIRED:
                mine = await store.cohorts.with_ids(sorted(caller.cohorts)) if caller.cohorts \
                    else (await store.cohorts.all() if caller.is_admin else [])
                raise UserFacingError("errors/which_cohort", candidates=[c.slug for c in mine])
        if ctx.cohort is not None and not (caller.member and caller.member.language):
            ctx.lang = ctx.cohort.language

    def _check(self, ctx: Context, spec: CommandSpec, origin: Origin) -> None:
        if not permitted_role(spec, ctx.caller, ctx.cohort):
            raise UserFacingError("errors/forbidden", spec=spec,
                                  registered=ctx.caller is not None and ctx.caller.member
                                  is not None)
        if origin.platform is not Platform.CONSOLE:
            if spec.where is Where.DIRECT and not origin.is_direct:
                raise UserFacingError("errors/direct_only", spec=spec)
            if spec.where is Where.ROOM and origin.is_direct:
                raise UserFacingError("errors/room_only", spec=spec)

    async def _queue(self, ctx: Context, replies: Sequence[Reply]) -> list[QueuedReply]:
        """Write the replies (to the origin) and the other messages to the outbox; returns
        the replies as queued, for :attr:`hand_over` after the commit."""
        origin = ctx.origin
        now = ctx.now()
        store = ctx.store
        queued: list[QueuedReply] = []
        if origin is not None:
            base = origin.event_id or uuid.uuid4().hex
            hints = dict(getattr(origin, "hints", {}) or {})
            for index, reply in enumerate(replies):
                key = f"reply:{origin.platform}:{base}:{index}"
                private_to = origin.user.user_id if reply.visibility is Visibility.PRIVATE \
                    else None
                outbox_id = await store.outbox.enqueue(
                    key=key, platform=origin.platform, destination=origin.room.room_id,
                    payload=reply.to_dict(), now=now, thread_id=origin.thread_id,
                    private_to=private_to, hints=hints)
                if outbox_id is not None:
                    queued.append(QueuedReply(outbox_id, key, origin.platform,
                                              origin.room.room_id, reply, origin.thread_id,
                                              private_to, hints, now))
        outgoing = ctx.outgoing
        if self.hand_over is not None and 0 < len(outgoing) <= HAND_OVER_OUTGOING:
            # A few messages to other rooms (a bridged message's copies): one insert each,
            # in order, so that the new ones can be handed to delivery like replies.
            for out in outgoing:
                outbox_id = await store.outbox.enqueue(
                    key=out.key, platform=str(out.platform), destination=out.destination,
                    payload=out.reply.to_dict(), now=now, thread_id=out.thread_id,
                    private_to=out.private_to, edit_of=out.edit_of, not_before=out.not_before)
                if outbox_id is not None and out.edit_of is None and (
                        out.not_before is None or out.not_before <= now):
                    queued.append(QueuedReply(outbox_id, out.key, out.platform,
                                              out.destination, out.reply, out.thread_id,
                                              out.private_to, {}, now, outgoing=True))
            return queued
        await store.outbox.enqueue_many([
            {"key": out.key, "platform": out.platform, "destination": out.destination,
             "payload": out.reply.to_dict(), "thread_id": out.thread_id,
             "edit_of": out.edit_of, "not_before": out.not_before,
             "private_to": out.private_to} for out in outgoing], now)
        return queued

    def _after_commit(self, ctx: Context, replies: Sequence[Reply],
                      queued: Sequence[QueuedReply] = ()) -> None:
        for name, amount, labels in ctx.counted:
            self.services.metrics.incr(name, amount, **labels)
        for name, value, labels in ctx.observed:
            self.services.metrics.observe(name, value, **labels)
        platforms = {o.platform for o in ctx.outgoing}
        if queued and self.hand_over is not None and self.hand_over(queued):
            handed = {(q.platform, q.key) for q in queued if q.outgoing}
            if handed:
                # platforms whose every message was handed over need no outbox read
                platforms = {o.platform for o in ctx.outgoing
                             if (o.platform, o.key) not in handed}
        elif ctx.origin is not None and replies:
            platforms.add(ctx.origin.platform)
        if platforms:
            self.notify(platforms)
        if ctx.changed and self.services.on_change is not None:
            try:
                self.services.on_change(set(ctx.changed))
            except Exception:
                log.exception("change listener failed", extra={"changed": sorted(ctx.changed)})

    async def _answer_error(self, event: Event, error: UserFacingError) -> Outcome:
        """Answer an error in a fresh transaction, still once per platform event."""
        origin: Origin | None = getattr(event, "origin", None)
        if origin is None:
            log.error("timer %s failed: %s", getattr(event, "name", "?"), error.template)
            return Outcome(())
        try:
            async with self.db.session() as session:
                store = Store(session)
                ctx = self._context(event, store)
                if origin.event_id is not None and not await store.processed.claim(
                        origin.platform, origin.event_id, ctx.now()):
                    return Outcome((), duplicate=True)
                try:
                    await self._identify(ctx, origin)
                except Exception:
                    log.exception("could not identify caller for an error reply",
                                  extra=_describe(event))
                try:
                    reply = ctx.reply(error.template, private=True, **error.context)
                except Exception:
                    log.exception("error template failed", extra={
                        **_describe(event), "template": error.template})
                    reply = ctx.reply("errors/internal", private=True)
                queued = await self._queue(ctx, [reply])
            if not (queued and self.hand_over is not None and self.hand_over(queued)):
                self.notify({origin.platform})
            return Outcome((reply,))
        except Exception:
            log.exception("could not answer an error", extra=_describe(event))
            return Outcome(())


def permitted_role(spec: CommandSpec, caller: Caller | None, cohort: Any) -> bool:
    """Whether ``caller`` may run ``spec`` on ``cohort`` (used by the dispatcher and ``aide``)."""
    if spec.role is Role.ANYONE:
        return True
    if caller is None:
        return False
    if caller.is_admin:
        return True
    if spec.role is Role.ADMIN:
        return False
    if cohort is None:
        if spec.role is Role.MEMBER:
            return caller.member is not None
        return bool(caller.coordinates)
    if spec.role is Role.COORDINATOR:
        return caller.coordinates_cohort(cohort.id)
    return caller.belongs_to(cohort.id)


def _take_cohort_option(items: list[Word | Option]) -> tuple[str | None, list[Word | Option]]:
    named = None
    rest: list[Word | Option] = []
    for item in items:
        if isinstance(item, Option) and item.key in COHORT_OPTION_KEYS:
            named = item.value
        else:
            rest.append(item)
    return named, rest


def _as_list(result: Reply | Sequence[Reply] | None) -> list[Reply]:
    if result is None:
        return []
    if isinstance(result, Reply):
        return [result]
    return list(result)


def _describe(event: Event) -> dict[str, Any]:
    """Context for logs: kind, platform, room, user — never the message body."""
    origin: Origin | None = getattr(event, "origin", None)
    info: dict[str, Any] = {"event_kind": type(event).__name__}
    if origin is not None:
        info.update(platform=str(origin.platform), room=origin.room.room_id,
                    user=origin.user.user_id, event_id=origin.event_id)
    if isinstance(event, CommandEvent):
        first = event.text.split(maxsplit=2)[:2]
        info["command"] = " ".join(first)[:64]
    if isinstance(event, ActionEvent):
        info["action"] = event.action
    if isinstance(event, TimerEvent):
        info.update(timer=event.name, job_key=event.key)
    return info


__all__ = ["Dispatcher", "Outcome", "QueuedReply", "UserRef", "permitted_role"]

"""What a handler gets: the event, who sent it, the cohort it acts on, storage, texts, time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from handlers.core.clock import Clock
from handlers.core.events import Action, Attachment, Event, Origin, Reply, Visibility
from handlers.core.ids import Platform, RoomRef, UserRef
from handlers.core.metrics import Metrics, NullMetrics
from handlers.core.settings import Settings
from messages.markup import Person
from messages.texts import Catalog, Texts

if TYPE_CHECKING:
    from handlers.core.commands import CommandSpec, Router
    from storage.models import Cohort, Member
    from storage.uow import Store


@dataclass(slots=True)
class Caller:
    """The person behind an event, as far as the bot knows them."""

    user: UserRef
    member: Member | None
    is_admin: bool
    cohorts: frozenset[int] = frozenset()
    coordinates: frozenset[int] = frozenset()
    platform_name: str | None = None

    @property
    def display_name(self) -> str:
        if self.member is not None:
            return self.member.display_name
        return self.platform_name or self.user.user_id

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"{self.display_name} ({self.user})"

    def belongs_to(self, cohort_id: int) -> bool:
        return self.is_admin or cohort_id in self.cohorts

    def coordinates_cohort(self, cohort_id: int) -> bool:
        return self.is_admin or cohort_id in self.coordinates


@dataclass(slots=True)
class Outgoing:
    """A message to another place than the one the event came from."""

    key: str
    platform: Platform
    destination: str
    reply: Reply
    thread_id: str | None = None
    edit_of: str | None = None
    not_before: datetime | None = None
    private_to: str | None = None


@dataclass(slots=True)
class Services:
    """Feature services the composition root wires in (each feature adds its own field)."""

    on_change: Any = None
    """Called after commit with the names of what changed (e.g. ``"calendar"``) so runtime
    parts (the scheduler) can re-plan."""
    metrics: Metrics = field(default_factory=NullMetrics)
    """Counters and histograms for ``/metrics``."""
    calendar: Any = None
    """The calendar's runtime parts (``bot.calendar.CalendarRuntime``): URL fetches, feed."""
    notes: Any = None
    """The notes feature's questionnaires and reminder policy (``handlers.notes.service``)."""
    votes: Any = None
    """The polls' batched vote writer (``handlers.polls.writer.VoteWriter``)."""
    retention: Any = None
    """How long bookkeeping is kept (``storage.repos.retention.RetentionPolicy``)."""


@dataclass(slots=True)
class Context:
    """One event's view of the world; built by the dispatcher, never by a handler."""

    event: Event
    store: Store
    clock: Clock
    catalog: Catalog
    settings: Settings
    router: Router
    services: Services
    lang: str
    caller: Caller | None = None
    cohort: Cohort | None = None
    room_cohort: Cohort | None = None
    """The cohort the event's room is linked to (read with the caller), if any."""
    spec: CommandSpec | None = None
    outgoing: list[Outgoing] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    counted: list[tuple[str, float, dict[str, str]]] = field(default_factory=list)
    """Counters to add once the transaction committed (see :meth:`count`)."""
    observed: list[tuple[str, float, dict[str, str]]] = field(default_factory=list)
    _now: datetime | None = None

    @property
    def origin(self) -> Origin | None:
        return getattr(self.event, "origin", None)

    @property
    def texts(self) -> Texts:
        return self.catalog.bind(self.lang)

    def now(self) -> datetime:
        """The instant this event is handled (constant within one event)."""
        if self._now is None:
            self._now = self.clock.now()
        return self._now

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.cohort.timezone if self.cohort else self.settings.default_timezone)

    @property
    def prefix(self) -> str:
        """How commands are typed where this event came from (``!cohorte ``, ``/cohorte ``)."""
        origin = self.origin
        return self.settings.prefix(origin.platform) if origin else ""

    def t(self, template: str, /, **context: Any) -> str:
        return self.texts(template, prefix=self.prefix, **context)

    def reply(self, template: str, /, *, private: bool = False, actions: tuple[Action, ...] = (),
              attachments: tuple[Attachment, ...] = (), card: dict[str, Any] | None = None,
              sensitive: bool = False, **context: Any) -> Reply:
        """Render ``template`` in the caller's language as a reply.

        ``sensitive`` (personal data, a code) implies ``private`` and asks platforms with
        no private replies in a room to use the person's DM.
        """
        return Reply(self.t(template, **context),
                     visibility=Visibility.PRIVATE if private or sensitive else Visibility.ROOM,
                     actions=actions, attachments=attachments, card=card, sensitive=sensitive)

    def send(self, target: RoomRef | UserRef, reply: Reply, *, key: str,
             thread_id: str | None = None, edit_of: str | None = None,
             not_before: datetime | None = None) -> None:
        """Queue a message to a room, or to a person's DM, in this event's transaction.

        ``key`` must name the message uniquely and stably (e.g. ``nudge:<poll>:<member>``):
        a second call with the same key, now or after a restart, sends nothing.
        """
        if isinstance(target, UserRef):
            destination = f"@dm:{target.user_id}"
        else:
            destination = target.room_id
        self.outgoing.append(Outgoing(key=key, platform=target.platform, destination=destination,
                                      reply=reply, thread_id=thread_id, edit_of=edit_of,
                                      not_before=not_before))

    def count(self, name: str, amount: float = 1, **labels: str) -> None:
        """Add to a ``/metrics`` counter when this event's transaction commits (a rolled
        back or retried event is not counted twice)."""
        self.counted.append((name, amount, labels))

    def observe(self, name: str, value: float, **labels: str) -> None:
        """Record a ``/metrics`` histogram value when this event's transaction commits."""
        self.observed.append((name, value, labels))

    async def schedule(self, key: str, name: str, due_at: datetime,
                       payload: dict[str, Any] | None = None) -> None:
        """Ask for a :class:`TimerEvent` named ``name`` at ``due_at``, once per ``key``.

        Scheduling an existing pending key moves it; a key already run stays run.
        """
        await self.store.jobs.schedule(key=key, name=name, due_at=due_at, now=self.now(),
                                       payload=payload)
        self.changed.add("jobs")

    async def cancel_job(self, key: str) -> bool:
        cancelled = await self.store.jobs.cancel(key)
        if cancelled:
            self.changed.add("jobs")
        return cancelled

    async def audit(self, action: str, **details: Any) -> None:
        caller = self.caller
        await self.store.audit.record(
            actor=caller.actor if caller else "cohortbot", action=action, now=self.now(),
            actor_member_id=caller.member.id if caller and caller.member else None,
            cohort_id=self.cohort.id if self.cohort else None, **details)


def person(member: Member, identities: Any = None) -> Person:
    """A mentionable view of a member (identities must be loaded, or given)."""
    links = identities if identities is not None else member.__dict__.get("identities", ())
    return Person(member.display_name, {i.platform: i.user_id for i in links or ()})

"""The foundation's tables: cohorts, delegations, members, roles, identities, rooms,
the audit log, one-time codes, processed platform events and the outbox.

Feature tables (polls, calendar, notes, bridge) live in their own modules of this
package and share :class:`Base`. Unique constraints, not Python checks, guard
against doubles.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back as aware datetimes (SQLite included)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        from datetime import UTC

        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        from datetime import UTC

        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Category(StrEnum):
    """The four actor categories of a delegation (the "4 Fantastiques")."""

    ELU = "elu"
    AGENT = "agent"
    SOCIOECO = "socioeco"
    ETAT = "etat"


class Cohort(Base):
    __tablename__ = "cohort"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="fr")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    created_at: Mapped[datetime]

    delegations: Mapped[list[Delegation]] = relationship(
        back_populates="cohort", order_by="Delegation.territory", lazy="raise")


class Delegation(Base):
    __tablename__ = "delegation"
    __table_args__ = (UniqueConstraint("cohort_id", "territory"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id", ondelete="CASCADE"))
    territory: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]

    cohort: Mapped[Cohort] = relationship(back_populates="delegations", lazy="raise")
    members: Mapped[list[Member]] = relationship(
        back_populates="delegation", order_by="Member.display_name", lazy="raise")


class Member(Base):
    """A person known to the bot: a delegation member or a coordinator (or both)."""

    __tablename__ = "member"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    delegation_id: Mapped[int | None] = mapped_column(
        ForeignKey("delegation.id", ondelete="SET NULL"), index=True)
    category: Mapped[Category | None] = mapped_column(
        Enum(Category, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]))
    is_referent: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]

    delegation: Mapped[Delegation | None] = relationship(back_populates="members",
                                                         lazy="raise")
    identities: Mapped[list[PlatformIdentity]] = relationship(back_populates="member",
                                                              lazy="raise")


class CoordinatorRole(Base):
    __tablename__ = "coordinator_role"
    __table_args__ = (UniqueConstraint("cohort_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"),
                                           index=True)
    granted_at: Mapped[datetime]


class PlatformIdentity(Base):
    """One account on one platform, belonging to one member; a person counts once."""

    __tablename__ = "platform_identity"
    __table_args__ = (UniqueConstraint("platform", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(255))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"),
                                           index=True)
    linked_at: Mapped[datetime]

    member: Mapped[Member] = relationship(back_populates="identities", lazy="raise")


class LinkedRoom(Base):
    """A Slack channel or Matrix room (or the console) bound to one cohort."""

    __tablename__ = "linked_room"
    __table_args__ = (UniqueConstraint("platform", "room_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    room_id: Mapped[str] = mapped_column(String(255))
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id", ondelete="CASCADE"),
                                           index=True)
    linked_at: Mapped[datetime]
    linked_by: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))


class AuditEntry(Base):
    """Who did which admin action, when, in which cohort."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id", ondelete="SET NULL"), index=True)
    actor: Mapped[str] = mapped_column(String(300))
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohort.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OneTimeCode(Base):
    """A short-lived code: a member links an account with it, or confirms an erasure."""

    __tablename__ = "one_time_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ProcessedEvent(Base):
    """A platform event already handled: retries and replays are answered once."""

    __tablename__ = "processed_event"
    __table_args__ = (UniqueConstraint("platform", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(index=True)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    """A reply, reminder or relayed message, stored in the same transaction as what caused it.

    Delivery reads pending rows in ``id`` order per destination, sends them with an
    idempotency key derived from ``key``, and marks them sent: nothing is lost when
    the bot dies between the decision and the send, nothing is sent twice.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_outbox_pending", "status", "platform", "destination"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    platform: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(255))
    """A room id, or ``@dm:<user id>`` for a direct message opened at delivery."""
    thread_id: Mapped[str | None] = mapped_column(String(255))
    private_to: Mapped[str | None] = mapped_column(String(255))
    hints: Mapped[dict[str, Any]] = mapped_column(default=dict)
    payload: Mapped[dict[str, Any]]
    edit_of: Mapped[str | None] = mapped_column(String(255))
    """The outbox key of an earlier message this one replaces in place."""
    status: Mapped[OutboxStatus] = mapped_column(
        Enum(OutboxStatus, native_enum=False, length=16,
             values_callable=lambda e: [m.value for m in e]), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]
    not_before: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]


class DirectRoom(Base):
    """The DM room the bot opened with an account, reused for every later DM."""

    __tablename__ = "direct_room"
    __table_args__ = (UniqueConstraint("platform", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(255))
    room_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class JobStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class ScheduledJob(Base):
    """A timer a feature asked for (a poll deadline, a nudge, a reminder), under a unique key.

    The database is the source of truth: the in-memory timer is re-planned from
    this table; a job is claimed (pending → done) in the same transaction as the
    work it triggers, so it runs once even across restarts.
    """

    __tablename__ = "scheduled_job"
    __table_args__ = (UniqueConstraint("key"), Index("ix_scheduled_job_due", "status", "due_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, native_enum=False, length=16,
             values_callable=lambda e: [m.value for m in e]), default=JobStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]

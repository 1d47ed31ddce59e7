"""The cohort calendar: events (one-off or recurring), their exceptions, per-cohort calendar
settings, reminder occurrences and URL imports in progress.

A reminder occurrence is one row per event × occurrence start × offset × room, unique:
it is claimed (``planned`` → ``queued``) in the transaction that puts its message in
the outbox, and marked ``sent`` when the platform accepted it. That row, not the
in-memory timer, is what makes a reminder go out once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models import Base


def _enum(cls: type[StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class EventStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    """A series whose reminders are suspended (it still shows in the agenda)."""
    CANCELLED = "cancelled"


class TargetKind(StrEnum):
    """Who an event is for; reminders go to the cohort's rooms and name the people meant."""

    COHORT = "cohort"
    CATEGORY = "category"
    REFERENTS = "referents"
    DELEGATION = "delegation"


class CalendarEvent(Base):
    """A webinar, a plenary day, a peer session, the permanence…

    ``starts_at``/``ends_at`` are the first occurrence, as instants; ``timezone`` is the
    zone whose wall clock a recurrence follows (an 11:00 permanence stays 11:00
    across DST changes). ``uid`` is the iCalendar UID: a re-import updates by it.
    """

    __tablename__ = "calendar_event"
    __table_args__ = (UniqueConstraint("cohort_id", "uid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id", ondelete="CASCADE"),
                                           index=True)
    uid: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32), default="event")
    title: Mapped[str] = mapped_column(String(300))
    agenda: Mapped[str | None] = mapped_column(Text)
    place: Mapped[str | None] = mapped_column(String(500))
    link: Mapped[str | None] = mapped_column(String(1000))
    recorded: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    """A recording or confidentiality note shown with the event."""
    i18n: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Translations, e.g. ``{"en": {"title": …, "agenda": …}}``."""
    target_kind: Mapped[TargetKind] = mapped_column(_enum(TargetKind), default=TargetKind.COHORT)
    target_value: Mapped[str | None] = mapped_column(String(64))
    """The category (``elu`` …) or the delegation id, depending on ``target_kind``."""
    timezone: Mapped[str] = mapped_column(String(64))
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    rrule: Mapped[str | None] = mapped_column(Text)
    """An RFC 5545 RRULE value (without ``RRULE:``), expanded in ``timezone``."""
    offsets: Mapped[list[int] | None] = mapped_column(JSON)
    """Reminder offsets in minutes before the start; None means the cohort's."""
    status: Mapped[EventStatus] = mapped_column(_enum(EventStatus), default=EventStatus.ACTIVE)
    source: Mapped[str] = mapped_column(String(1000), default="chat")
    """``chat``, ``demo``, ``file:<name>`` or the URL it was imported from."""
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    exceptions: Mapped[list[EventException]] = relationship(
        back_populates="event", lazy="raise", cascade="all, delete-orphan",
        order_by="EventException.original_start")


class ExceptionKind(StrEnum):
    CANCELLED = "cancelled"
    """EXDATE: this occurrence does not take place."""
    MOVED = "moved"
    """RECURRENCE-ID: this occurrence takes place at ``starts_at``–``ends_at`` instead."""
    ADDED = "added"
    """RDATE: an extra occurrence."""


class EventException(Base):
    """One occurrence of a series cancelled, moved or added, named by its original start."""

    __tablename__ = "calendar_exception"
    __table_args__ = (UniqueConstraint("event_id", "original_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("calendar_event.id", ondelete="CASCADE"))
    original_start: Mapped[datetime]
    kind: Mapped[ExceptionKind] = mapped_column(_enum(ExceptionKind))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    event: Mapped[CalendarEvent] = relationship(back_populates="exceptions", lazy="raise")


class CalendarSettings(Base):
    """Per-cohort reminder offsets and the secret of its subscribable ICS feed."""

    __tablename__ = "calendar_settings"
    __table_args__ = (UniqueConstraint("cohort_id"), UniqueConstraint("feed_token"))

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id", ondelete="CASCADE"))
    offsets: Mapped[list[int] | None] = mapped_column(JSON)
    feed_token: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class ReminderStatus(StrEnum):
    PLANNED = "planned"
    QUEUED = "queued"
    """Claimed: its message is in the outbox (key ``reminder:<id>``)."""
    SENT = "sent"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Reminder(Base):
    """One reminder of one occurrence of an event, in one room."""

    __tablename__ = "reminder"
    __table_args__ = (
        UniqueConstraint("event_id", "occurrence_start", "offset_minutes", "platform",
                         "room_id", name="uq_reminder_occurrence_offset_room"),
        Index("ix_reminder_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("calendar_event.id", ondelete="CASCADE"))
    occurrence_start: Mapped[datetime]
    occurrence_end: Mapped[datetime]
    offset_minutes: Mapped[int] = mapped_column(Integer)
    platform: Mapped[str] = mapped_column(String(16))
    room_id: Mapped[str] = mapped_column(String(255))
    due_at: Mapped[datetime]
    status: Mapped[ReminderStatus] = mapped_column(_enum(ReminderStatus),
                                                   default=ReminderStatus.PLANNED)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(String(32))
    """Why a reminder was skipped or cancelled (``started``, ``superseded``, ``changed``…)."""
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(255))


class ImportStatus(StrEnum):
    FETCHING = "fetching"
    FETCHED = "fetched"
    DONE = "done"
    FAILED = "failed"


class CalendarImport(Base):
    """An ICS import from a URL: fetched outside any transaction, then applied once."""

    __tablename__ = "calendar_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    status: Mapped[ImportStatus] = mapped_column(_enum(ImportStatus),
                                                 default=ImportStatus.FETCHING)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    error: Mapped[str | None] = mapped_column(String(64))
    """A template name under ``calendar/`` explaining a failed fetch."""
    reply_to: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Where to answer: platform, room, thread, user, language, actor."""
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("member.id",
                                                                ondelete="SET NULL"))
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]

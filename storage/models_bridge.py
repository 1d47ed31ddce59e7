"""The bridge's tables: which cohorts relay between their Slack channel and Matrix room,
what was relayed where (source message → copy), and how far Slack history was checked.

``relay_message`` is the guard against doubles: one row per source message and target
room, unique, written in the same transaction as the outbox row of the copy. It is
also the map back from a copy to its source (edits, deletions, threads and replies of
either side find their counterpart through it). Rows age out with
``RelayRepo.forget_before`` (a retention job may call it): an edit or deletion of a
message older than the retention is then no longer followed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class Bridge(Base):
    """A cohort's bridge switch, and what ``cohorte pont statut`` reports."""

    __tablename__ = "bridge"
    __table_args__ = (UniqueConstraint("cohort_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime]
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    last_relayed_at: Mapped[datetime | None]
    last_lag_ms: Mapped[int | None] = mapped_column(Integer)


class RelayMessage(Base):
    """One source message (or reaction) copied to one target room, once."""

    __tablename__ = "relay_message"
    __table_args__ = (
        UniqueConstraint("source_platform", "source_room", "source_id", "target_platform",
                         "target_room", name="uq_relay_message_source_target"),
        UniqueConstraint("outbox_key"),
        Index("ix_relay_message_target", "target_platform", "target_room", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id", ondelete="CASCADE"),
                                           index=True)
    kind: Mapped[str] = mapped_column(String(16), default="message")
    """``message`` or ``reaction``."""
    source_platform: Mapped[str] = mapped_column(String(16))
    source_room: Mapped[str] = mapped_column(String(255))
    source_id: Mapped[str] = mapped_column(String(255))
    """The platform's message id (Matrix event id, Slack ``ts``); for a reaction, its own id."""
    target_platform: Mapped[str] = mapped_column(String(16))
    target_room: Mapped[str] = mapped_column(String(255))
    outbox_key: Mapped[str] = mapped_column(String(255))
    """The outbox key of the copy (its first part when split)."""
    target_id: Mapped[str | None] = mapped_column(String(255))
    """The copy's id on the target platform, once delivered."""
    parts: Mapped[int] = mapped_column(Integer, default=1)
    """How many target messages the copy took (long texts are split, files follow)."""
    thread_root: Mapped[str | None] = mapped_column(String(255))
    """The source id of the thread root this message was posted in, if any."""
    annotates: Mapped[str | None] = mapped_column(String(255))
    """For a reaction: the source id of the message reacted to."""
    reaction: Mapped[str | None] = mapped_column(String(64))
    last_change: Mapped[str | None] = mapped_column(String(255))
    """The id of the latest edit relayed (so a replayed edit is not sent twice)."""
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    source_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(index=True)


class BridgeCursor(Base):
    """How far a Slack channel's history was checked for messages the events missed."""

    __tablename__ = "bridge_cursor"
    __table_args__ = (UniqueConstraint("platform", "room_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    room_id: Mapped[str] = mapped_column(String(255))
    position: Mapped[str] = mapped_column(String(64))
    """Slack ``ts``: every message up to it was seen (through events or history)."""
    updated_at: Mapped[datetime]

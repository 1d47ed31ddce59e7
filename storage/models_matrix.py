"""What the Matrix adapter must remember across restarts: its device and sync position,
and the rooms it is in.

The sync token is written only after the events of that sync were handled, so a
restart resumes exactly where the bot stopped (the dispatcher's processed-event
table absorbs the replay of a sync that was handled but not yet recorded).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class MatrixSession(Base):
    """The bot account's device and the last sync position fully handled."""

    __tablename__ = "matrix_session"
    __table_args__ = (UniqueConstraint("user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255))
    device_id: Mapped[str | None] = mapped_column(String(255))
    """Reused at every login: transaction ids (idempotent sends) and E2E keys belong to it."""
    next_batch: Mapped[str | None] = mapped_column(Text)
    synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class MatrixRoomState(Base):
    """A room the bot was invited to, joined, declined or left."""

    __tablename__ = "matrix_room"
    __table_args__ = (UniqueConstraint("user_id", "room_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255))
    """The bot account this row belongs to."""
    room_id: Mapped[str] = mapped_column(String(255))
    membership: Mapped[str] = mapped_column(String(16))
    """``invited``, ``joined``, ``declined`` or ``left``."""
    is_direct: Mapped[bool] = mapped_column(Boolean, default=False)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    inviter: Mapped[str | None] = mapped_column(String(255))
    joined_at_ms: Mapped[int | None] = mapped_column(BigInteger)
    """Server timestamp of the bot's join: older messages are history, never commands."""
    updated_at: Mapped[datetime]


class MatrixPollEvent(Base):
    """An event the bot posted for a poll, so what people send back can be read as answers.

    ``start`` is a native poll (``org.matrix.msc3381.poll.start``): its responses are
    votes, and the bot ends it when the poll closes (``ended_at``). ``message`` is the
    poll's text (the results message, a nudge, a private ballot): a reply to it is an
    answer typed as in ``sondage voter``. One poll has as many as it has rooms and DMs.
    """

    __tablename__ = "matrix_poll_event"
    __table_args__ = (UniqueConstraint("event_id"),
                      Index("ix_matrix_poll_event_poll_id", "poll_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255))
    room_id: Mapped[str] = mapped_column(String(255))
    poll_id: Mapped[int] = mapped_column(Integer)
    """The poll's number (no foreign key: the adapter's memory, not the poll's data)."""
    kind: Mapped[str] = mapped_column(String(16))
    """``start`` or ``message``."""
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

"""Slack's own bookkeeping: which outbox messages the Slack sender started to post.

A post whose answer never came back (a crash, a timeout) may or may not have
reached Slack. Remembering that an attempt started lets the next attempt look for
the message (by the outbox key in its metadata) before posting it again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class SlackPostAttempt(Base):
    """An outbox message the Slack sender began to post, once per outbox key."""

    __tablename__ = "slack_post_attempt"
    __table_args__ = (UniqueConstraint("outbox_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_key: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(index=True)

"""Polls, their options and answers, and arbitrage campaigns.

One answer row per (poll, scope key) under a unique constraint: a person, a
delegation or an actor category inside a delegation answers once, and a new
answer replaces the old one (upsert). Who gave the latest answer is kept with it.
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
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models import Base


def _enum(cls: type[StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class PollKind(StrEnum):
    YES_NO = "yes_no"
    SINGLE = "single"
    MULTI = "multi"
    AVAILABILITY = "availability"
    TEXT = "text"


class PollScope(StrEnum):
    MEMBER = "member"
    """Each member answers for themself."""
    DELEGATION = "delegation"
    """One answer per delegation (by its référent, or by any member)."""
    CATEGORY = "category"
    """One answer per actor category within each delegation."""


class AnsweredBy(StrEnum):
    REFERENT = "referent"
    ANY = "any"


class PollStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    CLOSED = "closed"


class Campaign(Base):
    """A bundle of questions sent to every delegation at once, with one deadline."""

    __tablename__ = "campaign"
    __table_args__ = (UniqueConstraint("cohort_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    intro: Mapped[str] = mapped_column(Text, default="")
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The questions as loaded from the campaign file (one language, already chosen)."""
    status: Mapped[CampaignStatus] = mapped_column(_enum(CampaignStatus),
                                                   default=CampaignStatus.DRAFT)
    deadline: Mapped[datetime | None]
    nudges: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Poll(Base):
    __tablename__ = "poll"
    __table_args__ = (
        UniqueConstraint("campaign_id", "question_key"),
        Index("ix_poll_cohort_status", "cohort_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id", ondelete="CASCADE"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id",
                                                               ondelete="CASCADE"))
    question_key: Mapped[str | None] = mapped_column(String(64))
    """The question's id in its campaign (``a1`` …)."""
    title: Mapped[str] = mapped_column(String(300))
    question: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[PollKind] = mapped_column(_enum(PollKind))
    scope: Mapped[PollScope] = mapped_column(_enum(PollScope), default=PollScope.MEMBER)
    answered_by: Mapped[AnsweredBy] = mapped_column(_enum(AnsweredBy), default=AnsweredBy.ANY)
    only_category: Mapped[str | None] = mapped_column(String(16))
    only_delegations: Mapped[list[int]] = mapped_column(JSON, default=list)
    max_choices: Mapped[int | None]
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_results: Mapped[bool] = mapped_column(Boolean, default=False)
    """Results shown only once the poll is closed (participation is always shown)."""
    changeable: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_comment: Mapped[bool] = mapped_column(Boolean, default=True)
    deadline: Mapped[datetime | None]
    nudge_offsets: Mapped[list[int]] = mapped_column(JSON, default=list)
    """Minutes before the deadline at which those who still owe an answer get a DM."""
    status: Mapped[PollStatus] = mapped_column(_enum(PollStatus), default=PollStatus.OPEN)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    """Bumped at each reopening, so the new deadline and nudges get fresh timer keys."""
    refresh_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    refresh_seq: Mapped[int] = mapped_column(Integer, default=0)
    nudges: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    options: Mapped[list[PollOption]] = relationship(
        order_by="PollOption.position", lazy="raise", cascade="all, delete-orphan")


class PollOption(Base):
    __tablename__ = "poll_option"
    __table_args__ = (UniqueConstraint("poll_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id", ondelete="CASCADE"))
    position: Mapped[int]
    """1, 2, 3 …: what people type and what buttons carry."""
    label: Mapped[str] = mapped_column(String(300))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    key: Mapped[str | None] = mapped_column(String(64))
    """The option's id in a campaign file (``pairs-1`` …)."""


class PollAnswer(Base):
    """The answer of one scope key: ``m:<member>``, ``d:<delegation>`` or
    ``c:<delegation>:<category>``. Replaced in place when the answer changes."""

    __tablename__ = "poll_answer"
    __table_args__ = (UniqueConstraint("poll_id", "scope_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id", ondelete="CASCADE"))
    scope_key: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"),
                                                  index=True)
    """Who gave the answer that stands."""
    delegation_id: Mapped[int | None] = mapped_column(ForeignKey("delegation.id",
                                                                 ondelete="SET NULL"))
    category: Mapped[str | None] = mapped_column(String(16))
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    """``{"choices": [1, 3]}``, ``{"availability": {"1": "yes", "2": "maybe"}}`` or
    ``{"text": "…"}``."""
    comment: Mapped[str | None] = mapped_column(Text)
    platform: Mapped[str | None] = mapped_column(String(16))
    changes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

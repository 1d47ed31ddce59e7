"""Pilot-project notes: one note per delegation and questionnaire, its answers, their
history, and the conversations that collect them question by question.

The conversation's state lives here, not in memory: every step of a questionnaire
is a committed row, so a restart between two messages resumes on the next one.
Unique keys guard against doubles (one note per delegation and questionnaire, one
answer per question, one conversation per account and note, one *current*
conversation per account).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base


class ConversationState(StrEnum):
    """Where a questionnaire conversation stands (see ``handlers.notes.machine``)."""

    ASKING = "asking"
    """A question was asked; the next message answers it (or is a control word)."""
    COLLECTING = "collecting"
    """A long answer or a list is being written over several messages, until ``fin``."""
    REVIEW = "review"
    """Every question was visited; some are still unanswered. ``modifier n`` or ``fin``."""
    PAUSED = "paused"
    """Put aside by the person (or by starting another note); ``reprendre`` continues."""
    DONE = "done"
    """Finished; the answers stay in the note."""
    CANCELLED = "cancelled"
    """Stopped with ``annuler``; the answers given stay in the note."""


OPEN_STATES = (ConversationState.ASKING, ConversationState.COLLECTING, ConversationState.REVIEW,
               ConversationState.PAUSED)


def _enum(cls: type[StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class PilotNote(Base):
    """A delegation's note for one questionnaire (intention, cadrage, …)."""

    __tablename__ = "pilot_note"
    __table_args__ = (UniqueConstraint("delegation_id", "questionnaire"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohort.id", ondelete="CASCADE"),
                                           index=True)
    delegation_id: Mapped[int] = mapped_column(ForeignKey("delegation.id", ondelete="CASCADE"))
    questionnaire: Mapped[str] = mapped_column(String(64))
    questionnaire_version: Mapped[int]
    created_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class NoteAnswer(Base):
    """The current answer to one question of a note, with who gave it last.

    ``version`` grows by one at each change; a change is written only if the
    version is still the one read (optimistic locking), so two contributors
    answering at once both land in the history and neither is silently lost.
    """

    __tablename__ = "note_answer"
    __table_args__ = (UniqueConstraint("note_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("pilot_note.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(64))
    value: Mapped[Any] = mapped_column(JSON)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)


class NoteAnswerHistory(Base):
    """Every value an answer took: who, when, the previous value and the new one."""

    __tablename__ = "note_answer_history"
    __table_args__ = (UniqueConstraint("answer_id", "version"),
                      Index("ix_note_answer_history_note", "note_id", "question_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("note_answer.id", ondelete="CASCADE"))
    note_id: Mapped[int] = mapped_column(ForeignKey("pilot_note.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    previous: Mapped[Any | None] = mapped_column(JSON)
    value: Mapped[Any] = mapped_column(JSON)
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime]


class NoteConversation(Base):
    """One account filling one note in a DM, under the frozen key (platform, user, note).

    ``current_for`` is ``platform:user`` for the one conversation that receives the
    account's DM messages, NULL for the others: a unique key, so an account never
    has two current conversations.
    """

    __tablename__ = "note_conversation"
    __table_args__ = (UniqueConstraint("platform", "user_id", "note_id"),
                      UniqueConstraint("current_for"))

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(255))
    note_id: Mapped[int] = mapped_column(ForeignKey("pilot_note.id", ondelete="CASCADE"),
                                         index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    state: Mapped[ConversationState] = mapped_column(_enum(ConversationState))
    question_id: Mapped[str | None] = mapped_column(String(64))
    buffer: Mapped[list[str]] = mapped_column(JSON, default=list)
    """The messages of a long answer written so far (kept across restarts)."""
    skipped: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Questions passed over in this conversation, not asked again on the way forward."""
    seen_version: Mapped[int | None]
    """The answer's version when its question was asked (0: unanswered), to notice a
    contributor who answered meanwhile."""
    current_for: Mapped[str | None] = mapped_column(String(300))
    room_hint: Mapped[str | None] = mapped_column(String(64))
    """The question for which we already said "answer in the DM" (said once per question)."""
    remind_epoch: Mapped[int] = mapped_column(default=0)
    reminders_sent: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime]
    last_activity_at: Mapped[datetime]

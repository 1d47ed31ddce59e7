"""Pilot-project notes: notes, answers (with optimistic versions and history), conversations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models_notes import (
    OPEN_STATES,
    ConversationState,
    NoteAnswer,
    NoteAnswerHistory,
    NoteConversation,
    PilotNote,
)

SAVE_ATTEMPTS = 8


class AnswerConflict(Exception):
    """An answer kept changing under us more times than we are willing to retry."""


class ConversationBusy(Exception):
    """Another event made a different conversation current for this account at the same time."""


@dataclass(frozen=True, slots=True)
class SavedAnswer:
    """What a save did: the new version, and what it replaced (for the user and the history)."""

    answer_id: int
    version: int
    previous: Any
    previous_by: int | None
    previous_version: int
    unchanged: bool = False


class NoteRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, note_id: int) -> PilotNote | None:
        return await self.session.get(PilotNote, note_id)

    async def find(self, delegation_id: int, questionnaire: str) -> PilotNote | None:
        return await self.session.scalar(select(PilotNote).where(
            PilotNote.delegation_id == delegation_id, PilotNote.questionnaire == questionnaire))

    async def get_or_create(self, *, cohort_id: int, delegation_id: int, questionnaire: str,
                            version: int, now: datetime, by: int | None) -> PilotNote:
        """The delegation's note for ``questionnaire``, created on first use (once, even when
        two contributors start it at the same moment)."""
        found = await self.find(delegation_id, questionnaire)
        if found is not None:
            return found
        note = PilotNote(cohort_id=cohort_id, delegation_id=delegation_id,
                         questionnaire=questionnaire, questionnaire_version=version,
                         created_at=now, created_by=by, updated_at=now)
        try:
            async with self.session.begin_nested():
                self.session.add(note)
                await self.session.flush()
        except IntegrityError:
            found = await self.find(delegation_id, questionnaire)
            assert found is not None
            return found
        return note

    async def of_cohort(self, cohort_id: int) -> Sequence[PilotNote]:
        return (await self.session.scalars(select(PilotNote).where(
            PilotNote.cohort_id == cohort_id).order_by(PilotNote.id))).all()

    async def of_delegation(self, delegation_id: int) -> Sequence[PilotNote]:
        return (await self.session.scalars(select(PilotNote).where(
            PilotNote.delegation_id == delegation_id).order_by(PilotNote.id))).all()

    async def answers(self, note_ids: Sequence[int]) -> Sequence[NoteAnswer]:
        """Current answers of these notes (fresh from the database, never a stale copy)."""
        if not note_ids:
            return []
        return (await self.session.scalars(
            select(NoteAnswer).where(NoteAnswer.note_id.in_(list(note_ids)))
            .order_by(NoteAnswer.note_id, NoteAnswer.id)
            .execution_options(populate_existing=True))).all()

    async def answer(self, note_id: int, question_id: str) -> NoteAnswer | None:
        return await self.session.scalar(
            select(NoteAnswer).where(NoteAnswer.note_id == note_id,
                                     NoteAnswer.question_id == question_id)
            .execution_options(populate_existing=True))

    async def answer_version(self, note_id: int, question_id: str) -> int:
        """The answer's version, 0 when the question is unanswered."""
        version = await self.session.scalar(select(NoteAnswer.version).where(
            NoteAnswer.note_id == note_id, NoteAnswer.question_id == question_id))
        return int(version or 0)

    async def answered_questions(self, note_ids: Sequence[int]) -> dict[int, set[str]]:
        """For each note, the ids of its answered questions (for completion figures)."""
        result: dict[int, set[str]] = {n: set() for n in note_ids}
        if not note_ids:
            return result
        rows = await self.session.execute(select(NoteAnswer.note_id, NoteAnswer.question_id)
                                          .where(NoteAnswer.note_id.in_(list(note_ids))))
        for note_id, question_id in rows:
            result[note_id].add(question_id)
        return result

    async def save_answer(self, *, note_id: int, question_id: str, value: Any, by: int | None,
                          now: datetime) -> SavedAnswer:
        """Write an answer and its history row, without ever overwriting a change unseen.

        The row is updated only where its version is still the one just read; when
        another contributor changed it in between, we read again and retry, so the
        history holds every value in order and each "previous" is the true one.
        """
        for _ in range(SAVE_ATTEMPTS):
            found = (await self.session.execute(select(
                NoteAnswer.id, NoteAnswer.value, NoteAnswer.version, NoteAnswer.answered_by)
                .where(NoteAnswer.note_id == note_id, NoteAnswer.question_id == question_id))
            ).first()
            if found is None:
                answer = NoteAnswer(note_id=note_id, question_id=question_id, value=value,
                                    answered_by=by, answered_at=now, version=1)
                try:
                    async with self.session.begin_nested():
                        self.session.add(answer)
                        await self.session.flush()
                except IntegrityError:
                    continue
                await self._record(answer.id, note_id, question_id, 1, None, value, by, now)
                return SavedAnswer(answer.id, 1, None, None, 0)
            answer_id, old_value, old_version, old_by = found
            if old_value == value:
                return SavedAnswer(answer_id, old_version, old_value, old_by, old_version,
                                   unchanged=True)
            result = await self.session.execute(
                update(NoteAnswer)
                .where(NoteAnswer.id == answer_id, NoteAnswer.version == old_version)
                .values(value=value, version=old_version + 1, answered_by=by, answered_at=now)
                .execution_options(synchronize_session=False))
            if result.rowcount != 1:
                continue
            await self._record(answer_id, note_id, question_id, old_version + 1, old_value,
                               value, by, now)
            return SavedAnswer(answer_id, old_version + 1, old_value, old_by, old_version)
        raise AnswerConflict(f"{note_id}/{question_id}")

    async def _record(self, answer_id: int, note_id: int, question_id: str, version: int,
                      previous: Any, value: Any, by: int | None, now: datetime) -> None:
        self.session.add(NoteAnswerHistory(
            answer_id=answer_id, note_id=note_id, question_id=question_id, version=version,
            previous=previous, value=value, changed_by=by, changed_at=now))
        await self.session.flush()

    async def history(self, note_id: int, question_id: str | None = None
                      ) -> Sequence[NoteAnswerHistory]:
        query = select(NoteAnswerHistory).where(NoteAnswerHistory.note_id == note_id)
        if question_id is not None:
            query = query.where(NoteAnswerHistory.question_id == question_id)
        return (await self.session.scalars(query.order_by(NoteAnswerHistory.id))).all()

    async def touch(self, note_id: int, now: datetime, completed: bool) -> None:
        """Record activity on a note, and whether it is now complete."""
        note = await self.session.get(PilotNote, note_id)
        if note is None:
            return
        note.updated_at = now
        if completed and note.completed_at is None:
            note.completed_at = now
        elif not completed:
            note.completed_at = None


class ConversationRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def current_key(platform: str, user_id: str) -> str:
        return f"{platform}:{user_id}"

    async def current(self, platform: str, user_id: str, *, lock: bool = False
                      ) -> NoteConversation | None:
        """The conversation that receives this account's DM messages, if any.

        ``lock`` takes the row for this transaction (PostgreSQL), so two messages of
        the same person are applied one after the other, never over each other.
        """
        query = select(NoteConversation).where(
            NoteConversation.current_for == self.current_key(platform, user_id))
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(query)

    async def get(self, conversation_id: int, *, lock: bool = False) -> NoteConversation | None:
        query = select(NoteConversation).where(NoteConversation.id == conversation_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(query)

    async def find(self, platform: str, user_id: str, note_id: int, *, lock: bool = False
                   ) -> NoteConversation | None:
        query = select(NoteConversation).where(
            NoteConversation.platform == platform, NoteConversation.user_id == user_id,
            NoteConversation.note_id == note_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(query)

    async def of_account(self, platform: str, user_id: str) -> Sequence[NoteConversation]:
        return (await self.session.scalars(select(NoteConversation).where(
            NoteConversation.platform == platform, NoteConversation.user_id == user_id)
            .order_by(NoteConversation.last_activity_at.desc()))).all()

    async def open(self, *, platform: str, user_id: str, note_id: int, member_id: int | None,
                   now: datetime) -> NoteConversation:
        """The conversation for (account, note), made current; the account's other open
        conversation, if any, is paused (its place and partial answer are kept)."""
        key = self.current_key(platform, user_id)
        await self.session.execute(
            update(NoteConversation)
            .where(NoteConversation.current_for == key, NoteConversation.note_id != note_id)
            .values(current_for=None, state=ConversationState.PAUSED)
            .execution_options(synchronize_session=False))
        conversation = await self.find(platform, user_id, note_id, lock=True)
        try:
            async with self.session.begin_nested():
                if conversation is None:
                    conversation = NoteConversation(
                        platform=platform, user_id=user_id, note_id=note_id,
                        member_id=member_id, state=ConversationState.ASKING, buffer=[],
                        skipped=[], current_for=key, remind_epoch=0, reminders_sent=0,
                        started_at=now, last_activity_at=now)
                    self.session.add(conversation)
                else:
                    conversation.current_for = key
                    conversation.member_id = member_id
                    conversation.last_activity_at = now
                await self.session.flush()
        except IntegrityError:
            raise ConversationBusy(key) from None
        return conversation

    async def release(self, conversation: NoteConversation, state: ConversationState) -> None:
        """Leave ``state`` (paused, done, cancelled): DM messages no longer come here."""
        conversation.state = state
        conversation.current_for = None
        await self.session.flush()

    async def of_note(self, note_id: int, *, open_only: bool = True
                      ) -> Sequence[NoteConversation]:
        query = select(NoteConversation).where(NoteConversation.note_id == note_id)
        if open_only:
            query = query.where(NoteConversation.state.in_(OPEN_STATES))
        return (await self.session.scalars(query)).all()

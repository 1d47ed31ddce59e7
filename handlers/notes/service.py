"""What the notes commands and the conversation share: the questionnaires, who may see
which note, completion figures, and a read-only view of a note for replies and exports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from handlers.admin.lookup import find_delegation
from handlers.core.context import Caller, Context
from handlers.core.errors import UserFacingError
from handlers.notes.answers import Shown, shown
from handlers.notes.questionnaires import (
    Question,
    Questionnaire,
    Questionnaires,
    load_questionnaires,
    text,
)

if TYPE_CHECKING:
    from storage.models import Cohort, Delegation
    from storage.models_notes import NoteAnswer, PilotNote
    from storage.uow import Store


@dataclass(frozen=True, slots=True)
class NotesPolicy:
    """The notes feature's settings, wired in by the composition root."""

    questionnaires: Questionnaires
    reminder_days: float = 7.0
    """Days of silence before a person is reminded to finish a note."""
    max_reminders: int = 2
    """Reminders per silence; any answer starts the count again."""


@lru_cache(maxsize=4)
def _default_questionnaires(directory: Path) -> Questionnaires:
    return load_questionnaires(directory)


def policy(ctx: Context) -> NotesPolicy:
    """The wired policy, or one built from the bundled questionnaires (tests, tools)."""
    wired = getattr(ctx.services, "notes", None)
    if isinstance(wired, NotesPolicy):
        return wired
    return NotesPolicy(_default_questionnaires(ctx.settings.content_dir / "questionnaires"))


def find_questionnaire(ctx: Context, typed: str) -> Questionnaire:
    items = policy(ctx).questionnaires
    found = items.find(typed)
    if found is None:
        raise UserFacingError("notes/unknown_note", name=typed,
                              notes=[{"id": q.id, "title": text(q.title, ctx.lang)}
                                     for q in items])
    return found


def may_see(caller: Caller | None, delegation: Delegation) -> bool:
    """A note is visible to its delegation, the cohort's coordinators and the bot's admins."""
    if caller is None:
        return False
    if caller.is_admin or caller.coordinates_cohort(delegation.cohort_id):
        return True
    return caller.member is not None and caller.member.delegation_id == delegation.id


async def chosen_delegation(ctx: Context, typed: str | None) -> Delegation:
    """The delegation a notes command is about: the one named (if the caller may see it),
    else the caller's own."""
    caller = ctx.caller
    assert caller is not None and ctx.cohort is not None
    if typed:
        delegation = await find_delegation(ctx, typed)
    else:
        own = caller.member.delegation_id if caller.member else None
        delegation = await ctx.store.delegations.get(own) if own else None
        if delegation is None or delegation.cohort_id != ctx.cohort.id:
            raise UserFacingError("notes/which_delegation")
    if not may_see(caller, delegation):
        raise UserFacingError("notes/not_your_delegation", territory=delegation.territory)
    return delegation


@dataclass(frozen=True, slots=True)
class Completion:
    answered: int
    total: int
    required_answered: int
    required_total: int
    missing_required: tuple[int, ...] = ()
    missing_optional: tuple[int, ...] = ()

    @property
    def percent(self) -> int:
        """Share of the required questions answered (all questions when none is required)."""
        if self.required_total:
            return round(100 * self.required_answered / self.required_total)
        return round(100 * self.answered / self.total) if self.total else 100

    @property
    def complete(self) -> bool:
        return self.required_answered == self.required_total

    @property
    def started(self) -> bool:
        return self.answered > 0


def completion(questionnaire: Questionnaire, answered: set[str]) -> Completion:
    required = questionnaire.required
    return Completion(
        answered=sum(1 for q in questionnaire.questions if q.id in answered),
        total=len(questionnaire.questions),
        required_answered=sum(1 for q in required if q.id in answered),
        required_total=len(required),
        missing_required=tuple(q.number for q in required if q.id not in answered),
        missing_optional=tuple(q.number for q in questionnaire.questions
                               if not q.required and q.id not in answered))


@dataclass(frozen=True, slots=True)
class Line:
    """One question of a note as shown: its prompt and, if answered, the answer and author."""

    question: Question
    prompt: str
    answer: Shown | None = None
    by: str | None = None
    at: datetime | None = None
    raw: object = None


@dataclass(slots=True)
class NoteView:
    """A note read for a reply or an export (nothing here writes)."""

    questionnaire: Questionnaire
    title: str
    delegation: Delegation
    note: PilotNote | None
    lines: list[Line] = field(default_factory=list)
    completion: Completion | None = None
    contributors: list[str] = field(default_factory=list)

    @property
    def updated_at(self) -> datetime | None:
        return self.note.updated_at if self.note else None


async def member_names(store: Store, ids: set[int | None]) -> dict[int, str]:
    names: dict[int, str] = {}
    for member_id in ids:
        if member_id is None:
            continue
        member = await store.members.get(member_id)
        if member is not None:
            names[member_id] = member.display_name
    return names


async def note_views(ctx: Context, delegation: Delegation,
                     questionnaires: Sequence[Questionnaire], *, anonymous_author: str = ""
                     ) -> list[NoteView]:
    """Views of a delegation's notes for the questionnaires given (empty ones included)."""
    store = ctx.store
    notes = {n.questionnaire: n for n in await store.notes.of_delegation(delegation.id)}
    answers = await store.notes.answers([n.id for n in notes.values()])
    by_note: dict[int, dict[str, NoteAnswer]] = {}
    for answer in answers:
        by_note.setdefault(answer.note_id, {})[answer.question_id] = answer
    names = await member_names(store, {a.answered_by for a in answers})
    views = []
    for questionnaire in questionnaires:
        note = notes.get(questionnaire.id)
        given = by_note.get(note.id, {}) if note else {}
        lines = []
        contributors: list[str] = []
        for question in questionnaire.questions:
            answer = given.get(question.id)
            if answer is None:
                lines.append(Line(question, text(question.prompt, ctx.lang)))
                continue
            author = names.get(answer.answered_by or -1, anonymous_author)
            if author and author not in contributors:
                contributors.append(author)
            lines.append(Line(question, text(question.prompt, ctx.lang),
                              shown(question, answer.value, ctx.lang), author,
                              answer.answered_at, answer.value))
        views.append(NoteView(questionnaire, text(questionnaire.title, ctx.lang), delegation,
                              note, lines, completion(questionnaire, set(given)),
                              contributors))
    return views


async def cohort_delegations(ctx: Context, cohort: Cohort) -> Sequence[Delegation]:
    """The delegations whose notes the caller may see, in territory order."""
    return [d for d in await ctx.store.delegations.of_cohort(cohort.id)
            if may_see(ctx.caller, d)]

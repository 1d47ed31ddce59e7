"""Helpers for the notes tests: members on a platform, what the bot sent them, what is stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.bootstrap import App
from handlers.core.events import Attachment
from handlers.core.grammar import fold
from handlers.core.ids import Platform
from storage.models import Delegation
from storage.models_notes import NoteAnswer, NoteAnswerHistory, PilotNote
from tests.support.chat import Speaker, operator, person
from tests.support.fakes import RecordingSender

ROOM = {Platform.MATRIX: "!cohorte:localhost", Platform.SLACK: "C-COHORTE",
        Platform.CONSOLE: "console"}


async def member(app: App, name: str, platform: Platform = Platform.MATRIX,
                 user_id: str | None = None) -> Speaker:
    """A demo member linked to an account, speaking in the cohort room."""
    first = fold(name.split()[0]).replace("-", "")
    user_id = user_id or (f"@{first}:localhost" if platform is Platform.MATRIX
                          else f"U{first.upper()}")
    text = await operator(app).say(f'membre lier "{name}" {platform}:{user_id}')
    assert "Compte lié" in text, text
    return person(app, platform, user_id, ROOM[platform], name=name)


async def dm_texts(app: App, speaker: Speaker) -> list[str]:
    """Everything the bot sent to this person's DM (opened by the bot), in order."""
    await app.delivery.flush(speaker.user.platform)
    sender = app.delivery.senders[speaker.user.platform]
    assert isinstance(sender, RecordingSender)
    return sender.texts(f"@dm:{speaker.user.user_id}")


async def dm_files(app: App, speaker: Speaker) -> dict[str, Attachment]:
    await app.delivery.flush(speaker.user.platform)
    sender = app.delivery.senders[speaker.user.platform]
    assert isinstance(sender, RecordingSender)
    return {a.filename: a for m in sender.sent if m.destination == f"@dm:{speaker.user.user_id}"
            for a in m.reply.attachments}


async def stored_answers(app: App, territory: str, questionnaire: str) -> dict[str, Any]:
    async with app.db.session() as session:
        rows = (await session.execute(
            select(NoteAnswer.question_id, NoteAnswer.value).join(PilotNote)
            .join(Delegation, Delegation.id == PilotNote.delegation_id)
            .where(Delegation.territory == territory,
                   PilotNote.questionnaire == questionnaire))).all()
    return dict(rows)


async def history(app: App, question_id: str) -> list[tuple[int, Any, Any]]:
    async with app.db.session() as session:
        rows = (await session.execute(
            select(NoteAnswerHistory.version, NoteAnswerHistory.previous,
                   NoteAnswerHistory.value)
            .where(NoteAnswerHistory.question_id == question_id)
            .order_by(NoteAnswerHistory.version))).all()
    return [tuple(r) for r in rows]

"""Helpers for poll tests: demo members with linked accounts, answers read from the database."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from bot.bootstrap import App
from handlers.core.ids import Platform
from storage.models import OutboxMessage
from storage.models_polls import PollAnswer
from tests.support.chat import Speaker, person


def account_id(name: str) -> str:
    return "U" + re.sub(r"[^A-Z]", "", name.upper())[:10]


async def member(app: App, op: Speaker, name: str, platform: Platform = Platform.SLACK,
                 user_id: str | None = None, room: str = "C-GENERAL") -> Speaker:
    """A demo member speaking from ``platform`` (their account linked by the operator)."""
    uid = user_id or (account_id(name) if platform is Platform.SLACK
                      else f"@{account_id(name).lower()}:localhost")
    text = await op.say(f'membre lier "{name}" {platform}:{uid}')
    assert "Compte lié" in text or "déjà" in text, text
    return person(app, platform, uid, room, name)


async def answers(app: App, poll_id: int) -> list[PollAnswer]:
    async with app.db.session() as session:
        return list((await session.scalars(select(PollAnswer).where(
            PollAnswer.poll_id == poll_id).order_by(PollAnswer.scope_key))).all())


async def count_rows(app: App, model: Any) -> int:
    async with app.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def outbox(app: App, prefix: str) -> list[OutboxMessage]:
    async with app.db.session() as session:
        return list((await session.scalars(select(OutboxMessage).where(
            OutboxMessage.key.startswith(prefix)).order_by(OutboxMessage.id))).all())


def poll_number(text: str) -> int:
    found = re.search(r"n°(\d+)", text)
    assert found, text
    return int(found[1])

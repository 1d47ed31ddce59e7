"""Repository of the Slack sender's post attempts (see :mod:`storage.models_slack`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models_slack import SlackPostAttempt
from storage.upsert import insert_ignore


class SlackPostAttemptRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def begin(self, outbox_key: str, channel: str, now: datetime) -> datetime | None:
        """Note that posting ``outbox_key`` starts now.

        Returns when an earlier attempt started if one is still unsettled (its
        message may already be in the channel), else None.
        """
        inserted = await insert_ignore(self.session, SlackPostAttempt.__table__, {
            "outbox_key": outbox_key, "channel": channel, "started_at": now})
        if inserted is None:
            return await self.session.scalar(select(SlackPostAttempt.started_at).where(
                SlackPostAttempt.outbox_key == outbox_key))
        return None

    async def settle(self, outbox_key: str) -> None:
        """Forget an attempt known not to have posted anything (refused by Slack)."""
        await self.session.execute(delete(SlackPostAttempt).where(
            SlackPostAttempt.outbox_key == outbox_key))

    async def forget_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(delete(SlackPostAttempt).where(
            SlackPostAttempt.started_at < cutoff))
        return int(result.rowcount or 0)

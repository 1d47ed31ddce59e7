"""Operations' queries: everything stored about one cohort, table by table (the export).

Each exported table is named with how its rows belong to the cohort. Secrets stay out
(the ICS feed token, fetched calendar files, sign-in links and sessions, one-time
codes), and so does what is not the cohort's record but the bot's bookkeeping (the
outbox, processed events, timers).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditEntry,
    Cohort,
    CoordinatorRole,
    Delegation,
    LinkedRoom,
    Member,
    PlatformIdentity,
)
from storage.models_calendar import (
    CalendarEvent,
    CalendarImport,
    CalendarSettings,
    EventException,
    Reminder,
)
from storage.models_notes import NoteAnswer, NoteAnswerHistory, NoteConversation, PilotNote
from storage.models_polls import Campaign, Poll, PollAnswer, PollOption

WITHHELD = {("calendar_settings", "feed_token"), ("calendar_import", "content")}
"""Columns never exported: a secret (the feed link's token) or a copy of a foreign file."""


def plain(value: Any) -> Any:
    """A JSON-ready value: datetimes as ISO 8601, enums as their value, bytes as base64."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


class CohortExportRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def tables(self, cohort: Cohort) -> dict[str, list[dict[str, Any]]]:
        """Every row that belongs to ``cohort``, per table, as plain dicts (in id order)."""
        out: dict[str, list[dict[str, Any]]] = {"cohort": [self._row(cohort)]}

        async def rows(model: Any, *where: Any) -> list[Any]:
            found = list((await self.session.scalars(
                select(model).where(*where).order_by(model.id))).all())
            out[model.__tablename__] = [self._row(r) for r in found]
            return found

        cid = cohort.id
        delegations = await rows(Delegation, Delegation.cohort_id == cid)
        roles = await rows(CoordinatorRole, CoordinatorRole.cohort_id == cid)
        member_ids = {r.member_id for r in roles}
        delegation_ids = [d.id for d in delegations]
        if delegation_ids:
            member_ids |= set((await self.session.scalars(select(Member.id).where(
                Member.delegation_id.in_(delegation_ids)))).all())
        await rows(Member, Member.id.in_(sorted(member_ids)))
        await rows(PlatformIdentity, PlatformIdentity.member_id.in_(sorted(member_ids)))
        await rows(LinkedRoom, LinkedRoom.cohort_id == cid)
        await rows(Campaign, Campaign.cohort_id == cid)
        polls = [p.id for p in await rows(Poll, Poll.cohort_id == cid)]
        await rows(PollOption, PollOption.poll_id.in_(polls))
        await rows(PollAnswer, PollAnswer.poll_id.in_(polls))
        events = [e.id for e in await rows(CalendarEvent, CalendarEvent.cohort_id == cid)]
        await rows(EventException, EventException.event_id.in_(events))
        await rows(CalendarSettings, CalendarSettings.cohort_id == cid)
        await rows(Reminder, Reminder.event_id.in_(events))
        await rows(CalendarImport, CalendarImport.cohort_id == cid)
        notes = [n.id for n in await rows(PilotNote, PilotNote.cohort_id == cid)]
        await rows(NoteAnswer, NoteAnswer.note_id.in_(notes))
        await rows(NoteAnswerHistory, NoteAnswerHistory.note_id.in_(notes))
        await rows(NoteConversation, NoteConversation.note_id.in_(notes))
        await rows(AuditEntry, AuditEntry.cohort_id == cid)
        return out

    @staticmethod
    def _row(obj: Any) -> dict[str, Any]:
        table = obj.__table__.name
        return {attr.columns[0].name: plain(getattr(obj, attr.key))
                for attr in inspect(obj).mapper.column_attrs
                if (table, attr.columns[0].name) not in WITHHELD}

    async def cohorts(self) -> Sequence[Cohort]:
        return (await self.session.scalars(select(Cohort).order_by(Cohort.slug))).all()

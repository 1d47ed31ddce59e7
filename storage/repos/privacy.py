"""What the bot stores about one person, and erasing it (GDPR access and erasure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditEntry,
    CoordinatorRole,
    DirectRoom,
    Member,
    OneTimeCode,
    OutboxMessage,
    OutboxStatus,
    PlatformIdentity,
)
from storage.models_notes import NoteConversation

ERASED_TEXT = "(donnée effacée)"


@dataclass(slots=True)
class PersonalData:
    member: Member
    identities: list[PlatformIdentity]
    coordinates: list[int]
    audit: list[AuditEntry]


class PrivacyRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def collect(self, member: Member) -> PersonalData:
        identities = list((await self.session.scalars(select(PlatformIdentity).where(
            PlatformIdentity.member_id == member.id))).all())
        coordinates = list((await self.session.scalars(select(CoordinatorRole.cohort_id).where(
            CoordinatorRole.member_id == member.id))).all())
        audit = list((await self.session.scalars(select(AuditEntry).where(
            AuditEntry.actor_member_id == member.id).order_by(AuditEntry.id))).all())
        return PersonalData(member, identities, coordinates, audit)

    async def erase(self, member: Member, now: datetime) -> dict[str, Any]:
        """Remove what identifies the person; keep an anonymous member row for the records
        that the delegation needs (votes, note contributions), linked to nobody."""
        name = member.display_name
        identities = (await self.session.scalars(select(PlatformIdentity).where(
            PlatformIdentity.member_id == member.id))).all()
        handles = [(i.platform, i.user_id) for i in identities]
        for platform, user_id in handles:
            await self.session.execute(delete(DirectRoom).where(
                DirectRoom.platform == platform, DirectRoom.user_id == user_id))
            await self.session.execute(delete(NoteConversation).where(
                NoteConversation.platform == platform, NoteConversation.user_id == user_id))
            await self._scrub_outbox(user_id)
        await self.session.execute(delete(PlatformIdentity).where(
            PlatformIdentity.member_id == member.id))
        await self.session.execute(delete(OneTimeCode).where(OneTimeCode.member_id == member.id))
        await self.session.execute(delete(CoordinatorRole).where(
            CoordinatorRole.member_id == member.id))
        await self._scrub_outbox(name)
        await self.session.execute(update(AuditEntry).where(
            AuditEntry.actor_member_id == member.id).values(actor=ERASED_TEXT))
        for entry in (await self.session.scalars(select(AuditEntry).where(
                cast(AuditEntry.details, String).contains(name)))).all():
            entry.details = {"erased": True}
        member.display_name = f"Membre effacé n°{member.id}"
        member.language = None
        member.is_referent = False
        member.erased_at = now
        await self.session.flush()
        return {"identities": len(handles)}

    async def _scrub_outbox(self, needle: str) -> None:
        if not needle:
            return
        rows = (await self.session.scalars(select(OutboxMessage).where(
            cast(OutboxMessage.payload, String).contains(needle)
            | (OutboxMessage.destination == f"@dm:{needle}")
            | (OutboxMessage.private_to == needle)))).all()
        for row in rows:
            if row.status is OutboxStatus.PENDING:
                row.status = OutboxStatus.FAILED
                row.last_error = "erased before delivery"
            row.payload = {"text": ERASED_TEXT}
            row.private_to = None
            if row.destination == f"@dm:{needle}":
                row.destination = "@dm:erased"

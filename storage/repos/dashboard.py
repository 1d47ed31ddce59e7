"""Sign-in links and web sessions of the dashboard, stored as hashes only."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from storage.models import Category, CoordinatorRole, Delegation, Member, PlatformIdentity
from storage.models_dashboard import DashboardLink, DashboardSession
from storage.models_notes import NoteAnswer, PilotNote
from storage.models_polls import Campaign, CampaignStatus, Poll, PollAnswer, PollStatus


def hash_secret(secret: str) -> str:
    """The stored form of a link token or a session cookie (SHA-256, hex)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Holder:
    """Who a link or a session belongs to, as stored: an account, or a configured admin."""

    identity_id: int | None
    admin_account: str | None
    cohort_id: int | None = None


@dataclass(frozen=True, slots=True)
class Signed:
    """A live session and the person behind it, read in one query."""

    session_id: int
    admin_account: str | None
    identity: PlatformIdentity | None
    member: Member | None
    expires_at: datetime


@dataclass(slots=True)
class PersonView:
    """A member as the dashboard's tables show them, with the platforms they linked."""

    id: int
    display_name: str
    category: Category | None
    is_referent: bool
    platforms: list[str]
    delegation_id: int | None = None
    language: str | None = None

    @property
    def erased_at(self) -> None:
        """Erased members are never read here (the rules that skip them may ask)."""
        return None


@dataclass(slots=True)
class DelegationView:
    id: int
    territory: str
    members: list[PersonView]


@dataclass(frozen=True, slots=True)
class CampaignRow:
    """A campaign as lists show it (its definition, the questions, is not read)."""

    id: int
    slug: str
    title: str
    status: CampaignStatus
    deadline: datetime | None


@dataclass(slots=True)
class CohortPeople:
    delegations: list[DelegationView]
    coordinators: list[PersonView]


class DashboardRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def issue_link(self, token: str, holder: Holder, *, now: datetime,
                         ttl: timedelta) -> None:
        self.session.add(DashboardLink(
            token_hash=hash_secret(token), identity_id=holder.identity_id,
            admin_account=holder.admin_account, cohort_id=holder.cohort_id, created_at=now,
            expires_at=now + ttl))
        await self.session.flush()

    async def peek_link(self, token: str, now: datetime) -> DashboardLink | None:
        """The link if it may still be used (unknown, used and expired links give None)."""
        link = await self.session.scalar(select(DashboardLink).where(
            DashboardLink.token_hash == hash_secret(token)))
        if link is None or link.used_at is not None or link.expires_at <= now:
            return None
        return link

    async def redeem_link(self, token: str, now: datetime) -> Holder | None:
        """Use a link once. Two browsers racing with the same link: one wins, one gets None."""
        link = await self.peek_link(token, now)
        if link is None:
            return None
        result = await self.session.execute(update(DashboardLink).where(
            DashboardLink.id == link.id, DashboardLink.used_at.is_(None)).values(used_at=now))
        if not result.rowcount:
            return None
        return Holder(link.identity_id, link.admin_account, link.cohort_id)

    async def open_session(self, secret: str, holder: Holder, *, now: datetime,
                           ttl: timedelta) -> None:
        self.session.add(DashboardSession(
            secret_hash=hash_secret(secret), identity_id=holder.identity_id,
            admin_account=holder.admin_account, created_at=now, expires_at=now + ttl))
        await self.session.flush()

    async def signed_in(self, secret: str, now: datetime) -> Signed | None:
        """The live session whose cookie is ``secret``, with its account and member."""
        row = (await self.session.execute(
            select(DashboardSession, PlatformIdentity)
            .outerjoin(PlatformIdentity, PlatformIdentity.id == DashboardSession.identity_id)
            .where(DashboardSession.secret_hash == hash_secret(secret),
                   DashboardSession.revoked_at.is_(None), DashboardSession.expires_at > now)
            .options(joinedload(PlatformIdentity.member).joinedload(Member.delegation))
        )).first()
        if row is None:
            return None
        signed, identity = row
        return Signed(signed.id, signed.admin_account, identity,
                      identity.member if identity is not None else None, signed.expires_at)

    async def revoke(self, session_id: int, now: datetime) -> None:
        await self.session.execute(update(DashboardSession).where(
            DashboardSession.id == session_id).values(revoked_at=now))

    async def forget_expired(self, now: datetime) -> int:
        """Delete links and sessions that can no longer be used."""
        links = await self.session.execute(delete(DashboardLink).where(
            or_(DashboardLink.expires_at <= now, DashboardLink.used_at.is_not(None))))
        sessions = await self.session.execute(delete(DashboardSession).where(
            or_(DashboardSession.expires_at <= now, DashboardSession.revoked_at.is_not(None))))
        return int(links.rowcount or 0) + int(sessions.rowcount or 0)

    async def people(self, cohort_id: int) -> CohortPeople:
        """Delegations, their members and the coordinators of a cohort, in two queries.

        Pages list everybody at once; plain rows (a member with two linked accounts
        comes twice) instead of ORM relationship loading keep the overview of a
        40-member cohort within a few milliseconds and few database round trips.
        """
        member_rows = (await self.session.execute(
            select(Delegation.id, Delegation.territory, Member.id, Member.display_name,
                   Member.category, Member.is_referent, PlatformIdentity.platform,
                   Member.language)
            .select_from(Delegation)
            .outerjoin(Member, and_(Member.delegation_id == Delegation.id,
                                    Member.erased_at.is_(None)))
            .outerjoin(PlatformIdentity, PlatformIdentity.member_id == Member.id)
            .where(Delegation.cohort_id == cohort_id)
            .order_by(Delegation.territory, Delegation.id, Member.display_name, Member.id,
                      PlatformIdentity.platform))).all()
        coordinator_rows = (await self.session.execute(
            select(Member.id, Member.display_name, Member.category, Member.is_referent,
                   PlatformIdentity.platform)
            .join(CoordinatorRole, CoordinatorRole.member_id == Member.id)
            .outerjoin(PlatformIdentity, PlatformIdentity.member_id == Member.id)
            .where(CoordinatorRole.cohort_id == cohort_id, Member.erased_at.is_(None))
            .order_by(Member.display_name, Member.id, PlatformIdentity.platform))).all()
        delegations: dict[int, DelegationView] = {}
        people: dict[int, PersonView] = {}
        for d_id, territory, m_id, name, category, referent, platform, lang in member_rows:
            view = delegations.setdefault(d_id, DelegationView(d_id, territory, []))
            if m_id is None:
                continue
            person = people.get(m_id)
            if person is None:
                person = people[m_id] = PersonView(m_id, name, category, bool(referent), [],
                                                   d_id, lang)
                view.members.append(person)
            if platform is not None:
                person.platforms.append(platform)
        coordinators: dict[int, PersonView] = {}
        for m_id, name, category, referent, platform in coordinator_rows:
            person = coordinators.setdefault(
                m_id, PersonView(m_id, name, category, bool(referent), []))
            if platform is not None:
                person.platforms.append(platform)
        return CohortPeople(list(delegations.values()), list(coordinators.values()))

    async def polls(self, cohort_id: int, *, open_only: bool = False) -> Sequence[Poll]:
        """The cohort's polls without their options (lists and the overview count answers,
        they do not show options)."""
        query = select(Poll).where(Poll.cohort_id == cohort_id)
        if open_only:
            query = query.where(Poll.status == PollStatus.OPEN)
        return (await self.session.scalars(query.order_by(Poll.id))).all()

    async def answered_keys(self, poll_ids: Sequence[int]) -> dict[int, set[str]]:
        """For each poll, the scope keys that have an answer (no answer values read)."""
        found: dict[int, set[str]] = {pid: set() for pid in poll_ids}
        if not poll_ids:
            return found
        rows = await self.session.execute(select(PollAnswer.poll_id, PollAnswer.scope_key)
                                          .where(PollAnswer.poll_id.in_(list(poll_ids))))
        for poll_id, key in rows:
            found[poll_id].add(key)
        return found

    async def notes_answered(self, cohort_id: int) -> dict[tuple[int, str], set[str]]:
        """Per (delegation, questionnaire), the questions answered: note completion in one
        query."""
        rows = await self.session.execute(
            select(PilotNote.delegation_id, PilotNote.questionnaire, NoteAnswer.question_id)
            .outerjoin(NoteAnswer, NoteAnswer.note_id == PilotNote.id)
            .where(PilotNote.cohort_id == cohort_id))
        found: dict[tuple[int, str], set[str]] = {}
        for delegation_id, questionnaire, question_id in rows:
            answered = found.setdefault((delegation_id, questionnaire), set())
            if question_id is not None:
                answered.add(question_id)
        return found

    async def campaigns(self, cohort_id: int) -> list[CampaignRow]:
        """The cohort's campaigns without their definitions, in creation order."""
        rows = await self.session.execute(
            select(Campaign.id, Campaign.slug, Campaign.title, Campaign.status,
                   Campaign.deadline).where(Campaign.cohort_id == cohort_id)
            .order_by(Campaign.id))
        return [CampaignRow(*row) for row in rows]

"""Cohorts, delegations, members, coordinator roles, identities and linked rooms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload

from storage.models import (
    Category,
    Cohort,
    CoordinatorRole,
    Delegation,
    LinkedRoom,
    Member,
    PlatformIdentity,
)


class AlreadyExists(Exception):
    """A unique key refused a second row; the caller tells the user."""


@dataclass(frozen=True, slots=True)
class CallerView:
    """Who is behind an account and where they speak, as the dispatcher needs it."""

    member: Member | None
    """With its delegation loaded; None for an unknown account."""
    cohorts: frozenset[int]
    """Cohorts the member belongs to (their delegation's) or coordinates."""
    coordinates: frozenset[int]
    room_cohort: Cohort | None
    """The cohort the room is linked to, if any."""


class CohortRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, slug: str, name: str, language: str, timezone: str,
                  now: datetime) -> Cohort:
        cohort = Cohort(slug=slug, name=name, language=language, timezone=timezone,
                        created_at=now)
        try:
            async with self.session.begin_nested():
                self.session.add(cohort)
                await self.session.flush()
        except IntegrityError:
            raise AlreadyExists(slug) from None
        return cohort

    async def get(self, cohort_id: int) -> Cohort | None:
        return await self.session.get(Cohort, cohort_id)

    async def by_slug(self, slug: str) -> Cohort | None:
        return await self.session.scalar(select(Cohort).where(Cohort.slug == slug))

    async def all(self) -> Sequence[Cohort]:
        return (await self.session.scalars(select(Cohort).order_by(Cohort.name))).all()

    async def with_ids(self, ids: Sequence[int]) -> Sequence[Cohort]:
        if not ids:
            return []
        return (await self.session.scalars(
            select(Cohort).where(Cohort.id.in_(ids)).order_by(Cohort.name))).all()

    async def counts(self, cohort_id: int) -> tuple[int, int]:
        """(delegations, members) of a cohort."""
        delegations = await self.session.scalar(
            select(func.count()).select_from(Delegation).where(Delegation.cohort_id == cohort_id))
        members = await self.session.scalar(
            select(func.count()).select_from(Member).join(Delegation)
            .where(Delegation.cohort_id == cohort_id, Member.erased_at.is_(None)))
        return int(delegations or 0), int(members or 0)


class DelegationRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, cohort_id: int, territory: str, now: datetime) -> Delegation:
        delegation = Delegation(cohort_id=cohort_id, territory=territory, created_at=now)
        try:
            async with self.session.begin_nested():
                self.session.add(delegation)
                await self.session.flush()
        except IntegrityError:
            raise AlreadyExists(territory) from None
        return delegation

    async def get(self, delegation_id: int) -> Delegation | None:
        return await self.session.get(Delegation, delegation_id)

    async def rename(self, delegation: Delegation, territory: str) -> None:
        old = delegation.territory
        delegation.territory = territory
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError:
            delegation.territory = old
            raise AlreadyExists(territory) from None

    async def of_cohort(self, cohort_id: int) -> Sequence[Delegation]:
        return (await self.session.scalars(
            select(Delegation).where(Delegation.cohort_id == cohort_id)
            .options(selectinload(Delegation.members).selectinload(Member.identities))
            .order_by(Delegation.territory))).all()


class MemberRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, display_name: str, now: datetime, delegation_id: int | None = None,
                  category: Category | None = None, is_referent: bool = False,
                  language: str | None = None) -> Member:
        member = Member(display_name=display_name, delegation_id=delegation_id,
                        category=category, is_referent=is_referent, language=language,
                        created_at=now)
        self.session.add(member)
        await self.session.flush()
        return member

    async def get(self, member_id: int) -> Member | None:
        return await self.session.get(Member, member_id)

    async def of_cohort(self, cohort_id: int) -> Sequence[Member]:
        """Delegation members of a cohort (not the coordinators), by delegation then name."""
        return (await self.session.scalars(
            select(Member).join(Delegation).where(
                Delegation.cohort_id == cohort_id, Member.erased_at.is_(None))
            .options(selectinload(Member.delegation), selectinload(Member.identities))
            .order_by(Delegation.territory, Member.display_name))).all()

    async def coordinators(self, cohort_id: int) -> Sequence[Member]:
        return (await self.session.scalars(
            select(Member).join(CoordinatorRole, CoordinatorRole.member_id == Member.id)
            .where(CoordinatorRole.cohort_id == cohort_id, Member.erased_at.is_(None))
            .options(selectinload(Member.identities))
            .order_by(Member.display_name))).all()

    async def in_cohort_scope(self, cohort_id: int) -> Sequence[Member]:
        """Everybody a cohort command may name: its delegation members and coordinators."""
        members = list(await self.of_cohort(cohort_id))
        seen = {m.id for m in members}
        members += [c for c in await self.coordinators(cohort_id) if c.id not in seen]
        return members

    async def cohort_ids(self, member: Member) -> tuple[set[int], set[int]]:
        """(cohorts the member belongs to, cohorts they coordinate), in one query."""
        coordinated_q = select(CoordinatorRole.cohort_id, literal(True)).where(
            CoordinatorRole.member_id == member.id)
        delegation_q = select(Delegation.cohort_id, literal(False)).where(
            Delegation.id == (member.delegation_id or -1))
        rows = (await self.session.execute(coordinated_q.union_all(delegation_q))).all()
        coordinated = {cohort for cohort, coordinates in rows if coordinates}
        return {cohort for cohort, _ in rows}, coordinated

    async def grant_coordinator(self, cohort_id: int, member_id: int, now: datetime) -> bool:
        """Make the member a coordinator; False when they already were."""
        try:
            async with self.session.begin_nested():
                self.session.add(CoordinatorRole(cohort_id=cohort_id, member_id=member_id,
                                                 granted_at=now))
                await self.session.flush()
        except IntegrityError:
            return False
        return True

    async def revoke_coordinator(self, cohort_id: int, member_id: int) -> bool:
        result = await self.session.execute(delete(CoordinatorRole).where(
            CoordinatorRole.cohort_id == cohort_id, CoordinatorRole.member_id == member_id))
        return bool(result.rowcount)

    async def referents(self, delegation_id: int) -> Sequence[Member]:
        return (await self.session.scalars(select(Member).where(
            Member.delegation_id == delegation_id, Member.is_referent.is_(True),
            Member.erased_at.is_(None)))).all()


@lru_cache(maxsize=1)
def _member_query() -> Any:
    """Built once: every bridged message names its author with it."""
    return (select(Member).join(PlatformIdentity)
            .where(PlatformIdentity.platform == bindparam("platform"),
                   PlatformIdentity.user_id == bindparam("user_id"))
            .options(joinedload(Member.delegation)))


@lru_cache(maxsize=1)
def _caller_query() -> Any:
    """Built once: constructing this statement costs more than running it."""
    anchor = select(literal(1).label("one")).subquery("anchor")
    room_cohort = aliased(Cohort, name="room_cohort")
    return (
        select(Member, Delegation, CoordinatorRole.cohort_id, room_cohort)
        .select_from(anchor)
        .outerjoin(PlatformIdentity, and_(PlatformIdentity.platform == bindparam("platform"),
                                          PlatformIdentity.user_id == bindparam("user_id")))
        .outerjoin(Member, Member.id == PlatformIdentity.member_id)
        .outerjoin(Delegation, Delegation.id == Member.delegation_id)
        .outerjoin(CoordinatorRole, CoordinatorRole.member_id == Member.id)
        .outerjoin(LinkedRoom, and_(LinkedRoom.platform == bindparam("platform"),
                                    LinkedRoom.room_id == bindparam("room_id")))
        .outerjoin(room_cohort, room_cohort.id == LinkedRoom.cohort_id)
        .options(contains_eager(Member.delegation)))


class IdentityRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def member_for(self, platform: str, user_id: str) -> Member | None:
        return await self.session.scalar(_member_query(), {"platform": platform,
                                                           "user_id": user_id})

    async def caller_view(self, platform: str, user_id: str, room_id: str) -> CallerView:
        """The account's member, their cohorts and coordinator roles, and the room's cohort,
        in one query (one row per coordinator role, at least one row).

        Every event starts with this, so it is one round trip instead of three.
        """
        rows = (await self.session.execute(_caller_query(), {
            "platform": platform, "user_id": user_id, "room_id": room_id})).all()
        first = rows[0]
        member = first[0]
        coordinates = frozenset(r[2] for r in rows if r[2] is not None)
        cohorts = set(coordinates)
        if member is not None and member.delegation is not None:
            cohorts.add(member.delegation.cohort_id)
        return CallerView(member, frozenset(cohorts), coordinates, first[3])

    async def get(self, platform: str, user_id: str) -> PlatformIdentity | None:
        return await self.session.scalar(select(PlatformIdentity).where(
            PlatformIdentity.platform == platform, PlatformIdentity.user_id == user_id))

    async def link(self, platform: str, user_id: str, member_id: int, now: datetime) -> None:
        """Link an account to a member; raises :class:`AlreadyExists` if it belongs to another."""
        existing = await self.get(platform, user_id)
        if existing is not None:
            if existing.member_id == member_id:
                return
            raise AlreadyExists(f"{platform}:{user_id}")
        try:
            async with self.session.begin_nested():
                self.session.add(PlatformIdentity(platform=platform, user_id=user_id,
                                                  member_id=member_id, linked_at=now))
                await self.session.flush()
        except IntegrityError:
            raise AlreadyExists(f"{platform}:{user_id}") from None

    async def of_member(self, member_id: int) -> Sequence[PlatformIdentity]:
        return (await self.session.scalars(select(PlatformIdentity).where(
            PlatformIdentity.member_id == member_id).order_by(PlatformIdentity.platform))).all()

    async def unlink_all(self, member_id: int) -> int:
        result = await self.session.execute(
            delete(PlatformIdentity).where(PlatformIdentity.member_id == member_id))
        return int(result.rowcount or 0)


class RoomRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def cohort_of(self, platform: str, room_id: str) -> Cohort | None:
        return await self.session.scalar(
            select(Cohort).join(LinkedRoom)
            .where(LinkedRoom.platform == platform, LinkedRoom.room_id == room_id))

    async def link(self, platform: str, room_id: str, cohort_id: int, now: datetime,
                   by: int | None) -> LinkedRoom | None:
        """Bind a room to a cohort; returns the previous binding to another cohort, if any."""
        existing = await self.session.scalar(select(LinkedRoom).where(
            LinkedRoom.platform == platform, LinkedRoom.room_id == room_id))
        if existing is not None:
            if existing.cohort_id == cohort_id:
                return None
            raise AlreadyExists(f"{platform}:{room_id}")
        self.session.add(LinkedRoom(platform=platform, room_id=room_id, cohort_id=cohort_id,
                                    linked_at=now, linked_by=by))
        await self.session.flush()
        return None

    async def unlink(self, platform: str, room_id: str) -> bool:
        result = await self.session.execute(delete(LinkedRoom).where(
            LinkedRoom.platform == platform, LinkedRoom.room_id == room_id))
        return bool(result.rowcount)

    async def of_cohort(self, cohort_id: int, platform: str | None = None
                        ) -> Sequence[LinkedRoom]:
        query = select(LinkedRoom).where(LinkedRoom.cohort_id == cohort_id)
        if platform is not None:
            query = query.where(LinkedRoom.platform == platform)
        return (await self.session.scalars(query.order_by(LinkedRoom.id))).all()

    async def is_linked(self, platform: str, room_id: str) -> bool:
        return await self.session.scalar(select(LinkedRoom.id).where(
            LinkedRoom.platform == platform, LinkedRoom.room_id == room_id)) is not None

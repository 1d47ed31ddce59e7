"""One unit of work per incoming event: one session, one transaction, every repository.

A feature adds its repository as a property here, so handlers reach all storage
through ``ctx.store`` and nothing else holds a session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.repos.bridge import BridgeRepo, RelayRepo
from storage.repos.calendar import CalendarRepo
from storage.repos.cohorts import (
    CohortRepo,
    DelegationRepo,
    IdentityRepo,
    MemberRepo,
    RoomRepo,
)
from storage.repos.dashboard import DashboardRepo
from storage.repos.jobs import JobRepo
from storage.repos.matrix import MatrixStateRepo
from storage.repos.notes import ConversationRepo, NoteRepo
from storage.repos.ops import CohortExportRepo
from storage.repos.polls import CampaignRepo, PollRepo
from storage.repos.privacy import PrivacyRepo
from storage.repos.retention import RetentionRepo
from storage.repos.runtime import (
    AuditRepo,
    CodeRepo,
    DirectRoomRepo,
    OutboxRepo,
    ProcessedEventRepo,
)
from storage.repos.slack import SlackPostAttemptRepo


class Store:
    """The repositories of one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @cached_property
    def cohorts(self) -> CohortRepo:
        return CohortRepo(self.session)

    @cached_property
    def delegations(self) -> DelegationRepo:
        return DelegationRepo(self.session)

    @cached_property
    def members(self) -> MemberRepo:
        return MemberRepo(self.session)

    @cached_property
    def identities(self) -> IdentityRepo:
        return IdentityRepo(self.session)

    @cached_property
    def rooms(self) -> RoomRepo:
        return RoomRepo(self.session)

    @cached_property
    def audit(self) -> AuditRepo:
        return AuditRepo(self.session)

    @cached_property
    def codes(self) -> CodeRepo:
        return CodeRepo(self.session)

    @cached_property
    def processed(self) -> ProcessedEventRepo:
        return ProcessedEventRepo(self.session)

    @cached_property
    def outbox(self) -> OutboxRepo:
        return OutboxRepo(self.session)

    @cached_property
    def direct_rooms(self) -> DirectRoomRepo:
        return DirectRoomRepo(self.session)

    @cached_property
    def privacy(self) -> PrivacyRepo:
        return PrivacyRepo(self.session)

    @cached_property
    def jobs(self) -> JobRepo:
        return JobRepo(self.session)

    @cached_property
    def matrix(self) -> MatrixStateRepo:
        return MatrixStateRepo(self.session)

    @cached_property
    def calendar(self) -> CalendarRepo:
        return CalendarRepo(self.session)

    @cached_property
    def notes(self) -> NoteRepo:
        return NoteRepo(self.session)

    @cached_property
    def note_conversations(self) -> ConversationRepo:
        return ConversationRepo(self.session)

    @cached_property
    def polls(self) -> PollRepo:
        return PollRepo(self.session)

    @cached_property
    def campaigns(self) -> CampaignRepo:
        return CampaignRepo(self.session)

    @cached_property
    def dashboard(self) -> DashboardRepo:
        return DashboardRepo(self.session)

    @cached_property
    def cohort_export(self) -> CohortExportRepo:
        return CohortExportRepo(self.session)

    @cached_property
    def retention(self) -> RetentionRepo:
        return RetentionRepo(self.session)

    @cached_property
    def slack_posts(self) -> SlackPostAttemptRepo:
        return SlackPostAttemptRepo(self.session)

    @cached_property
    def bridge(self) -> BridgeRepo:
        return BridgeRepo(self.session)

    @cached_property
    def relays(self) -> RelayRepo:
        return RelayRepo(self.session)


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[Store]:
    """A :class:`Store` whose transaction commits when the block ends without error."""
    async with db.session() as session:
        yield Store(session)

"""The storage contract, on SQLite and on a throwaway PostgreSQL cluster alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.bootstrap import App
from handlers.core.ids import Platform
from storage.models import Category, OutboxMessage, ProcessedEvent
from storage.repos.cohorts import AlreadyExists
from storage.uow import Store

pytestmark = pytest.mark.postgres


async def test_migrations_reach_head_and_are_recorded(any_app: App) -> None:
    from alembic.script import ScriptDirectory

    from storage.db import MIGRATIONS_DIR, alembic_config

    heads = set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
    assert MIGRATIONS_DIR.exists()
    assert await any_app.db.current_revisions() == heads
    await any_app.db.upgrade()
    assert await any_app.db.current_revisions() == heads


async def test_unique_keys_refuse_doubles(any_app: App) -> None:
    now = any_app.clock.now()
    async with any_app.db.session() as session:
        store = Store(session)
        cohort = await store.cohorts.add(slug="a", name="A", language="fr",
                                         timezone="Europe/Paris", now=now)
        with pytest.raises(AlreadyExists):
            await store.cohorts.add(slug="a", name="A bis", language="fr",
                                    timezone="Europe/Paris", now=now)
        delegation = await store.delegations.add(cohort.id, "Brest", now)
        with pytest.raises(AlreadyExists):
            await store.delegations.add(cohort.id, "Brest", now)
        one = await store.members.add(display_name="Un", now=now, delegation_id=delegation.id,
                                      category=Category.ELU)
        two = await store.members.add(display_name="Deux", now=now)
        await store.identities.link("slack", "U1", one.id, now)
        await store.identities.link("slack", "U1", one.id, now)
        with pytest.raises(AlreadyExists):
            await store.identities.link("slack", "U1", two.id, now)
        assert await store.members.grant_coordinator(cohort.id, two.id, now)
        assert not await store.members.grant_coordinator(cohort.id, two.id, now)
    async with any_app.db.session() as session:
        store = Store(session)
        member = await store.identities.member_for("slack", "U1")
        assert member is not None and member.display_name == "Un"
        assert member.category is Category.ELU


async def test_processed_events_and_outbox_keys_are_claimed_once_under_concurrency(
        any_app: App) -> None:
    now = any_app.clock.now()

    async def claim(i: int) -> bool:
        async with any_app.db.session() as session:
            store = Store(session)
            won = await store.processed.claim("matrix", "$same", now)
            await store.outbox.enqueue(key="reminder:1:J-1", platform="matrix",
                                       destination="!r", payload={"text": str(i)}, now=now)
            return won

    results = await asyncio.gather(*(claim(i) for i in range(20)))
    assert results.count(True) == 1
    async with any_app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedEvent)) == 1
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


async def test_one_time_codes_expire_and_are_used_once(any_app: App) -> None:
    now = any_app.clock.now()
    async with any_app.db.session() as session:
        store = Store(session)
        member = await store.members.add(display_name="Un", now=now)
        await store.codes.issue("ABCD-EFGH", purpose="link", member_id=member.id,
                                created_by=None, now=now, ttl=timedelta(minutes=5))
        await store.codes.issue("WXYZ-2345", purpose="link", member_id=member.id,
                                created_by=None, now=now, ttl=timedelta(minutes=5))
    async with any_app.db.session() as session:
        store = Store(session)
        assert await store.codes.redeem("abcd-efgh", purpose="link", now=now) == member.id
        assert await store.codes.redeem("ABCD-EFGH", purpose="link", now=now) is None
        assert await store.codes.redeem("ABCD-EFGH", purpose="erase", now=now) is None
        later = now + timedelta(minutes=6)
        assert await store.codes.redeem("WXYZ-2345", purpose="link", now=later) is None


async def test_timestamps_come_back_aware_in_utc(any_app: App) -> None:
    now = any_app.clock.now()
    async with any_app.db.session() as session:
        await Store(session).cohorts.add(slug="t", name="T", language="fr",
                                         timezone="Europe/Paris", now=now)
    async with any_app.db.session() as session:
        cohort = await Store(session).cohorts.by_slug("t")
        assert cohort is not None and cohort.created_at == now
        assert cohort.created_at.utcoffset() == timedelta(0)


async def test_a_whole_admin_scenario_runs_on_both_backends(any_app: App) -> None:
    from tests.support.chat import operator

    op = operator(any_app)
    await op.say('cohorte creer "Cohorte Occitanie"')
    await op.say("delegation ajouter Commune de Gruissan")
    text = await op.say("membre ajouter Zoé Durand delegation=Gruissan categorie=etat")
    assert "services de l'État" in text
    await any_app.delivery.flush(Platform.CONSOLE)
    async with any_app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.sent_at.is_(None))) == 0

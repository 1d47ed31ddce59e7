"""Instances started together on one PostgreSQL migrate one after the other."""

from __future__ import annotations

import asyncio

import pytest

from storage.db import Database

pytestmark = pytest.mark.postgres


async def test_two_instances_upgrading_a_fresh_database_at_once_both_succeed(pg_url: str
                                                                            ) -> None:
    first, second = Database(pg_url), Database(pg_url)
    try:
        await asyncio.gather(first.upgrade(), second.upgrade())
        assert await first.current_revisions() == await second.current_revisions()
        assert len(await first.current_revisions()) >= 1
    finally:
        await first.dispose()
        await second.dispose()

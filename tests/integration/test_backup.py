"""Backup → restore round trip on SQLite (online) and PostgreSQL (pg_dump / pg_restore)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.backup import backup, restore
from bot.bootstrap import App
from storage.models import Delegation
from tests.support.chat import operator

pytestmark = pytest.mark.postgres


async def _territories(app: App) -> list[str]:
    async with app.db.session() as session:
        return list((await session.scalars(select(Delegation.territory)
                                           .order_by(Delegation.territory))).all())


async def test_backup_then_restore_brings_back_exactly_what_was_saved(any_app: App,
                                                                      tmp_path: Path) -> None:
    op = operator(any_app)
    await op.say('cohorte creer "A"')
    await op.say("delegation ajouter Brest")
    url = any_app.db.url.render_as_string(hide_password=False)
    saved = await backup(url, tmp_path / "backup.bin")
    assert saved.stat().st_size > 0
    await op.say("delegation ajouter Quimper")
    assert await _territories(any_app) == ["Brest", "Quimper"]
    await any_app.db.dispose()
    await restore(url, saved)
    assert await _territories(any_app) == ["Brest"]
    assert "Vannes" in await op.say("delegation ajouter Vannes")

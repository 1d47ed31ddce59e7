"""Shared fixtures: a bootstrapped app on a fresh database, a fake clock, recording senders.

Real peers (Synapse, PostgreSQL) come from :mod:`tests.support.peers`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.bootstrap import App, bootstrap
from bot.config import BotConfig, Config, DatabaseConfig, HttpConfig
from bot.devtools.local_postgres import LocalPostgres
from handlers.core.ids import Platform
from tests.support.chat import Speaker, operator
from tests.support.fakes import FakeClock, RecordingSender

pytest_plugins = ["tests.support.peers", "tests.support.matrix_bot", "tests.support.browser",
                  "tests.support.web"]

DEMO_FILE = Path(__file__).resolve().parents[1] / "data" / "demo" / "occitanie.yaml"


def make_config(tmp_path: Path, db_url: str | None = None, **bot: object) -> Config:
    return Config(bot=BotConfig(data_dir=tmp_path, **bot),  # type: ignore[arg-type]
                  database=DatabaseConfig(url=db_url or f"sqlite+aiosqlite:///{tmp_path}/bot.db"),
                  http=HttpConfig(port=8080))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture(loop_scope="session")
async def app(tmp_path: Path, clock: FakeClock) -> AsyncIterator[App]:
    """A bootstrapped app on a fresh SQLite database, with recording senders per platform."""
    application = await bootstrap(make_config(tmp_path), clock=clock)
    for platform in Platform:
        application.delivery.add_sender(RecordingSender(platform))
    try:
        yield application
    finally:
        await application.close()


@pytest_asyncio.fixture(loop_scope="session", params=["sqlite", "postgres"])
async def any_db_url(request: pytest.FixtureRequest, tmp_path: Path, postgres: LocalPostgres
                     ) -> AsyncIterator[str]:
    """A fresh database URL, once on SQLite and once on the throwaway PostgreSQL cluster."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/contract.db"
        return
    name = await postgres.create_database()
    try:
        yield postgres.url_for(name)
    finally:
        await postgres.drop_database(name)


@pytest_asyncio.fixture(loop_scope="session")
async def any_app(any_db_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[App]:
    """Like ``app``, on SQLite and on PostgreSQL in turn (storage contract tests)."""
    application = await bootstrap(make_config(tmp_path, any_db_url), clock=clock)
    for platform in Platform:
        application.delivery.add_sender(RecordingSender(platform))
    try:
        yield application
    finally:
        await application.close()


@pytest.fixture
def op(app: App) -> Speaker:
    return operator(app)


async def load_demo(app: App) -> None:
    from handlers.admin.demo import load_cohort_file
    from storage.uow import Store

    async with app.db.session() as session:
        await load_cohort_file(Store(session), DEMO_FILE, app.clock.now())

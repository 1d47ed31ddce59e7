"""Pytest fixtures for the real peers: a Synapse homeserver and a PostgreSQL cluster.

Load from the root conftest with ``pytest_plugins = ["tests.support.peers"]``.

- ``synapse``: one `LocalSynapse` per test session, relaxed rate limits, in a
  temporary directory; stopped at the end of the session.
- ``postgres``: one `LocalPostgres` cluster per test session.
- ``pg_url``: a fresh, empty database in that cluster for each test (its
  SQLAlchemy URL); dropped after the test.
- ``matrix_users``: a factory of started `MatrixUser` on ``synapse``, closed
  after the test.

The peers start only when a test asks for them. A missing prerequisite is an
error, never a skip: the message says to run ``make test``, which installs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from bot.devtools.local_postgres import LocalPostgres, LocalPostgresError
from bot.devtools.local_synapse import LocalSynapse, LocalSynapseError
from tests.support.matrix_user import MatrixUser

__all__ = ["matrix_users", "pg_url", "postgres", "synapse"]

_HINT = "Run `make test`, which installs what the integration tests need."


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def synapse(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalSynapse]:
    """A running Synapse for the whole session (server name ``localhost``, no rate limits)."""
    server = LocalSynapse(tmp_path_factory.mktemp("synapse"))
    try:
        await server.start()
    except LocalSynapseError as exc:
        await server.stop()
        pytest.fail(f"Synapse could not start: {exc}\n{_HINT}", pytrace=False)
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres() -> AsyncIterator[LocalPostgres]:
    """A running throwaway PostgreSQL cluster for the whole session."""
    cluster = LocalPostgres()
    try:
        await cluster.start()
    except LocalPostgresError as exc:
        pytest.fail(f"PostgreSQL could not start: {exc}\n{_HINT}", pytrace=False)
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def pg_url(postgres: LocalPostgres) -> AsyncIterator[str]:
    """SQLAlchemy URL (``postgresql+asyncpg://``) of a new empty database for one test."""
    name = await postgres.create_database()
    try:
        yield postgres.url_for(name)
    finally:
        await postgres.drop_database(name)


@pytest_asyncio.fixture(loop_scope="session")
async def matrix_users(
    synapse: LocalSynapse,
) -> AsyncIterator[Callable[..., Awaitable[MatrixUser]]]:
    """A factory of started `MatrixUser` on the session's Synapse, closed after the test.

    ``await matrix_users("alice")`` registers ``@alice:localhost`` (or logs in again:
    accounts live as long as the session's Synapse) and starts its sync loop.
    """
    created: list[MatrixUser] = []

    async def make(localpart: str, **kwargs: Any) -> MatrixUser:
        user = await MatrixUser.create(synapse, localpart, **kwargs)
        created.append(user)
        return user

    try:
        yield make
    finally:
        for user in created:
            await user.close()

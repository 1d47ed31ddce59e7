"""``INSERT … ON CONFLICT DO NOTHING`` for SQLite and PostgreSQL alike.

One statement instead of a savepoint, an insert and a release: the unique key
decides, and the caller learns whether its row went in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def _insert(session: AsyncSession, table: Table) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))


async def insert_ignore(session: AsyncSession, table: Table, values: dict[str, Any],
                        returning: Any = None) -> Any:
    """Insert ``values`` unless a unique key already holds them.

    Returns the ``returning`` column of the new row (or True without one), or None
    when the row already existed.
    """
    statement = _insert(session, table).values(**values).on_conflict_do_nothing()
    if returning is not None:
        return await session.scalar(statement.returning(returning))
    result = await session.execute(statement)
    return True if result.rowcount else None

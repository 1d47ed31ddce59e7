"""``INSERT … ON CONFLICT DO NOTHING`` for SQLite and PostgreSQL alike.

One statement instead of a savepoint, an insert and a release: the unique key
decides, and the caller learns whether its row went in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def _insert(session: AsyncSession, table: Table) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))


_STATEMENTS: dict[tuple[Any, ...], Any] = {}


def _statement(session: AsyncSession, table: Table, columns: tuple[str, ...],
               returning: Any) -> Any:
    """The statement for this dialect, table, columns and returning, built once (every event
    claims its id and queues its reply with one: building it cost more than running it)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    key = (dialect, table.name, columns, returning)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _insert(session, table).values(
            {name: bindparam(name) for name in columns}).on_conflict_do_nothing()
        if returning is not None:
            statement = statement.returning(returning)
        _STATEMENTS[key] = statement
    return statement


async def insert_ignore(session: AsyncSession, table: Table, values: dict[str, Any],
                        returning: Any = None) -> Any:
    """Insert ``values`` unless a unique key already holds them.

    Returns the ``returning`` column of the new row (or True without one), or None
    when the row already existed.
    """
    statement = _statement(session, table, tuple(sorted(values)), returning)
    if returning is not None:
        return await session.scalar(statement, values)
    result = await session.execute(statement, values)
    return True if result.rowcount else None

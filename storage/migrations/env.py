"""Alembic environment: runs on the connection handed over by :meth:`storage.db.Database.upgrade`."""

from __future__ import annotations

from alembic import context

from storage.schema import metadata

config = context.config


def run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise SystemExit("Run migrations with `cohortbot db upgrade` (or `cohortbot db revision`).")
run(connection)

"""The Matrix adapter: matrix-nio's AsyncClient behind the neutral events and the outbox.

:func:`install` is called by the composition root when ``[matrix] enabled = true``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.bootstrap import App
    from bot.matrix.adapter import MatrixAdapter


def install(app: App, **options: int) -> MatrixAdapter:
    """Wire the Matrix connection, sync loop, sender and health check into ``app``.

    The adapter is a runtime part (``start``/``stop``) appended to ``app.runtime``, run
    by the leading process only (one sync loop per bot account in a deployment);
    ``options`` (``sync_timeout_ms``, ``timeline_limit``) are for tests.
    """
    from bot.matrix.adapter import MatrixAdapter
    from bot.matrix.connection import MatrixConnection
    from bot.matrix.polls import PollEvents
    from bot.matrix.sender import MatrixSender

    connection = MatrixConnection(app.config.matrix, db=app.db, clock=app.clock,
                                  data_dir=app.config.bot.data_dir)
    polls = PollEvents(app.db, app.clock)
    adapter = MatrixAdapter(connection, db=app.db, dispatcher=app.dispatcher,
                            catalog=app.catalog, settings=app.settings, clock=app.clock,
                            notify=app.delivery.notify, polls=polls, **options)
    app.delivery.add_sender(MatrixSender(connection, db=app.db, catalog=app.catalog,
                                         settings=app.settings, polls=polls))
    app.web.add_health_check("matrix", app.leader.gate(adapter.health))
    app.runtime.append(adapter)
    return adapter

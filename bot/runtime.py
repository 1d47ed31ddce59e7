"""``cohortbot run``: start the enabled platforms, deliver, and stop cleanly on a signal.

The scheduler runs in one process only when several share a database: the one that
holds the leadership lock (:mod:`bot.leader`); the others take over when it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

from bot.bootstrap import App, bootstrap
from bot.config import Config
from bot.leader import lead, leadership_for

log = logging.getLogger(__name__)


def settle_heap() -> None:
    """Move what start-up built (modules, the app, its clients) out of the garbage collector's way.

    A full collection walks every live object; with ~120,000 of them after start-up it
    paused the event loop for 100–300 ms under load (measured in bench/slack_ack.py),
    longer than Slack's patience for an acknowledgement allows for. Frozen objects are
    never scanned again, so later collections only walk what the bot made since.
    """
    gc.collect()
    gc.freeze()


async def run(config: Config, *, app: App | None = None) -> int:
    """Run until SIGINT/SIGTERM. ``app`` lets a caller add its own senders first (tests)."""
    app = app or await bootstrap(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if config.http.enabled:
        await app.web.start()
    for part in app.runtime:
        await part.start()
    app.delivery.start()
    leading = asyncio.create_task(
        lead(leadership_for(app.db), app.scheduler.start, app.scheduler.stop, stopping=stop),
        name="leader")
    settle_heap()
    log.info("cohortbot running", extra={"event_loop": type(loop).__module__})
    try:
        await stop.wait()
    finally:
        log.info("cohortbot stopping")
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await leading
        await app.web.stop()
        await app.close()
    return 0

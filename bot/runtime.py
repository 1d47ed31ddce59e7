"""``cohortbot run``: start the enabled platforms, deliver, and stop cleanly on a signal."""

from __future__ import annotations

import asyncio
import logging
import signal

from bot.bootstrap import bootstrap
from bot.config import Config

log = logging.getLogger(__name__)


async def run(config: Config) -> int:
    app = await bootstrap(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if config.http.enabled:
        await app.web.start()
    for part in app.runtime:
        await part.start()
    app.delivery.start()
    await app.scheduler.start()
    log.info("cohortbot running")
    try:
        await stop.wait()
    finally:
        log.info("cohortbot stopping")
        await app.web.stop()
        await app.close()
    return 0

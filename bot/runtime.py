"""``cohortbot run``: start the enabled platforms, deliver, and stop cleanly on a signal."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from bot.bootstrap import bootstrap
from bot.config import Config

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
    settle_heap()
    log.info("cohortbot running", extra={"event_loop": type(loop).__module__})
    try:
        await stop.wait()
    finally:
        log.info("cohortbot stopping")
        await app.web.stop()
        await app.close()
    return 0

"""``cohortbot run``: serve HTTP, lead or stand by, and stop cleanly on a signal.

Several processes may share one database (two instances on PostgreSQL). Every one of
them serves HTTP (Slack's endpoint, health, metrics, ICS feeds, the dashboard) and the
runtime parts not marked ``leader_only``. The process that holds the leadership lock
(:mod:`bot.leader`) also runs, alone in the deployment:

- the scheduler (timers, reminders, retention),
- the outbox delivery (messages leave in order, from one place),
- the runtime parts marked ``leader_only`` (the Matrix sync loop: one per account).

The others stand by and take over within seconds when the leader dies. What they commit
to the outbox or the job table reaches the leader at once through :mod:`bot.wake`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from typing import Any

from bot.bootstrap import App, bootstrap
from bot.config import Config
from bot.leader import lead, leadership_for
from bot.wake import Wake, wake_for
from handlers.core.ids import Platform

log = logging.getLogger(__name__)


def leader_only(part: Any) -> bool:
    """Whether a runtime part must run in the leading process only."""
    return bool(getattr(part, "leader_only", False))


class LeaderParts:
    """Starts and stops what runs in the leader only, and listens for wake-ups meanwhile."""

    def __init__(self, app: App, wake: Wake) -> None:
        self.app = app
        self.wake = wake
        self.parts = [part for part in app.runtime if leader_only(part)]
        self._listening: asyncio.Task[None] | None = None
        self._started: list[Any] = []

    def on_wake(self, topic: str) -> None:
        if topic == "jobs":
            self.app.scheduler.notify({"jobs"})
            return
        kind, _, name = topic.partition(":")
        if kind == "outbox":
            try:
                platform = Platform(name)
            except ValueError:
                return
            self.app.delivery.notify({platform})

    async def start(self) -> None:
        self._listening = asyncio.create_task(self.wake.listen(self.on_wake), name="wake-listen")
        for part in self.parts:
            await part.start()
            self._started.append(part)
        self.app.delivery.start()
        await self.app.scheduler.start()

    async def stop(self) -> None:
        await self.app.scheduler.stop()
        await self.app.delivery.stop()
        while self._started:
            part = self._started.pop()
            try:
                await part.stop()
            except Exception:
                log.exception("a leader part failed to stop", extra={"part": type(part).__name__})
        listening, self._listening = self._listening, None
        if listening is not None:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening


def serving() -> None:
    """Start-up is over: move what it built out of the garbage collector's way and let the
    collector run again.

    The collector is off while the bot starts (``bot.cli.main``): collections during the
    imports took about a third of the start-up time (BENCHMARKS.md, start-up). A full
    collection walks every live object; with ~120,000 of them after start-up it paused
    the event loop for 100–300 ms under load (measured in bench/slack_ack.py), longer than
    Slack's patience for an acknowledgement allows for. Frozen objects are never scanned
    again, so later collections only walk what the bot made since.
    """
    gc.collect()
    gc.freeze()
    gc.enable()


def prepare_leadership(app: App) -> LeaderParts:
    """Wire this process for a shared database: what it commits while standing by wakes
    the leader, and what the leader alone runs is gathered in one :class:`LeaderParts`."""
    wake = wake_for(app.db)
    app.delivery.elsewhere = lambda platforms: [wake.publish(f"outbox:{p}") for p in platforms]
    app.scheduler.elsewhere = lambda _changed: wake.publish("jobs")
    return LeaderParts(app, wake)


async def run(config: Config, *, app: App | None = None) -> int:
    """Run until SIGINT/SIGTERM. ``app`` lets a caller add its own senders first (tests)."""
    app = app or await bootstrap(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    leader_parts = prepare_leadership(app)
    if config.http.enabled:
        await app.web.start()
    for part in app.runtime:
        if not leader_only(part):
            await part.start()
    leading = asyncio.create_task(
        lead(leadership_for(app.db), leader_parts.start, leader_parts.stop, stopping=stop,
             state=app.leader),
        name="leader")
    serving()
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

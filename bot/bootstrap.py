"""The composition root: builds every part from the configuration and wires them together.

Nothing else creates engines, schedulers, clients or routers; tests call
:func:`bootstrap` with their own clock and adapters.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.calendar import wire_calendar
from bot.config import Config
from bot.dashboard import mount as mount_dashboard
from bot.delivery import Delivery
from bot.leader import LeaderState
from bot.metrics import PrometheusMetrics
from bot.scheduler import Scheduler
from bot.web import WebServer
from handlers.core.clock import Clock, SystemClock
from handlers.core.commands import Router
from handlers.core.context import Services
from handlers.core.dispatch import Dispatcher
from handlers.core.settings import Settings
from handlers.polls.writer import VoteWriter
from handlers.registry import build_router
from handlers.retention import plan as plan_retention
from handlers.web.registry import WebRegistry
from messages.texts import Catalog
from storage.db import Database
from storage.repos.retention import RetentionPolicy

log = logging.getLogger(__name__)


@dataclass
class App:
    """Everything a running bot is made of."""

    config: Config
    db: Database
    catalog: Catalog
    router: Router
    dispatcher: Dispatcher
    delivery: Delivery
    scheduler: Scheduler
    web: WebServer
    clock: Clock
    settings: Settings
    services: Services
    runtime: list[Any] = field(default_factory=list)
    """Platform parts with ``start()``/``stop()`` (the Matrix sync loop…), started by
    :func:`bot.runtime.run` and stopped by :meth:`close`."""
    dashboard: Any = None
    """The web dashboard's dispatcher (``bot/dashboard.py``), mounted on ``web``."""
    leader: LeaderState = field(default_factory=LeaderState)
    """Whether this process leads (runs the scheduler, delivery and parts marked
    ``leader_only``, such as the Matrix sync loop) or stands by (see :mod:`bot.runtime`)."""
    slack: Any = None
    """The :class:`bot.slack.SlackAdapter` when ``[slack] enabled``."""
    bridge: Any = None
    """The :class:`bot.bridge.BridgeRuntime` when Slack and Matrix are both enabled."""

    async def close(self) -> None:
        await self.scheduler.stop()
        await self.delivery.stop()
        for part in reversed(self.runtime):
            try:
                await part.stop()
            except Exception:
                log.exception("a runtime part failed to stop", extra={"part": type(part).__name__})
        if self.services.calendar is not None:
            await self.services.calendar.close()
        await self.db.dispose()


def settings_from(config: Config) -> Settings:
    return Settings(
        default_language=config.bot.language,
        default_timezone=config.bot.timezone,
        admins=frozenset(config.bot.admins),
        public_url=config.http.base_url(),
        data_dir=config.bot.data_dir,
        **({"content_dir": Path(config.bot.content_dir)} if config.bot.content_dir else {}),
    )


def notes_policy(config: Config, settings: Settings) -> Any:
    """The questionnaires, checked now: a wrong file stops start-up with one line."""
    from bot.config import ConfigError
    from handlers.notes.questionnaires import QuestionnaireError, load_questionnaires
    from handlers.notes.service import NotesPolicy

    directory = Path(config.notes.questionnaires_dir) if config.notes.questionnaires_dir \
        else settings.content_dir / "questionnaires"
    try:
        questionnaires = load_questionnaires(directory)
    except QuestionnaireError as error:
        raise ConfigError("notes.questionnaires_dir", str(error)) from None
    return NotesPolicy(questionnaires, reminder_days=config.notes.reminder_days,
                       max_reminders=config.notes.max_reminders)


async def bootstrap(config: Config, *, clock: Clock | None = None, migrate: bool = True,
                    router: Router | None = None, web_registry: WebRegistry | None = None
                    ) -> App:
    """Build the application. Migrations are applied first unless ``migrate`` is False."""
    clock = clock or SystemClock()
    db = Database(config.database_url, echo=config.database.echo)
    if migrate:
        await db.upgrade()
    catalog = Catalog(default_language=config.bot.language)
    router = router or build_router()
    settings = settings_from(config)
    metrics = PrometheusMetrics()
    services = Services(metrics=metrics)
    delivery = Delivery(db, clock, metrics)
    services.notes = notes_policy(config, settings)
    services.retention = RetentionPolicy(**asdict(config.retention))
    dispatcher = Dispatcher(db=db, router=router, catalog=catalog, clock=clock,
                            settings=settings, services=services, notify=delivery.notify,
                            hand_over=delivery.hand_over)
    services.votes = VoteWriter(dispatcher)
    scheduler = Scheduler(db, dispatcher, clock)
    services.on_change = scheduler.notify
    scheduler.on_start.append(
        lambda: plan_retention(db, clock.now(), config.bot.timezone))
    web_server = WebServer(config.http.host, config.http.port)
    wire_calendar(db=db, dispatcher=dispatcher, clock=clock, scheduler=scheduler,
                  delivery=delivery, web_server=web_server, services=services,
                  allow_private_urls=config.calendar.import_private_urls)

    async def database_ready() -> tuple[bool, str]:
        from sqlalchemy import text

        async with db.session() as session:
            await session.execute(text("SELECT 1"))
        return True, "ok"

    web_server.add_health_check("database", database_ready)
    web_server.add_routes(metrics.routes())

    async def outbox_pending() -> dict[tuple[str, ...], float]:
        from sqlalchemy import func, select

        from storage.models import OutboxMessage, OutboxStatus

        async with db.session() as session:
            rows = (await session.execute(select(OutboxMessage.platform, func.count()).where(
                OutboxMessage.status == OutboxStatus.PENDING).group_by(OutboxMessage.platform)
            )).all()
        return {(platform,): float(n) for platform, n in rows}

    metrics.gauge("outbox_pending", "Messages waiting to be delivered.", ("platform",),
                  outbox_pending)
    log.info("bootstrapped", extra={"database": db.describe()})
    app = App(config=config, db=db, catalog=catalog, router=router, dispatcher=dispatcher,
              delivery=delivery, scheduler=scheduler, web=web_server, clock=clock,
              settings=settings,
              services=services)
    web_server.add_health_check("role", app.leader.health)

    async def leading() -> dict[tuple[str, ...], float]:
        return {(): 1.0 if app.leader.leading else 0.0}

    metrics.gauge("leader", "1 in the process that runs the scheduler, delivery and Matrix "
                  "sync; 0 in a standby instance.", (), leading)
    if config.matrix.enabled:
        from bot.matrix import install as install_matrix

        install_matrix(app)
    if config.slack.enabled:
        _add_slack(app)
    if config.matrix.enabled and config.slack.enabled:
        from bot.bridge import install as install_bridge

        install_bridge(app)
    app.dashboard = mount_dashboard(app, web_registry)
    return app


def _add_slack(app: App) -> None:
    """Slack: the Bolt app's endpoint on the web server (HTTP mode), its sender, its lifecycle."""
    from bot.slack import SlackAdapter

    slack = SlackAdapter(app.config.slack, dispatcher=app.dispatcher, db=app.db, clock=app.clock,
                         catalog=app.catalog, language=app.config.bot.language)
    app.delivery.add_sender(slack.sender)
    if app.config.slack.mode == "http":
        app.web.add_routes(slack.routes())
    app.web.add_health_check("slack", slack.health)
    app.slack = slack
    app.runtime.append(slack)

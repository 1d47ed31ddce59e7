"""The bot's one HTTP server (aiohttp): Slack's HTTP endpoint, health, metrics, ICS feeds
and the dashboard all mount their routes here.

Features add routes through :meth:`WebServer.add_routes` from the composition root
or the runtime; nothing else opens a port.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[tuple[bool, str]]]


class WebServer:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.app = web.Application(client_max_size=16 * 1024 * 1024)
        self.health_checks: dict[str, HealthCheck] = {}
        self.app.router.add_get("/healthz", self._healthz)
        self._runner: web.AppRunner | None = None

    def add_routes(self, routes: list[web.RouteDef]) -> None:
        self.app.router.add_routes(routes)

    def add_health_check(self, name: str, check: HealthCheck) -> None:
        """A part of the bot that must be up for ``/healthz`` to say ready."""
        self.health_checks[name] = check

    async def _healthz(self, request: web.Request) -> web.Response:
        results = {}
        ready = True
        for name, check in self.health_checks.items():
            try:
                ok, detail = await check()
            except Exception as error:
                ok, detail = False, type(error).__name__
            results[name] = {"ok": ok, "detail": detail}
            ready = ready and ok
        return web.json_response({"ready": ready, "checks": results},
                                 status=200 if ready else 503)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("http server listening", extra={"host": self.host, "port": self.port})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

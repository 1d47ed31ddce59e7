"""The one HTTP server: health says ready only when the database answers."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from bot.bootstrap import App


async def test_healthz_reports_the_database(app: App) -> None:
    async with TestClient(TestServer(app.web.app)) as client:
        response = await client.get("/healthz")
        body = await response.json()
        assert response.status == 200 and body["ready"] is True
        assert body["checks"]["database"]["ok"] is True
    await app.db.dispose()

    async def broken() -> tuple[bool, str]:
        raise ConnectionError("down")

    app.web.add_health_check("matrix", broken)
    async with TestClient(TestServer(app.web.app)) as client:
        response = await client.get("/healthz")
        assert response.status == 503
        assert (await response.json())["checks"]["matrix"] == {"ok": False,
                                                               "detail": "ConnectionError"}

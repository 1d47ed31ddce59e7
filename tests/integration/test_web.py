"""The one HTTP server: health says ready only when the database answers."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from bot.bootstrap import App
from handlers.core.ids import Platform


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


async def test_metrics_count_commands_and_pending_messages(app: App) -> None:
    from tests.support.chat import operator

    op = operator(app)
    await op.say('cohorte creer "A"')
    await op.say("sondge")
    async with TestClient(TestServer(app.web.app)) as client:
        response = await client.get("/metrics")
        text = await response.text()
    assert response.status == 200
    assert 'cohortbot_commands_total{outcome="ok",verb="cohorte"} 1.0' in text
    assert 'cohortbot_commands_total{outcome="user_error",verb="?"} 1.0' in text
    assert 'cohortbot_outbox_pending{platform="console"} 2.0' in text
    await app.delivery.flush(Platform.CONSOLE)
    async with TestClient(TestServer(app.web.app)) as client:
        text = await (await client.get("/metrics")).text()
    assert 'cohortbot_outbox_sent_total{platform="console"} 2.0' in text
    assert "cohortbot_outbox_pending{" not in text

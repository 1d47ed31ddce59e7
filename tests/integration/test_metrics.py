"""``/metrics`` counts what operators watch: votes by platform, reminders on time, late and
skipped, how late they left — once per committed event, not per attempt."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp.test_utils import TestClient, TestServer

from bot.bootstrap import App
from handlers.core.ids import Platform
from tests.support.calendar import demo_with_rooms
from tests.support.chat import Speaker
from tests.support.fakes import FakeClock
from tests.support.polls import member, poll_number


async def scrape(app: App) -> str:
    async with TestClient(TestServer(app.web.app)) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        return await response.text()


async def test_votes_and_reminders_are_counted_once(app: App, op: Speaker,
                                                    clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    n = poll_number(await op.say('sondage creer "Visio ?" echeance="05/03 18h"'))
    nathalie = await member(app, op, "Nathalie Fabre", Platform.MATRIX)
    bernard = await member(app, op, "Bernard Roux", Platform.SLACK)
    assert "Réponse enregistrée" in await nathalie.click("poll.vote", f"{n}:1")
    assert "Réponse enregistrée" in await bernard.say(f"sondage voter {n} non")
    assert "Réponse enregistrée" in await bernard.say(f"sondage voter {n} oui",
                                                      event_id="retried")
    assert await bernard.say(f"sondage voter {n} oui", event_id="retried") == ""

    for title, start in (("Café", "10h"), ("Atelier", "14h"), ("Visio", "15h")):
        await rooms.coordinator.say(f'agenda ajouter "{title}" debut="10/03 {start}" rappels=1h')
    for hour, minute in ((8, 0), (12, 10), (14, 30)):
        clock.set(datetime(2025, 3, 10, hour, minute, 30, tzinfo=UTC))
        await app.scheduler.run_due()
    text = await scrape(app)
    assert 'cohortbot_votes_total{platform="matrix"} 1.0' in text
    assert 'cohortbot_votes_total{platform="slack"} 2.0' in text
    assert 'cohortbot_reminders_sent_total{lateness="on_time"} 2.0' in text
    assert 'cohortbot_reminders_sent_total{lateness="late"} 2.0' in text
    # the clock jumped over the demo's permanence of 4 March (J-1, H-1) and Visio's start
    assert 'cohortbot_reminders_skipped_total{reason="started"} 6.0' in text
    assert "cohortbot_reminder_delay_seconds_count 4.0" in text
    assert "cohortbot_leader 0.0" in text

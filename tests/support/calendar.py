"""Helpers for calendar tests: a demo cohort with a Matrix room and a Slack channel linked."""

from __future__ import annotations

from dataclasses import dataclass

from bot.bootstrap import App
from handlers.core.ids import Platform
from tests.conftest import load_demo
from tests.support.chat import Speaker, person
from tests.support.fakes import RecordingSender

MATRIX_ROOM = "!occitanie:localhost"
SLACK_CHANNEL = "C0OCCITANIE"


@dataclass
class Rooms:
    coordinator: Speaker
    matrix: RecordingSender
    slack: RecordingSender

    def reminders(self, needle: str = "") -> list[str]:
        """Reminder texts delivered so far to both rooms, Matrix first."""
        texts = []
        for sender in (self.matrix, self.slack):
            texts += [t for m, t in zip(sender.sent, sender.texts(), strict=True)
                      if m.key.startswith("reminder:") and needle in t]
        return texts


async def demo_with_rooms(app: App, op: Speaker) -> Rooms:
    """The Occitanie demo, its coordinator on Matrix, its Matrix room and Slack channel linked."""
    await load_demo(app)
    await op.say('membre lier "Camille Martin" matrix:@camille:localhost')
    await op.say('membre lier "Camille Martin" slack:UCAMILLE')
    camille = person(app, Platform.MATRIX, "@camille:localhost", MATRIX_ROOM, "Camille Martin")
    assert "cohorte Cohorte Occitanie" in await camille.say("cohorte lier occitanie")
    camille_slack = person(app, Platform.SLACK, "UCAMILLE", SLACK_CHANNEL, "Camille Martin")
    assert "Cohorte Occitanie" in await camille_slack.say("cohorte lier occitanie")
    if app.services.calendar is not None:
        await app.services.calendar.idle()
    matrix = app.delivery.senders[Platform.MATRIX]
    slack = app.delivery.senders[Platform.SLACK]
    assert isinstance(matrix, RecordingSender) and isinstance(slack, RecordingSender)
    await deliver(app)
    matrix.clear()
    slack.clear()
    return Rooms(camille, matrix, slack)


async def deliver(app: App) -> None:
    """Run what is due, then deliver every platform's outbox (as the runtime would)."""
    await app.scheduler.run_due()
    for platform in Platform:
        await app.delivery.flush(platform)
    if app.services.calendar is not None:
        await app.services.calendar.idle()

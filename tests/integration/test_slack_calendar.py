"""An ICS file shared on Slack goes to the calendar's import: the bot downloads it with its
token (as Slack requires) and imports it, or says in French what is wrong with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from storage.models_calendar import CalendarEvent
from tests.support.fakes import FakeClock
from tests.support.slack_app import SlackRig, bot_texts

pytestmark = pytest.mark.slack

FRAMAGENDA = Path(__file__).resolve().parents[1] / "fixtures" / "calendar" / "framagenda.ics"


@pytest_asyncio.fixture(loop_scope="session")
async def rig(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SlackRig]:
    async with SlackRig.started(tmp_path, clock) as started:
        for command in ('cohorte creer "Cohorte Occitanie"', "cohorte lier cohorte-occitanie"):
            await started.command(command)
        await started.settle()
        yield started


async def events(rig: SlackRig) -> int:
    async with rig.app.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(CalendarEvent)) or 0)


def shared(rig: SlackRig, text: str, file: dict, *, channel: str = "C1", user: str = "U1",
           kind: str = "app_mention") -> dict:
    stored = rig.emu.add_message(channel, user, text, files=[file], upload=False)
    event = {"type": kind, "user": user, "text": text, "ts": stored["ts"], "channel": channel,
             "event_ts": stored["ts"], "files": [file], "upload": False}
    if kind == "message":
        event.update(subtype="file_share", channel_type="im")
    return event


async def test_an_ics_file_shared_with_a_mention_is_imported(rig: SlackRig) -> None:
    file = rig.emu.add_user_file("U1", "framagenda.ics", FRAMAGENDA.read_bytes(), "C1")
    answer = await rig.event(shared(rig, "<@UBOT> agenda importer", file))
    assert answer.status == 200
    await rig.settle()
    [said] = [t for t in bot_texts(rig.emu, "C1") if "Calendrier importé" in t]
    assert "(framagenda.ics)" in said
    assert await events(rig) > 0


async def test_a_file_that_is_not_a_calendar_is_refused_in_french(rig: SlackRig) -> None:
    dm = rig.emu.im_id("U1")
    file = rig.emu.add_user_file("U1", "compte-rendu.pdf", b"%PDF-1.7 not a calendar", dm)
    await rig.event(shared(rig, "cohorte agenda importer cohorte=cohorte-occitanie", file,
                           channel=dm, kind="message"))
    await rig.settle()
    said = bot_texts(rig.emu, dm)[-1]
    assert "pas un fichier de calendrier lisible" in said and "Rien n'a été importé" in said
    assert await events(rig) == 0


async def test_without_a_file_or_an_address_slack_users_are_told_both_ways(
        rig: SlackRig) -> None:
    _, url = await rig.command("agenda importer")
    await rig.settle()
    text = rig.emu.responses(url)[0]["text"]
    assert "depuis son adresse" in text and "joignez le fichier `.ics`" in text

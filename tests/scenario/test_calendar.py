"""The ``agenda`` and ``rappel`` commands through the real router, dispatcher and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
from sqlalchemy import func, select

from bot.bootstrap import App
from handlers.core.ids import Platform
from storage.models import AuditEntry, ScheduledJob
from storage.models_calendar import CalendarEvent, EventException, Reminder, ReminderStatus
from tests.conftest import load_demo
from tests.support.calendar import MATRIX_ROOM, deliver, demo_with_rooms
from tests.support.chat import Speaker, person
from tests.support.fakes import FakeClock

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "calendar"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def counts(app: App) -> tuple[int, ...]:
    async with app.db.session() as session:
        return tuple([int(await session.scalar(select(func.count()).select_from(model)) or 0)
                      for model in (CalendarEvent, EventException, Reminder, ScheduledJob,
                                    AuditEntry)])


async def planned(app: App, title: str) -> list[tuple[datetime, int]]:
    async with app.db.session() as session:
        rows = (await session.execute(
            select(Reminder.occurrence_start, Reminder.offset_minutes)
            .join(CalendarEvent, CalendarEvent.id == Reminder.event_id)
            .where(CalendarEvent.title == title, Reminder.status == ReminderStatus.PLANNED,
                   Reminder.platform == "matrix").order_by(Reminder.due_at))).all()
    return [(s, o) for s, o in rows]


async def test_the_demo_brings_the_webinar_series_and_the_permanence(app: App, op: Speaker,
                                                                     clock: FakeClock) -> None:
    await load_demo(app)
    await load_demo(app)
    async with app.db.session() as session:
        events = (await session.scalars(select(CalendarEvent).order_by(
            CalendarEvent.starts_at))).all()
    webinars = [e for e in events if e.kind == "webinar"]
    assert len(events) == 10 and len(webinars) == 6
    assert [e.starts_at.date().isoformat() for e in webinars] == [
        "2024-05-28", "2024-06-11", "2024-09-17", "2024-10-01", "2024-10-15", "2024-11-05"]
    assert [e.recorded for e in webinars] == [True, True, True, True, False, False]
    assert {e.ends_at - e.starts_at for e in webinars} == {timedelta(hours=2)}
    clock.set(utc(2024, 5, 1, 8))
    listing = await op.say("agenda")
    assert "Webinaire 1 — Les territoires face aux risques" in listing
    assert "mardi 28 mai 2024, 10\u00a0h\u00a0–\u00a012\u00a0h" in listing
    assert "Permanence mensuelle" in listing and "mardi 4 juin 2024, 11\u00a0h" in listing
    clock.set(utc(2024, 10, 1, 8))
    assert "non enregistré" in await op.say("agenda 20")


async def test_bad_input_gets_a_french_answer_and_stores_nothing(app: App, op: Speaker) -> None:
    rooms = await demo_with_rooms(app, op)
    before = await counts(app)
    cases = {
        'agenda ajouter "A" debut="20/03 10h" regle="FREQ=MONTHLY;BYDAY=9XX"':
            "n'est pas valable",
        'agenda ajouter "A" debut="20/03 10h" regle=FREQ=MINUTELY': "plus d'une fois par jour",
        'agenda ajouter "A" debut="01/03/2025 10h"': "est déjà passé",
        'agenda ajouter "A" debut="20/03 10h" fin=9h': "doit venir après le début",
        'agenda ajouter "A" debut="20/03 10h" fin=12h duree=2h': "pas les deux",
        'agenda ajouter "A" debut="31/02 10h"': "n'existe pas",
        'agenda ajouter "A" debut="bientôt"': "Je ne comprends pas la date",
        'agenda ajouter "A" debut="20/03 10h" lien=visio.example.org': "https://",
        'agenda ajouter "A" debut="20/03 10h" rappels=souvent': "délais de rappel",
        'agenda ajouter "A" debut="20/03 10h" pour=maires': "à qui s'adresse",
        'agenda ajouter "A"': "Il manque",
        "agenda modifier 999 titre=X": "pas d'événement n° 999",
        "agenda annuler 10 05/03": "n'a pas lieu le mercredi 5 mars 2025",
        "rappel delais 90j": "entre 1 minute et 60 jours",
        f"agenda importer {FIXTURES / 'nope.ics'}": "Je ne trouve pas le fichier",
    }
    for command, expected in cases.items():
        text = await rooms.coordinator.say(command) if "importer" not in command else \
            await op.say(command)
        assert expected in text, (command, text)
        assert "Traceback" not in text
    assert await counts(app) == before


async def test_a_malformed_or_huge_ics_file_imports_nothing(app: App, op: Speaker,
                                                            tmp_path: Path) -> None:
    await demo_with_rooms(app, op)
    before = await counts(app)
    broken = tmp_path / "broken.ics"
    broken.write_bytes(FIXTURES.joinpath("framagenda.ics").read_bytes().replace(
        b"DTEND;TZID=Europe/Paris:20250325T120000", b"DTEND;TZID=Europe/Paris:20250325T090000"))
    text = await op.say(f"agenda importer {broken}")
    assert "« Webinaire 7 — Bilan de la cohorte » du fichier pose problème" in text
    assert "finit avant de commencer" in text and "Rien n'a été importé" in text
    huge = tmp_path / "huge.ics"
    huge.write_bytes(b"BEGIN:VCALENDAR\r\n" + b"X" * (3 * 1024 * 1024))
    assert "trop gros" in await op.say(f"agenda importer {huge}")
    garbage = tmp_path / "photo.ics"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    assert "pas un fichier de calendrier lisible" in await op.say(f"agenda importer {garbage}")
    assert await counts(app) == before


async def test_import_then_reimport_updates_by_uid(app: App, op: Speaker, tmp_path: Path) -> None:
    rooms = await demo_with_rooms(app, op)
    source = tmp_path / "cohorte.ics"
    original = FIXTURES.joinpath("framagenda.ics").read_bytes()
    source.write_bytes(original)
    text = await op.say(f"agenda importer {source}")
    assert "3 ajoutés, 0 mis à jour, 0 inchangé" in text
    async with app.db.session() as session:
        imported = (await session.scalars(select(CalendarEvent).where(
            CalendarEvent.source == "file:cohorte.ics"))).all()
    assert len(imported) == 3
    changed = original.replace(b"SUMMARY:Webinaire 7 \xe2\x80\x94 Bilan de la cohorte",
                               b"SUMMARY:Webinaire 7 \xe2\x80\x94 Bilan et suites")
    day_start = changed.index(b"UID:journee-4")
    day_start = changed.rindex(b"BEGIN:VEVENT", 0, day_start)
    day_end = changed.index(b"END:VEVENT", day_start) + len(b"END:VEVENT\n")
    source.write_bytes(changed[:day_start] + changed[day_end:])
    text = await op.say(f"agenda importer {source}")
    assert "0 ajouté, 1 mis à jour, 1 inchangé, 1 annulé" in text
    listing = await rooms.coordinator.say("agenda")
    assert "Webinaire 7 — Bilan et suites" in listing and "Journée #4" not in listing
    assert "mardi 8 avril 2025, 14\u00a0h" in listing
    again = await op.say(f"agenda importer {source}")
    assert "0 ajouté, 0 mis à jour, 2 inchangés" in again
    async with app.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(CalendarEvent).where(
            CalendarEvent.source == "file:cohorte.ics")) == 3


async def test_a_path_is_refused_outside_the_console(app: App, op: Speaker) -> None:
    rooms = await demo_with_rooms(app, op)
    text = await rooms.coordinator.say("agenda importer /etc/passwd")
    assert "depuis son adresse" in text


async def test_export_gives_an_ics_file_calendar_apps_read(app: App, op: Speaker) -> None:
    rooms = await demo_with_rooms(app, op)
    await rooms.coordinator.say('agenda ajouter "Groupe élus" debut="12/03 14h" pour=elus '
                                'type=pairs')
    outcome = await rooms.coordinator.command("agenda exporter")
    (reply,) = outcome.replies
    (attachment,) = reply.attachments
    assert attachment.filename == "occitanie.ics" and attachment.mimetype == "text/calendar"
    calendar = icalendar.Calendar.from_ical(attachment.content)
    summaries = sorted(str(e.get("SUMMARY")) for e in calendar.walk("VEVENT"))
    assert "Groupe élus" in summaries and "Permanence mensuelle" in summaries
    assert len(summaries) == 11


async def test_cancel_one_occurrence_of_the_permanence(app: App, op: Speaker,
                                                       clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    clock.set(utc(2025, 3, 25, 10))
    await deliver(app)
    assert len(rooms.reminders("Permanence")) == 2
    text = await rooms.coordinator.say("agenda annuler 10 01/04")
    assert "la séance du mardi 1er avril 2025 est annulée" in text
    await deliver(app)
    notices = [t for t in rooms.matrix.texts() if t.startswith("❌ Annulé")]
    assert notices == [notices[0]] and "mardi 1er avril 2025, 11\u00a0h" in notices[0]
    assert "déjà annulée" in await rooms.coordinator.say("agenda annuler 10 01/04")
    assert "mardi 1er avril" not in await rooms.coordinator.say("agenda")
    clock.set(utc(2025, 4, 2, 12))
    await deliver(app)
    assert len(rooms.reminders("Permanence")) == 2
    assert "mardi 6 mai 2025" in await rooms.coordinator.say("agenda")


async def test_move_one_occurrence_and_reminders_follow(app: App, op: Speaker,
                                                        clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    clock.set(utc(2025, 3, 28, 10))
    await deliver(app)
    text = await rooms.coordinator.say('agenda modifier 10 01/04 debut="08/04 14h" duree=2h')
    assert "la séance du mardi 1er avril 2025 a lieu le mardi 8 avril 2025, 14\u00a0h" in text
    moves = await planned(app, "Permanence mensuelle")
    april = [s for s, _ in moves if s.month == 4]
    assert april and set(april) == {utc(2025, 4, 8, 12)}
    clock.set(utc(2025, 4, 8, 11))
    await deliver(app)
    april_texts = [t for t in rooms.reminders("Permanence") if "8 avril" in t]
    assert len(april_texts) == 2 and "dans 1 h" in april_texts[0]
    assert "date modifiée" in april_texts[0]


async def test_pause_and_resume_a_series(app: App, op: Speaker, clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    assert "rappels en pause" in await rooms.coordinator.say("agenda suspendre 10")
    assert await planned(app, "Permanence mensuelle") == []
    clock.set(utc(2025, 4, 1, 9, 30))
    await deliver(app)
    assert rooms.reminders("Permanence") == []
    assert "⏸" in await rooms.coordinator.say("agenda")
    assert "reprend" in await rooms.coordinator.say("agenda reprendre 10")
    assert await planned(app, "Permanence mensuelle") == []
    clock.set(utc(2025, 4, 25, 12))
    await deliver(app)
    assert rooms.reminders("Permanence") == []
    assert {s for s, _ in await planned(app, "Permanence mensuelle")} == {utc(2025, 5, 6, 9)}


async def test_offsets_per_cohort_and_per_event(app: App, op: Speaker, clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    clock.set(utc(2025, 3, 10, 12))
    await rooms.coordinator.say('agenda ajouter "Atelier" debut="20/03 14h"')
    assert [o for _, o in await planned(app, "Atelier")] == [10080, 1440, 60]
    text = await rooms.coordinator.say("rappel delais 2j,30min")
    assert "J-2, 30 min avant" in text
    assert [o for _, o in await planned(app, "Atelier")] == [2880, 30]
    text = await rooms.coordinator.say("rappel delais J-1 evenement=11")
    assert "J-1" in text
    assert [o for _, o in await planned(app, "Atelier")] == [1440]
    assert "J-2, 30 min avant" in await rooms.coordinator.say("rappel delais")
    assert "réglage de la cohorte" in await rooms.coordinator.say(
        "rappel delais defaut evenement=11")
    assert [o for _, o in await planned(app, "Atelier")] == [2880, 30]
    clock.set(utc(2025, 3, 20, 12, 30))
    await deliver(app)
    assert all("dans 30 min" in t for t in rooms.reminders("Atelier"))
    assert len(rooms.reminders("Atelier")) == 2


async def test_the_permanence_preset(app: App, op: Speaker) -> None:
    await op.say('cohorte creer "Cohorte Bretagne" slug=bretagne')
    text = await op.say("agenda permanence lien=https://visio.example.org/bzh cohorte=bretagne")
    assert "Permanence mensuelle" in text and "mardi 4 mars 2025, 11\u00a0h\u00a0–\u00a013\u00a0h" \
        in text and "le premier mardi de chaque mois" in text
    assert "mardi 1er avril 2025, mardi 6 mai 2025" in text
    assert "déjà sa permanence" in await op.say("agenda permanence cohorte=bretagne")


async def test_a_cohort_in_another_time_zone(app: App, op: Speaker, clock: FakeClock) -> None:
    clock.set(utc(2025, 3, 15, 12))
    await op.say('cohorte creer "Cohorte Réunion" slug=reunion fuseau=Indian/Reunion')
    room = op.elsewhere("salon-reunion")
    await room.say("cohorte lier reunion")
    text = await room.say('agenda ajouter "Plénière" debut="20/03 10h" rappels=1j')
    assert "jeudi 20 mars 2025, 10\u00a0h" in text
    async with app.db.session() as session:
        event = await session.scalar(select(CalendarEvent).where(CalendarEvent.title == "Plénière"))
        reminder = await session.scalar(select(Reminder))
    assert event is not None and event.starts_at == utc(2025, 3, 20, 6)
    assert reminder is not None and reminder.due_at == utc(2025, 3, 19, 6)
    clock.set(utc(2025, 3, 19, 6))
    await deliver(app)
    sender = app.delivery.senders[Platform.CONSOLE]
    texts = [t for t in sender.texts("salon-reunion")  # type: ignore[attr-defined]
             if t.startswith("⏰ Rappel")]
    assert len(texts) == 1 and "jeudi 20 mars 2025, 10\u00a0h" in texts[0] and "demain" in texts[0]


async def test_a_category_event_names_its_people(app: App, op: Speaker, clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    await op.say('membre lier "Bernard Roux" matrix:@bernard:localhost')
    await rooms.coordinator.say('agenda ajouter "Groupe des élu·es" debut="12/03 14h" '
                                'pour=elus type=pairs rappels=1h')
    clock.set(utc(2025, 3, 12, 12))
    await deliver(app)
    (matrix,) = [m for m in rooms.matrix.sent if m.key.startswith("reminder:")]
    assert "Pour les élu·es" in matrix.reply.text
    assert "cb-mention:matrix=@bernard:localhost" in matrix.reply.text
    assert "Martine Sola" in matrix.reply.text


async def test_rooms_linked_later_get_reminders_and_unlinked_ones_stop(
        app: App, op: Speaker, clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    await rooms.coordinator.say('agenda ajouter "Atelier" debut="20/03 14h" rappels=1j')
    other = person(app, Platform.MATRIX, "@camille:localhost", "!autre:localhost",
                   "Camille Martin")
    await other.say("cohorte lier occitanie")
    await app.services.calendar.idle()
    await deliver(app)
    await rooms.coordinator.say("cohorte delier")
    await app.services.calendar.idle()
    await deliver(app)
    clock.set(utc(2025, 3, 19, 13))
    await deliver(app)
    destinations = sorted(m.destination for m in rooms.matrix.sent + rooms.slack.sent
                          if m.key.startswith("reminder:") and "Atelier" in m.reply.text)
    assert destinations == ["!autre:localhost", "C0OCCITANIE"]
    assert MATRIX_ROOM not in destinations


async def test_members_see_the_agenda_but_cannot_change_it(app: App, op: Speaker) -> None:
    await demo_with_rooms(app, op)
    await op.say('membre lier "Bernard Roux" matrix:@bernard:localhost')
    bernard = person(app, Platform.MATRIX, "@bernard:localhost", MATRIX_ROOM)
    assert "Permanence mensuelle" in await bernard.say("agenda")
    assert "réservé à la coordination" in await bernard.say('agenda ajouter "X" debut="20/03 10h"')
    assert "/ics/occitanie/" in await bernard.say("agenda lien")
    assert "réservé à la coordination" in await bernard.say("agenda lien renouveler")


async def test_english_coordinator_and_french_room(app: App, op: Speaker, clock: FakeClock) -> None:
    rooms = await demo_with_rooms(app, op)
    await op.say('membre lier "Hugo Perrin" matrix:@hugo:localhost')
    hugo = person(app, Platform.MATRIX, "@hugo:localhost", MATRIX_ROOM)
    text = await hugo.say('calendar add "Peer session" start="12/03 14h" duration=90min '
                          'reminders=1h kind=peer')
    assert "Event **no." not in text and "Event no. 11 added" in text
    assert "Wednesday 12 March 2025, 14:00–15:30" in text
    clock.set(utc(2025, 3, 12, 12))
    await deliver(app)
    assert "Rappel : Peer session" in rooms.reminders("Peer session")[0]


async def test_preview_and_list(app: App, op: Speaker) -> None:
    rooms = await demo_with_rooms(app, op)
    preview = await rooms.coordinator.say("rappel test 10")
    assert "Aperçu" in preview and "Permanence mensuelle" in preview
    assert rooms.reminders() == []
    listing = await rooms.coordinator.say("rappel lister")
    assert "Rappels prévus" in listing and "Permanence mensuelle (n° 10, J-1) · 2 salons" in listing

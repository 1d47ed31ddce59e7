"""ICS in and out: a Framagenda export is read whole; a bad file is refused with a reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from handlers.calendar.ics import MAX_ICS_BYTES, build_ics, parse_ics
from handlers.calendar.recurrence import localize
from handlers.core.errors import UserFacingError
from storage.models_calendar import (
    CalendarEvent,
    EventException,
    EventStatus,
    ExceptionKind,
    TargetKind,
)

PARIS = ZoneInfo("Europe/Paris")
FRAMAGENDA = Path(__file__).resolve().parents[1] / "fixtures" / "calendar" / "framagenda.ics"


def paris(*args: int) -> datetime:
    return localize(datetime(*args), PARIS)


def test_a_framagenda_export_is_read_with_its_recurrence_and_exceptions() -> None:
    events = {e.uid: e for e in parse_ics(FRAMAGENDA.read_bytes(), PARIS)}
    permanence = events["5c1f0d0e-7a3b-4c1e-9d55-permanence@framagenda.org"]
    assert permanence.title == "Permanence de l'équipe"
    assert permanence.rrule == "FREQ=MONTHLY;UNTIL=20251231T225959Z;BYDAY=1TU"
    assert permanence.start == paris(2025, 3, 4, 11) and permanence.timezone == "Europe/Paris"
    assert permanence.link == "https://visio.example.org/permanence" and permanence.place is None
    assert permanence.exdates == [paris(2025, 8, 5, 11)]
    assert permanence.overrides == [(paris(2025, 4, 1, 11), paris(2025, 4, 8, 14),
                                     paris(2025, 4, 8, 16), False)]
    webinar = events["a9e1b2c3-webinaire-7@framagenda.org"]
    assert webinar.agenda == "Retour sur l'année; suites à donner."
    day = events["journee-4@framagenda.org"]
    assert day.all_day and day.place == "Montpellier" and day.start == paris(2025, 4, 15, 0)


@pytest.mark.parametrize("data, template", [
    (b"not a calendar at all", "calendar/ics_malformed"),
    (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "calendar/ics_empty"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:2025XXXX\r\nEND:VEVENT\r\n"
     b"END:VCALENDAR\r\n", "calendar/ics_bad_event"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:A\r\nDTSTART:20250304T100000Z\r\n"
     b"DTEND:20250304T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "calendar/ics_bad_event"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:A\r\nDTSTART:20250304T100000Z\r\n"
     b"RRULE:FREQ=MINUTELY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", "calendar/ics_bad_event"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:A\r\nDTSTART:20250304T100000Z\r\n"
     b"END:VEVENT\r\nEND:VCALENDAR\r\n", "calendar/ics_bad_event"),
])
def test_bad_files_are_refused_whole(data: bytes, template: str) -> None:
    with pytest.raises(UserFacingError) as caught:
        parse_ics(data, PARIS)
    assert caught.value.template == template


def test_a_huge_file_is_refused_before_parsing() -> None:
    with pytest.raises(UserFacingError) as caught:
        parse_ics(b"BEGIN:VCALENDAR\r\n" + b"X" * MAX_ICS_BYTES, PARIS)
    assert caught.value.template == "calendar/ics_too_big"


def _event(**overrides: object) -> CalendarEvent:
    now = datetime(2025, 2, 1, tzinfo=UTC)
    fields: dict[str, object] = dict(
        id=1, cohort_id=1, uid="perm@cohortbot", kind="permanence", title="Permanence",
        agenda="Échanges", place=None, link="https://visio.example.org/p", recorded=False,
        note="Non enregistré.", i18n={}, target_kind=TargetKind.CATEGORY, target_value="elu",
        timezone="Europe/Paris", all_day=False, starts_at=paris(2025, 3, 4, 11),
        ends_at=paris(2025, 3, 4, 13), rrule="FREQ=MONTHLY;BYDAY=1TU", offsets=None,
        status=EventStatus.ACTIVE, source="chat", sequence=3, created_at=now, updated_at=now)
    fields.update(overrides)
    event = CalendarEvent(**fields)
    event.exceptions = [
        EventException(original_start=paris(2025, 5, 6, 11), kind=ExceptionKind.CANCELLED,
                       created_at=now),
        EventException(original_start=paris(2025, 4, 1, 11), kind=ExceptionKind.MOVED,
                       starts_at=paris(2025, 4, 8, 14), ends_at=paris(2025, 4, 8, 16),
                       created_at=now)]
    return event


def test_export_then_import_gives_the_same_series() -> None:
    data = build_ics([_event()], name="Cohorte Occitanie", default_tz="Europe/Paris",
                     now=datetime(2025, 2, 1, tzinfo=UTC))
    calendar = icalendar.Calendar.from_ical(data)
    assert [c.name for c in calendar.subcomponents].count("VTIMEZONE") == 1
    assert b"DTSTART;TZID=Europe/Paris:20250304T110000" in data
    assert b"EXDATE;TZID=Europe/Paris:20250506T110000" in data
    assert b"RECURRENCE-ID;TZID=Europe/Paris:20250401T110000" in data
    (back,) = parse_ics(data, PARIS)
    assert back.uid == "perm@cohortbot" and back.rrule == "FREQ=MONTHLY;BYDAY=1TU"
    assert back.start == paris(2025, 3, 4, 11) and back.end == paris(2025, 3, 4, 13)
    assert back.exdates == [paris(2025, 5, 6, 11)]
    assert back.overrides == [(paris(2025, 4, 1, 11), paris(2025, 4, 8, 14),
                               paris(2025, 4, 8, 16), False)]
    assert (back.agenda, back.note, back.recorded) == ("Échanges", "Non enregistré.", False)
    assert (back.target_kind, back.target_value, back.kind) == (TargetKind.CATEGORY, "elu",
                                                                "permanence")
    assert back.link == "https://visio.example.org/p"


def test_cancelled_events_are_left_out_of_the_export() -> None:
    data = build_ics([_event(status=EventStatus.CANCELLED)], name="C",
                     default_tz="Europe/Paris", now=datetime(2025, 2, 1, tzinfo=UTC))
    assert b"VEVENT" not in data

"""Recurrences on the wall clock, DST transitions in Europe/Paris, offsets and RRULE checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from handlers.calendar.recurrence import (
    Series,
    check_rrule,
    due_at,
    expand,
    localize,
    parse_offsets,
    reminder_anchor,
)
from handlers.core.errors import UserFacingError

PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> datetime:
    return localize(datetime(*args), PARIS)


def local(instant: datetime) -> str:
    return instant.astimezone(PARIS).strftime("%Y-%m-%d %H:%M %Z")


def test_the_permanence_stays_at_11_across_both_dst_changes() -> None:
    series = Series(paris(2025, 1, 7, 11), paris(2025, 1, 7, 13), "Europe/Paris",
                    rrule="FREQ=MONTHLY;BYDAY=1TU")
    starts = [local(o.start) for o in expand(series, paris(2025, 2, 1), paris(2025, 12, 1))]
    assert starts[:3] == ["2025-02-04 11:00 CET", "2025-03-04 11:00 CET",
                          "2025-04-01 11:00 CEST"]
    assert "2025-10-07 11:00 CEST" in starts and "2025-11-04 11:00 CET" in starts
    assert all(s[11:16] == "11:00" for s in starts) and len(starts) == 10


def test_a_daily_0230_exists_once_on_both_transition_days() -> None:
    series = Series(paris(2025, 3, 28, 2, 30), paris(2025, 3, 28, 3), "Europe/Paris",
                    rrule="FREQ=DAILY")
    march = [local(o.start) for o in expand(series, paris(2025, 3, 29), paris(2025, 4, 1))]
    assert march == ["2025-03-29 02:30 CET", "2025-03-30 03:30 CEST", "2025-03-31 02:30 CEST"]
    october = [o.start for o in expand(series, paris(2025, 10, 25), paris(2025, 10, 28))]
    assert [local(s) for s in october] == ["2025-10-25 02:30 CEST", "2025-10-26 02:30 CEST",
                                           "2025-10-27 02:30 CET"]
    assert october[1] == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)


def test_day_offsets_follow_the_wall_clock_and_hours_real_time() -> None:
    monday = paris(2025, 3, 31, 11)
    assert local(due_at(monday, 1440, PARIS)) == "2025-03-30 11:00 CEST"
    assert local(due_at(monday, 7 * 1440, PARIS)) == "2025-03-24 11:00 CET"
    assert monday - due_at(monday, 7 * 1440, PARIS) == timedelta(days=7) - timedelta(hours=1)
    assert local(due_at(monday, 60, PARIS)) == "2025-03-31 10:00 CEST"
    assert local(due_at(monday, 1440 + 90, PARIS)) == "2025-03-30 09:30 CEST"


def test_a_j1_reminder_due_at_a_missing_or_doubled_0230() -> None:
    spring = due_at(paris(2025, 3, 31, 2, 30), 1440, PARIS)
    assert local(spring) == "2025-03-30 03:30 CEST"
    autumn = due_at(paris(2025, 10, 27, 2, 30), 1440, PARIS)
    assert autumn == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)


def test_moved_and_cancelled_occurrences() -> None:
    first = paris(2025, 1, 7, 11)
    april = paris(2025, 4, 1, 11)
    series = Series(first, first + timedelta(hours=2), "Europe/Paris",
                    rrule="FREQ=MONTHLY;BYDAY=1TU", cancelled=frozenset({paris(2025, 3, 4, 11)}),
                    moved=((april, paris(2025, 4, 8, 14), paris(2025, 4, 8, 16)),))
    found = expand(series, paris(2025, 2, 15), paris(2025, 5, 15))
    assert [(local(o.original_start), local(o.start), o.moved) for o in found] == [
        ("2025-04-01 11:00 CEST", "2025-04-08 14:00 CEST", True),
        ("2025-05-06 11:00 CEST", "2025-05-06 11:00 CEST", False)]
    moved_in = expand(series, paris(2025, 4, 5), paris(2025, 4, 10))
    assert [local(o.start) for o in moved_in] == ["2025-04-08 14:00 CEST"]


def test_until_in_utc_is_understood_with_a_local_start() -> None:
    series = Series(paris(2025, 1, 7, 11), paris(2025, 1, 7, 13), "Europe/Paris",
                    rrule="FREQ=MONTHLY;BYDAY=1TU;UNTIL=20250401T090000Z")
    assert [local(o.start)[:10] for o in expand(series, paris(2025, 1, 1), paris(2026, 1, 1))] \
        == ["2025-01-07", "2025-02-04", "2025-03-04", "2025-04-01"]


def test_an_all_day_event_is_reminded_from_nine() -> None:
    anchor = reminder_anchor(paris(2025, 4, 15, 0), PARIS, all_day=True)
    assert local(anchor) == "2025-04-15 09:00 CEST"


@pytest.mark.parametrize("text, minutes", [
    ("7j,1j,1h", (10080, 1440, 60)),
    ("J-7 J-1 H-1", (10080, 1440, 60)),
    ("1 semaine, 2 jours et 30 min", (10080, 2880, 30)),
    ("2h30", (150,)),
    ("7d, 1d, 1h", (10080, 1440, 60)),
    ("aucun", ()),
])
def test_offsets_as_people_write_them(text: str, minutes: tuple[int, ...]) -> None:
    assert parse_offsets(text) == minutes


@pytest.mark.parametrize("text, template", [
    ("demain", "calendar/bad_offsets"),
    ("90j", "calendar/offset_out_of_range"),
    ("1h,2h,3h,4h,5h,6h,7h", "calendar/too_many_offsets"),
])
def test_bad_offsets(text: str, template: str) -> None:
    with pytest.raises(UserFacingError) as caught:
        parse_offsets(text)
    assert caught.value.template == template


@pytest.mark.parametrize("rule, template", [
    ("FREQ=MONTHLY;BYDAY=9XX", "calendar/bad_rrule"),
    ("tous les mardis", "calendar/bad_rrule"),
    ("FREQ=HOURLY", "calendar/rrule_too_frequent"),
    ("FREQ=MINUTELY;COUNT=3", "calendar/rrule_too_frequent"),
    ("FREQ=WEEKLY;UNTIL=20200101", "calendar/rrule_empty"),
])
def test_bad_rules_are_refused(rule: str, template: str) -> None:
    with pytest.raises(UserFacingError) as caught:
        check_rrule(rule, paris(2025, 3, 4, 11), PARIS)
    assert caught.value.template == template


def test_a_good_rule_is_normalised() -> None:
    assert check_rrule("RRULE:freq=monthly;byday=1TU", paris(2025, 3, 4, 11), PARIS) == \
        "FREQ=MONTHLY;BYDAY=1TU"

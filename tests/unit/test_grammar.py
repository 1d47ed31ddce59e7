"""How command lines are split and how French dates are read."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from handlers.core.dates import parse_date, parse_datetime, parse_time
from handlers.core.errors import UserFacingError
from handlers.core.grammar import Option, Word, split_words

PARIS = ZoneInfo("Europe/Paris")
TODAY = date(2025, 3, 3)


def test_quotes_group_words_and_apostrophes_stay_letters() -> None:
    items = split_words("membre ajouter \"Zoé Durand\" l'agent « Mon  titre » “x y”")
    assert items == [Word("membre"), Word("ajouter"), Word("Zoé Durand", True),
                     Word("l'agent"), Word("Mon  titre", True), Word("x y", True)]


def test_options_with_quoted_values() -> None:
    items = split_words('sondage creer titre="Date de la plénière" echeance=28/04')
    assert Option("titre", "Date de la plénière") in items
    assert Option("echeance", "28/04") in items


def test_option_keys_are_folded() -> None:
    assert split_words("x Catégorie=elu") == [Word("x"), Option("categorie", "elu")]


@pytest.mark.parametrize("text, template", [
    ('cohorte creer "Occitanie', "errors/unbalanced_quotes"),
    ("cohorte creer « Occitanie", "errors/unbalanced_quotes"),
    ("", "errors/empty_command"),
    ("   \n ", "errors/empty_command"),
    ("aide\x00", "errors/control_characters"),
    ("aide\u202e", "errors/control_characters"),
    ("x" * 4001, "errors/too_long"),
])
def test_bad_input_is_a_user_facing_error(text: str, template: str) -> None:
    with pytest.raises(UserFacingError) as caught:
        split_words(text)
    assert caught.value.template == template


@pytest.mark.parametrize("text, expected", [
    ("28/04", date(2025, 4, 28)),
    ("28/04/2026", date(2026, 4, 28)),
    ("28/04/26", date(2026, 4, 28)),
    ("28 avril", date(2025, 4, 28)),
    ("28 Avril 2026", date(2026, 4, 28)),
    ("mardi 1er avril 2025", date(2025, 4, 1)),
    ("1er mars", date(2026, 3, 1)),
    ("3 mars", date(2025, 3, 3)),
    ("2025-04-28", date(2025, 4, 28)),
    ("demain", date(2025, 3, 4)),
    ("aujourd'hui", date(2025, 3, 3)),
    ("15 août", date(2025, 8, 15)),
    ("15 aout", date(2025, 8, 15)),
    ("29/02", date(2028, 2, 29)),
])
def test_dates_as_written_in_france(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize("text, template", [
    ("31/04", "errors/impossible_date"),
    ("2025-02-30", "errors/impossible_date"),
    ("28 avrile", "errors/bad_date"),
    ("bientôt", "errors/bad_date"),
    ("13/13/2025", "errors/impossible_date"),
])
def test_bad_dates(text: str, template: str) -> None:
    with pytest.raises(UserFacingError) as caught:
        parse_date(text, TODAY)
    assert caught.value.template == template
    assert caught.value.context["text"] == text


@pytest.mark.parametrize("text, expected", [
    ("9h30", time(9, 30)), ("14h", time(14, 0)), ("14:00", time(14, 0)),
    ("9 h 30", time(9, 30)), ("14H", time(14, 0)), ("midi", time(12, 0)),
])
def test_times(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["25h", "9h75", "neuf heures", "9.30"])
def test_bad_times(text: str) -> None:
    with pytest.raises(UserFacingError):
        parse_time(text)


def test_datetime_in_the_cohort_time_zone() -> None:
    now = datetime(2025, 3, 3, 8, tzinfo=ZoneInfo("UTC"))
    assert parse_datetime("28/04 14h", now, PARIS) == datetime(2025, 4, 28, 14, tzinfo=PARIS)
    assert parse_datetime("28 avril à 9h30", now, PARIS).hour == 9
    assert parse_datetime("2025-04-28T14:00", now, PARIS).utcoffset().total_seconds() == 7200


def test_a_wall_time_skipped_by_dst_moves_forward() -> None:
    now = datetime(2025, 3, 3, 8, tzinfo=ZoneInfo("UTC"))
    when = parse_datetime("30/03 2h30", now, PARIS)
    assert (when.hour, when.minute) == (3, 30)
    assert when.utcoffset().total_seconds() == 7200

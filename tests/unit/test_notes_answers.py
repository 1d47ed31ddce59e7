"""Reading answers of each type, and the words that steer a questionnaire."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from handlers.notes.answers import (
    InvalidAnswer,
    parse_multi,
    parse_single,
    shown,
    split_closing,
)
from handlers.notes.machine import Intent, read_intent
from handlers.notes.questionnaires import Choice, Question, QuestionType, load_questionnaires

TODAY = date(2025, 3, 3)
ITEMS = load_questionnaires(Path(__file__).resolve().parents[2] / "data" / "questionnaires")
FICHE = ITEMS.get("fiche_projet")
assert FICHE is not None
POPULATION = FICHE.question("population")
SUPERFICIE = FICHE.question("superficie")
IMPACTS = FICHE.question("impacts")
THEME = Question("theme", 1, QuestionType.MULTI_CHOICE, True, {"fr": "Thèmes"}, choices=(
    Choice("alim", {"fr": "Alimentation", "en": "Food"}),
    Choice("mob", {"fr": "Mobilité", "en": "Mobility"}),
    Choice("energie", {"fr": "Énergie", "en": "Energy"})), max_choices=2)


@pytest.mark.parametrize("typed, expected", [
    ("6575", 6575), ("6 575", 6575), ("6\u202f575", 6575), ("28 233 habitants", 28233),
    ("200 hab", 200), ("0", 0),
])
def test_population_numbers_as_people_write_them(typed: str, expected: int) -> None:
    assert parse_single(POPULATION, typed, TODAY) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("typed, expected", [("8,56", 8.56), ("8.56 km²", 8.56),
                                             ("34 km2", 34), ("160", 160)])
def test_areas_accept_decimals_with_a_comma_or_a_point(typed: str, expected: float) -> None:
    assert parse_single(SUPERFICIE, typed, TODAY) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("typed, problem", [
    ("deux cents", "number"), ("1.234,5", "number"), ("12 communes", "number"),
    ("-4", "below_min"), ("", "empty"),
])
def test_wrong_numbers_say_what_is_wrong(typed: str, problem: str) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        parse_single(POPULATION, typed, TODAY)  # type: ignore[arg-type]
    assert caught.value.problem == problem


def test_dates_yes_no_and_choices() -> None:
    day = Question("d", 1, QuestionType.DATE, True, {"fr": "Quand ?"})
    assert parse_single(day, "28 avril 2025", TODAY) == "2025-04-28"
    assert parse_single(day, "28/04", TODAY) == "2025-04-28"
    for typed, problem in (("31/04/2025", "impossible_date"), ("bientôt", "date")):
        with pytest.raises(InvalidAnswer) as caught:
            parse_single(day, typed, TODAY)
        assert caught.value.problem == problem
    yes_no = Question("y", 1, QuestionType.YES_NO, True, {"fr": "?"})
    assert parse_single(yes_no, "Oui.", TODAY) is True
    assert parse_single(yes_no, "NON", TODAY) is False
    assert parse_single(THEME, "3, 1", TODAY) == ["alim", "energie"]
    assert parse_single(THEME, "mobilité et énergie", TODAY) == ["mob", "energie"]
    assert parse_single(THEME, "Food", TODAY) == ["alim"]
    with pytest.raises(InvalidAnswer) as caught:
        parse_single(THEME, "1, 2, 3", TODAY)
    assert caught.value.problem == "too_many_choices"
    with pytest.raises(InvalidAnswer):
        parse_single(THEME, "4", TODAY)


def test_lists_and_long_texts_over_several_messages() -> None:
    assert parse_multi(IMPACTS, ["- Effet « transversalité »\n• Effet levier",  # type: ignore[arg-type]
                                 "3. Effet réseau", "   "]) == [
        "Effet « transversalité »", "Effet levier", "Effet réseau"]
    projet = FICHE.question("projet")  # type: ignore[union-attr]
    assert parse_multi(projet, ["Un.", "Deux."]) == "Un.\n\nDeux."  # type: ignore[arg-type]
    with pytest.raises(InvalidAnswer):
        parse_multi(projet, [])  # type: ignore[arg-type]
    assert split_closing("Dernière ligne\nFin") == ("Dernière ligne", True)
    assert split_closing(".") == ("", True)
    assert split_closing("À la fin du projet") == ("À la fin du projet", False)


@pytest.mark.parametrize("typed, intent, number", [
    ("passer", Intent.SKIP, None), ("Skip", Intent.SKIP, None), ("retour", Intent.BACK, None),
    ("modifier 3", Intent.EDIT, 3), ("Modifier la question n° 12", Intent.EDIT, 12),
    ("edit 2", Intent.EDIT, 2), ("modifier", Intent.EDIT, None), ("pause", Intent.PAUSE, None),
    ("reprendre", Intent.RESUME, None), ("Annuler !", Intent.CANCEL, None),
    ("statut ?", Intent.STATUS, None), ("voir", Intent.SHOW, None), ("fin", Intent.FINISH, None),
    (".", Intent.FINISH, None), ("end", Intent.FINISH, None), ("aide", Intent.HELP, None),
    ("Il faut voir", Intent.TEXT, None), ('"passer"', Intent.TEXT, None),
    ("« fin »", Intent.TEXT, None),
])
def test_control_words_are_whole_messages(typed: str, intent: Intent, number: int | None
                                          ) -> None:
    found, text, found_number = read_intent(typed)
    assert (found, found_number) == (intent, number)
    if typed.startswith(('"', "«")):
        assert text == typed.strip('"« »')


def test_answers_read_in_the_readers_language() -> None:
    assert shown(SUPERFICIE, 8.56, "fr").text == "8,56 km²"  # type: ignore[arg-type]
    assert shown(POPULATION, 28233, "en").text == "28,233 inhabitants"  # type: ignore[arg-type]
    assert shown(THEME, ["alim", "mob"], "en").items == ("Food", "Mobility")
    day = Question("d", 1, QuestionType.DATE, True, {"fr": "Quand ?"})
    assert shown(day, "2025-04-01", "fr").text == "mardi 1er avril 2025"

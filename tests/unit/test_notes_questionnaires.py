"""Questionnaires as data: the bundled ones follow the seeds; a wrong file is named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.notes.questionnaires import (
    QuestionnaireError,
    QuestionType,
    load_file,
    load_questionnaires,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "questionnaires"

GOOD = """
id: essai
version: 1
title: {fr: "Essai", en: "Trial"}
questions:
  - id: un
    type: long_text
    required: true
    prompt: {fr: "Première ?", en: "First?"}
"""


def test_the_bundled_questionnaires_are_the_seeds_notes() -> None:
    items = load_questionnaires(DATA)
    assert [(q.id, len(q.questions)) for q in items] == [
        ("intention", 4), ("cadrage", 5), ("faisabilite", 4), ("qualification", 3),
        ("fiche_projet", 9)]
    fiche = items.get("fiche_projet")
    assert fiche is not None
    assert [q.id for q in fiche.questions] == [
        "localisation", "population", "superficie", "organisation_administrative", "projet",
        "impacts", "limites", "point_de_vue_allie", "point_de_vue_territoire"]
    assert fiche.question("superficie").type is QuestionType.NUMBER  # type: ignore[union-attr]
    qualification = items.get("qualification")
    assert qualification is not None
    assert qualification.questions[0].prompt["fr"] == \
        "Présentation du projet et de l'accompagnement envisagé"
    intention = items.get("intention")
    assert intention is not None and intention.by_number(3).type is QuestionType.YES_NO  # type: ignore[union-attr]


@pytest.mark.parametrize("typed, expected", [
    ("intention", "intention"), ("Faisabilité", "faisabilite"), ("fiche", "fiche_projet"),
    ("fiche-projet", "fiche_projet"), ("qualif", "qualification"),
    ("Note de cadrage", "cadrage"), ("projet", "fiche_projet"), ("note", None), ("x", None),
])
def test_a_note_is_found_by_the_name_people_type(typed: str, expected: str | None) -> None:
    found = load_questionnaires(DATA).find(typed)
    assert (found.id if found else None) == expected


@pytest.mark.parametrize("change, where, words", [
    (("type: long_text", "type: essay"), "questions[0].type", "'essay' is not one of"),
    (('prompt: {fr: "Première ?", en: "First?"}', 'prompt: {fr: "Première ?"}'),
     "questions[0].prompt", "'en' is a required property"),
    (("required: true", "required: oui"), "questions[0].required", "is not of type 'boolean'"),
    (("id: essai", "id: autre"), "id", "must be the file's name"),
    (("version: 1", "version: 0"), "version", "less than the minimum"),
    (("    required: true\n", "    required: true\n    choices: [{id: a, label: {fr: A, en: A}},"
      " {id: b, label: {fr: B, en: B}}]\n"), "questions[0].choices",
     "only choice and multi_choice"),
    (("  - id: un\n", "  - id: un\n    colour: blue\n"), "questions[0]",
     "Additional properties are not allowed"),
])
def test_a_wrong_file_is_refused_with_its_name_and_the_field(
        tmp_path: Path, change: tuple[str, str], where: str, words: str) -> None:
    path = tmp_path / "essai.yaml"
    path.write_text(GOOD.replace(*change), encoding="utf-8")
    with pytest.raises(QuestionnaireError) as caught:
        load_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {where}: ") and words in message
    assert "\n" not in message


def test_duplicate_questions_and_bad_yaml_are_named(tmp_path: Path) -> None:
    path = tmp_path / "essai.yaml"
    path.write_text(GOOD + GOOD[GOOD.index("  - id: un"):], encoding="utf-8")
    with pytest.raises(QuestionnaireError, match=r"questions\[1\]\.id: 'un' is used twice"):
        load_file(path)
    path.write_text("id: essai\nquestions: [\n", encoding="utf-8")
    with pytest.raises(QuestionnaireError, match="not valid YAML"):
        load_file(path)


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(QuestionnaireError, match="no questionnaire"):
        load_questionnaires(tmp_path)

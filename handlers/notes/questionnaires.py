"""Questionnaires as data: ``data/questionnaires/*.yaml``, checked at start-up.

Each file is validated against :data:`SCHEMA` (JSON Schema, draft 2020-12) and a
few rules a schema cannot say (the id is the file's name, question ids are
unique, choices belong to choice questions). A wrong file stops start-up with
one line naming the file and the field, e.g.
``data/questionnaires/cadrage.yaml: questions[2].type: 'essay' is not one of …``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from handlers.core.grammar import fold

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (ten times faster: these files are
read at every start-up), else the pure-Python one; both build the same data."""


class QuestionType(StrEnum):
    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    YES_NO = "yes_no"
    LIST = "list"

    @property
    def multi_message(self) -> bool:
        """Answers that may take several messages, closed by ``fin``."""
        return self in (QuestionType.LONG_TEXT, QuestionType.LIST)


_TEXT = {"type": "object", "required": ["fr", "en"], "additionalProperties": False,
         "properties": {"fr": {"type": "string", "minLength": 1},
                        "en": {"type": "string", "minLength": 1}}}
_ID = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "version", "title", "questions"],
    "additionalProperties": False,
    "properties": {
        "id": _ID,
        "version": {"type": "integer", "minimum": 1},
        "title": _TEXT,
        "description": _TEXT,
        "source": {"type": "string"},
        "questions": {
            "type": "array", "minItems": 1, "maxItems": 60,
            "items": {
                "type": "object",
                "required": ["id", "type", "required", "prompt"],
                "additionalProperties": False,
                "properties": {
                    "id": _ID,
                    "type": {"enum": [t.value for t in QuestionType]},
                    "required": {"type": "boolean"},
                    "prompt": _TEXT,
                    "help": _TEXT,
                    "choices": {
                        "type": "array", "minItems": 2, "maxItems": 20,
                        "items": {"type": "object", "required": ["id", "label"],
                                  "additionalProperties": False,
                                  "properties": {"id": _ID, "label": _TEXT}}},
                    "max_choices": {"type": "integer", "minimum": 1},
                    "unit": _TEXT,
                    "min": {"type": "number"},
                    "max": {"type": "number"},
                    "max_length": {"type": "integer", "minimum": 1, "maximum": 20000},
                },
            },
        },
    },
}

DEFAULT_SHORT_LENGTH = 300
DEFAULT_LONG_LENGTH = 20000


class QuestionnaireError(Exception):
    """A questionnaire file is wrong; ``str()`` is one line naming the file and the field."""

    def __init__(self, path: Path, where: str, problem: str) -> None:
        self.path = path
        self.where = where
        self.problem = problem
        super().__init__(f"{path}: {where}: {problem}" if where else f"{path}: {problem}")


@dataclass(frozen=True, slots=True)
class Choice:
    id: str
    label: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    number: int
    """1-based position, as people see it (``modifier 3``)."""
    type: QuestionType
    required: bool
    prompt: Mapping[str, str]
    help: Mapping[str, str] | None = None
    choices: tuple[Choice, ...] = ()
    max_choices: int | None = None
    unit: Mapping[str, str] | None = None
    min: float | None = None
    max: float | None = None
    max_length: int = DEFAULT_SHORT_LENGTH


@dataclass(frozen=True, slots=True)
class Questionnaire:
    id: str
    version: int
    title: Mapping[str, str]
    description: Mapping[str, str] | None
    source: str
    questions: tuple[Question, ...]

    def question(self, question_id: str | None) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def by_number(self, number: int) -> Question | None:
        return self.questions[number - 1] if 1 <= number <= len(self.questions) else None

    @property
    def required(self) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.required)


def text(value: Mapping[str, str] | None, lang: str) -> str:
    """A ``{fr, en}`` text in the reader's language (French when missing)."""
    if not value:
        return ""
    return value.get(lang) or value.get("fr") or next(iter(value.values()))


class Questionnaires:
    """Every questionnaire, in a stable order (the files' order: intention first)."""

    ORDER = ("intention", "cadrage", "faisabilite", "qualification", "fiche_projet")

    def __init__(self, items: list[Questionnaire]) -> None:
        rank = {name: i for i, name in enumerate(self.ORDER)}
        self._items = sorted(items, key=lambda q: (rank.get(q.id, len(rank)), q.id))
        self._by_id = {q.id: q for q in self._items}

    def __iter__(self) -> Iterator[Questionnaire]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def get(self, questionnaire_id: str) -> Questionnaire | None:
        return self._by_id.get(questionnaire_id)

    def find(self, typed: str) -> Questionnaire | None:
        """The questionnaire a person named: its id, its title, or a unique beginning of
        either (``faisabilité``, ``fiche``, ``Note de cadrage``)."""
        key = fold(typed).replace("-", "_").replace(" ", "_").strip("_")
        if not key:
            return None
        if key in self._by_id:
            return self._by_id[key]
        for q in self._items:
            titles = {fold(t).replace(" ", "_").replace("'", "_") for t in q.title.values()}
            if key in titles:
                return q
        starts = [q for q in self._items if q.id.startswith(key)
                  or any(w.startswith(key) for w in q.id.split("_"))]
        if len(starts) == 1:
            return starts[0]
        return None


def load_questionnaires(directory: Path) -> Questionnaires:
    """Read and check every ``*.yaml`` of ``directory``; raises :class:`QuestionnaireError`."""
    if not directory.is_dir():
        raise QuestionnaireError(directory, "", "questionnaire folder not found")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise QuestionnaireError(directory, "", "no questionnaire (*.yaml) in this folder")
    return Questionnaires([load_file(path) for path in files])


def load_file(path: Path) -> Questionnaire:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except OSError as error:
        raise QuestionnaireError(path, "", f"cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise QuestionnaireError(path, where, f"not valid YAML ({problem})") from None
    error = best_match(Draft202012Validator(SCHEMA).iter_errors(data))
    if error is not None:
        raise QuestionnaireError(path, _where(error.absolute_path) or "(top level)",
                                 error.message)
    return _build(path, data)


def _where(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _build(path: Path, data: dict[str, Any]) -> Questionnaire:
    if data["id"] != path.stem:
        raise QuestionnaireError(path, "id", f"{data['id']!r} must be the file's name "
                                             f"{path.stem!r}")
    seen: set[str] = set()
    questions = []
    for index, q in enumerate(data["questions"]):
        where = f"questions[{index}]"
        if q["id"] in seen:
            raise QuestionnaireError(path, f"{where}.id", f"{q['id']!r} is used twice")
        seen.add(q["id"])
        qtype = QuestionType(q["type"])
        is_choice = qtype in (QuestionType.CHOICE, QuestionType.MULTI_CHOICE)
        if is_choice and "choices" not in q:
            raise QuestionnaireError(path, f"{where}.choices", f"required for type {qtype}")
        if not is_choice and "choices" in q:
            raise QuestionnaireError(path, f"{where}.choices",
                                     f"only choice and multi_choice questions have choices, "
                                     f"not {qtype}")
        if "max_choices" in q and qtype is not QuestionType.MULTI_CHOICE:
            raise QuestionnaireError(path, f"{where}.max_choices",
                                     "only multi_choice questions have max_choices")
        if "max_choices" in q and q["max_choices"] > len(q["choices"]):
            raise QuestionnaireError(path, f"{where}.max_choices",
                                     f"{q['max_choices']} is more than the "
                                     f"{len(q['choices'])} choices")
        for key in ("unit", "min", "max"):
            if key in q and qtype is not QuestionType.NUMBER:
                raise QuestionnaireError(path, f"{where}.{key}",
                                         f"only number questions have {key}")
        if "min" in q and "max" in q and q["min"] > q["max"]:
            raise QuestionnaireError(path, f"{where}.max", "is smaller than min")
        choice_ids = [c["id"] for c in q.get("choices", ())]
        if len(set(choice_ids)) != len(choice_ids):
            raise QuestionnaireError(path, f"{where}.choices", "two choices have the same id")
        default_length = DEFAULT_SHORT_LENGTH if qtype is QuestionType.SHORT_TEXT \
            else DEFAULT_LONG_LENGTH
        questions.append(Question(
            id=q["id"], number=index + 1, type=qtype, required=q["required"],
            prompt=q["prompt"], help=q.get("help"),
            choices=tuple(Choice(c["id"], c["label"]) for c in q.get("choices", ())),
            max_choices=q.get("max_choices"), unit=q.get("unit"), min=q.get("min"),
            max=q.get("max"), max_length=q.get("max_length", default_length)))
    return Questionnaire(id=data["id"], version=data["version"], title=data["title"],
                         description=data.get("description"), source=data.get("source", ""),
                         questions=tuple(questions))

"""Reading an answer of each question type, and telling precisely what was wrong.

Pure functions: text in, a JSON-ready value out (``str``, ``int``/``float``,
``bool``, ``list[str]``, an ISO date), or :class:`InvalidAnswer` naming the
problem so the question can be asked again with the expected form and an example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from babel.numbers import format_decimal

from handlers.core.dates import parse_date
from handlers.core.errors import UserFacingError
from handlers.core.grammar import fold
from handlers.notes.questionnaires import Question, QuestionType, text
from messages.dates import long_date

DONE_WORDS = frozenset({"fin", ".", "end", "done", "termine", "fini", "ok fin"})
YES = frozenset({"oui", "o", "yes", "y", "vrai", "true", "ouais", "bien sur", "absolument"})
NO = frozenset({"non", "n", "no", "faux", "false", "pas du tout"})

_BULLET = re.compile(r"^\s*(?:[-*•·–—]|\d{1,3}[.)]|[a-z][.)])\s+", re.IGNORECASE)
_NUMBER = re.compile(r"^([+-]?\d+(?:[.,]\d+)?)\s*(.*)$")
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")
_SPLIT_CHOICES = re.compile(r"\s*(?:[,;/+]|\bet\b|\band\b)\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class InvalidAnswer(Exception):
    """The answer does not fit the question; ``problem`` picks the explanation shown."""

    problem: str
    details: dict[str, Any] = field(default_factory=dict)


def is_done_word(line: str) -> bool:
    """A line that closes a long answer (``fin``, ``.``, ``end``)."""
    return fold(" ".join(line.split())).rstrip("!") in DONE_WORDS


def split_closing(message: str) -> tuple[str, bool]:
    """(the message without a closing ``fin`` line, whether it was closed)."""
    lines = message.rstrip().split("\n")
    if lines and is_done_word(lines[-1]):
        return "\n".join(lines[:-1]).strip("\n"), True
    return message, False


def parse_single(question: Question, message: str, today: date) -> Any:
    """Read a one-message answer (every type but long text and lists)."""
    raw = message.strip()
    if not raw:
        raise InvalidAnswer("empty")
    kind = question.type
    if kind is QuestionType.SHORT_TEXT:
        value = " ".join(raw.split())
        if len(value) > question.max_length:
            raise InvalidAnswer("too_long", {"length": len(value), "limit": question.max_length})
        return value
    if kind is QuestionType.NUMBER:
        return parse_number(question, raw)
    if kind is QuestionType.DATE:
        try:
            return parse_date(raw, today).isoformat()
        except UserFacingError as error:
            problem = "impossible_date" if error.template == "errors/impossible_date" \
                else "date"
            raise InvalidAnswer(problem) from None
    if kind is QuestionType.YES_NO:
        word = fold(" ".join(raw.split())).rstrip(".!")
        if word in YES:
            return True
        if word in NO:
            return False
        raise InvalidAnswer("yes_no")
    if kind is QuestionType.CHOICE:
        return _one_choice(question, raw)
    if kind is QuestionType.MULTI_CHOICE:
        picked: list[str] = []
        for part in _SPLIT_CHOICES.split(raw):
            if part.strip():
                choice = _one_choice(question, part)
                if choice not in picked:
                    picked.append(choice)
        if not picked:
            raise InvalidAnswer("choice")
        if question.max_choices and len(picked) > question.max_choices:
            raise InvalidAnswer("too_many_choices", {"limit": question.max_choices,
                                                     "count": len(picked)})
        return [c for c in (ch.id for ch in question.choices) if c in picked]
    raise AssertionError(kind)


def parse_number(question: Question, raw: str) -> int | float:
    """``6575``, ``6 575``, ``28 233 habitants``, ``8,56 km²``, ``8.56``."""
    compact = raw.strip()
    match = re.match(r"^[+-]?[\d\s\u00a0\u202f\u2009'.,]+", compact)
    if not match:
        raise InvalidAnswer("number")
    digits = _SPACES.sub("", match.group(0))
    rest = compact[match.end():].strip()
    if rest and not _unit_words(rest, question):
        raise InvalidAnswer("number")
    if digits.count(",") + digits.count(".") > 1:
        raise InvalidAnswer("number")
    digits = digits.replace(",", ".")
    if not re.fullmatch(r"[+-]?\d+(?:\.\d+)?", digits):
        raise InvalidAnswer("number")
    value: int | float = float(digits) if "." in digits else int(digits)
    if isinstance(value, float) and value.is_integer() and "." not in raw and "," not in raw:
        value = int(value)
    if question.min is not None and value < question.min:
        raise InvalidAnswer("below_min", {"limit": question.min})
    if question.max is not None and value > question.max:
        raise InvalidAnswer("above_max", {"limit": question.max})
    return value


def _unit_words(rest: str, question: Question) -> bool:
    """Whether what follows the figure is only its unit (``habitants``, ``km²``, ``km2``)."""
    folded = fold(rest).replace("²", "2").strip(" .")
    units = {fold(u).replace("²", "2") for u in (question.unit or {}).values()}
    return folded in units or re.fullmatch(r"[a-z]{1,12}2?", folded) is not None and any(
        u.startswith(folded[:3]) for u in units)


def _one_choice(question: Question, raw: str) -> str:
    typed = fold(" ".join(raw.split())).strip(".")
    if typed.isdigit():
        index = int(typed)
        if 1 <= index <= len(question.choices):
            return question.choices[index - 1].id
        raise InvalidAnswer("choice")
    for choice in question.choices:
        if typed == choice.id or typed in {fold(label) for label in choice.label.values()}:
            return choice.id
    starts = [c for c in question.choices
              if any(fold(label).startswith(typed) for label in c.label.values())]
    if len(typed) >= 3 and len(starts) == 1:
        return starts[0].id
    raise InvalidAnswer("choice")


def parse_multi(question: Question, messages: list[str]) -> Any:
    """Close a long answer written over ``messages``: one text, or the list's items."""
    if question.type is QuestionType.LIST:
        items = []
        for message in messages:
            for line in message.split("\n"):
                item = _BULLET.sub("", line).strip()
                if item:
                    items.append(" ".join(item.split()))
        if not items:
            raise InvalidAnswer("empty")
        for item in items:
            if len(item) > question.max_length:
                raise InvalidAnswer("too_long", {"length": len(item),
                                                 "limit": question.max_length})
        return items
    value = "\n\n".join(m.strip() for m in messages if m.strip())
    if not value:
        raise InvalidAnswer("empty")
    if len(value) > question.max_length:
        raise InvalidAnswer("too_long", {"length": len(value), "limit": question.max_length})
    return value


def display_number(value: int | float, lang: str) -> str:
    """``28 233``, ``8,56`` in French; ``28,233``, ``8.56`` in English."""
    return format_decimal(value, locale="fr_FR" if lang == "fr" else "en_GB")


@dataclass(frozen=True, slots=True)
class Shown:
    """An answer ready for a template or a document: text, list items, or a yes/no flag."""

    kind: str
    text: str = ""
    items: tuple[str, ...] = ()
    flag: bool | None = None

    @property
    def short(self) -> str:
        """One line (digests): the text, or the items joined."""
        if self.items:
            return " ; ".join(self.items)
        return " ".join(self.text.split())


def shown(question: Question, value: Any, lang: str) -> Shown:
    """How an answer reads, in the reader's language (numbers, units, choice labels)."""
    kind = question.type
    if kind is QuestionType.YES_NO:
        return Shown("yes_no", flag=bool(value))
    if kind is QuestionType.NUMBER and isinstance(value, int | float):
        unit = text(question.unit, lang)
        return Shown("text", f"{display_number(value, lang)} {unit}".strip())
    if kind is QuestionType.DATE and isinstance(value, str):
        try:
            return Shown("text", long_date(date.fromisoformat(value), lang))
        except ValueError:
            return Shown("text", value)
    if kind is QuestionType.CHOICE:
        choice = next((c for c in question.choices if c.id == value), None)
        return Shown("text", text(choice.label, lang) if choice else str(value))
    if kind in (QuestionType.MULTI_CHOICE, QuestionType.LIST) and isinstance(value, list):
        if kind is QuestionType.MULTI_CHOICE:
            labels = {c.id: text(c.label, lang) for c in question.choices}
            return Shown("list", items=tuple(labels.get(v, str(v)) for v in value))
        return Shown("list", items=tuple(str(v) for v in value))
    return Shown("text", str(value))

"""A Framadate-style results grid as data: who answered what for each option or date.

The polls feature builds a :class:`Grid`; :mod:`messages.render.grid_png` draws it
as a picture for chat, the ``grid`` web fragment as an HTML table, and the
``results/grid_summary`` template says the same in words for screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Answer(StrEnum):
    YES = "yes"
    MAYBE = "maybe"
    """« si besoin »: possible, if no better date is found."""
    NO = "no"
    NONE = "none"
    """Not answered (yet)."""


@dataclass(frozen=True, slots=True)
class GridRow:
    name: str
    answers: tuple[Answer, ...]


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    """What is voted on (``mar. 1/04``); ``detail`` is a second line (``10 h – 12 h``)."""
    detail: str = ""

    @property
    def text(self) -> str:
        return f"{self.label} {self.detail}".strip()


@dataclass(frozen=True, slots=True)
class Total:
    yes: int
    maybe: int
    no: int
    none: int


class GridKind(StrEnum):
    """What the cells say, hence the words of the legend and of the summary."""

    AVAILABILITY = "availability"
    """oui / si besoin / non / pas de réponse per person and date (best date marked)."""
    PROGRESS = "progress"
    """fait / en partie / non concerné / à faire per delegation and question (a campaign)."""


@dataclass(frozen=True, slots=True)
class Grid:
    title: str
    columns: tuple[Column, ...]
    rows: tuple[GridRow, ...]
    kind: GridKind = GridKind.AVAILABILITY

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row.answers) != len(self.columns):
                raise ValueError(f"row {row.name!r} has {len(row.answers)} answers for "
                                 f"{len(self.columns)} columns")

    def totals(self) -> list[Total]:
        result = []
        for index in range(len(self.columns)):
            answers = [row.answers[index] for row in self.rows]
            result.append(Total(answers.count(Answer.YES), answers.count(Answer.MAYBE),
                                answers.count(Answer.NO), answers.count(Answer.NONE)))
        return result

    def best(self) -> tuple[int, ...]:
        """The columns with the most « oui », ties broken by « si besoin » (as Framadate).

        Empty when nobody said yes or maybe anywhere: no column is marked best, and
        for a progress grid (which question is "best" means nothing).
        """
        if self.kind is not GridKind.AVAILABILITY:
            return ()
        totals = self.totals()
        scores = [(t.yes, t.maybe) for t in totals]
        top = max(scores, default=(0, 0))
        if top == (0, 0):
            return ()
        return tuple(i for i, score in enumerate(scores) if score == top)

    @property
    def answered(self) -> int:
        """How many rows have at least one answer."""
        return sum(1 for row in self.rows if any(a is not Answer.NONE for a in row.answers))

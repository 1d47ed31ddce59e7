"""Poll and campaign results as grids (:class:`messages.grid.Grid`).

The picture posted in chat when an availability poll or a campaign closes, the
picture of ``sondage resultats`` and the dashboard's tables read the same rows, so
what people see in chat and on the web cannot disagree.

- An availability poll: one row per scope key the poll waits for (a member, a
  delegation, or an actor category in a delegation), answered or not, then any
  other answer; one column per date; each cell oui / si besoin / non / –.
  An anonymous poll names nobody: its rows are its answers, numbered.
- A campaign: one row per delegation, one column per question; a cell is done,
  partly done (some categories answered), to do, or not concerned.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from handlers.core.context import Context
from handlers.core.events import Attachment
from handlers.dashboard.pictures import results_picture
from handlers.polls.logic import MAYBE, NO, YES, expected_slots
from messages import dates
from messages.grid import Answer, Column, Grid, GridKind, GridRow
from messages.texts import Texts
from storage.models_polls import Campaign, Poll, PollScope

_ANSWERS = {YES: Answer.YES, MAYBE: Answer.MAYBE, NO: Answer.NO}


def columns_of(poll: Poll, lang: str, tz: tzinfo) -> tuple[Column, ...]:
    """A column per option: the day as a short head, the hours below (none for a whole day)."""
    columns = []
    for option in poll.options:
        if option.starts_at is None:
            columns.append(Column(option.label))
            continue
        start = option.starts_at.astimezone(tz)
        end = option.ends_at.astimezone(tz) if option.ends_at else None
        whole_day = end is not None and end - start == timedelta(days=1) and \
            (start.hour, start.minute) == (0, 0)
        detail = "" if whole_day else dates.time_range(start, end if end and
                                                       end.date() == start.date() else None,
                                                       lang)
        columns.append(Column(dates.short_day(start, lang), detail))
    return tuple(columns)


def row_name(texts: Texts, scope: PollScope, *, member: str | None, territory: str | None,
             category: str | None) -> str:
    """Who a row stands for: a person, a delegation, or a category within a delegation."""
    if scope is PollScope.MEMBER:
        return member or territory or "?"
    if scope is PollScope.CATEGORY and category:
        word = texts.block("results/grid_labels", f"cat_{category}") or category
        return f"{territory or '?'} — {word}"
    return territory or "?"


def availability_grid(poll: Poll, answers: Sequence[Any], delegations: Sequence[Any],
                      texts: Texts, tz: tzinfo, *,
                      visible: Callable[[int | None], bool] | None = None) -> Grid:
    """The Framadate-style grid of an availability poll (see the module docstring).

    ``visible(delegation_id)`` keeps only some delegations' rows (a member on the
    dashboard sees their own delegation's); the totals are those of the rows shown.
    """
    columns = columns_of(poll, texts.lang, tz)

    def cells(answer: Any | None) -> tuple[Answer, ...]:
        grid = ((answer.value or {}).get("availability") or {}) if answer is not None else {}
        return tuple(_ANSWERS.get(grid.get(str(o.position)), Answer.NONE)
                     for o in poll.options)

    rows: list[GridRow] = []
    if poll.anonymous:
        shown = [a for a in sorted(answers, key=lambda a: a.scope_key)
                 if visible is None or visible(a.delegation_id)]
        for number, answer in enumerate(shown, start=1):
            label = texts.block("results/grid_labels", "anonymous_row", number=number)
            rows.append(GridRow(label or str(number), cells(answer)))
        return Grid(poll.title, columns, tuple(rows))
    names = {m.id: m.display_name for d in delegations for m in d.members}
    territories = {d.id: d.territory for d in delegations}
    by_key = {a.scope_key: a for a in answers}
    seen: set[str] = set()
    for slot in expected_slots(poll, delegations):
        seen.add(slot.key)
        if visible is not None and not visible(slot_delegation(slot)):
            continue
        rows.append(GridRow(row_name(texts, poll.scope, member=slot.member_name,
                                     territory=slot.delegation, category=slot.category),
                            cells(by_key.get(slot.key))))
    for answer in answers:
        if answer.scope_key in seen or (visible is not None and
                                        not visible(answer.delegation_id)):
            continue
        rows.append(GridRow(row_name(texts, poll.scope, member=names.get(answer.member_id),
                                     territory=territories.get(answer.delegation_id),
                                     category=answer.category), cells(answer)))
    return Grid(poll.title, columns, tuple(rows))


def slot_delegation(slot: Any) -> int | None:
    """The delegation an expected scope key belongs to (``d:<id>``, ``c:<id>:<cat>``, or
    the member's own)."""
    kind, _, rest = slot.key.partition(":")
    if kind in ("d", "c"):
        head = rest.split(":", 1)[0]
        return int(head) if head.isdigit() else None
    return slot.answerers[0].delegation_id if slot.answerers else None


def progress_cell(done: int, expected: int) -> Answer:
    """A campaign cell: all expected answers in, some, none, or nothing expected."""
    if expected == 0:
        return Answer.NO
    if done >= expected:
        return Answer.YES
    return Answer.MAYBE if done else Answer.NONE


def campaign_grid(title: str, polls: Sequence[Poll], answered: dict[int, Collection[str]],
                  delegations: Sequence[Any]) -> Grid:
    """Delegation × question, from the scope keys answered per poll."""
    rows = []
    for delegation in delegations:
        cells = []
        for poll in polls:
            keys = {e.key for e in expected_slots(poll, [delegation])}
            cells.append(progress_cell(len(keys & set(answered.get(poll.id, ()))), len(keys)))
        rows.append(GridRow(delegation.territory, tuple(cells)))
    columns = tuple(Column(p.question_key or str(p.id)) for p in polls)
    return Grid(title, columns, tuple(rows), kind=GridKind.PROGRESS)


async def poll_picture(ctx: Context, poll: Poll, lang: str, tz: str | tzinfo) -> Attachment:
    """The availability grid of ``poll`` as a PNG, in ``lang``, with its summary as alt text."""
    texts = ctx.catalog.bind(lang)
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    grid = availability_grid(poll, await ctx.store.polls.answers(poll.id),
                             await ctx.store.delegations.of_cohort(poll.cohort_id), texts, zone)
    return results_picture(texts, grid, filename=f"sondage-{poll.id}.png")


async def campaign_progress(ctx: Context, campaign: Campaign, polls: Sequence[Poll]) -> Grid:
    """The campaign's delegation × question grid as of now."""
    answers = await ctx.store.polls.answers_of_polls([p.id for p in polls])
    return campaign_grid(campaign.title, polls,
                         {pid: {a.scope_key for a in rows} for pid, rows in answers.items()},
                         await ctx.store.delegations.of_cohort(campaign.cohort_id))

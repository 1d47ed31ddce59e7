"""Poll and campaign exports: CSV (UTF-8 with BOM, ``;`` as French spreadsheets expect) and
XLSX (openpyxl: pure Python, well kept, opened by LibreOffice, OnlyOffice and Excel).

Column headers and cell words come from ``polls/export_words``; an anonymous poll's
export names nobody.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.core.context import Context
from handlers.core.events import Attachment
from handlers.polls.logic import MAYBE, NO, YES, expected_slots
from storage.models_polls import Poll, PollKind, PollScope

CSV_MIME = "text/csv"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Words:
    """The export's words in the reader's language."""

    def __init__(self, ctx: Context) -> None:
        self._block = ctx.texts.block

    def __call__(self, name: str) -> str:
        return self._block("polls/export_words", name) or name

    def category(self, value: str | None) -> str:
        return self(f"cat_{value}") if value else ""

    def availability(self, value: str | None) -> str:
        return {YES: self("yes"), MAYBE: self("maybe"), NO: self("no")}.get(value or "", "")


async def poll_table(ctx: Context, poll: Poll) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: one row per expected scope key (answered or not), then any other
    answer; anonymous polls get answers only, in no particular order of people."""
    words = Words(ctx)
    delegations = await ctx.store.delegations.of_cohort(poll.cohort_id)
    answers = await ctx.store.polls.answers(poll.id)
    names = {m.id: m.display_name for d in delegations for m in d.members}
    territories = {d.id: d.territory for d in delegations}
    tz = ZoneInfo((await ctx.store.cohorts.get(poll.cohort_id)).timezone)  # type: ignore[union-attr]
    identity: list[str] = []
    if not poll.anonymous:
        identity = [words("delegation")]
        if poll.scope is PollScope.CATEGORY:
            identity.append(words("category"))
        if poll.scope is PollScope.MEMBER:
            identity.append(words("member"))
        else:
            identity.append(words("by"))
        identity.append(words("updated"))
    if poll.kind is PollKind.TEXT:
        answer_cols = [words("answer")]
    else:
        answer_cols = [o.label for o in poll.options]
    header = identity + answer_cols + ([words("comment")] if poll.allow_comment else [])

    def cells(answer: Any | None) -> list[Any]:
        if answer is None:
            return [words("missing")] + [""] * (len(answer_cols) - 1) + (
                [""] if poll.allow_comment else [])
        value = answer.value or {}
        if poll.kind is PollKind.TEXT:
            row: list[Any] = [value.get("text", "")]
        elif poll.kind is PollKind.AVAILABILITY:
            grid = value.get("availability") or {}
            row = [words.availability(grid.get(str(o.position))) for o in poll.options]
        else:
            chosen = set(value.get("choices") or ())
            row = ["x" if o.position in chosen else "" for o in poll.options]
        if poll.allow_comment:
            row.append(answer.comment or "")
        return row

    def stamp(answer: Any) -> str:
        return answer.updated_at.astimezone(tz).strftime("%d/%m/%Y %H:%M")

    rows: list[list[Any]] = []
    if poll.anonymous:
        return header, [cells(a) for a in sorted(answers, key=lambda a: a.scope_key)]
    by_key = {a.scope_key: a for a in answers}
    seen: set[str] = set()
    for slot in expected_slots(poll, delegations):
        answer = by_key.get(slot.key)
        seen.add(slot.key)
        row = [slot.delegation or ""]
        if poll.scope is PollScope.CATEGORY:
            row.append(words.category(slot.category))
        if poll.scope is PollScope.MEMBER:
            row.append(slot.member_name or "")
        else:
            row.append(names.get(answer.member_id, "") if answer and answer.member_id else "")
        row.append(stamp(answer) if answer else "")
        rows.append(row + cells(answer))
    for answer in answers:
        if answer.scope_key in seen:
            continue
        row = [territories.get(answer.delegation_id, "") if answer.delegation_id else ""]
        if poll.scope is PollScope.CATEGORY:
            row.append(words.category(answer.category))
        row.append(names.get(answer.member_id, "") if answer.member_id else "")
        row.append(stamp(answer))
        rows.append(row + cells(answer))
    return header, rows


def summary_rows(ctx: Context, poll: Poll, pv: Any) -> tuple[list[str], list[list[Any]]]:
    words = Words(ctx)
    if poll.kind is PollKind.AVAILABILITY:
        header = [words("option"), words("yes"), words("maybe"), words("no"), words("best")]
        best = {o.position for o in pv.tally.best}
        return header, [[o.label, o.yes, o.maybe, o.no, "★" if o.position in best else ""]
                        for o in pv.tally.options]
    if poll.kind is PollKind.TEXT:
        return [words("answers")], [[pv.tally.answers]]
    header = [words("option"), words("count")]
    return header, [[o.label, o.count] for o in pv.tally.options]


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]]) -> bytes:
    """A workbook with one sheet per (title, header, rows); header bold, columns sized."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    book.remove(book.active)
    used: set[str] = set()
    for title, header, rows in sheets:
        name = _sheet_name(title, used)
        sheet = book.create_sheet(name)
        sheet.append(list(header))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for row in rows:
            sheet.append([_cell(v) for v in row])
        for column in sheet.columns:
            width = max((len(str(c.value)) for c in column if c.value is not None), default=8)
            sheet.column_dimensions[column[0].column_letter].width = min(60, max(10, width + 2))
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _sheet_name(title: str, used: set[str]) -> str:
    base = "".join(c for c in title if c not in "[]:*?/\\")[:28] or "Feuille"
    name = base
    n = 2
    while name in used:
        name = f"{base[:25]} {n}"
        n += 1
    used.add(name)
    return name


def filename_stem(poll: Poll, now: datetime) -> str:
    return f"sondage-{poll.id}-{now.strftime('%Y%m%d')}"


async def poll_files(ctx: Context, poll: Poll, pv: Any, which: str) -> list[Attachment]:
    header, rows = await poll_table(ctx, poll)
    words = Words(ctx)
    stem = filename_stem(poll, ctx.now())
    files = []
    if which in ("csv", "tous"):
        files.append(Attachment(f"{stem}.csv", CSV_MIME, to_csv(header, rows),
                                alt_text=poll.title))
    if which in ("xlsx", "tous"):
        summary = summary_rows(ctx, poll, pv)
        files.append(Attachment(f"{stem}.xlsx", XLSX_MIME, to_xlsx([
            (words("answers_sheet"), header, rows),
            (words("summary_sheet"), summary[0], summary[1])]), alt_text=poll.title))
    return files

"""Pilot-project notes on the dashboard: delegation × note completion, each note's answers
with their history, and the downloads of ``note exporter`` (a note or the livret).

A note is visible to its delegation and the cohort's coordinators only (the rule of
``may_see`` in chat): a member sees their own delegation's notes, another
delegation's note page is refused, and the livret holds what the viewer may see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from handlers.notes.answers import shown
from handlers.notes.commands import FORMAT_WORDS, export_files
from handlers.notes.questionnaires import Questionnaire, text
from handlers.notes.service import completion, member_names, note_views, policy
from handlers.web.core import WebError, WebResponse
from handlers.web.forms import number, path_number
from handlers.web.page import PageContext
from handlers.web.registry import WebRegistry
from storage.models import Cohort, Delegation

LIVRET = "livret"
FORMATS = ("docx", "md", "csv")


def questionnaires(page: PageContext) -> Sequence[Questionnaire]:
    return list(policy(page.chat()).questionnaires)


@dataclass(frozen=True, slots=True)
class Column:
    id: str
    title: str
    complete: int


async def completion_table(page: PageContext, cohort: Cohort
                           ) -> tuple[list[Column], list[dict[str, Any]]]:
    """Completion of each note of each delegation the viewer may see."""
    items = questionnaires(page)
    delegations = page.visible((await page.people()).delegations)
    answered = await page.store.dashboard.notes_answered(cohort.id)
    rows = []
    for delegation in delegations:
        cells = []
        for questionnaire in items:
            cells.append({"id": questionnaire.id, "completion": completion(
                questionnaire, answered.get((delegation.id, questionnaire.id), set()))})
        rows.append({"delegation": delegation, "cells": cells})
    columns = [Column(q.id, text(q.title, page.lang),
                      sum(1 for r in rows for c in r["cells"]
                          if c["id"] == q.id and c["completion"].complete)) for q in items]
    return columns, rows


async def notes_page(page: PageContext) -> WebResponse:
    assert page.cohort is not None
    columns, rows = await completion_table(page, page.cohort)
    return page.render("notes/table", columns=columns, rows=rows, formats=FORMATS)


async def visible_delegation(page: PageContext, raw: str | None) -> Delegation:
    """A delegation of this cohort the viewer may see: 404 elsewhere, 403 if not theirs."""
    assert page.cohort is not None and page.viewer is not None
    wanted = number(raw)
    delegation = await page.store.delegations.get(wanted) if wanted is not None else None
    if delegation is None or delegation.cohort_id != page.cohort.id:
        raise WebError(404, "not_found")
    if not page.viewer.sees_delegation(page.cohort.id, delegation.id):
        raise WebError(403, "forbidden")
    return delegation


def questionnaire_of(page: PageContext, name: str) -> Questionnaire:
    found = next((q for q in questionnaires(page) if q.id == name), None)
    if found is None:
        raise WebError(404, "not_found")
    return found


async def note_page(page: PageContext) -> WebResponse:
    """A note's answers, who gave them and when, and every earlier value."""
    delegation = await visible_delegation(page, str(path_number(page, "delegation")))
    questionnaire = questionnaire_of(page, page.request.params.get("note", ""))
    ctx = page.chat()
    view = (await note_views(ctx, delegation, [questionnaire]))[0]
    history: dict[str, list[dict[str, Any]]] = {}
    if view.note is not None:
        rows = await page.store.notes.history(view.note.id)
        names = await member_names(page.store, {r.changed_by for r in rows})
        questions = {q.id: q for q in questionnaire.questions}
        for row in rows:
            question = questions.get(row.question_id)
            if question is None:
                continue
            history.setdefault(row.question_id, []).append({
                "version": row.version, "by": names.get(row.changed_by or -1),
                "at": row.changed_at, "value": shown(question, row.value, page.lang)})
    for entries in history.values():
        entries.reverse()
    return page.render("notes/note", view=view, delegation=delegation, history=history,
                       formats=FORMATS, description=text(questionnaire.description, page.lang))


async def export_notes(page: PageContext) -> WebResponse:
    """A note of a delegation, or the livret of the delegations the viewer may see, in one
    format (DOCX, Markdown, CSV): the files of ``note exporter``."""
    assert page.cohort is not None
    form = page.request.form
    fmt = form.get("format")
    if fmt not in FORMATS or fmt not in FORMAT_WORDS:
        raise WebError(404, "not_found")
    which = form.get("note")
    raw_delegation = form.get("delegation")
    if which == LIVRET:
        chosen = [await visible_delegation(page, raw_delegation)] if raw_delegation else \
            page.visible(await page.store.delegations.of_cohort(page.cohort.id))
        if not chosen:
            raise WebError(404, "not_found")
        _, files = await export_files(page.chat(), questionnaires(page), chosen, livret=True,
                                      formats=(fmt,))
    else:
        questionnaire = questionnaire_of(page, which)
        delegation = await visible_delegation(page, raw_delegation)
        _, files = await export_files(page.chat(), [questionnaire], [delegation],
                                      livret=False, formats=(fmt,))
    file = files[0]
    return WebResponse.download(file.content, file.mimetype, file.filename)


async def overview_section(page: PageContext, cohort: Cohort) -> Markup | None:
    """Note completion at a glance: per note, how many delegations completed it (the
    coordination), or where my delegation's notes stand (a member)."""
    columns, rows = await completion_table(page, cohort)
    if not columns:
        return None
    return page.fragment("sections/notes", columns=columns, rows=rows)


def register_web(web: WebRegistry) -> None:
    web.nav("notes", "notes.table", order=40)
    web.section("overview", "notes", order=40)(overview_section)
    web.page("notes.table", "/tableau/cohortes/{cohort}/notes")(notes_page)
    web.page("notes.export", "/tableau/cohortes/{cohort}/notes/exporter",
             method="POST")(export_notes)
    web.page("notes.note", "/tableau/cohortes/{cohort}/notes/{delegation}/{note}")(note_page)

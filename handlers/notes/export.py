"""Exports of notes: Markdown, CSV and an office document (DOCX), per note or as a livret.

Why DOCX through python-docx: it is actively maintained (1.2, 2025), pure Python
over lxml, and its files open in LibreOffice, OnlyOffice and Word alike, which
covers what French local governments use; odfpy, the ODT alternative, has had no
release since 2020.

Every word of a document comes from the templates (``notes/export/*``) in the
reader's language; this module only lays them out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from handlers.core.events import Attachment
from handlers.notes.service import Line, NoteView
from messages.render.plain import to_plain
from messages.texts import Texts

MD = "text/markdown; charset=utf-8"
CSV = "text/csv; charset=utf-8"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FORMATS = ("md", "csv", "docx")


@dataclass(frozen=True, slots=True)
class Group:
    """One delegation's notes in a document."""

    territory: str
    views: Sequence[NoteView]


@dataclass(frozen=True, slots=True)
class Export:
    """What to export: a title, when, and the delegations' notes."""

    title: str
    cohort: str
    groups: Sequence[Group]
    generated_at: datetime
    tz: tzinfo
    lang: str


class Labels:
    """The words of the documents, rendered from ``notes/export/labels`` as plain text."""

    TEMPLATE = "notes/export/labels"

    def __init__(self, texts: Texts, tz: tzinfo) -> None:
        self.texts = texts
        self.tz = tz

    def __call__(self, block: str, **context: Any) -> str:
        rendered = self.texts.block(self.TEMPLATE, block, tz=self.tz, **context)
        if rendered is None:
            raise KeyError(f"{self.TEMPLATE}: no block {block!r}")
        return to_plain(rendered)

    def answer(self, line: Line) -> str:
        if line.answer is None:
            return ""
        if line.answer.kind == "yes_no":
            return self("yes" if line.answer.flag else "no")
        if line.answer.items:
            return "\n".join(line.answer.items)
        return line.answer.text


def markdown(doc: Export, texts: Texts) -> bytes:
    """The document as Markdown (user text escaped, so it reads as written)."""
    body = texts("notes/export/document", doc=doc, tz=doc.tz)
    return (body.rstrip() + "\n").encode("utf-8")


def csv_bytes(doc: Export, texts: Texts) -> bytes:
    """One row per question; ``;``-separated with a BOM so a double-click in a French
    spreadsheet opens it in columns with its accents."""
    labels = Labels(texts, doc.tz)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([labels(f"col_{c}") for c in ("cohort", "delegation", "note", "number",
                                                  "question", "required", "answer", "author",
                                                  "date")])
    for group in doc.groups:
        for view in group.views:
            for line in view.lines:
                writer.writerow([
                    doc.cohort, group.territory, view.title, line.question.number, line.prompt,
                    labels("yes" if line.question.required else "no"), labels.answer(line),
                    line.by or "",
                    line.at.astimezone(doc.tz).strftime("%Y-%m-%d %H:%M") if line.at else ""])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def docx_bytes(doc: Export, texts: Texts) -> bytes:
    """An office document: a heading per delegation and note, a section per question."""
    from docx import Document
    from docx.enum.text import WD_BREAK

    labels = Labels(texts, doc.tz)
    document = Document()
    document.core_properties.title = doc.title
    document.core_properties.language = "fr-FR" if doc.lang == "fr" else "en-GB"
    document.core_properties.author = "cohortbot"
    document.add_heading(doc.title, level=0)
    document.add_paragraph(labels("generated", cohort=doc.cohort, at=doc.generated_at))
    for index, group in enumerate(doc.groups):
        if index:
            document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        if len(doc.groups) > 1 or len(group.views) > 1:
            document.add_heading(group.territory, level=1)
        for view in group.views:
            assert view.completion is not None
            document.add_heading(labels("note_heading", title=view.title,
                                        territory=group.territory), level=2)
            meta = document.add_paragraph()
            run = meta.add_run(labels("completion", completion=view.completion,
                                      contributors=view.contributors,
                                      updated=view.updated_at))
            run.italic = True
            for line in view.lines:
                document.add_heading(f"{line.question.number}. {line.prompt}", level=3)
                _answer(document, line, labels)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _answer(document: Any, line: Line, labels: Labels) -> None:
    from docx.shared import Pt, RGBColor

    if line.answer is None:
        run = document.add_paragraph().add_run(labels("unanswered"))
        run.italic = True
        run.font.color.rgb = RGBColor(0x80, 0x80, 0x80)
        return
    if line.answer.items:
        for item in line.answer.items:
            document.add_paragraph(item, style="List Bullet")
    else:
        for paragraph in labels.answer(line).split("\n\n"):
            document.add_paragraph(paragraph.strip())
    by = document.add_paragraph().add_run(labels("answered_by", by=line.by, at=line.at))
    by.italic = True
    by.font.size = Pt(8)


def attachments(doc: Export, texts: Texts, base: str, formats: Sequence[str]
                ) -> tuple[Attachment, ...]:
    """The files for ``formats`` (among md, csv, docx), named ``<base>.<ext>``."""
    files = []
    if "docx" in formats:
        files.append(Attachment(f"{base}.docx", DOCX, docx_bytes(doc, texts), doc.title))
    if "md" in formats:
        files.append(Attachment(f"{base}.md", MD, markdown(doc, texts), doc.title))
    if "csv" in formats:
        files.append(Attachment(f"{base}.csv", CSV, csv_bytes(doc, texts), doc.title))
    return tuple(files)

"""``cohortbot export --cohorte X``: everything stored about a cohort, as JSON and CSV.

The output is a directory (or a ``.zip`` of the same files): ``cohort.json`` holds every
table with its rows, and one ``<table>.csv`` per table opens in a spreadsheet (JSON
values written as JSON text, UTF-8 with a byte-order mark so office suites read the
accents). A ``README.txt`` says what is in it and what is deliberately left out.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from storage.db import Database
from storage.uow import unit_of_work

README = """Export of the cohort "{name}" ({slug}), made {at} by cohortbot.

cohort.json  every table below, with all its rows
<table>.csv  the same rows, one file per table (JSON values as JSON text)

Tables: {tables}.

Not included: the ICS feed's secret token, copies of imported calendar files, sign-in
links, dashboard sessions and one-time codes (secrets), and the bot's bookkeeping
(messages queued or sent, processed platform events, timers).
"""


class ExportError(Exception):
    """The export could not be made; the message says why and what to do."""


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v, ensure_ascii=False)
                             if isinstance(v, dict | list) else v for k, v in row.items()})
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def files(cohort: dict[str, Any], tables: dict[str, list[dict[str, Any]]], at: datetime
          ) -> dict[str, bytes]:
    """The export's files, by name."""
    out = {"README.txt": README.format(name=cohort["name"], slug=cohort["slug"],
                                       at=at.isoformat(timespec="seconds"),
                                       tables=", ".join(tables)).encode(),
           "cohort.json": json.dumps({"exported_at": at.isoformat(), "cohort": cohort,
                                      "tables": tables}, ensure_ascii=False, indent=2).encode()}
    for name, rows in tables.items():
        out[f"{name}.csv"] = _csv(rows)
    return out


def write(target: Path, content: dict[str, bytes]) -> Path:
    """Write the files into ``target`` (a directory, or a ``.zip`` archive)."""
    if target.suffix == ".zip":
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in content.items():
                archive.writestr(name, data)
        return target
    if target.exists() and any(target.iterdir()):
        raise ExportError(f"{target} is not empty — name a new directory or a .zip file")
    target.mkdir(parents=True, exist_ok=True)
    for name, data in content.items():
        (target / name).write_bytes(data)
    return target


async def export(db: Database, slug: str, target: Path | None, now: datetime) -> Path:
    """Export the cohort ``slug`` to ``target`` (default: ``export-<slug>-<date>.zip``)."""
    async with unit_of_work(db) as store:
        cohort = await store.cohorts.by_slug(slug)
        if cohort is None:
            known = ", ".join(c.slug for c in await store.cohort_export.cohorts()) or "none"
            raise ExportError(f"no cohort {slug!r} (known: {known})")
        tables = await store.cohort_export.tables(cohort)
    target = target or Path(f"export-{slug}-{now.date().isoformat()}.zip")
    content = files(tables["cohort"][0], tables, now)
    return await asyncio.to_thread(write, target, content)

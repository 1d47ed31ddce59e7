"""Looking for a person in the whole database, the way an auditor would.

The scan reflects the tables that really exist (not the models), reads every cell of
every table, and looks for each needle as written, Markdown-escaped, URL-quoted and
JSON-escaped, in the raw text and in decoded JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from sqlalchemy import MetaData, select

from storage.db import Database

_MARKDOWN = re.compile(r"([\\`*_\[\]<>~|#!])")


def forms(needle: str) -> set[str]:
    found = {needle, _MARKDOWN.sub(r"\\\1", needle), quote(needle), quote(needle, safe=""),
             quote(needle, safe="@:.-_")}
    found |= {json.dumps(f)[1:-1] for f in list(found)}
    return found


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    text = value.decode("utf-8", "replace") if isinstance(value, bytes | memoryview) \
        else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False) \
        if isinstance(value, dict | list) else str(value)
    out = [text]
    try:
        out.append(json.dumps(json.loads(text), ensure_ascii=False))
    except (ValueError, TypeError):
        pass
    return out


async def traces(db: Database, needles: list[str]) -> list[str]:
    """``table.column: excerpt`` for every cell holding one of ``needles``."""
    wanted = {form: needle for needle in needles for form in forms(needle)}

    def scan(sync: Any) -> list[str]:
        metadata = MetaData()
        metadata.reflect(sync)
        found = []
        for table in metadata.sorted_tables:
            for row in sync.execute(select(table)).mappings():
                for column, value in row.items():
                    for text in _texts(value):
                        for form, needle in wanted.items():
                            if form in text:
                                at = text.index(form)
                                found.append(f"{table.name}.{column} ({needle!r}): "
                                             f"…{text[max(0, at - 40):at + 60]}…")
        return sorted(set(found))

    async with db.engine.connect() as conn:
        return await conn.run_sync(scan)

"""Parsing the neutral markup once, with markdown-it (CommonMark, no raw HTML)."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("strikethrough")
    md.validateLink = _validate_link  # type: ignore[method-assign]
    return md


def _validate_link(url: str) -> bool:
    lowered = url.strip().lower()
    return not lowered.startswith(("javascript:", "vbscript:", "file:", "data:"))


def tokens(text: str) -> list[Token]:
    return parser().parse(text)


def children(token: Token) -> list[Token]:
    return token.children or []

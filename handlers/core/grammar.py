"""Splitting a command line into words, the way people type in French chats.

Double quotes, French guillemets « … » and curly quotes group words; an apostrophe
is a letter (``l'agent``), never a quote. ``clé=valeur`` words are options.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from handlers.core.errors import UserFacingError

MAX_COMMAND_LENGTH = 4000

_QUOTES = {'"': '"', "«": "»", "“": "”", "„": "“"}
_OPTION = re.compile(r"^([a-zà-ÿ][a-zà-ÿ0-9_-]*)=(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a command; ``quoted`` tells that the user grouped it with quotes."""

    text: str
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Option:
    """A ``clé=valeur`` word."""

    key: str
    value: str


def check_text(text: str) -> str:
    """Refuse what no command may contain, before anything reads it."""
    if len(text) > MAX_COMMAND_LENGTH:
        raise UserFacingError("errors/too_long", length=len(text), limit=MAX_COMMAND_LENGTH)
    for ch in text:
        if ch in "\n\t\r":
            continue
        if unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\u200d\u00ad":
            raise UserFacingError("errors/control_characters")
    stripped = text.strip()
    if not stripped:
        raise UserFacingError("errors/empty_command")
    return stripped


def split_words(text: str) -> list[Word | Option]:
    """Split ``text`` into words and options.

    Raises :class:`UserFacingError` for unbalanced quotes, control characters,
    overlong or empty input.
    """
    text = check_text(text)
    items: list[Word | Option] = []
    buf: list[str] = []
    quoted = False
    started = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in _QUOTES:
            closing = _QUOTES[ch]
            end = text.find(closing, i + 1)
            if end < 0:
                raise UserFacingError("errors/unbalanced_quotes", quote=ch, closing=closing)
            buf.append(text[i + 1:end].strip("\u00a0\u202f "))
            quoted = True
            started = True
            i = end + 1
            continue
        if ch in "»”":
            raise UserFacingError("errors/unbalanced_quotes", quote=ch, closing=ch)
        if ch.isspace():
            if started:
                items.append(_make(buf, quoted))
                buf, quoted, started = [], False, False
            i += 1
            continue
        buf.append(ch)
        started = True
        i += 1
    if started:
        items.append(_make(buf, quoted))
    return items


def _make(buf: list[str], quoted: bool) -> Word | Option:
    text = "".join(buf)
    match = _OPTION.match(text)
    if match and not (quoted and text.startswith(tuple(_QUOTES))):
        return Option(_fold(match.group(1)), match.group(2))
    return Word(text, quoted)


def _fold(word: str) -> str:
    """Lower-case and strip accents, so ``créer``, ``Creer`` and ``CREER`` are one verb."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


fold = _fold

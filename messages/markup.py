"""The neutral markup: a Markdown subset, with escaping of user text and member mentions.

A mention is written as a link with the ``cb-mention:`` scheme carrying the
person's account on each platform; each renderer turns it into that platform's
native mention (Slack ``<@U…>``, a Matrix pill) or the plain name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

MENTION_SCHEME = "cb-mention:"
ROOM_SCHEME = "cb-room:"
EVERYONE = "all"
"""The handle of a room mention that means "everyone here" (Slack ``<!channel>``, Matrix
``@room``)."""
_SPECIALS = re.compile(r"([\\`*_\[\]<>~|#!])")
_LINE_START = re.compile(r"^(\s*)([-+>]|\d+[.)])(\s)", re.MULTILINE)


class Raw(str):
    """Markup that is already safe: inserted into a template without escaping."""

    __slots__ = ()


def escape(text: object) -> str:
    """Make user-provided text literal in the neutral markup."""
    if isinstance(text, Raw):
        return text
    escaped = _SPECIALS.sub(r"\\\1", str(text))
    return _LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}{m[3]}", escaped)


@dataclass(frozen=True, slots=True)
class Person:
    """Someone to mention: a display name and their account per platform."""

    name: str
    handles: Mapping[str, str] = field(default_factory=dict)


def mention(person: Person) -> Raw:
    """``[Name](cb-mention:slack=U1;matrix=@a:b)`` — a mention every renderer understands."""
    target = ";".join(f"{p}={quote(uid, safe='@:.-_')}" for p, uid in sorted(person.handles.items()))
    label = escape(person.name)
    return Raw(f"[{label}]({MENTION_SCHEME}{target or 'none'})")


def parse_mention(href: str) -> dict[str, str] | None:
    """The platform handles of a mention link, or None when ``href`` is not one."""
    if not href.startswith(MENTION_SCHEME):
        return None
    body = href[len(MENTION_SCHEME):]
    handles: dict[str, str] = {}
    for part in body.split(";"):
        platform, sep, uid = part.partition("=")
        if sep:
            handles[platform] = unquote(uid)
    return handles


def code(text: object) -> Raw:
    """Inline code that stays literal whatever backticks it holds."""
    value = str(text).replace("\n", " ")
    fence = "`"
    while fence in value:
        fence += "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return Raw(f"{fence}{pad}{value}{pad}{fence}")


def room_link(label: str, handles: Mapping[str, str]) -> Raw:
    """``[#general](cb-room:slack=C1;matrix=!r:s)`` — a room (channel) mention every
    renderer turns into its platform's own; ``{"all": "all"}`` means everyone in the room."""
    target = ";".join(f"{p}={quote(rid, safe='@:.-_!#')}" for p, rid in sorted(handles.items()))
    return Raw(f"[{escape(label)}]({ROOM_SCHEME}{target or 'none'})")


def parse_room(href: str) -> dict[str, str] | None:
    """The platform handles of a room mention link, or None when ``href`` is not one."""
    if not href.startswith(ROOM_SCHEME):
        return None
    handles: dict[str, str] = {}
    for part in href[len(ROOM_SCHEME):].split(";"):
        platform, sep, rid = part.partition("=")
        if sep:
            handles[platform] = unquote(rid)
    return handles

"""Matrix: an ``m.notice`` content with an HTML ``formatted_body``, a plain ``body``,
and members mentioned as pills (with ``m.mentions``).

``Reply.card`` may ask for a native event (a poll); :data:`CARD_RENDERERS` lists
the card types Matrix shows natively. Any other card falls back to text + actions.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from markdown_it.token import Token

from handlers.core.events import Reply
from messages.markup import EVERYONE, MENTION_SCHEME, parse_mention, parse_room
from messages.render.markdown import parser, tokens
from messages.render.plain import to_plain


def to_html(text: str, *, parsed: list[Token] | None = None) -> str:
    """Neutral markup → Matrix HTML; mention links become ``https://matrix.to`` pills.

    A member with no Matrix account is shown in bold instead of a dead link.
    ``parsed``: the tokens of ``text`` if already parsed (they are changed here).
    """
    toks = parsed if parsed is not None else tokens(text)
    for tok in toks:
        pending_close: list[bool] = []
        for child in tok.children or []:
            if child.type == "link_open":
                href = str(child.attrGet("href") or "")
                handles = parse_mention(href)
                rooms = parse_room(href)
                if rooms is not None:
                    room_id = rooms.get("matrix")
                    if room_id and EVERYONE not in rooms:
                        child.attrSet("href", f"https://matrix.to/#/{room_id}")
                        pending_close.append(False)
                    else:
                        child.type, child.tag, child.attrs = "strong_open", "strong", {}
                        pending_close.append(True)
                    continue
                if handles is None:
                    pending_close.append(False)
                    continue
                matrix_id = handles.get("matrix")
                if matrix_id:
                    child.attrSet("href", f"https://matrix.to/#/{matrix_id}")
                    pending_close.append(False)
                else:
                    child.type, child.tag, child.attrs = "strong_open", "strong", {}
                    pending_close.append(True)
            elif child.type == "link_close" and pending_close:
                if pending_close.pop():
                    child.type, child.tag = "strong_close", "strong"
    return parser().renderer.render(toks, parser().options, {}).strip()


def mentioned_users(text: str) -> list[str]:
    if MENTION_SCHEME not in text:
        return []
    found: list[str] = []
    for tok in tokens(text):
        for child in tok.children or []:
            if child.type == "link_open":
                handles = parse_mention(str(child.attrGet("href") or ""))
                if handles and "matrix" in handles and handles["matrix"] not in found:
                    found.append(handles["matrix"])
    return found


def to_content(reply: Reply, *, msgtype: str = "m.notice", command_prefix: str = "!cohorte "
               ) -> dict[str, Any]:
    """A whole reply as the content of an ``m.room.message`` event."""
    body, formatted, users = _rendered(reply.text)
    hints = [a for a in reply.actions if a.command]
    if hints:
        body += "\n" + "\n".join(f"• {a.label} : {command_prefix}{a.command}" for a in hints)
        items = "".join(
            f"<li>{html.escape(a.label)} : <code>{html.escape(command_prefix + a.command)}</code></li>"
            for a in hints)
        formatted += f"<ul>{items}</ul>"
    content: dict[str, Any] = {
        "msgtype": msgtype,
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": formatted,
    }
    content["m.mentions"] = {"user_ids": list(users)} if users else {}
    return content


@lru_cache(maxsize=256)
def _rendered(text: str) -> tuple[str, str, tuple[str, ...]]:
    """Plain body, HTML and mentioned users of a text. The same texts come back often (help,
    reminders, errors, a poll's message edited as votes arrive) and parsing them was most of
    the cost of sending a reply."""
    parsed = tokens(text)
    return (to_plain(text, mention_prefix="", parsed=parsed), to_html(text, parsed=parsed),
            tuple(mentioned_users(text)))


CardRenderer = Callable[[Reply, dict[str, Any]], "tuple[str, dict[str, Any]] | None"]
"""``(reply, card) -> (event type, content)``, or None to fall back to text + actions."""

CARD_RENDERERS: dict[str, CardRenderer] = {
    # "poll": a native m.poll.start (the polls feature adds it here)
}
"""Card types shown natively on Matrix, by ``card["type"]``."""


def to_event(reply: Reply, *, command_prefix: str = "!cohorte ",
             cards: Mapping[str, CardRenderer] | None = None) -> tuple[str, dict[str, Any]]:
    """The event type and content that show ``reply`` on Matrix.

    A card with a registered renderer becomes that native event; an unknown card
    (or a renderer declining it) is shown as text with its actions as commands.
    """
    card = reply.card
    renderers = CARD_RENDERERS if cards is None else cards
    if isinstance(card, dict) and isinstance(card.get("type"), str):
        renderer = renderers.get(card["type"])
        if renderer is not None:
            native = renderer(reply, card)
            if native is not None:
                return native
    return "m.room.message", to_content(reply, command_prefix=command_prefix)

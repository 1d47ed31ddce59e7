"""How a bridge copy (a ``relay`` card and its neutral markup) looks on each platform.

Slack: the text in mrkdwn, posted under its author's name (``username``); Matrix: an
``m.text`` whose first words are the author's name in bold (``**Zoé Durand** : …``),
with pills for mentioned members and a marker another bridge recognises.
"""

from __future__ import annotations

import html
from typing import Any

from handlers.core.events import Reply
from messages.render.matrix import mentioned_users, to_html
from messages.render.plain import to_plain
from messages.render.slack import to_mrkdwn

RELAY_MARKER = "fr.cohortbot.relay"
SLACK_USERNAME_LIMIT = 80
NBSP = "\u00a0"


def author(card: dict[str, Any]) -> str:
    sender = card.get("sender") or {}
    return str(sender.get("name") or "?")


def slack_text(reply: Reply, card: dict[str, Any]) -> str:
    """The copy's ``text`` on Slack (mrkdwn); a ``/me`` in italics."""
    text = to_mrkdwn(reply.text)
    if card.get("emote") and text:
        return f"_{text}_"
    return text


def slack_identity(card: dict[str, Any]) -> dict[str, str]:
    """``username`` (and ``icon_url`` when the author has a public picture) for chat.postMessage."""
    sender = card.get("sender") or {}
    identity = {"username": author(card)[:SLACK_USERNAME_LIMIT]}
    avatar = sender.get("avatar")
    if isinstance(avatar, str) and avatar.startswith(("https://", "http://")):
        identity["icon_url"] = avatar
    return identity


def matrix_content(reply: Reply, card: dict[str, Any]) -> dict[str, Any]:
    """The copy as the content of an ``m.room.message`` (``m.text``) on Matrix."""
    name = author(card)
    body = to_plain(reply.text, mention_prefix="")
    formatted = to_html(reply.text)
    strong = f"<strong>{html.escape(name)}</strong>"
    if card.get("emote"):
        formatted = f"<em>{formatted[3:-4] if formatted.startswith('<p>') else formatted}</em>"
        formatted = f"<p>{strong} {formatted}</p>"
        body = f"{name} {body}"
    elif formatted.startswith("<p>"):
        formatted = f"<p>{strong}{NBSP}: {formatted[3:]}"
        body = f"{name}{NBSP}: {body}"
    else:
        formatted = f"<p>{strong}{NBSP}:</p>{formatted}"
        body = f"{name}{NBSP}:\n{body}"
    users = mentioned_users(reply.text)
    return {"msgtype": "m.text", "body": body, "format": "org.matrix.custom.html",
            "formatted_body": formatted, "m.mentions": {"user_ids": users} if users else {},
            RELAY_MARKER: {"from": (card.get("source") or {}).get("platform")}}


def matrix_file_content(card: dict[str, Any], mxc: str, *, size: int,
                        width: int | None = None, height: int | None = None
                        ) -> dict[str, Any]:
    """A copied file on Matrix: its author named in the caption."""
    shared = card["file"]
    name = str(shared.get("name") or "fichier")
    kind = shared.get("kind") or "file"
    msgtype = {"image": "m.image", "video": "m.video", "audio": "m.audio"}.get(kind, "m.file")
    info: dict[str, Any] = {"mimetype": shared.get("mimetype") or "application/octet-stream",
                            "size": size}
    if width and height:
        info.update(w=width, h=height)
    who = author(card)
    return {"msgtype": msgtype, "body": f"{who}{NBSP}: {name}", "filename": name, "url": mxc,
            "info": info, "format": "org.matrix.custom.html",
            "formatted_body": f"<strong>{html.escape(who)}</strong>{NBSP}: {html.escape(name)}",
            RELAY_MARKER: {"from": (card.get("source") or {}).get("platform")}}


def human_size(size: int | None, lang: str = "fr") -> str:
    if size is None:
        return ""
    units = ("o", "Ko", "Mo", "Go") if lang == "fr" else ("B", "KB", "MB", "GB")
    value = float(size)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            shown = f"{value:.0f}" if unit == units[0] else f"{value:.1f}"
            return f"{shown.replace('.', ',') if lang == 'fr' else shown}{NBSP}{unit}"
        value /= 1024
    return str(size)

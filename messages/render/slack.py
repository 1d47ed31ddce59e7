"""Slack: mrkdwn text and Block Kit blocks, within Slack's published limits.

Only plain dicts are produced here; the Slack adapter in ``bot/`` sends them.
"""

from __future__ import annotations

from typing import Any

from markdown_it.token import Token

from handlers.core.events import ActionStyle, Reply
from messages.markup import parse_mention
from messages.render.markdown import children, tokens

SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
ACTIONS_PER_BLOCK = 25
BLOCKS_PER_MESSAGE = 50
MESSAGE_TEXT_LIMIT = 40_000


def escape_mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(text: str) -> str:
    """Neutral markup → Slack mrkdwn (``*bold*``, ``_it_``, ``~strike~``, ``<url|label>``)."""
    parts = []
    for kind, chunk in _chunks(text):
        if kind == "header":
            parts.append(f"*{escape_mrkdwn(chunk)}*\n\n")
        elif kind == "divider":
            parts.append("———\n\n")
        else:
            parts.append(chunk)
    return "".join(parts).strip("\n")


def _chunks(text: str) -> list[tuple[str, str]]:
    """Top-level pieces tagged ``header``, ``divider`` or ``text``, in order."""
    out: list[tuple[str, str]] = []
    list_stack: list[list[int]] = []
    quote_depth = 0
    prefix = ""
    heading = False
    for tok in tokens(text):
        t = tok.type
        if t in ("bullet_list_open", "ordered_list_open"):
            list_stack.append([0 if t == "bullet_list_open" else int(tok.attrGet("start") or 1)])
        elif t in ("bullet_list_close", "ordered_list_close"):
            list_stack.pop()
            if not list_stack:
                out.append(("text", "\n"))
        elif t == "list_item_open":
            indent = "    " * (len(list_stack) - 1)
            counter = list_stack[-1]
            if counter[0] == 0:
                prefix = f"{indent}• "
            else:
                prefix = f"{indent}{counter[0]}. "
                counter[0] += 1
        elif t == "blockquote_open":
            quote_depth += 1
        elif t == "blockquote_close":
            quote_depth -= 1
        elif t == "heading_open":
            heading = True
        elif t == "heading_close":
            heading = False
        elif t == "inline":
            if heading and not list_stack and not quote_depth:
                out.append(("header", _inline(children(tok), plain=True)))
                continue
            line = _inline(children(tok))
            if heading:
                line = f"*{line}*"
            lead = "> " * quote_depth + prefix
            prefix = ""
            if lead:
                line = lead + line.replace("\n", "\n" + ("> " * quote_depth))
            out.append(("text", line))
        elif t == "paragraph_close":
            out.append(("text", "\n" if list_stack else "\n\n"))
        elif t in ("fence", "code_block"):
            out.append(("text", "```\n" + escape_mrkdwn(tok.content.rstrip("\n")) + "\n```\n\n"))
        elif t == "hr":
            out.append(("divider", ""))
    return out


def _inline(items: list[Token], plain: bool = False) -> str:
    parts: list[str] = []
    links: list[tuple[str, int] | None] = []
    for tok in items:
        t = tok.type
        if t == "text":
            parts.append(tok.content if plain else escape_mrkdwn(tok.content))
        elif t == "code_inline":
            parts.append(tok.content if plain else f"`{escape_mrkdwn(tok.content)}`")
        elif t in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif plain:
            continue
        elif t in ("strong_open", "strong_close"):
            parts.append("*")
        elif t in ("em_open", "em_close"):
            parts.append("_")
        elif t in ("s_open", "s_close"):
            parts.append("~")
        elif t == "link_open":
            links.append((str(tok.attrGet("href") or ""), len(parts)))
        elif t == "link_close" and links:
            opened = links.pop()
            if opened is None:
                continue
            href, start = opened
            label = "".join(parts[start:])
            del parts[start:]
            handles = parse_mention(href)
            if handles is not None:
                slack_id = handles.get("slack")
                parts.append(f"<@{slack_id}>" if slack_id else f"*{label}*")
            else:
                parts.append(f"<{href}|{label.replace('|', '¦')}>")
    return "".join(parts)


def mentioned_users(text: str) -> list[str]:
    """Slack user ids mentioned in neutral markup."""
    found: list[str] = []
    for tok in tokens(text):
        for child in children(tok):
            if child.type == "link_open":
                handles = parse_mention(str(child.attrGet("href") or ""))
                if handles and "slack" in handles:
                    found.append(handles["slack"])
    return found


def to_blocks(reply: Reply, *, command_prefix: str = "/cohorte ") -> list[dict[str, Any]]:
    """A reply as Block Kit: headers, dividers, sections of mrkdwn, then its buttons."""
    blocks: list[dict[str, Any]] = []
    buffer = ""

    def flush() -> None:
        nonlocal buffer
        text = buffer.strip("\n")
        while text:
            piece, text = _split(text, SECTION_TEXT_LIMIT)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": piece}})
        buffer = ""

    for kind, chunk in _chunks(reply.text):
        if kind == "header":
            flush()
            blocks.append({"type": "header", "text": {
                "type": "plain_text", "text": _clip(chunk, HEADER_TEXT_LIMIT), "emoji": True}})
        elif kind == "divider":
            flush()
            blocks.append({"type": "divider"})
        else:
            buffer += chunk
    flush()
    for start in range(0, len(reply.actions), ACTIONS_PER_BLOCK):
        elements = []
        for index, action in enumerate(reply.actions[start:start + ACTIONS_PER_BLOCK],
                                       start=start):
            button: dict[str, Any] = {
                "type": "button",
                "text": {"type": "plain_text", "text": _clip(action.label, BUTTON_TEXT_LIMIT),
                         "emoji": True},
                "action_id": f"{action.action}#{index}",
                "value": action.value[:BUTTON_VALUE_LIMIT],
            }
            if action.style is not ActionStyle.DEFAULT:
                button["style"] = action.style.value
            elements.append(button)
        blocks.append({"type": "actions", "elements": elements})
    if len(blocks) > BLOCKS_PER_MESSAGE:
        blocks = blocks[:BLOCKS_PER_MESSAGE - 1] + [{"type": "context", "elements": [
            {"type": "mrkdwn", "text": "…"}]}]
    return blocks


def fallback_text(reply: Reply, limit: int = MESSAGE_TEXT_LIMIT) -> str:
    """The ``text`` field: used by notifications and screen readers."""
    return _clip(to_mrkdwn(reply.text), limit)


def _split(text: str, limit: int) -> tuple[str, str]:
    if len(text) <= limit:
        return text, ""
    cut = text.rfind("\n", 0, limit)
    if cut < limit // 2:
        cut = limit
    return text[:cut], text[cut:].lstrip("\n")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"

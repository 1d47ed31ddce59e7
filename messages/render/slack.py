"""Slack: mrkdwn text and Block Kit blocks, within Slack's published limits.

Only plain dicts are produced here; the Slack adapter in ``bot/`` sends them.
"""

from __future__ import annotations

from typing import Any

from markdown_it.token import Token

from handlers.core.events import ActionStyle, Reply
from messages.markup import EVERYONE, escape, parse_mention, parse_room
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
            rooms = parse_room(href)
            if handles is not None:
                slack_id = handles.get("slack")
                parts.append(f"<@{slack_id}>" if slack_id else f"*{label}*")
            elif rooms is not None:
                channel = rooms.get("slack")
                everyone = rooms.get(EVERYONE)
                parts.append(f"<!{everyone if everyone in ('here', 'channel') else 'channel'}>"
                             if everyone else
                             f"<#{channel}>" if channel else f"*{label}*")
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


FORM_CALLBACK_ID = "cohortbot.form"
MODAL_TITLE_LIMIT = 24
INPUT_LABEL_LIMIT = 2000
OPTION_TEXT_LIMIT = 75
OPTION_VALUE_LIMIT = 150
OPTIONS_PER_SELECT = 100
TEXT_INPUT_LIMIT = 3000
MODAL_BLOCKS_LIMIT = 100
PRIVATE_METADATA_LIMIT = 3000


def is_form(card: dict[str, Any] | None) -> bool:
    """Whether a reply's card is a form the Slack adapter can show as a modal.

    A form card is ``{"type": "form", "title", "submit", "action", "value",
    "intro"?, "fields": [{"name", "label", "kind", "options"?, "optional"?,
    "initial"?}]}`` where ``kind`` is ``text``, ``long_text``, ``choice``,
    ``choices`` or ``date`` and options are ``{"value", "label"}``. Submitting it
    comes back as an ``ActionEvent`` named ``action`` with ``value`` and the
    filled ``form`` (``{name: text | option value | [option values] | "YYYY-MM-DD"}``).
    """
    return isinstance(card, dict) and card.get("type") == "form" and isinstance(
        card.get("fields"), list) and isinstance(card.get("action"), str)


def to_modal(card: dict[str, Any], *, private_metadata: str) -> dict[str, Any]:
    """A form card as a Slack modal view, clipped to Slack's limits."""
    blocks: list[dict[str, Any]] = []
    intro = card.get("intro")
    if isinstance(intro, str) and intro.strip():
        text = to_mrkdwn(intro)
        while text and len(blocks) < 5:
            piece, text = _split(text, SECTION_TEXT_LIMIT)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": piece}})
    for field in card["fields"][:MODAL_BLOCKS_LIMIT - len(blocks)]:
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            continue
        element = _form_element(field)
        if element is None:
            continue
        blocks.append({
            "type": "input",
            "block_id": field["name"][:255],
            "label": {"type": "plain_text",
                      "text": _clip(str(field.get("label") or field["name"]), INPUT_LABEL_LIMIT)},
            "optional": bool(field.get("optional", False)),
            "element": element,
        })
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": FORM_CALLBACK_ID,
        "title": {"type": "plain_text", "text": _clip(str(card.get("title") or "cohortbot"),
                                                      MODAL_TITLE_LIMIT)},
        "submit": {"type": "plain_text", "text": _clip(str(card.get("submit") or "OK"),
                                                       MODAL_TITLE_LIMIT)},
        "private_metadata": private_metadata[:PRIVATE_METADATA_LIMIT],
        "blocks": blocks,
    }
    if card.get("close"):
        view["close"] = {"type": "plain_text", "text": _clip(str(card["close"]),
                                                             MODAL_TITLE_LIMIT)}
    return view


def _form_element(field: dict[str, Any]) -> dict[str, Any] | None:
    kind = field.get("kind", "text")
    initial = field.get("initial")
    if kind in ("text", "long_text"):
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value",
                                   "multiline": kind == "long_text",
                                   "max_length": TEXT_INPUT_LIMIT}
        if isinstance(initial, str) and initial:
            element["initial_value"] = initial[:TEXT_INPUT_LIMIT]
        return element
    if kind == "date":
        element = {"type": "datepicker", "action_id": "value"}
        if isinstance(initial, str) and initial:
            element["initial_date"] = initial
        return element
    if kind in ("choice", "choices"):
        options = [_option(o) for o in field.get("options") or [] if isinstance(o, dict)]
        options = [o for o in options if o is not None][:OPTIONS_PER_SELECT]
        if not options:
            return None
        many = kind == "choices"
        if len(options) <= 10:
            element = {"type": "checkboxes" if many else "radio_buttons", "action_id": "value",
                       "options": options}
        else:
            element = {"type": "multi_static_select" if many else "static_select",
                       "action_id": "value", "options": options,
                       "placeholder": {"type": "plain_text", "text": "…"}}
        chosen = initial if isinstance(initial, list) else [initial] if initial else []
        picked = [o for o in options if o["value"] in chosen]
        if picked:
            if many:
                element["initial_options"] = picked
            else:
                element["initial_option"] = picked[0]
        return element
    return None


def _option(option: dict[str, Any]) -> dict[str, Any] | None:
    value = option.get("value")
    if not isinstance(value, str) or not value or len(value) > OPTION_VALUE_LIMIT:
        return None
    label = str(option.get("label") or value)
    return {"text": {"type": "plain_text", "text": _clip(label, OPTION_TEXT_LIMIT)},
            "value": value}


POLL_FORM_LABELS = ("submit", "answer", "comment", "yes", "maybe", "no")
"""The words a poll's modal needs, rendered from ``slack/form_labels`` in the reader's language."""


def poll_form(card: dict[str, Any], labels: dict[str, str]) -> dict[str, Any] | None:
    """A polls ``poll_form`` card (see HACKING.md, Polls) as a form card, or None.

    Field names say where each answer goes in the submitted ``form``: ``options[]`` is
    a list of option ids, ``availability.<id>`` one slot of the availability grid,
    ``text`` and ``comment`` plain strings — what ``poll.submit`` expects.
    """
    if not isinstance(card, dict) or card.get("type") != "poll_form":
        return None
    kind = card.get("kind")
    options = [o for o in card.get("options") or [] if isinstance(o, dict) and "id" in o]
    current = card.get("current") if isinstance(card.get("current"), dict) else {}
    choices = [{"value": str(o["id"]), "label": str(o.get("label") or o["id"])} for o in options]
    fields: list[dict[str, Any]] = []
    if kind in ("yes_no", "single"):
        picked = [str(c) for c in current.get("choices") or []]
        fields.append({"name": "options[]", "label": labels["answer"], "kind": "choice",
                       "options": choices, "initial": picked[0] if picked else None})
    elif kind == "multi":
        fields.append({"name": "options[]", "label": labels["answer"], "kind": "choices",
                       "options": choices, "optional": True,
                       "initial": [str(c) for c in current.get("choices") or []]})
    elif kind == "availability":
        grid = current.get("availability") or {}
        values = [{"value": v, "label": labels[v]} for v in ("yes", "maybe", "no")]
        for option in options[:MODAL_BLOCKS_LIMIT - 5]:
            fields.append({"name": f"availability.{option['id']}",
                           "label": str(option.get("label") or option["id"]), "kind": "choice",
                           "options": values, "optional": True,
                           "initial": grid.get(str(option["id"]))})
    elif kind == "text":
        fields.append({"name": "text", "label": labels["answer"], "kind": "long_text",
                       "initial": current.get("text") or ""})
    else:
        return None
    if card.get("allow_comment"):
        fields.append({"name": "comment", "label": labels["comment"], "kind": "text",
                       "optional": True, "initial": card.get("comment") or ""})
    question = str(card.get("question") or "")
    return {"type": "form", "title": str(card.get("title") or question or labels["answer"]),
            "submit": labels["submit"], "action": "poll.submit",
            "value": str(card.get("poll_id", "")), "intro": escape(question),
            "fields": fields}

"""Plain text: the console, Matrix's ``body`` and screen-reader fallbacks."""

from __future__ import annotations

from markdown_it.token import Token

from handlers.core.events import Reply
from messages.markup import parse_mention, parse_room
from messages.render.markdown import children, tokens


def to_plain(text: str, *, mention_prefix: str = "@",
             parsed: list[Token] | None = None) -> str:
    """Neutral markup → readable plain text (bullets kept, markers dropped).

    ``parsed``: the tokens of ``text`` when the caller parsed it already (they are
    only read here).
    """
    out: list[str] = []
    list_stack: list[list[int]] = []
    quote_depth = 0
    pending_prefix = ""
    for tok in parsed if parsed is not None else tokens(text):
        t = tok.type
        if t in ("bullet_list_open", "ordered_list_open"):
            list_stack.append([0 if t == "bullet_list_open" else int(tok.attrGet("start") or 1)])
            if out and not out[-1].endswith("\n"):
                out.append("\n")
        elif t in ("bullet_list_close", "ordered_list_close"):
            list_stack.pop()
            if not list_stack:
                out.append("\n")
        elif t == "list_item_open":
            indent = "  " * (len(list_stack) - 1)
            counter = list_stack[-1]
            if counter[0] == 0:
                pending_prefix = f"{indent}• "
            else:
                pending_prefix = f"{indent}{counter[0]}. "
                counter[0] += 1
        elif t == "blockquote_open":
            quote_depth += 1
        elif t == "blockquote_close":
            quote_depth -= 1
        elif t == "heading_open":
            pending_prefix = ""
        elif t == "inline":
            line = _inline(children(tok), mention_prefix)
            prefix = "> " * quote_depth + pending_prefix
            pending_prefix = ""
            if prefix:
                line = prefix + line.replace("\n", "\n" + " " * len(prefix))
            out.append(line)
        elif t in ("paragraph_close", "heading_close"):
            out.append("\n" if list_stack else "\n\n")
        elif t in ("fence", "code_block"):
            out.append(tok.content.rstrip("\n") + "\n\n")
        elif t == "hr":
            out.append("────────\n\n")
    return "".join(out).strip("\n")


def _inline(items: list[Token], mention_prefix: str) -> str:
    parts: list[str] = []
    link_stack: list[str | None] = []
    starts: list[int] = []
    for tok in items:
        t = tok.type
        if t == "text":
            parts.append(tok.content)
        elif t == "code_inline":
            parts.append(tok.content)
        elif t in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif t == "link_open":
            href = str(tok.attrGet("href") or "")
            if parse_mention(href) is not None:
                parts.append(mention_prefix)
                link_stack.append(None)
            elif parse_room(href) is not None:
                link_stack.append(None)
            else:
                link_stack.append(href)
                parts.append("")
            starts.append(len(parts))
        elif t == "link_close":
            href = link_stack.pop() if link_stack else None
            start = starts.pop() if starts else len(parts)
            if href and not href.startswith("mailto:") and "".join(parts[start:]) != href:
                parts.append(f" ({href})")
        elif t == "image":
            parts.append(tok.content or "")
    return "".join(parts)


def reply_to_plain(reply: Reply, command_prefix: str = "") -> str:
    """A whole reply as text, with the commands that stand for its buttons."""
    text = to_plain(reply.text)
    hints = [f"  [{a.label}] {command_prefix}{a.command}" for a in reply.actions if a.command]
    if hints:
        text += "\n" + "\n".join(hints)
    for attachment in reply.attachments:
        text += f"\n  📎 {attachment.filename}"
    return text

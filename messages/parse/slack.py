"""Slack message text → neutral markup, for the bridge.

Slack clients send a message twice over: ``blocks`` with one ``rich_text`` block (a
typed tree: sections, lists, quotes, code; styled text runs, links, users, channels,
emoji) and ``text`` in mrkdwn. The tree is read when present (no guessing); mrkdwn is
parsed for messages that only have ``text`` (API clients, other integrations).

Mentions come out as ``cb-mention:slack=U…`` links labelled with the user id (the
bridge puts names and the other platform's account in), channel mentions as
``cb-room:slack=C…`` links, ``<!here>``/``<!channel>`` as the "everyone" room link,
emoji shortcodes as Unicode where one exists.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

import emoji

from messages.markup import EVERYONE, Person, Raw, code, escape, mention, room_link

BULLETS = ("• ", "◦ ", "▪ ", "- ")
_MARKS = {"*": "**", "_": "*", "~": "~~"}


def shortcode(name: str) -> str:
    """``smile`` → 😄; a custom emoji keeps its ``:name:``."""
    shown = emoji.emojize(f":{name}:", language="alias")
    return shown


def user_link(user_id: str, label: str | None = None) -> Raw:
    return mention(Person(label or user_id, {"slack": user_id}))


# ---------------------------------------------------------------------------- rich_text


def from_blocks(blocks: Any) -> str | None:
    """The neutral markup of a message's ``rich_text`` blocks, or None when it has none."""
    if not isinstance(blocks, list):
        return None
    rich = [b for b in blocks if isinstance(b, Mapping) and b.get("type") == "rich_text"]
    if not rich:
        return None
    parts: list[str] = []
    for block in rich:
        for element in block.get("elements") or []:
            if isinstance(element, Mapping):
                rendered = _block_element(element)
                if rendered:
                    parts.append(rendered)
    return "\n\n".join(parts).strip()


def _block_element(element: Mapping[str, Any]) -> str:
    kind = element.get("type")
    items = [e for e in element.get("elements") or [] if isinstance(e, Mapping)]
    if kind == "rich_text_section":
        return _paragraphs(_runs(items))
    if kind == "rich_text_preformatted":
        body = "".join(_plain_run(e) for e in items)
        return _fence(body)
    if kind == "rich_text_quote":
        inner = _paragraphs(_runs(items))
        return "\n".join("> " + line if line else ">" for line in inner.split("\n"))
    if kind == "rich_text_list":
        ordered = element.get("style") == "ordered"
        indent = "   " * int(element.get("indent") or 0)
        start = int(element.get("offset") or 0) + 1
        lines = []
        for number, item in enumerate(items, start):
            inner = _runs([e for e in item.get("elements") or [] if isinstance(e, Mapping)])
            marker = f"{number}. " if ordered else "- "
            lines.append(indent + marker + inner.replace("\n", "\\\n" + indent + "   "))
        return "\n".join(lines)
    return _paragraphs(_runs(items))


def _paragraphs(text: str) -> str:
    """Newlines inside a section: blank lines separate paragraphs, single ones break lines."""
    chunks = [c.strip("\n") for c in text.split("\n\n")]
    return "\n\n".join(c.replace("\n", "\\\n") for c in chunks if c.strip())


def _plain_run(element: Mapping[str, Any]) -> str:
    kind = element.get("type")
    if kind == "text":
        return str(element.get("text") or "")
    if kind == "link":
        return str(element.get("text") or element.get("url") or "")
    if kind == "emoji":
        return _emoji_of(element)
    if kind == "user":
        return f"@{element.get('user_id')}"
    if kind == "channel":
        return f"#{element.get('channel_id')}"
    return ""


def _emoji_of(element: Mapping[str, Any]) -> str:
    unicode = element.get("unicode")
    if isinstance(unicode, str) and unicode:
        try:
            return "".join(chr(int(part, 16)) for part in unicode.split("-"))
        except ValueError:
            pass
    return shortcode(str(element.get("name") or ""))


def _styled(text: str, style: Any) -> str:
    if not isinstance(style, Mapping) or not text.strip():
        return text
    if style.get("code"):
        return code(text)
    lead = text[:len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()):]
    core = text.strip()
    for flag, mark in (("strike", "~~"), ("italic", "*"), ("bold", "**")):
        if style.get(flag):
            core = f"{mark}{core}{mark}"
    return lead + core + trail


def _runs(items: Iterable[Mapping[str, Any]]) -> str:
    out: list[str] = []
    for element in items:
        kind = element.get("type")
        style = element.get("style")
        if kind == "text":
            out.append(_styled(escape(str(element.get("text") or "")), style))
        elif kind == "link":
            url = str(element.get("url") or "")
            label = str(element.get("text") or url)
            out.append(_styled(f"[{escape(label)}]({_url(url)})", style))
        elif kind == "user":
            out.append(user_link(str(element.get("user_id"))))
        elif kind == "usergroup":
            out.append(escape(f"@{element.get('usergroup_id')}"))
        elif kind == "channel":
            channel = str(element.get("channel_id"))
            out.append(room_link(f"#{channel}", {"slack": channel}))
        elif kind == "broadcast":
            scope = str(element.get("range") or "channel")
            out.append(room_link(f"@{scope}", {EVERYONE: scope}))
        elif kind == "emoji":
            out.append(escape(_emoji_of(element)))
        elif kind == "date":
            out.append(escape(str(element.get("fallback") or element.get("timestamp") or "")))
        elif kind == "color":
            out.append(escape(str(element.get("value") or "")))
    return "".join(out)


def _url(url: str) -> str:
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


def _fence(body: str) -> str:
    fence = "```"
    while fence in body:
        fence += "`"
    return f"{fence}\n{body.rstrip(chr(10))}\n{fence}"


# ---------------------------------------------------------------------------- mrkdwn


def from_mrkdwn(text: str) -> str:
    """Slack mrkdwn (as in a message's ``text``) → neutral markup.

    Reads code blocks, block quotes (``>`` lines, ``>>>`` to the end), bulleted and
    numbered lines, then within each line code spans, ``<…>`` entities (links,
    mentions), ``*bold*``, ``_italic_``, ``~strike~`` and ``:emoji:`` following Slack's
    rule that markers open after a space or punctuation and close before one.
    """
    blocks: list[str] = []
    lines = text.split("\n")
    index = 0
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append("\\\n".join(paragraph))
            paragraph.clear()

    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith("```"):
            flush()
            body, index = _code_block(lines, index)
            blocks.append(_fence(html.unescape(body)))
            continue
        if line.startswith("&gt;&gt;&gt;") or line.startswith(">>>"):
            flush()
            rest = [line.split(";", 3)[-1] if line.startswith("&gt;") else line[3:]]
            rest += lines[index + 1:]
            inner = from_mrkdwn("\n".join(rest).lstrip())
            blocks.append("\n".join("> " + q if q else ">" for q in inner.split("\n")))
            break
        if line.startswith("&gt;") or line.startswith(">"):
            flush()
            quoted = []
            while index < len(lines) and (lines[index].startswith("&gt;") or
                                          lines[index].startswith(">")):
                current = lines[index]
                quoted.append(current[4:] if current.startswith("&gt;") else current[1:])
                index += 1
            inner = from_mrkdwn("\n".join(q[1:] if q.startswith(" ") else q for q in quoted))
            blocks.append("\n".join("> " + q if q else ">" for q in inner.split("\n")))
            continue
        item = _list_item(line)
        if item is not None:
            flush()
            items = []
            while index < len(lines) and _list_item(lines[index]) is not None:
                marker, body = _list_item(lines[index]) or ("- ", "")
                items.append(marker + inline(body))
                index += 1
            blocks.append("\n".join(items))
            continue
        if not line.strip():
            flush()
        else:
            paragraph.append(inline(line))
        index += 1
    flush()
    return "\n\n".join(b for b in blocks if b.strip())


def _code_block(lines: list[str], index: int) -> tuple[str, int]:
    """The body of a ``` block starting at ``lines[index]``, and the index after it."""
    first = lines[index].lstrip()[3:]
    if first.rstrip().endswith("```") and first.strip():
        return first.rstrip()[:-3], index + 1
    body = [first] if first else []
    index += 1
    while index < len(lines):
        line = lines[index]
        if line.rstrip().endswith("```"):
            tail = line.rstrip()[:-3]
            if tail:
                body.append(tail)
            return "\n".join(body), index + 1
        body.append(line)
        index += 1
    return "\n".join(body), index


def _list_item(line: str) -> tuple[str, str] | None:
    stripped = line.lstrip()
    indent = "   " * ((len(line) - len(stripped)) // 4)
    for bullet in BULLETS:
        if stripped.startswith(bullet):
            return indent + "- ", stripped[len(bullet):]
    digits = ""
    for char in stripped:
        if not char.isdigit():
            break
        digits += char
    if digits and len(digits) < 4 and stripped[len(digits):len(digits) + 2] == ". ":
        return indent + f"{digits}. ", stripped[len(digits) + 2:]
    return None


_OPEN_BEFORE = set(" \t([{'\"«—–-/")
_CLOSE_AFTER = set(" \t.,;:!?)]}'\"»—–-/")


def inline(text: str) -> str:
    """One line of mrkdwn → neutral markup (see :func:`from_mrkdwn`)."""
    out: list[str] = []
    i = 0
    plain: list[str] = []

    def flush_plain() -> None:
        if plain:
            out.append(escape(html.unescape("".join(plain))))
            plain.clear()

    while i < len(text):
        char = text[i]
        if char == "`":
            end = text.find("`", i + 1)
            if end > i + 1:
                flush_plain()
                out.append(code(html.unescape(text[i + 1:end])))
                i = end + 1
                continue
        elif char == "<":
            end = text.find(">", i + 1)
            if end > i:
                flush_plain()
                out.append(_entity(text[i + 1:end]))
                i = end + 1
                continue
        elif char in _MARKS and (i == 0 or text[i - 1] in _OPEN_BEFORE) and \
                i + 1 < len(text) and not text[i + 1].isspace():
            end = _closing(text, i, char)
            if end is not None:
                flush_plain()
                mark = _MARKS[char]
                out.append(f"{mark}{inline(text[i + 1:end])}{mark}")
                i = end + 1
                continue
        elif char == ":":
            end = text.find(":", i + 1)
            name = text[i + 1:end] if end > i + 1 else ""
            if name and all(c.isalnum() or c in "_+-'" for c in name):
                shown = shortcode(name)
                if shown != f":{name}:":
                    flush_plain()
                    out.append(escape(shown))
                    i = end + 1
                    continue
        plain.append(char)
        i += 1
    flush_plain()
    return "".join(out)


def _closing(text: str, start: int, mark: str) -> int | None:
    """Where the marker opened at ``start`` closes on this line, by Slack's rules."""
    index = start + 1
    while True:
        index = text.find(mark, index + 1)
        if index < 0:
            return None
        if not text[index - 1].isspace() and (index + 1 == len(text) or
                                               text[index + 1] in _CLOSE_AFTER):
            return index


def _entity(body: str) -> str:
    """``<…>``: a user, channel, special mention or link."""
    target, _, label = body.partition("|")
    if target.startswith("@"):
        return user_link(target[1:])
    if target.startswith("#"):
        return room_link(f"#{label or target[1:]}", {"slack": target[1:]})
    if target.startswith("!"):
        name = target[1:].split("^", 1)[0]
        if name in ("here", "channel", "everyone"):
            return room_link(f"@{name}", {EVERYONE: name})
        return escape(f"@{label or name}")
    url = html.unescape(target)
    shown = html.unescape(label) if label else url
    if url.startswith("mailto:") and not label:
        shown = url[len("mailto:"):]
    return f"[{escape(shown)}]({_url(url)})"

"""Matrix message content (``formatted_body`` HTML, or ``body``) → neutral markup.

The HTML is read with the standard library's ``html.parser`` into a small tree,
then written out as the Markdown subset the renderers know: bold, italic, strike,
code and code blocks, links, lists, quotes, headings (as bold lines), line breaks.
Pills (``https://matrix.to/#/@user:server``) become ``cb-mention:matrix=…`` links,
room links ``cb-room:matrix=…``; a reply's quoted fallback (``<mx-reply>``) is
dropped; unknown tags keep their text. Nothing a person wrote is lost: whatever has
no Markdown form is kept as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote

from messages.markup import Person, code, escape, mention, room_link

BLOCKS = {"p", "div", "ul", "ol", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5",
          "h6", "hr", "table", "tr", "details", "summary"}
VOID = {"br", "hr", "img", "input", "meta", "link"}
MATRIX_TO = "https://matrix.to/#/"


@dataclass
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("root")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(formatted: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(formatted)
    builder.close()
    return builder.root


def from_html(formatted: str) -> str:
    """``formatted_body`` → neutral markup."""
    return _blocks(parse_html(formatted).children).strip()


def from_plain(body: str) -> str:
    """A plain ``body`` → neutral markup (the text kept literal, line breaks kept)."""
    paragraphs = [p for p in body.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "\n\n".join("\\\n".join(escape(line) for line in p.split("\n"))
                       for p in paragraphs)


def mention_target(href: str) -> tuple[str, str] | None:
    """``("user", "@a:b")`` or ``("room", "!r:b" / "#alias:b")`` for a matrix.to link."""
    if not href.startswith(MATRIX_TO):
        return None
    target = unquote(href[len(MATRIX_TO):].split("?", 1)[0])
    if target.startswith("@"):
        return "user", target
    if target.startswith(("!", "#")):
        return "room", target.split("/", 1)[0]
    return None


def _blocks(items: list[Node | str]) -> str:
    """Children of a block container: runs of inline content become paragraphs."""
    out: list[str] = []
    run: list[Node | str] = []

    def flush() -> None:
        text = _inline(run).strip()
        if text:
            out.append(_hard_breaks(text))
        run.clear()

    for item in items:
        if isinstance(item, Node) and item.tag in BLOCKS:
            flush()
            rendered = _block(item)
            if rendered.strip():
                out.append(rendered)
        elif isinstance(item, Node) and item.tag == "mx-reply":
            continue
        else:
            run.append(item)
    flush()
    return "\n\n".join(out)


def _hard_breaks(text: str) -> str:
    lines = [line.strip() for line in text.split("\n")]
    return "\\\n".join(line for line in lines if line) if len(lines) > 1 else text


def _block(node: Node) -> str:
    tag = node.tag
    if tag in ("p", "div", "details", "summary", "tr"):
        return _blocks(node.children)
    if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
        inner = _inline(node.children).strip()
        return f"**{inner}**" if inner else ""
    if tag == "hr":
        return "---"
    if tag == "pre":
        body = _text(node)
        fence = "```"
        while fence in body:
            fence += "`"
        return f"{fence}\n{body.rstrip(chr(10))}\n{fence}"
    if tag == "blockquote":
        inner = _blocks(node.children)
        return "\n".join("> " + line if line else ">" for line in inner.split("\n"))
    if tag in ("ul", "ol"):
        return _list(node)
    if tag == "li":
        return _blocks(node.children)
    if tag == "table":
        rows = []
        for row in _descendants(node, "tr"):
            cells = [_inline(c.children).strip() for c in row.children
                     if isinstance(c, Node) and c.tag in ("td", "th")]
            rows.append(" | ".join(cells))
        return "\\\n".join(r for r in rows if r)
    return _blocks(node.children)


def _list(node: Node) -> str:
    ordered = node.tag == "ol"
    try:
        number = int(node.attrs.get("start") or 1)
    except ValueError:
        number = 1
    lines: list[str] = []
    for item in node.children:
        if not isinstance(item, Node) or item.tag != "li":
            continue
        marker = f"{number}. " if ordered else "- "
        number += 1
        body = _blocks(item.children)
        pad = " " * len(marker)
        indented = "\n".join((pad + line) if line else "" for line in body.split("\n"))
        lines.append(marker + indented[len(pad):])
    return "\n".join(lines)


def _descendants(node: Node, tag: str) -> list[Node]:
    found: list[Node] = []
    for child in node.children:
        if isinstance(child, Node):
            if child.tag == tag:
                found.append(child)
            else:
                found.extend(_descendants(child, tag))
    return found


def _text(node: Node | str) -> str:
    if isinstance(node, str):
        return node
    if node.tag == "br":
        return "\n"
    return "".join(_text(c) for c in node.children)


def _inline(items: list[Node | str]) -> str:
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(escape(item.replace("\n", " ")))
            continue
        tag = item.tag
        if tag == "br":
            out.append("\n")
        elif tag == "mx-reply":
            continue
        elif tag in ("strong", "b"):
            out.append(_wrap(_inline(item.children), "**"))
        elif tag in ("em", "i"):
            out.append(_wrap(_inline(item.children), "*"))
        elif tag in ("del", "s", "strike"):
            out.append(_wrap(_inline(item.children), "~~"))
        elif tag == "code":
            out.append(code(_text(item)))
        elif tag == "a":
            out.append(_link(item))
        elif tag == "img":
            out.append(escape(item.attrs.get("alt") or item.attrs.get("title") or ""))
        elif tag in BLOCKS:
            out.append("\n" + _inline(item.children) + "\n")
        else:
            out.append(_inline(item.children))
    return "".join(out)


def _wrap(inner: str, mark: str) -> str:
    if not inner.strip():
        return inner
    lead = inner[:len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()):]
    return f"{lead}{mark}{inner.strip()}{mark}{trail}"


def _link(node: Node) -> str:
    href = node.attrs.get("href", "")
    label = _text(node).strip()
    target = mention_target(href)
    if target is not None and target[0] == "user":
        return mention(Person(label or target[1], {"matrix": target[1]}))
    if target is not None:
        return room_link(label or target[1], {"matrix": target[1]})
    if not href.lower().startswith(("http://", "https://", "mailto:", "matrix:")):
        return escape(label)
    url = href.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return f"[{escape(label or href)}]({url})"

"""Drawing a results grid as a PNG with Pillow (no browser at run time).

Rows are the people who answer, columns the options or dates, each cell an
answer with its own colour *and* its own symbol (✓ on dark green, (✓) on yellow,
✗ on white, – on grey), so the picture reads in grey levels and for colour-blind
readers. A totals row closes the grid; the best column(s) are framed and starred.

The geometry is fixed (:class:`Layout`): the size of the picture depends only on
the number of rows and columns, names too long are shortened with an ellipsis.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from messages.grid import Answer, Grid

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
BOLD_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
)

INK = (27, 27, 31)
MUTED = (74, 74, 85)
PAPER = (255, 255, 255)
BAND = (243, 244, 247)
LINE = (201, 204, 214)
ACCENT = (31, 79, 163)
FILL = {
    Answer.YES: (27, 120, 55),
    Answer.MAYBE: (244, 197, 66),
    Answer.NO: (255, 255, 255),
    Answer.NONE: (217, 217, 222),
}
MARK = {
    Answer.YES: (255, 255, 255),
    Answer.MAYBE: (27, 27, 31),
    Answer.NO: (178, 24, 43),
    Answer.NONE: (74, 74, 85),
}


@dataclass(frozen=True, slots=True)
class Labels:
    """The words drawn in the picture, already in the reader's language."""

    total: str
    yes: str
    maybe: str
    no: str
    none: str
    best: str


@dataclass(frozen=True, slots=True)
class Layout:
    margin: int = 16
    title_h: int = 40
    header_h: int = 48
    name_w: int = 200
    cell_w: int = 96
    cell_h: int = 34
    legend_h: int = 40
    min_width: int = 640
    """Room for the title and the legend when there are few columns."""

    def size(self, columns: int, rows: int) -> tuple[int, int]:
        """(width, height) of the picture for a grid of ``rows`` people × ``columns``."""
        width = max(self.min_width, 2 * self.margin + self.name_w + columns * self.cell_w)
        height = (2 * self.margin + self.title_h + self.header_h + (rows + 1) * self.cell_h
                  + self.legend_h)
        return width, height

    def cell(self, row: int, column: int) -> tuple[int, int, int, int]:
        """The box of an answer cell (``row == rows`` is the totals row)."""
        x0 = self.margin + self.name_w + column * self.cell_w
        y0 = self.margin + self.title_h + self.header_h + row * self.cell_h
        return x0, y0, x0 + self.cell_w, y0 + self.cell_h


@lru_cache(maxsize=8)
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in (BOLD_CANDIDATES if bold else FONT_CANDIDATES):
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: object, width: int) -> str:
    if draw.textlength(text, font=font) <= width:  # type: ignore[arg-type]
        return text
    while text and draw.textlength(text + "…", font=font) > width:  # type: ignore[arg-type]
        text = text[:-1]
    return text.rstrip() + "…"


def _centered(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str,
              font: object, fill: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box
    draw.text(((x0 + x1) / 2, (y0 + y1) / 2), text, font=font, fill=fill,  # type: ignore[arg-type]
              anchor="mm")


def _symbol(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], answer: Answer,
            scale: float = 1.0) -> None:
    """The answer's symbol, drawn as lines so that no font can lack it."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    s = 7 * scale
    ink = MARK[answer]
    width = max(2, round(3 * scale))
    if answer is Answer.YES or answer is Answer.MAYBE:
        draw.line([(cx - s, cy), (cx - s / 3, cy + s * 0.7), (cx + s, cy - s * 0.8)], fill=ink,
                  width=width, joint="curve")
        if answer is Answer.MAYBE:
            r = s * 1.9
            draw.arc([cx - r, cy - r, cx + r, cy + r], 140, 220, fill=ink, width=width)
            draw.arc([cx - r, cy - r, cx + r, cy + r], -40, 40, fill=ink, width=width)
    elif answer is Answer.NO:
        draw.line([(cx - s * 0.8, cy - s * 0.8), (cx + s * 0.8, cy + s * 0.8)], fill=ink,
                  width=width)
        draw.line([(cx - s * 0.8, cy + s * 0.8), (cx + s * 0.8, cy - s * 0.8)], fill=ink,
                  width=width)
    else:
        draw.line([(cx - s * 0.6, cy), (cx + s * 0.6, cy)], fill=ink, width=width)


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float) -> None:
    import math

    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.45
        angle = math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy - radius * math.sin(angle)))
    draw.polygon(points, fill=ACCENT)


def render_png(grid: Grid, labels: Labels, layout: Layout = Layout()) -> bytes:
    """The grid as PNG bytes."""
    columns, rows = len(grid.columns), len(grid.rows)
    width, height = layout.size(columns, rows)
    image = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(image)
    regular, bold, small = _font(15), _font(15, bold=True), _font(13)
    title = _font(20, bold=True)
    m = layout.margin
    draw.text((m, m + layout.title_h / 2), _fit(draw, grid.title, title, width - 2 * m),
              font=title, fill=INK, anchor="lm")
    best = set(grid.best())
    header_top = m + layout.title_h
    for c, column in enumerate(grid.columns):
        x0, _, x1, _ = layout.cell(0, c)
        box = (x0, header_top, x1, header_top + layout.header_h)
        draw.rectangle(box, fill=BAND, outline=LINE)
        inner = layout.cell_w - 8
        if column.detail:
            draw.text(((x0 + x1) / 2, header_top + layout.header_h * 0.32),
                      _fit(draw, column.label, bold, inner), font=bold, fill=INK, anchor="mm")
            draw.text(((x0 + x1) / 2, header_top + layout.header_h * 0.72),
                      _fit(draw, column.detail, small, inner), font=small, fill=MUTED,
                      anchor="mm")
        else:
            _centered(draw, box, _fit(draw, column.label, bold, inner), bold, INK)
    name_box = (m, header_top, m + layout.name_w, header_top + layout.header_h)
    draw.rectangle(name_box, fill=BAND, outline=LINE)
    for r, row in enumerate(grid.rows):
        _, y0, _, y1 = layout.cell(r, 0)
        draw.rectangle((m, y0, m + layout.name_w, y1), fill=PAPER, outline=LINE)
        draw.text((m + 8, (y0 + y1) / 2), _fit(draw, row.name, regular, layout.name_w - 16),
                  font=regular, fill=INK, anchor="lm")
        for c, answer in enumerate(row.answers):
            box = layout.cell(r, c)
            draw.rectangle(box, fill=FILL[answer], outline=LINE)
            _symbol(draw, box, answer)
    _, y0, _, y1 = layout.cell(rows, 0)
    draw.rectangle((m, y0, m + layout.name_w, y1), fill=BAND, outline=LINE)
    draw.text((m + 8, (y0 + y1) / 2), _fit(draw, labels.total, bold, layout.name_w - 16),
              font=bold, fill=INK, anchor="lm")
    for c, total in enumerate(grid.totals()):
        box = layout.cell(rows, c)
        draw.rectangle(box, fill=BAND, outline=LINE)
        text = f"{total.yes}" + (f" (+{total.maybe})" if total.maybe else "")
        _centered(draw, box, text, bold, INK)
    for c in best:
        x0, _, x1, _ = layout.cell(0, c)
        _, _, _, bottom = layout.cell(rows, c)
        draw.rectangle((x0 + 1, header_top + 1, x1 - 1, bottom - 1), outline=ACCENT, width=4)
        _star(draw, x1 - 11, header_top + 11, 7)
    _legend(draw, labels, layout, m, height - m - layout.legend_h, small, bool(best))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=1)
    return out.getvalue()


def _legend(draw: ImageDraw.ImageDraw, labels: Labels, layout: Layout, x: int, top: int,
            font: object, with_best: bool) -> None:
    y = top + layout.legend_h / 2 + 4
    entries = [(Answer.YES, labels.yes), (Answer.MAYBE, labels.maybe), (Answer.NO, labels.no),
               (Answer.NONE, labels.none)]
    for answer, text in entries:
        if not text:
            continue
        box = (x, int(y - 11), x + 22, int(y + 11))
        draw.rectangle(box, fill=FILL[answer], outline=LINE)
        _symbol(draw, box, answer, scale=0.6)
        draw.text((x + 28, y), text, font=font, fill=INK, anchor="lm")  # type: ignore[arg-type]
        x += 28 + int(draw.textlength(text, font=font)) + 18  # type: ignore[arg-type]
    if with_best:
        _star(draw, x + 8, y, 8)
        draw.text((x + 22, y), labels.best, font=font, fill=INK, anchor="lm")  # type: ignore[arg-type]

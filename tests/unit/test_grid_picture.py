"""The results grid as a picture: it decodes, has the grid's size, and reads without colour."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from handlers.dashboard.pictures import results_picture, results_reply
from messages.grid import Answer, Column, Grid, GridRow
from messages.render.grid_png import ACCENT, FILL, Layout
from messages.texts import Catalog

Y, M, N, Z = Answer.YES, Answer.MAYBE, Answer.NO, Answer.NONE


def availability(rows: int = 10, columns: int = 8) -> Grid:
    pattern = [Y, M, N, Z, Y, Y, N, M]
    return Grid(
        title="Date de la journée plénière de juin",
        columns=tuple(Column(f"{3 + c} juin", "10 h – 12 h") for c in range(columns)),
        rows=tuple(GridRow(f"Personne {r} " + "très longue " * (r == 3) * 6,
                           tuple(pattern[(r + c) % len(pattern)] for c in range(columns)))
                   for r in range(rows)))


def decode(grid: Grid, lang: str = "fr") -> Image.Image:
    attachment = results_picture(Catalog().bind(lang), grid)
    assert attachment.mimetype == "image/png" and attachment.content[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(attachment.content))
    image.load()
    return image.convert("RGB")


def test_the_picture_decodes_and_has_the_size_of_a_10_by_8_grid() -> None:
    image = decode(availability(10, 8))
    layout = Layout()
    assert image.size == layout.size(8, 10) == (16 * 2 + 200 + 8 * 96,
                                                16 * 2 + 40 + 48 + 11 * 34 + 40)
    assert decode(availability(3, 2)).size == layout.size(2, 3)
    assert layout.size(2, 3)[0] == layout.min_width


def test_each_cell_shows_the_answer_colour_of_its_person_and_date() -> None:
    grid = availability(10, 8)
    image = decode(grid)
    layout = Layout()
    for r, row in enumerate(grid.rows):
        for c, answer in enumerate(row.answers):
            x0, y0, _, _ = layout.cell(r, c)
            if c in grid.best():
                continue
            assert image.getpixel((x0 + 6, y0 + 4)) == FILL[answer], (r, c, answer)


def test_the_best_date_is_framed() -> None:
    grid = Grid("Choix", (Column("lun."), Column("mar."), Column("mer.")), (
        GridRow("A", (Y, N, M)), GridRow("B", (Y, Y, N)), GridRow("C", (M, Y, N))))
    assert grid.best() == (0,)
    image = decode(grid)
    x0, y0, x1, _ = Layout().cell(1, 0)
    assert image.getpixel((x0 + 2, y0 + 10)) == ACCENT
    other_x0, other_y0, _, _ = Layout().cell(1, 1)
    assert image.getpixel((other_x0 + 2, other_y0 + 10)) != ACCENT


def test_answers_differ_in_grey_level_not_only_in_hue() -> None:
    def grey(rgb: tuple[int, int, int]) -> float:
        return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]

    levels = sorted(grey(c) for c in FILL.values())
    assert all(b - a >= 20 for a, b in zip(levels, levels[1:], strict=False))


def test_best_ties_and_empty_grids() -> None:
    tie = Grid("t", (Column("a"), Column("b")), (GridRow("x", (Y, Y)), GridRow("y", (M, N))))
    assert tie.best() == (0,)
    even = Grid("t", (Column("a"), Column("b")), (GridRow("x", (Y, Y)),))
    assert even.best() == (0, 1)
    nobody = Grid("t", (Column("a"),), (GridRow("x", (Z,)),))
    assert nobody.best() == () and nobody.answered == 0
    with pytest.raises(ValueError):
        Grid("t", (Column("a"),), (GridRow("x", (Y, N)),))


def test_the_summary_beside_the_picture_says_the_same_in_words() -> None:
    grid = Grid("Plénière", (Column("mar. 3 juin"), Column("jeu. 5 juin")), (
        GridRow("Zoé", (Y, M)), GridRow("Paul", (Y, N)), GridRow("Inès", (Z, Z))))
    reply = results_reply(Catalog().bind("fr"), grid)
    assert "2 réponses sur 3" in reply.text
    assert "Meilleur choix : **mar. 3 juin** (2 oui)" in reply.text
    assert "jeu. 5 juin : 0 oui, 1 si besoin, 1 non, 1 sans réponse" in reply.text
    alt = reply.attachments[0].alt_text
    assert "Meilleur choix : mar. 3 juin (2 oui)" in alt and "**" not in alt
    english = results_reply(Catalog().bind("en"), grid)
    assert "Best choice: **mar. 3 juin** (2 yes)" in english.text


def test_names_with_markup_stay_text_in_the_summary() -> None:
    grid = Grid("*gras* <b>", (Column("[a](b)"),), (GridRow("x", (Y,)),))
    text = results_reply(Catalog().bind("fr"), grid).text
    assert "\\*gras\\*" in text and "\\[a\\](b)" in text


def test_the_web_grid_marks_answers_with_symbols_words_and_the_best_column() -> None:
    from messages.html import HtmlCatalog

    grid = Grid("<b>Plénière</b>", (Column("mar. 3 juin", "10 h"), Column("jeu. 5 juin")), (
        GridRow("<script>x</script>", (Y, M)), GridRow("Paul", (Y, N)), GridRow("Inès", (Z, Z))))
    html = HtmlCatalog().render("fr", "fragments/grid", grid=grid)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;Plénière" in html
    assert html.count('class="answer yes"') == 2 and html.count('class="answer none"') == 2
    assert '<th scope="col" class="best">mar. 3 juin' in html
    assert "2 oui" in html and "(+1 si besoin)" in html
    assert '<span class="visually-hidden">si besoin</span>' in html

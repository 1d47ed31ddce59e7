"""Results people would rather look at: a grid picture, with the same in words beside it.

The polls feature calls :func:`results_reply` when an availability poll or a
campaign closes and on ``sondage resultats``; Slack and Matrix post the PNG,
and the text summary (also the picture's alt text) serves screen readers and the
console.
"""

from __future__ import annotations

from handlers.core.events import Attachment, Reply, Visibility
from messages.grid import Grid, GridKind
from messages.render.grid_png import Labels, render_png
from messages.render.plain import to_plain
from messages.texts import Texts

LABEL_BLOCKS = ("total", "yes", "maybe", "no", "none", "best")


TEMPLATES = {GridKind.AVAILABILITY: ("results/grid_labels", "results/grid_summary"),
             GridKind.PROGRESS: ("results/progress_labels", "results/progress_summary")}


def grid_labels(texts: Texts, kind: GridKind = GridKind.AVAILABILITY) -> Labels:
    """The words of the picture (legend, totals) in the reader's language."""
    template = TEMPLATES[kind][0]
    return Labels(**{name: texts.block(template, name) or "" for name in LABEL_BLOCKS})


def summary(texts: Texts, grid: Grid) -> str:
    """The grid in words (neutral markup): the message beside the picture, its alt text."""
    return texts(TEMPLATES[grid.kind][1], grid=grid)


def results_picture(texts: Texts, grid: Grid, *, filename: str = "resultats.png"
                    ) -> Attachment:
    """The grid as a PNG attachment whose alt text is the summary in words."""
    return Attachment(filename=filename, mimetype="image/png",
                      content=render_png(grid, grid_labels(texts, grid.kind)),
                      alt_text=to_plain(summary(texts, grid)))


def results_reply(texts: Texts, grid: Grid, *, visibility: Visibility = Visibility.ROOM
                  ) -> Reply:
    """A message with the summary as text and the grid picture attached."""
    return Reply(text=summary(texts, grid), visibility=visibility,
                 attachments=(results_picture(texts, grid),))

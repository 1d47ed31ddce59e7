"""Results people would rather look at: a grid picture, with the same in words beside it.

The polls feature calls :func:`results_reply` when an availability poll or a
campaign closes and on ``sondage resultats``; Slack and Matrix post the PNG,
and the text summary (also the picture's alt text) serves screen readers and the
console.
"""

from __future__ import annotations

from handlers.core.events import Attachment, Reply, Visibility
from messages.grid import Grid
from messages.render.grid_png import Labels, render_png
from messages.render.plain import to_plain
from messages.texts import Texts

LABEL_BLOCKS = ("total", "yes", "maybe", "no", "none", "best")


def grid_labels(texts: Texts) -> Labels:
    """The words of the picture (legend, totals) in the reader's language."""
    return Labels(**{name: texts.block("results/grid_labels", name) or name
                     for name in LABEL_BLOCKS})


def results_picture(texts: Texts, grid: Grid, *, filename: str = "resultats.png"
                    ) -> Attachment:
    """The grid as a PNG attachment whose alt text is the summary in words."""
    summary = to_plain(texts("results/grid_summary", grid=grid))
    return Attachment(filename=filename, mimetype="image/png",
                      content=render_png(grid, grid_labels(texts)), alt_text=summary)


def results_reply(texts: Texts, grid: Grid, *, visibility: Visibility = Visibility.ROOM
                  ) -> Reply:
    """A message with the summary as text and the grid picture attached."""
    return Reply(text=texts("results/grid_summary", grid=grid), visibility=visibility,
                 attachments=(results_picture(texts, grid),))

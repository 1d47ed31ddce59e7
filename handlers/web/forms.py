"""What the feature pages share to read URLs and forms and to run chat commands from them.

A dashboard form is another way to type a chat command: the page builds the command's
:class:`~handlers.core.commands.Args` from the fields and calls the command's own
handler with :meth:`PageContext.chat`, so the checks, the stored objects and the
messages sent are those of the chat. A refusal (:class:`UserFacingError`) is told
next to the field it is about, in the chat's own words.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.web.core import FormInvalid, WebError, WebResponse
from handlers.web.page import PageContext
from messages.render.plain import to_plain

MAX_ID_DIGITS = 9
_DONE = re.compile(r"^[a-z_]{1,32}$")


def number(raw: str | None) -> int | None:
    """A positive id as written in a URL or a field; None for anything else."""
    raw = (raw or "").strip()
    if not raw.isdigit() or len(raw) > MAX_ID_DIGITS:
        return None
    return int(raw)


def path_number(page: PageContext, name: str) -> int:
    """The ``{name}`` part of the URL as an id, or a 404 page (never a traceback)."""
    found = number(page.request.params.get(name))
    if found is None:
        raise WebError(404, "not_found")
    return found


def chat_text(page: PageContext, error: UserFacingError) -> str:
    """The chat's sentence for a refusal, as plain text in the viewer's language."""
    return to_plain(page.texts(error.template, prefix="", **error.context))


def field_error(page: PageContext, error: UserFacingError, fields: Mapping[str, str],
                default: str = "_form") -> tuple[str, dict[str, Any]]:
    """(field, error) for a refusal of a chat command run from a form.

    ``fields`` maps a chat template (``polls/bad_max``) to the form field it is about;
    a refusal of another kind is shown at the top of the form (``_form``). The error
    carries the chat's sentence (``text``), and its template and context so that a form
    may say it in its own terms where the chat's mention chat syntax
    (``forms/_chat_errors.html.j2``).
    """
    return fields.get(error.template, default), {
        "key": "chat", "text": chat_text(page, error), "template": error.template,
        "context": error.context}


def done(page: PageContext) -> dict[str, Any]:
    """What the previous form did (``?fait=ferme&n=3``), for a notice after a redirect.

    Only a known word and a number are read back: nothing typed by anyone is echoed.
    """
    word = page.request.query.get("fait", "")
    if not _DONE.match(word):
        return {"what": None, "n": None}
    return {"what": word, "n": number(page.request.query.get("n"))}


async def run_button(page: PageContext, call: Callable[[Context], Awaitable[int | None]], *,
                     back_to: str, done_word: str,
                     refused: Callable[[str], Awaitable[WebResponse]]) -> WebResponse:
    """Run a coordinator's button (a chat command through ``call``), then go back to
    ``back_to`` with a notice (``?fait=…&n=…``).

    A refusal (already closed, deadline past …) is shown by ``refused`` — the page again,
    with the chat's words — and nothing is kept.
    """
    try:
        n = await call(page.chat())
    except UserFacingError as refusal:
        raise FormInvalid(await refused(chat_text(page, refusal))) from None
    suffix = f"?fait={done_word}" + (f"&n={n}" if n is not None else "")
    return WebResponse.redirect(back_to + suffix)


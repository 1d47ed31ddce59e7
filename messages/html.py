"""The dashboard's pages: ``messages/web/<lang>/<intent>.html.j2``, French first.

The chat catalogue (:mod:`messages.texts`) escapes values as Markdown; web pages
need HTML escaping instead, so they have their own Jinja2 environment with
autoescape always on and undefined variables as errors. Page chrome and the
sentences of each page live in the language folders; macros without words live
in ``messages/web/_shared/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound
from markupsafe import Markup

from messages import dates

WEB_DIR = Path(__file__).parent / "web"
STATIC_DIR = WEB_DIR / "static"
LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"


class HtmlCatalog:
    """Loads and renders page templates; one per process, built by the composition root."""

    def __init__(self, directories: Iterable[Path] = (WEB_DIR,),
                 globals_: dict[str, Callable[..., Any]] | None = None) -> None:
        self.env = Environment(
            loader=FileSystemLoader([str(d) for d in directories]),
            undefined=StrictUndefined,
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.env.filters.update(date=_date, shortdate=_shortdate, clock=_clock, when=_when,
                                chat=_chat, monthname=_monthname)
        self.env.globals.update(globals_ or {})

    def _template(self, lang: str, name: str) -> Any:
        for candidate in dict.fromkeys((lang, DEFAULT_LANGUAGE)):
            try:
                return self.env.get_template(f"{candidate}/{name}.html.j2")
            except TemplateNotFound:
                continue
        raise TemplateNotFound(f"{lang}/{name}.html.j2")

    def render(self, lang: str, name: str, /, **context: Any) -> Markup:
        """Render a page or a fragment in ``lang`` (falling back to French)."""
        lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        return Markup(self._template(lang, name).render(lang=lang, **context))

    def names(self, lang: str = DEFAULT_LANGUAGE) -> list[str]:
        """Every template name of a language (for the completeness test)."""
        prefix = f"{lang}/"
        return sorted(n[len(prefix):-len(".html.j2")]
                      for n in self.env.list_templates(extensions=["j2"])
                      if n.startswith(prefix) and n.endswith(".html.j2"))


def _monthname(value: date | datetime, lang: str = "fr") -> str:
    """``avril 2026`` / ``April 2026``: a month as a heading."""
    from babel.dates import format_date

    day = value.date() if isinstance(value, datetime) else value
    text = format_date(day, "LLLL y", locale="fr_FR" if lang == "fr" else "en_GB")
    return text[:1].upper() + text[1:]


def _chat(text: str) -> Markup:
    """A chat message (neutral markup, values already escaped as Markdown) as HTML, to show
    on a page what the bot posts: CommonMark without raw HTML, unsafe links refused."""
    from messages.render.matrix import to_html

    return Markup(to_html(text))


def _zone(value: str | tzinfo | None) -> tzinfo | None:
    if value is None or isinstance(value, tzinfo):
        return value
    return ZoneInfo(value)


def _date(value: date | datetime, lang: str = "fr", tz: str | tzinfo | None = None) -> str:
    if isinstance(value, datetime) and tz is not None:
        value = value.astimezone(_zone(tz))
    return dates.long_date(value, lang)


def _shortdate(value: date | datetime, lang: str = "fr", tz: str | tzinfo | None = None) -> str:
    if isinstance(value, datetime) and tz is not None:
        value = value.astimezone(_zone(tz))
    return dates.short_date(value, lang)


def _clock(value: time | datetime, lang: str = "fr", tz: str | tzinfo | None = None) -> str:
    if isinstance(value, datetime) and tz is not None:
        value = value.astimezone(_zone(tz))
    return dates.clock(value, lang)


def _when(start: datetime, end: datetime | None = None, lang: str = "fr",
          tz: str | tzinfo | None = None) -> str:
    return dates.when(start, end, lang, _zone(tz))

"""The template catalogue: ``messages/templates/<lang>/<intent>.j2``, French first.

Templates write neutral markup. Every ``{{ value }}`` is escaped as Markdown unless
it is :class:`~messages.markup.Raw` (a mention, inline code, a nested rendering),
and an undefined variable is an error, never an empty string.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.runtime import Context as JinjaContext

from messages import dates
from messages.markup import Person, Raw, code, escape, mention

TEMPLATES_DIR = Path(__file__).parent / "templates"
LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"


class Catalog:
    """Loads and renders templates; one per process, built by the composition root."""

    def __init__(self, directories: Iterable[Path] = (TEMPLATES_DIR,),
                 default_language: str = DEFAULT_LANGUAGE) -> None:
        self.default_language = default_language
        self.env = Environment(
            loader=FileSystemLoader([str(d) for d in directories]),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            finalize=_finalize,
            auto_reload=False,
        )
        self._blocks: dict[tuple[str, str, str], str | None] = {}
        self.env.filters.update(
            raw=Raw, code=code, mention=_mention, esc=escape,
            date=_date_filter, longdate=_longdate_filter, shortdate=_shortdate_filter,
            clock=_clock_filter, when=_when_filter,
        )

    def _template(self, lang: str, name: str) -> Any:
        for candidate in dict.fromkeys((lang, self.default_language, DEFAULT_LANGUAGE)):
            try:
                return self.env.get_template(f"{candidate}/{name}.j2")
            except TemplateNotFound:
                continue
        raise TemplateNotFound(f"{lang}/{name}.j2")

    def exists(self, name: str, lang: str | None = None) -> bool:
        try:
            self._template(lang or self.default_language, name)
        except TemplateNotFound:
            return False
        return True

    def render(self, lang: str, name: str, /, **context: Any) -> str:
        """Render a whole template in ``lang`` (falling back to French)."""
        template = self._template(lang, name)
        return template.render(lang=lang, **context).strip()

    def render_block(self, lang: str, name: str, block: str, /, **context: Any) -> str | None:
        """Render one ``{% block %}`` of a template, or None if it has no such block.

        Without context a block always renders the same (templates do not change while
        the bot runs): it is rendered once (``aide`` shows dozens of them per command).
        """
        key = (lang, name, block)
        if not context and key in self._blocks:
            return self._blocks[key]
        template = self._template(lang, name)
        fn = template.blocks.get(block)
        if fn is None:
            text = None
        else:
            ctx: JinjaContext = template.new_context({"lang": lang, **context})
            text = "".join(fn(ctx)).strip()
        if not context:
            self._blocks[key] = text
        return text

    def names(self, lang: str = DEFAULT_LANGUAGE) -> list[str]:
        """Every template name of a language (for completeness tests)."""
        prefix = f"{lang}/"
        return sorted(n[len(prefix):-3] for n in self.env.list_templates(extensions=["j2"])
                      if n.startswith(prefix))

    def bind(self, lang: str) -> Texts:
        return Texts(self, lang)


class Texts:
    """The catalogue bound to one reader's language."""

    def __init__(self, catalog: Catalog, lang: str) -> None:
        self.catalog = catalog
        self.lang = lang if lang in LANGUAGES else catalog.default_language

    def __call__(self, name: str, /, **context: Any) -> str:
        return self.catalog.render(self.lang, name, **context)

    def block(self, name: str, block: str, /, **context: Any) -> str | None:
        return self.catalog.render_block(self.lang, name, block, **context)


def _finalize(value: Any) -> Any:
    if isinstance(value, Raw):
        return value
    if value is None:
        return ""
    return escape(value)


def _mention(person: Any) -> Raw:
    if isinstance(person, Person):
        return mention(person)
    return mention(Person(str(person)))


def _tz(value: str | tzinfo | None) -> tzinfo | None:
    if value is None or isinstance(value, tzinfo):
        return value
    return ZoneInfo(value)


def _date_filter(value: date | datetime, lang: str = "fr", tz: str | tzinfo | None = None
                 ) -> str:
    if isinstance(value, datetime) and tz is not None:
        value = value.astimezone(_tz(tz))
    return dates.long_date(value, lang)


def _longdate_filter(value: date | datetime, lang: str = "fr", weekday: bool = True) -> str:
    return dates.long_date(value, lang, weekday=weekday)


def _shortdate_filter(value: date | datetime, lang: str = "fr") -> str:
    return dates.short_date(value, lang)


def _clock_filter(value: time | datetime, lang: str = "fr", tz: str | tzinfo | None = None
                  ) -> str:
    if isinstance(value, datetime) and tz is not None:
        value = value.astimezone(_tz(tz))
    return dates.clock(value, lang)


def _when_filter(start: datetime, end: datetime | None = None, lang: str = "fr",
                 tz: str | tzinfo | None = None) -> str:
    return dates.when(start, end, lang, _tz(tz))

"""The template catalogue: complete in both languages, strict, escaping, French dates."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from jinja2 import UndefinedError

from messages.dates import long_date, when
from messages.texts import Catalog


def test_every_french_template_has_an_english_twin() -> None:
    catalog = Catalog()
    assert catalog.names("fr") == catalog.names("en")
    assert len(catalog.names("fr")) > 50


def test_undefined_variables_are_errors_not_blanks() -> None:
    with pytest.raises(UndefinedError):
        Catalog().render("fr", "admin/delegation_exists")


def test_values_are_escaped_as_markdown() -> None:
    text = Catalog().render("fr", "admin/delegation_exists", territory="*Gruissan* [x](y)",
                            prefix="")
    assert "\\*Gruissan\\*" in text and "\\[x\\]" in text


def test_french_falls_back_when_a_language_lacks_a_template(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "fr").mkdir()
    (tmp_path / "fr" / "only.j2").write_text("Bonjour")
    assert Catalog([tmp_path]).render("en", "only") == "Bonjour"


@pytest.mark.parametrize("day, lang, expected", [
    (date(2025, 4, 1), "fr", "mardi 1er avril 2025"),
    (date(2025, 4, 28), "fr", "lundi 28 avril 2025"),
    (date(2025, 4, 1), "en", "Tuesday 1 April 2025"),
])
def test_long_dates(day: date, lang: str, expected: str) -> None:
    assert long_date(day, lang) == expected


def test_time_ranges_in_french_and_english() -> None:
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2025, 4, 1, 11, tzinfo=paris)
    end = datetime(2025, 4, 1, 13, tzinfo=paris)
    assert when(start, end, "fr") == "mardi 1er avril 2025, 11\u00a0h\u00a0–\u00a013\u00a0h"
    assert when(start, end, "en") == "Tuesday 1 April 2025, 11:00–13:00"
    utc = ZoneInfo("UTC")
    assert when(start.astimezone(utc), None, "fr", paris).endswith("11\u00a0h")


def test_every_french_web_page_has_an_english_twin() -> None:
    from messages.html import HtmlCatalog

    catalog = HtmlCatalog(globals_={"url": lambda *a, **k: "/", "static": lambda n: n})
    assert catalog.names("fr") == catalog.names("en")
    assert {"layout", "overview", "errors/not_found", "errors/csrf"} <= set(catalog.names("fr"))


def test_web_pages_escape_html() -> None:
    from messages.html import HtmlCatalog

    catalog = HtmlCatalog(globals_={"url": lambda *a, **k: "/", "static": lambda n: n})
    html = catalog.render("fr", "signed_out", viewer=None, cohort=None, nav=[], csrf="")
    assert html.startswith("<!doctype html>") and '<html lang="fr">' in html
    page = catalog.render("fr", "errors/forbidden", viewer=None, nav=[], csrf="",
                          cohort={"slug": "x", "name": "<script>alert(1)</script>"})
    assert "<script>alert" not in page and "&lt;script&gt;" in page

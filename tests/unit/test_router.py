"""Finding commands and binding their arguments, with the errors users see."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.core.commands import (
    Args,
    CommandGroup,
    Kind,
    Opt,
    Param,
    Role,
    Router,
    bind,
)
from handlers.core.errors import UserFacingError
from handlers.core.grammar import split_words
from handlers.registry import build_router

NOW = datetime(2025, 3, 3, 8, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


async def _noop(ctx, args: Args) -> None:  # type: ignore[no-untyped-def]
    return None


def _router() -> Router:
    group = CommandGroup("sondage", aliases=("poll",))
    group.command("creer", aliases=("create",), params=(
        Param("titre", Kind.REST),), options=(Opt("echeance", Kind.DATE, aliases=("deadline",)),
                                              Opt("max", Kind.INT)))(_noop)
    group.command("voter", params=(Param("numero", Kind.INT), Param("choix")))(_noop)
    router = Router()
    router.include(group)
    return router


def test_french_verbs_and_english_aliases_find_the_same_command() -> None:
    router = _router()
    fr, _ = router.resolve(split_words("sondage créer Date"))
    en, _ = router.resolve(split_words("POLL create Date"))
    assert fr is en and fr.key == "sondage creer"


def test_unknown_verb_suggests_the_closest() -> None:
    with pytest.raises(UserFacingError) as caught:
        _router().resolve(split_words("sondge creer x"))
    assert caught.value.template == "errors/unknown_verb"
    assert caught.value.context["suggestion"] == "sondage"


def test_unknown_subcommand_lists_the_verb_usages() -> None:
    with pytest.raises(UserFacingError) as caught:
        _router().resolve(split_words("sondage crer x"))
    assert caught.value.template == "errors/unknown_subcommand"
    assert caught.value.context["suggestion"] == "creer"


def test_bind_converts_values() -> None:
    spec, rest = _router().resolve(split_words("sondage creer Date de la plénière echeance=28/04 max=3"))
    args = bind(spec, rest, now=NOW, tz=PARIS)
    assert args["titre"] == "Date de la plénière"
    assert args["echeance"] == date(2025, 4, 28)
    assert args["max"] == 3


@pytest.mark.parametrize("text, template", [
    ("sondage voter", "errors/usage"),
    ("sondage voter 3", "errors/usage"),
    ("sondage voter trois oui", "errors/bad_number"),
    ("sondage voter 3 oui encore", "errors/usage"),
    ("sondage creer x couleur=bleu", "errors/unknown_option"),
    ("sondage creer x echeance=31/02", "errors/impossible_date"),
])
def test_bad_arguments(text: str, template: str) -> None:
    spec, rest = _router().resolve(split_words(text))
    with pytest.raises(UserFacingError) as caught:
        bind(spec, rest, now=NOW, tz=PARIS)
    assert caught.value.template == template


def test_usage_line_in_both_languages() -> None:
    spec, _ = _router().resolve(split_words("sondage creer x"))
    assert spec.usage("fr") == "sondage creer <titre…> [echeance=…] [max=…]"
    assert spec.usage("en").startswith("poll create")


def test_a_verb_cannot_be_registered_twice() -> None:
    router = _router()
    with pytest.raises(ValueError):
        router.include(CommandGroup("poll"))


def test_every_registered_command_has_help_in_french_and_english() -> None:
    from messages.texts import Catalog

    catalog = Catalog()
    for spec in build_router().specs():
        for lang in ("fr", "en"):
            summary = catalog.render_block(lang, spec.help_template, "summary")
            example = catalog.render_block(lang, spec.help_template, "example")
            assert summary, f"{spec.key}: no {lang} summary"
            assert example, f"{spec.key}: no {lang} example"
        assert spec.role in Role


def test_every_help_example_is_a_valid_command_of_its_own_verb() -> None:
    from messages.texts import Catalog

    catalog = Catalog()
    router = build_router()
    for spec in router.specs():
        for lang in ("fr", "en"):
            example = catalog.render_block(lang, spec.help_template, "example") or ""
            found, rest = router.resolve(split_words(example))
            assert found is spec, f"{lang} example {example!r} runs {found.key}, not {spec.key}"
            bind(found, [i for i in rest if getattr(i, "key", None) not in ("cohorte", "cohort")],
                 now=NOW, tz=PARIS)

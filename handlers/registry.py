"""Everything the bot can do, in one list. Reading it tells a newcomer what the bot is for."""

from __future__ import annotations

from types import ModuleType

from handlers import bridge, calendar, dashboard, me, notes, polls, retention
from handlers import help as help_
from handlers.admin import cohorts, delegations, members
from handlers.core.commands import Router
from handlers.web.registry import WebRegistry

FEATURES: tuple[ModuleType, ...] = (
    help_,        # aide: what I may do here
    cohorts,      # cohorte creer|lister|lier|delier|voir
    delegations,  # delegation ajouter|lister|renommer
    members,      # membre ajouter|lister|modifier|retirer|lier
    me,           # moi, moi langue|lier|effacer
    calendar,     # agenda [ajouter|modifier|annuler|…|importer|exporter|lien], rappel …
    polls,        # sondage creer|voter|resultats|…, campagne charger|envoyer|suivi|afaire|…
    notes,        # note commencer|reprendre|statut|voir|historique|exporter|synthese|tableau
    dashboard,    # cohorte tableau: a personal link to the web dashboard
    bridge,       # cohorte pont activer|desactiver|statut; relays room messages Slack <-> Matrix
    retention,    # (no command) the daily purge of old bookkeeping
)

WEB_FEATURES: tuple[ModuleType, ...] = (
    dashboard,    # sign-in, my cohorts, overview (people), delegation, accounts
    calendar,     # the cohort calendar, next events, ICS download
    polls,        # polls (live counts, availability grid, composer), campaign tables
    notes,        # note completion, each note's answers and history, livret downloads
)
"""Features with dashboard pages: each has ``register_web(web)``."""


def build_router(features: tuple[ModuleType, ...] = FEATURES) -> Router:
    router = Router()
    for feature in features:
        feature.register(router)
    return router


def build_web(features: tuple[ModuleType, ...] = WEB_FEATURES) -> WebRegistry:
    web = WebRegistry()
    for feature in features:
        feature.register_web(web)
    return web

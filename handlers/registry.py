"""Everything the bot can do, in one list. Reading it tells a newcomer what the bot is for."""

from __future__ import annotations

from types import ModuleType

from handlers import calendar, me, notes, polls
from handlers import help as help_
from handlers.admin import cohorts, delegations, members
from handlers.core.commands import Router

FEATURES: tuple[ModuleType, ...] = (
    help_,        # aide: what I may do here
    cohorts,      # cohorte creer|lister|lier|delier|voir
    delegations,  # delegation ajouter|lister|renommer
    members,      # membre ajouter|lister|modifier|retirer|lier
    me,           # moi, moi langue|lier|effacer
    calendar,     # agenda [ajouter|modifier|annuler|…|importer|exporter|lien], rappel …
    polls,        # sondage creer|voter|resultats|…, campagne charger|envoyer|suivi|afaire|…
    notes,        # note commencer|reprendre|statut|voir|historique|exporter|synthese|tableau
)


def build_router(features: tuple[ModuleType, ...] = FEATURES) -> Router:
    router = Router()
    for feature in features:
        feature.register(router)
    return router

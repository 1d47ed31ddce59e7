"""The bridge: a cohort's Slack channel and Matrix room hold one conversation.

``cohorte pont activer|desactiver|statut`` (:mod:`handlers.bridge.commands`) and the relay
of room messages, edits, deletions, threads, files and reactions
(:mod:`handlers.bridge.relay`). The platform side (rendering copies with their
author's name, files, catch-up of Slack history) is in ``bot/bridge/`` and the adapters.
"""

from __future__ import annotations

from handlers.bridge import relay
from handlers.bridge.commands import commands
from handlers.core.commands import Router


def register(router: Router) -> None:
    router.include(commands)
    router.on_room_message("bridge", relay.on_room_message)

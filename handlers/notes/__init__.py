"""Pilot-project notes, collected in conversation.

A delegation fills its notes (intention, cadrage, faisabilité, the qualification
note, the pilot-project sheet) by answering the bot's questions one at a time in a
DM; the coordination follows completion and exports the cohort's livret.
"""

from __future__ import annotations

from handlers.core.commands import Router
from handlers.notes import commands, machine
from handlers.notes import web as notes_web
from handlers.web.registry import WebRegistry


def register_web(web: WebRegistry) -> None:
    """Note completion, each note's answers and history, note and livret downloads."""
    notes_web.register_web(web)


def register(router: Router) -> None:
    router.include(commands.commands)
    router.on_message("notes", machine.on_message)
    router.on_timer(machine.REMIND_TIMER, machine.remind)

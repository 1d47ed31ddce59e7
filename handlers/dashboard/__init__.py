"""The coordinator dashboard: personal sign-in links given in chat, and the cohort's pages."""

from __future__ import annotations

from handlers.core.commands import Router
from handlers.dashboard import access, people
from handlers.web.registry import WebRegistry


def register(router: Router) -> None:
    access.register(router)


def register_web(web: WebRegistry) -> None:
    access.register_web(web)
    people.register_web(web)

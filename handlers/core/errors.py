"""Errors a user can fix, carried as a template name and its context."""

from __future__ import annotations

from typing import Any


class UserFacingError(Exception):
    """An error explained to the user from ``messages/templates/<lang>/<template>.j2``.

    Raise it anywhere below a handler; the dispatcher rolls the transaction back and
    answers with the rendered template, so nothing half-done is stored.
    """

    def __init__(self, template: str, **context: Any) -> None:
        super().__init__(template)
        self.template = template
        self.context = context

    def __repr__(self) -> str:
        return f"UserFacingError({self.template!r}, {self.context!r})"

"""Neutral web requests and responses, who is looking, and the errors a page may answer.

The aiohttp adapter (``bot/dashboard.py``) turns an HTTP request into a
:class:`WebRequest` and a :class:`WebResponse` back into HTTP; page handlers in
``handlers/`` see nothing else, so they never import aiohttp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from storage.models import Member, PlatformIdentity


class Access(IntEnum):
    """Who may open a page; higher includes lower.

    A page whose path holds ``{cohort}`` is checked against that cohort: a member
    of another cohort gets 404 (its existence is not revealed), a member opening a
    coordinator page gets 403.
    """

    PUBLIC = 0
    SIGNED_IN = 1
    MEMBER = 2
    COORDINATOR = 3


class FormData:
    """Submitted form fields; a field may repeat (checkboxes, several options)."""

    def __init__(self, values: Mapping[str, list[str]] | None = None) -> None:
        self._values = {k: list(v) for k, v in (values or {}).items()}

    def get(self, name: str, default: str = "") -> str:
        found = self._values.get(name)
        return found[0] if found else default

    def getall(self, name: str) -> list[str]:
        return list(self._values.get(name, ()))

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def keys(self) -> list[str]:
        return list(self._values)


@dataclass(frozen=True, slots=True)
class WebRequest:
    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    """The ``{name}`` parts of the matched path."""
    query: Mapping[str, str] = field(default_factory=dict)
    form: FormData = field(default_factory=FormData)
    cookies: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SetCookie:
    name: str
    value: str
    max_age: int | None = None
    http_only: bool = True
    same_site: str = "Lax"
    secure: bool = False
    path: str = "/"


@dataclass(slots=True)
class WebResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[SetCookie] = field(default_factory=list)

    @classmethod
    def html(cls, text: str, status: int = 200) -> WebResponse:
        return cls(status=status, body=text.encode("utf-8"))

    @classmethod
    def redirect(cls, location: str) -> WebResponse:
        """303 See Other: after a form, the browser asks for the next page with GET."""
        return cls(status=303, headers={"Location": location})

    @classmethod
    def download(cls, content: bytes, content_type: str, filename: str) -> WebResponse:
        quoted = quote(filename)
        return cls(status=200, body=content, content_type=content_type, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quoted}"})


@dataclass(frozen=True, slots=True)
class WebEvent:
    """A dashboard form seen by the chat features' services as the event they serve.

    It has no ``origin``: nothing is answered "where it came from" (the answer is a
    page), and what a service sends elsewhere goes to the outbox as usual.
    """

    method: str
    path: str


class WebError(Exception):
    """A page the person cannot see, explained from ``errors/<template>`` with ``status``.

    Raised anywhere below a page handler: the transaction is rolled back and the
    error page is answered in the viewer's language.
    """

    def __init__(self, status: int, template: str, **context: Any) -> None:
        super().__init__(template)
        self.status = status
        self.template = template
        self.context = context


class FormInvalid(Exception):
    """A form came back with mistakes: nothing is kept, the form is shown again, marked."""

    def __init__(self, response: WebResponse) -> None:
        super().__init__("form invalid")
        self.response = response


@dataclass(slots=True)
class Viewer:
    """The person behind a web session, with their roles as they are *now*."""

    member: Member | None
    identity: PlatformIdentity | None
    is_admin: bool
    session_id: int
    csrf: str
    cohorts: frozenset[int] = frozenset()
    coordinates: frozenset[int] = frozenset()
    admin_account: str | None = None

    @property
    def display_name(self) -> str:
        if self.member is not None:
            return self.member.display_name
        return self.admin_account or "?"

    @property
    def delegation_id(self) -> int | None:
        return self.member.delegation_id if self.member is not None else None

    def belongs_to(self, cohort_id: int) -> bool:
        return self.is_admin or cohort_id in self.cohorts

    def coordinates_cohort(self, cohort_id: int) -> bool:
        return self.is_admin or cohort_id in self.coordinates

    def sees_delegation(self, cohort_id: int, delegation_id: int) -> bool:
        """Coordinators see every delegation of their cohort; a member only their own."""
        return self.coordinates_cohort(cohort_id) or delegation_id == self.delegation_id

    @property
    def actor(self) -> str:
        account = f"{self.identity.platform}:{self.identity.user_id}" if self.identity \
            else self.admin_account
        return f"{self.display_name} (web, {account})"

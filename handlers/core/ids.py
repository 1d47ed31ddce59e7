"""Typed identifiers shared by the adapters and the handlers.

A user, a room or a message is always named together with its platform, so a
Slack ``U123`` can never be mistaken for a Matrix ``@u:server``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

CohortId = NewType("CohortId", int)
DelegationId = NewType("DelegationId", int)
MemberId = NewType("MemberId", int)


class Platform(StrEnum):
    """Where an event comes from or a reply goes to."""

    SLACK = "slack"
    MATRIX = "matrix"
    CONSOLE = "console"


@dataclass(frozen=True, slots=True)
class UserRef:
    """A person's account on one platform (Slack user id, Matrix user id, console name)."""

    platform: Platform
    user_id: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.user_id}"

    @classmethod
    def parse(cls, text: str) -> UserRef:
        """Read ``platform:user_id`` (as written in the configuration's admin list)."""
        platform, sep, user_id = text.partition(":")
        if not sep or not user_id:
            raise ValueError(f"expected 'platform:user_id', got {text!r}")
        return cls(Platform(platform), user_id)


@dataclass(frozen=True, slots=True)
class RoomRef:
    """A Slack channel, a Matrix room or the console."""

    platform: Platform
    room_id: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.room_id}"


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message the bot sent or received, addressable for edits and threads."""

    room: RoomRef
    message_id: str

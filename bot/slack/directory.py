"""People's names as Slack knows them (``users.info``), cached.

Slack events carry only user ids. The bot shows a person's real name where it
does not know them yet (an unregistered user is told the exact linking command
to hand to a coordinator), so names are looked up once and kept for an hour;
a failed lookup costs nothing but the name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: str
    real_name: str | None
    is_bot: bool = False


class SlackDirectory:
    """``users.info`` with a time-limited cache (also of "unknown": no lookup storm)."""

    def __init__(self, client: AsyncWebClient, *, ttl: float = 3600.0, max_entries: int = 5000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Profile | None]] = {}

    def cached(self, user_id: str) -> Profile | None:
        entry = self._cache.get(user_id)
        if entry is None or entry[0] < self._monotonic():
            return None
        return entry[1]

    async def profile(self, user_id: str) -> Profile | None:
        """The person's profile, from the cache or ``users.info``; None when unavailable."""
        entry = self._cache.get(user_id)
        if entry is not None and entry[0] >= self._monotonic():
            return entry[1]
        found: Profile | None = None
        try:
            response = await self.client.users_info(user=user_id)
            user = response.get("user") or {}
            found = Profile(user_id, _best_name(user), bool(user.get("is_bot")))
        except SlackApiError as error:
            log.info("users.info failed: %s", error.response.get("error"),
                     extra={"slack_user": user_id})
        except (aiohttp.ClientError, TimeoutError) as error:
            log.info("users.info unreachable: %s", type(error).__name__,
                     extra={"slack_user": user_id})
            return None
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[user_id] = (self._monotonic() + self.ttl, found)
        return found

    async def real_name(self, user_id: str) -> str | None:
        profile = await self.profile(user_id)
        return profile.real_name if profile else None


def _best_name(user: dict) -> str | None:
    profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
    for candidate in (profile.get("real_name"), user.get("real_name"),
                      profile.get("display_name"), user.get("name")):
        if isinstance(candidate, str) and candidate.strip():
            return " ".join(candidate.split())[:200]
    return None

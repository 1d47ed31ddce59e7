"""A per-channel pace for posting: Slack allows about one message per second per channel.

Slack answers 429 when a channel gets more than that for long; posting at its pace
keeps messages flowing in order instead of bouncing off rate limits. Short
bursts are allowed, as Slack allows them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class ChannelPacer:
    """Spaces the posts to each channel: ``burst`` at once, then ``per_second`` on average.

    The schedule is reserved before sleeping (a generic cell rate algorithm), so
    concurrent senders to one channel never overshoot and keep their order.
    ``hold`` pushes a channel back after Slack answered 429 with ``Retry-After``.
    """

    def __init__(self, per_second: float = 1.0, burst: int = 3, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("per_second must be > 0 and burst >= 1")
        self.interval = 1.0 / per_second
        self.tolerance = (burst - 1) * self.interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[str, float] = {}

    def reserve(self, channel: str) -> float:
        """Book the next slot of ``channel``; returns how long to wait before posting."""
        now = self._monotonic()
        theoretical = max(self._next.get(channel, now), now)
        send_at = max(now, theoretical - self.tolerance)
        self._next[channel] = theoretical + self.interval
        if len(self._next) > 1000:
            self._forget_idle(now)
        return send_at - now

    async def wait(self, channel: str) -> None:
        """Wait for ``channel``'s next slot (at once while within the burst)."""
        delay = self.reserve(channel)
        if delay > 0:
            await self._sleep(delay)

    def hold(self, channel: str, seconds: float) -> None:
        """No post to ``channel`` for ``seconds`` (Slack said so with ``Retry-After``)."""
        now = self._monotonic()
        self._next[channel] = max(self._next.get(channel, now), now + seconds + self.tolerance)

    def _forget_idle(self, now: float) -> None:
        for channel in [c for c, t in self._next.items() if t < now]:
            del self._next[channel]

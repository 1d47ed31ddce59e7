"""What the bot posted on Matrix for each poll, shared by the sender and the sync loop.

The sender records every native poll (``start``) and every poll text (``message``) it
posts; the sync loop reads a response to a recorded start as a vote, and a reply to a
recorded message as a typed answer; the sender ends the recorded starts when the poll
closes. Event ids never change meaning, so lookups are cached in memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from handlers.core.clock import Clock
from storage.db import Database
from storage.uow import Store

CACHE_SIZE = 4096
RELATIONS_PAGE = 100
RELATIONS_MAX_PAGES = 50


@dataclass(frozen=True, slots=True)
class PollEvent:
    event_id: str
    room_id: str
    poll_id: int
    kind: str
    """``start`` (a native poll) or ``message`` (its text)."""


class PollEvents:
    """The ``matrix_poll_event`` table, with an in-memory cache of what was looked up."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._cache: OrderedDict[str, PollEvent] = OrderedDict()

    def _keep(self, event: PollEvent) -> None:
        self._cache[event.event_id] = event
        self._cache.move_to_end(event.event_id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    async def remember(self, event_id: str, room_id: str, poll_id: int, kind: str) -> None:
        """Record an event just posted for ``poll_id`` (idempotent)."""
        async with self.db.session() as session:
            await Store(session).matrix.remember_poll_event(event_id, room_id, poll_id, kind,
                                                            self.clock.now())
        self._keep(PollEvent(event_id, room_id, poll_id, kind))

    async def find(self, event_id: str) -> PollEvent | None:
        """The poll event ``event_id`` is, or None when the bot did not post it for a poll."""
        cached = self._cache.get(event_id)
        if cached is not None:
            return cached
        async with self.db.read_session() as session:
            rows = await Store(session).matrix.poll_events([event_id])
        row = rows.get(event_id)
        if row is None:
            return None
        found = PollEvent(row.event_id, row.room_id, row.poll_id, row.kind)
        self._keep(found)
        return found

    async def open_starts(self, *, poll_id: int | None = None,
                          room_ids: Sequence[str] | None = None) -> list[PollEvent]:
        """Native polls not ended yet (of one poll, or in some rooms)."""
        async with self.db.read_session() as session:
            rows = await Store(session).matrix.open_poll_starts(poll_id=poll_id,
                                                                room_ids=room_ids)
        return [PollEvent(r.event_id, r.room_id, r.poll_id, r.kind) for r in rows]

    async def mark_ended(self, event_id: str) -> None:
        async with self.db.session() as session:
            await Store(session).matrix.mark_poll_ended(event_id, self.clock.now())


def relations_path(room_id: str, event_id: str, since: str | None) -> str:
    """``/relations`` of a poll start (every ``m.reference``: responses and ends), oldest
    first, one page."""
    path = (f"/_matrix/client/v1/rooms/{quote(room_id, safe='')}/relations/"
            f"{quote(event_id, safe='')}/m.reference?dir=f&limit={RELATIONS_PAGE}")
    return path + (f"&from={quote(since, safe='')}" if since else "")


def latest_per_sender(events: Sequence[dict[str, Any]], skip: str) -> list[dict[str, Any]]:
    """Each sender's last response (server time, then order), oldest first: what stands
    when a poll is tallied again from its relations."""
    latest: dict[str, tuple[int, int, dict[str, Any]]] = {}
    for index, source in enumerate(events):
        sender = source.get("sender")
        stamp = source.get("origin_server_ts")
        if not isinstance(sender, str) or sender == skip:
            continue
        key = (stamp if isinstance(stamp, int) else 0, index)
        if sender not in latest or key >= latest[sender][:2]:
            latest[sender] = (*key, source)
    return [item[2] for item in sorted(latest.values(), key=lambda t: (t[0], t[1]))]

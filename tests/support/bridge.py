"""Helpers for bridge tests: a demo cohort with a Slack channel and a Matrix room, people
on both sides, and room messages as the adapters hand them to the dispatcher."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime

from bot.bootstrap import App
from handlers.core.dispatch import Outcome
from handlers.core.events import Origin, RoomChange, RoomMessageEvent, SharedFile
from handlers.core.ids import Platform, RoomRef, UserRef
from storage.uow import Store

SLACK_CHANNEL = "C1"
MATRIX_ROOM = "!salon:localhost"
_ids = itertools.count(1)


async def link_people(app: App, people: dict[str, list[tuple[str, str]]]) -> None:
    """Give demo members accounts: ``{"Camille Martin": [("slack", "U1"), …]}``."""
    async with app.db.session() as session:
        store = Store(session)
        cohort = await store.cohorts.by_slug("occitanie")
        assert cohort is not None
        members = {m.display_name: m for m in await store.members.in_cohort_scope(cohort.id)}
        for name, accounts in people.items():
            for platform, user_id in accounts:
                await store.identities.link(platform, user_id, members[name].id, app.clock.now())


async def link_rooms(app: App, rooms: list[tuple[str, str]]) -> None:
    async with app.db.session() as session:
        store = Store(session)
        cohort = await store.cohorts.by_slug("occitanie")
        assert cohort is not None
        for platform, room_id in rooms:
            await store.rooms.link(platform, room_id, cohort.id, app.clock.now(), None)


@dataclass
class Poster:
    """One person writing in a bridged room, as an adapter would report it."""

    app: App
    platform: Platform
    user_id: str
    room_id: str
    name: str | None = None
    sent: list[str] = field(default_factory=list)

    def _origin(self, event_id: str | None) -> Origin:
        return Origin(user=UserRef(self.platform, self.user_id),
                      room=RoomRef(self.platform, self.room_id),
                      event_id=event_id or f"ev-{next(_ids)}", user_display_name=self.name)

    def new_id(self) -> str:
        number = next(_ids)
        if self.platform is Platform.SLACK:
            return f"1700000000.{number:06d}"
        return f"$ev{number}:localhost"

    async def post(self, text: str, *, message_id: str | None = None,
                   thread_root: str | None = None, reply_to: str | None = None,
                   files: tuple[SharedFile, ...] = (), unsupported: str | None = None,
                   event_id: str | None = None, sent_at: datetime | None = None) -> str:
        message_id = message_id or self.new_id()
        await self.handle(RoomMessageEvent(self._origin(event_id), message_id, RoomChange.POST,
                                           text=text, thread_root=thread_root,
                                           reply_to=reply_to, files=files,
                                           unsupported=unsupported, sent_at=sent_at))
        self.sent.append(message_id)
        return message_id

    async def edit(self, message_id: str, text: str, *, change_id: str | None = None) -> None:
        await self.handle(RoomMessageEvent(self._origin(None), message_id, RoomChange.EDIT,
                                           text=text, change_id=change_id or self.new_id()))

    async def delete(self, message_id: str) -> None:
        await self.handle(RoomMessageEvent(self._origin(None), message_id, RoomChange.DELETE))

    async def react(self, message_id: str, reaction: str, change_id: str) -> None:
        await self.handle(RoomMessageEvent(self._origin(None), message_id, RoomChange.REACT,
                                           reaction=reaction, change_id=change_id))

    async def unreact(self, change_id: str) -> None:
        await self.handle(RoomMessageEvent(self._origin(None), change_id, RoomChange.UNREACT))

    async def handle(self, event: RoomMessageEvent) -> Outcome:
        return await self.app.dispatcher.handle(event)

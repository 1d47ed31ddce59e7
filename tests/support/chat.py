"""Talking to a bootstrapped app through the real dispatcher, as people on a platform would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from bot.bootstrap import App
from handlers.core.dispatch import Outcome
from handlers.core.events import ActionEvent, CommandEvent, MessageEvent, Origin
from handlers.core.ids import Platform, RoomRef, UserRef
from messages.render.plain import reply_to_plain

_ids = itertools.count(1)


@dataclass
class Speaker:
    """One person on one platform, typing in one room (or their DM)."""

    app: App
    user: UserRef
    room: RoomRef
    is_direct: bool = False
    name: str | None = None

    def origin(self, event_id: str | None = None, thread_id: str | None = None) -> Origin:
        return Origin(user=self.user, room=self.room, is_direct=self.is_direct,
                      event_id=event_id or f"ev-{next(_ids)}", thread_id=thread_id,
                      user_display_name=self.name)

    async def command(self, text: str, *, event_id: str | None = None) -> Outcome:
        return await self.app.dispatcher.handle(CommandEvent(self.origin(event_id), text))

    async def say(self, text: str, *, event_id: str | None = None) -> str:
        """Run a command; returns the plain text of the replies (joined)."""
        outcome = await self.command(text, event_id=event_id)
        return "\n\n".join(reply_to_plain(r) for r in outcome.replies)

    async def message(self, text: str, *, event_id: str | None = None) -> str:
        outcome = await self.app.dispatcher.handle(MessageEvent(self.origin(event_id), text))
        return "\n\n".join(reply_to_plain(r) for r in outcome.replies)

    async def click(self, action: str, value: str = "", *, form: dict | None = None,
                    event_id: str | None = None) -> str:
        outcome = await self.app.dispatcher.handle(
            ActionEvent(self.origin(event_id), action, value, form or {}))
        return "\n\n".join(reply_to_plain(r) for r in outcome.replies)

    def dm(self) -> Speaker:
        return Speaker(self.app, self.user, RoomRef(self.user.platform, f"dm-{self.user.user_id}"),
                       is_direct=True, name=self.name)

    def elsewhere(self, room_id: str) -> Speaker:
        return Speaker(self.app, self.user, RoomRef(self.user.platform, room_id),
                       self.is_direct, self.name)


def operator(app: App, room: str = "console") -> Speaker:
    """The console operator (an administrator)."""
    return Speaker(app, UserRef(Platform.CONSOLE, "operator"), RoomRef(Platform.CONSOLE, room))


def person(app: App, platform: Platform, user_id: str, room: str, name: str | None = None
           ) -> Speaker:
    return Speaker(app, UserRef(platform, user_id), RoomRef(platform, room), name=name)

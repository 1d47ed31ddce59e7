"""The real bot as a Slack app, served over real HTTP, next to the Slack Web API emulator.

`SlackRig` bootstraps the application with ``[slack] enabled`` (HTTP or Socket
Mode), points its Web API client at a `SlackEmulator`, starts the bot's one
aiohttp server on a free port, and signs requests the way Slack does::

    async with SlackRig.started(tmp_path, clock) as rig:
        status, url = await rig.command("aide")
        await rig.settle()
        assert "aide" in rig.emu.responses(url)[0]["text"]

The delivery worker is not running: `settle` waits for the events in hand and
then delivers the outbox once, so tests see everything the bot will send.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from bot.bootstrap import App, bootstrap
from bot.config import BotConfig, Config, DatabaseConfig, HttpConfig, SlackConfig
from bot.slack.pace import ChannelPacer
from handlers.core.commands import Router
from handlers.core.ids import Platform
from tests.support.fakes import FakeClock
from tests.support.slack_emulator import (
    SlackEmulator,
    block_actions_form,
    event_callback,
    sign,
    slash_command_form,
    view_submission_form,
)

SECRET = "test-signing-secret"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def slack_config(tmp_path: Path, emu: SlackEmulator, *, mode: str = "http",
                 admins: tuple[str, ...] = ("slack:U1",)) -> Config:
    return Config(
        bot=BotConfig(data_dir=tmp_path, admins=admins),
        database=DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path}/slack.db"),
        http=HttpConfig(port=0),
        slack=SlackConfig(enabled=True, mode=mode, api_url=emu.base_url, bot_token="xoxb-test",
                          signing_secret=SECRET, app_token="xapp-test"),
    )


@dataclass
class Posted:
    """An HTTP answer of the bot's Slack endpoint."""

    status: int
    text: str
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


@dataclass
class SlackRig:
    app: App
    emu: SlackEmulator
    session: aiohttp.ClientSession
    secret: str = SECRET
    sent: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    @classmethod
    @asynccontextmanager
    async def started(cls, tmp_path: Path, clock: FakeClock | None = None, *,
                      emu: SlackEmulator | None = None, mode: str = "http",
                      pacer: ChannelPacer | None = None, router: Router | None = None
                      ) -> AsyncIterator[SlackRig]:
        """Emulator + bootstrapped app + web server + Slack adapter started; all closed after."""
        own_emu = emu is None
        emulator = emu or SlackEmulator()
        if own_emu:
            await emulator.start()
            people(emulator)
        app = await bootstrap(slack_config(tmp_path, emulator, mode=mode),
                              clock=clock or FakeClock(), router=router)
        app.slack.sender.pacer = pacer or ChannelPacer(per_second=1000, burst=1000)
        await app.web.start()
        await app.slack.start()
        session = aiohttp.ClientSession()
        try:
            yield cls(app, emulator, session)
        finally:
            await session.close()
            await app.web.stop()
            await app.close()
            if own_emu:
                await emulator.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.app.web.port}/slack/events"

    # ---------------------------------------------------------------- raw requests

    async def post(self, body: bytes, content_type: str, *, signed: bool = True,
                   timestamp: int | None = None, headers: dict[str, str] | None = None,
                   signature: dict[str, str] | None = None) -> Posted:
        """POST ``body`` to the bot's Slack endpoint, signed like Slack unless told otherwise."""
        sent_headers = {"Content-Type": content_type, **(headers or {})}
        if signature is not None:
            sent_headers.update(signature)
        elif signed:
            sent_headers.update(sign(body, self.secret, timestamp))
        self.sent.append((body, sent_headers))
        start = time.perf_counter()
        async with self.session.post(self.url, data=body, headers=sent_headers) as response:
            text = await response.text()
        return Posted(response.status, text, time.perf_counter() - start)

    async def replay(self, index: int = -1) -> Posted:
        """Send an earlier request again, byte for byte, with its original signature."""
        body, headers = self.sent[index]
        async with self.session.post(self.url, data=body, headers=headers) as response:
            return Posted(response.status, await response.text(), 0.0)

    # ---------------------------------------------------------------- what Slack sends

    async def command(self, text: str, *, user: str = "U1", channel: str = "C1",
                      channel_name: str = "general") -> tuple[Posted, str]:
        """``/cohorte <text>`` typed by ``user`` in ``channel``; returns the answer and its
        response_url (served by the emulator)."""
        url = self.emu.new_response_url(channel=channel, user=user)
        body = slash_command_form(text, user_id=user, channel_id=channel, response_url=url,
                                  channel_name=channel_name,
                                  user_name=self.emu.users.get(user, {}).get("name", user))
        return await self.post(body, FORM), url

    async def click(self, message: dict[str, Any], action_id: str, value: str, *,
                    user: str = "U1", channel: str = "C1") -> tuple[Posted, str]:
        """``user`` clicks a button of a message the bot posted."""
        url = self.emu.new_response_url(channel=channel, user=user, message_ts=message["ts"])
        body = block_actions_form(user_id=user, channel_id=channel, message_ts=message["ts"],
                                  action_id=action_id, value=value, response_url=url,
                                  message=message, trigger_id=self.emu.new_trigger_id())
        return await self.post(body, FORM), url

    async def submit(self, view: dict[str, Any], values: dict[str, Any], *,
                     user: str = "U1") -> Posted:
        body = view_submission_form(user_id=user, view_id=view["id"],
                                    callback_id=view["callback_id"], state_values=values,
                                    private_metadata=view["private_metadata"], view=view)
        return await self.post(body, FORM)

    async def event(self, event: dict[str, Any], *, event_id: str | None = None,
                    headers: dict[str, str] | None = None) -> Posted:
        body = event_callback(event, event_id=event_id)
        return await self.post(body, JSON, headers=headers)

    async def dm(self, text: str, *, user: str = "U1", **extra: Any) -> Posted:
        """``user`` writes ``text`` in their DM with the bot: the message is stored in the
        emulator's IM channel and Slack's ``message.im`` event is sent to the bot."""
        return await dm_event(self, self.emu, text, user=user, **extra)

    def dm_texts(self, user: str = "U1") -> list[str]:
        """What the bot wrote in its DM with ``user`` (Slack's ``text`` fallback), in order."""
        return bot_texts(self.emu, self.emu.im_id(user))

    # ---------------------------------------------------------------- waiting

    async def settle(self) -> None:
        """Let the bot finish what it acknowledged, then deliver its outbox."""
        await self.app.slack.drain()
        await self.app.delivery.flush(Platform.SLACK)


class _Poster(Protocol):
    async def post(self, body: bytes, content_type: str) -> Posted: ...


async def dm_event(poster: _Poster, emu: SlackEmulator, text: str, *, user: str,
                   **extra: Any) -> Posted:
    """Store ``text`` as ``user``'s message in their IM with the bot and send ``message.im``."""
    channel = emu.im_id(user)
    stored = emu.add_message(channel, user, text)
    event = {"type": "message", "channel_type": "im", "channel": channel, "user": user,
             "text": text, "ts": stored["ts"], "event_ts": stored["ts"], **extra}
    return await poster.post(event_callback(event), JSON)


def bot_texts(emu: SlackEmulator, channel: str) -> list[str]:
    """The bot's messages in ``channel`` (their ``text`` fallback), oldest first."""
    return [m["text"] for m in emu.messages(channel) if m.get("user") == emu.bot_user_id]


def people(emu: SlackEmulator) -> None:
    """Alice (an administrator of the bot), Bob, and #general where both are."""
    emu.add_user("U1", "alice", real_name="Alice Martin")
    emu.add_user("U2", "bob", real_name="Bob Durand")
    emu.add_user("U3", "zoe", real_name="Zoé Durand")
    emu.add_channel("C1", "general", members=["U1", "U2", "U3"])
    emu.add_channel("C2", "lobby", members=["U1", "U2"])

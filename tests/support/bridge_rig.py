"""The real bot with Slack and Matrix both enabled: the session's Synapse, the Slack Web API
emulator, the bot's HTTP endpoint, and the demo cohort bridged between ``#general`` (C1)
and a Matrix room. People: Matrix users (real nio clients) and Slack users, whose
messages are stored in the emulator and delivered to the bot as signed Events API
requests, as Slack does."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.bootstrap import App, bootstrap
from bot.config import BotConfig, Config, DatabaseConfig, HttpConfig, MatrixConfig, SlackConfig
from bot.devtools.local_synapse import LocalSynapse
from bot.matrix.adapter import MatrixAdapter
from bot.slack.pace import ChannelPacer
from handlers.admin.demo import load_cohort_file
from storage.uow import Store
from tests.support.matrix_user import MatrixUser, matching
from tests.support.slack_app import SECRET, people
from tests.support.slack_emulator import SlackEmulator, event_callback, sign

DEMO_FILE = Path(__file__).resolve().parents[2] / "data" / "demo" / "occitanie.yaml"
CHANNEL = "C1"
_bots = itertools.count(1)


def bridge_config(data_dir: Path, synapse: LocalSynapse, emu_url: str, bot_id: str,
                  password: str, port: int = 0) -> Config:
    return Config(
        bot=BotConfig(data_dir=data_dir, admins=("slack:U1",)),
        database=DatabaseConfig(url=f"sqlite+aiosqlite:///{data_dir}/bridge.db"),
        matrix=MatrixConfig(enabled=True, homeserver=synapse.base_url, user_id=bot_id,
                            password=password),
        slack=SlackConfig(enabled=True, mode="http", api_url=emu_url, bot_token="xoxb-test",
                          signing_secret=SECRET),
        http=HttpConfig(port=port),
    )


@dataclass
class SlackPerson:
    """Someone typing in a Slack channel: the message goes in the emulator, the event to the bot."""

    rig: BridgeRig
    user: str
    channel: str = CHANNEL

    async def say(self, text: str, *, blocks: list[dict[str, Any]] | None = None,
                  thread_ts: str | None = None, files: list[dict[str, Any]] | None = None,
                  deliver: bool = True) -> str:
        extra: dict[str, Any] = {}
        if blocks is not None:
            extra["blocks"] = blocks
        if files is not None:
            extra["files"] = files
            extra["subtype"] = "file_share"
        stored = self.rig.emu.add_message(self.channel, self.user, text, thread_ts=thread_ts,
                                          **extra)
        if deliver:
            await self.rig.event({**json.loads(json.dumps(stored)), "channel": self.channel,
                                  "channel_type": "channel", "event_ts": stored["ts"]})
        return stored["ts"]

    async def edit(self, ts: str, text: str) -> None:
        message = self.rig.emu.message(self.channel, ts)
        assert message is not None
        previous = json.loads(json.dumps(message))
        message["text"] = text
        message.pop("blocks", None)
        message["edited"] = {"user": self.user, "ts": self.rig.emu._next_ts()}
        await self.rig.event({"type": "message", "subtype": "message_changed",
                              "channel": self.channel, "hidden": True,
                              "message": json.loads(json.dumps(message)),
                              "previous_message": previous, "channel_type": "channel",
                              "ts": message["edited"]["ts"]})

    async def delete(self, ts: str) -> None:
        message = self.rig.emu.message(self.channel, ts)
        assert message is not None
        self.rig.emu.channels[self.channel].messages.remove(message)
        await self.rig.event({"type": "message", "subtype": "message_deleted",
                              "channel": self.channel, "hidden": True, "deleted_ts": ts,
                              "previous_message": message, "channel_type": "channel",
                              "ts": self.rig.emu._next_ts()})

    async def react(self, ts: str, name: str, removed: bool = False) -> None:
        await self.rig.event({"type": "reaction_removed" if removed else "reaction_added",
                              "user": self.user, "reaction": name,
                              "item": {"type": "message", "channel": self.channel, "ts": ts},
                              "event_ts": self.rig.emu._next_ts()})


@dataclass
class BridgeRig:
    app: App
    emu: SlackEmulator
    synapse: LocalSynapse
    bot_id: str
    room: str
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.app.web.port}/slack/events"

    async def event(self, event: dict[str, Any]) -> None:
        body = event_callback(event)
        headers = {"Content-Type": "application/json", **sign(body, SECRET)}
        async with self.session.post(self.url, data=body, headers=headers) as response:
            assert response.status == 200, await response.text()

    def slack(self, user: str) -> SlackPerson:
        return SlackPerson(self, user)

    def relayed_to_slack(self) -> list[dict[str, Any]]:
        """Messages the bot posted in #general under someone's name, oldest first."""
        return [m for m in self.emu.messages(CHANNEL) if m.get("username")]

    async def wait_slack(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while len(self.relayed_to_slack()) < count:  # noqa: ASYNC110 (the emulator)
                await asyncio.sleep(0.02)
        return self.relayed_to_slack()

    def from_bot(self, user: MatrixUser) -> list[dict[str, Any]]:
        return [e for e in user.events(self.room) if e["sender"] == self.bot_id and
                e["type"] == "m.room.message" and "fr.cohortbot.relay" in e["content"]]

    @classmethod
    @asynccontextmanager
    async def started(cls, synapse: LocalSynapse, tmp_path: Path, owner: MatrixUser,
                      *others: MatrixUser) -> AsyncIterator[BridgeRig]:
        """Bot up on both platforms, demo loaded, ``owner``'s room linked, bridge on."""
        localpart = f"bridgebot-{next(_bots)}"
        password = f"{localpart}-pw"
        bot_id = (await synapse.register(localpart, password, displayname="Cohortbot")).user_id
        emu = SlackEmulator(ts_start=int(time.time()))
        await emu.start()
        people(emu)
        app = await bootstrap(bridge_config(tmp_path, synapse, emu.base_url, bot_id, password))
        app.slack.sender.pacer = ChannelPacer(per_second=1000, burst=1000)
        session = aiohttp.ClientSession()
        try:
            await app.web.start()
            for part in app.runtime:
                await part.start()
            app.delivery.start()
            adapter = next(p for p in app.runtime if isinstance(p, MatrixAdapter))
            await adapter.wait_ready()
            room = await owner.create_room(name="cohorte", invite=[])
            async with app.db.session() as db:
                store = Store(db)
                await load_cohort_file(store, DEMO_FILE, app.clock.now())
                cohort = await store.cohorts.by_slug("occitanie")
                assert cohort is not None
                await store.rooms.link("slack", CHANNEL, cohort.id, app.clock.now(), None)
                await store.rooms.link("matrix", room, cohort.id, app.clock.now(), None)
                await store.bridge.set_enabled(cohort.id, True, app.clock.now(), None)
                await store.bridge.set_cursor("slack", CHANNEL,
                                              f"{app.clock.now().timestamp():.6f}",
                                              app.clock.now())
            await app.bridge.refresh()
            await owner.invite(room, bot_id)
            await owner.wait_for(room, matching(type="m.room.member", sender=bot_id))
            for other in others:
                await owner.invite(room, other.user_id)
                await other.wait_for_invite(room)
                await other.join(room)
            await app.bridge.caught_up.wait()
            yield cls(app, emu, synapse, bot_id, room, session)
        finally:
            await session.close()
            await app.web.stop()
            await app.close()
            await emu.stop()

    async def link(self, name: str, platform: str, user_id: str) -> None:
        async with self.app.db.session() as db:
            store = Store(db)
            cohort = await store.cohorts.by_slug("occitanie")
            assert cohort is not None
            members = {m.display_name: m for m in await store.members.in_cohort_scope(cohort.id)}
            await store.identities.link(platform, user_id, members[name].id, self.app.clock.now())

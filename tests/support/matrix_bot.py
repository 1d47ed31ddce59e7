"""The real bot on a real Synapse, in the test's process: bootstrap + Matrix adapter + delivery.

``matrix_bot`` (fixture) starts one bot account per test (``@bot-<n>:localhost``) on the
session's Synapse, with the demo cohort loaded, so tests never see each other's rooms.
People are `MatrixUser` clients whose Matrix ids are linked to demo members with
:meth:`BotHarness.link`.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest_asyncio

from bot.bootstrap import App, bootstrap
from bot.config import BotConfig, Config, DatabaseConfig, HttpConfig, MatrixConfig
from bot.devtools.local_synapse import LocalSynapse
from bot.matrix.adapter import MatrixAdapter
from bot.matrix.sender import MatrixSender
from handlers.core.ids import Platform
from storage.uow import Store
from tests.support.matrix_user import Event, MatrixUser, matching

_numbers = itertools.count(1)
DEMO_FILE = Path(__file__).resolve().parents[2] / "data" / "demo" / "occitanie.yaml"


def bot_config(data_dir: Path, synapse: LocalSynapse, localpart: str, password: str, *,
               e2e: bool = False, db_url: str | None = None) -> Config:
    return Config(
        bot=BotConfig(data_dir=data_dir, log_level="INFO"),
        database=DatabaseConfig(url=db_url or f"sqlite+aiosqlite:///{data_dir}/bot.db"),
        matrix=MatrixConfig(enabled=True, homeserver=synapse.base_url,
                            user_id=synapse.user_id(localpart), password=password, e2e=e2e),
        http=HttpConfig(enabled=False),
    )


@dataclass
class BotHarness:
    """A running bot and the way to reach it."""

    synapse: LocalSynapse
    data_dir: Path
    localpart: str
    password: str
    e2e: bool = False
    scheduler: bool = False
    """Also run the durable timers (poll refreshes, deadlines) on the real clock."""
    options: dict[str, int] = field(default_factory=dict)
    app: App | None = None
    adapter: MatrixAdapter | None = None

    @property
    def user_id(self) -> str:
        return self.synapse.user_id(self.localpart)

    @property
    def sender(self) -> MatrixSender:
        assert self.app is not None
        sender = self.app.delivery.senders[Platform.MATRIX]
        assert isinstance(sender, MatrixSender)
        return sender

    async def start(self) -> BotHarness:
        """Bootstrap (or re-bootstrap on the same data) and wait for the first sync."""
        config = bot_config(self.data_dir, self.synapse, self.localpart, self.password,
                            e2e=self.e2e)
        app = await bootstrap(config)
        adapter = next(p for p in app.runtime if isinstance(p, MatrixAdapter))
        for name, value in self.options.items():
            setattr(adapter, name, value)
        await adapter.start()
        app.delivery.start()
        if self.scheduler:
            await app.scheduler.start()
        self.app, self.adapter = app, adapter
        await adapter.wait_ready()
        return self

    async def stop(self) -> None:
        app, self.app, self.adapter = self.app, None, None
        if app is not None:
            await app.close()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def load_demo(self) -> None:
        from handlers.admin.demo import load_cohort_file

        assert self.app is not None
        async with self.app.db.session() as session:
            await load_cohort_file(Store(session), DEMO_FILE, self.app.clock.now())

    async def link(self, name: str, user: MatrixUser) -> None:
        """Make ``user`` the Matrix account of the demo member called ``name``."""
        assert self.app is not None
        async with self.app.db.session() as session:
            store = Store(session)
            cohort = await store.cohorts.by_slug("occitanie")
            assert cohort is not None
            members = {m.display_name: m for m in await store.members.in_cohort_scope(cohort.id)}
            await store.identities.link("matrix", user.user_id, members[name].id,
                                        self.app.clock.now())

    async def room_with(self, owner: MatrixUser, *others: MatrixUser, name: str = "salon",
                        encrypted: bool = False) -> str:
        """A room created by ``owner`` with the bot invited (and joined) and ``others`` in it."""
        room_id = await owner.create_room(name=name, invite=[self.user_id],
                                          encrypted=encrypted)
        await owner.wait_for(room_id, matching(type="m.room.member", sender=self.user_id))
        for other in others:
            await owner.invite(room_id, other.user_id)
            await other.wait_for_invite(room_id)
            await other.join(room_id)
        return room_id

    async def answer_to(self, user: MatrixUser, room_id: str, command_id: str,
                        timeout: float = 10.0) -> Event:  # noqa: ASYNC109
        """The bot's reply pointing at ``command_id`` (``m.in_reply_to``)."""
        return await user.wait_for(room_id, answers(self.user_id, command_id), timeout=timeout)


def answers(bot_id: str, command_id: str) -> Callable[[Event], bool]:
    def predicate(event: Event) -> bool:
        relation = event["content"].get("m.relates_to") or {}
        return event["sender"] == bot_id and (relation.get("m.in_reply_to") or {}).get(
            "event_id") == command_id

    return predicate


@pytest_asyncio.fixture(loop_scope="session")
async def matrix_bot(synapse: LocalSynapse, tmp_path: Path
                     ) -> AsyncIterator[Callable[..., Awaitable[BotHarness]]]:
    """A factory of running bots (each its own account and database), stopped after the test.

    ``await matrix_bot()`` registers ``@bot-<n>:localhost``, bootstraps the app with
    the demo cohort and waits for its first sync; ``scheduler=True`` also runs the
    durable timers on the real clock (poll refreshes).
    """
    started: list[BotHarness] = []

    async def make(*, e2e: bool = False, demo: bool = True, scheduler: bool = False,
                   **options: int) -> BotHarness:
        number = next(_numbers)
        localpart = f"bot-{number}"
        password = f"{localpart}-password"
        await synapse.register(localpart, password, displayname="Cohortbot")
        harness = BotHarness(synapse, tmp_path / localpart, localpart, password, e2e=e2e,
                             scheduler=scheduler, options=dict(options))
        started.append(harness)
        await harness.start()
        if demo:
            await harness.load_demo()
        return harness

    try:
        yield make
    finally:
        for harness in started:
            await harness.stop()

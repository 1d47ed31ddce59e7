"""The Slack adapter: a Bolt ``AsyncApp`` in HTTP mode or Socket Mode, and the Slack sender.

Slack waits three seconds at most for an acknowledgement, and the bot's work
(a database transaction, templates) may take longer under load. So the Bolt
listeners acknowledge at once and :meth:`SlackAdapter.submit` the neutral event;
the adapter runs it through the dispatcher in a background task, a few at a time,
after the acknowledgement has left. The dispatcher claims the event id (the
Events API ``event_id``, or an interaction's ``trigger_id``) in the handler's
transaction, so Slack's retries and replays run once.

HTTP mode mounts ``POST /slack/events`` on the bot's one aiohttp server (see
:mod:`bot.slack.http`); Socket Mode opens a websocket with the app-level token
(``apps.connections.open``) and gets the same payloads through it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SlackConfig
from bot.slack import listeners, room_events
from bot.slack.directory import SlackDirectory
from bot.slack.http import SlackHttpEndpoint
from bot.slack.pace import ChannelPacer
from bot.slack.sender import SlackSender
from bot.slack.translate import SharedFile
from handlers.core.clock import Clock
from handlers.core.dispatch import Dispatcher
from handlers.core.events import Attachment, CommandEvent, Event, MessageEvent, RoomMessageEvent
from messages.render.slack import POLL_FORM_LABELS, to_mrkdwn
from messages.texts import LANGUAGES, Catalog
from storage.db import Database

log = logging.getLogger(__name__)

WORK_SLOTS = 8
"""Slack events handled at once; more wait their turn (the database serialises writes)."""
STOP_GRACE = 5.0
ROOM_PATIENCE = 0.005
"""Seconds a relayed room message waits at most for the endpoint to be quiet, and only
while a request is being acknowledged: the messages of a channel run one after the
other, so a longer wait would add up over a burst, and the quiet gap other work waits
for (3 ms after the last arrival) was most of a lone message's time in the bot."""
SHARED_FILES = 3
"""Files of one message the bot downloads (the rest are ignored)."""
MAX_SHARED_FILE_BYTES = 4 * 1024 * 1024
"""Bytes read of a shared file; the feature judges the size (an ICS file: 2 MiB)."""


@dataclasses.dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is in its workspace (``auth.test``)."""

    user_id: str
    bot_id: str | None
    team_id: str | None
    enterprise_id: str | None = None


class SlackAdapter:
    """Slack as one platform of the bot: receives through Bolt, sends through the outbox."""

    def __init__(self, config: SlackConfig, *, dispatcher: Dispatcher, db: Database,
                 clock: Clock, catalog: Catalog, language: str = "fr",
                 pacer: ChannelPacer | None = None, work_slots: int = WORK_SLOTS,
                 http_timeout: int = 10) -> None:
        self.config = config
        self._http_timeout = http_timeout
        self._session: aiohttp.ClientSession | None = None
        """One connection pool for every Web API call and response_url post (from start)."""
        self.dispatcher = dispatcher
        self.catalog = catalog
        self.language = language
        self.client = AsyncWebClient(token=config.bot_token, base_url=config.api_url,
                                     timeout=http_timeout)
        self.directory = SlackDirectory(self.client)
        labels = {lang: {name: catalog.render_block(lang, "slack/form_labels", name) or name
                         for name in POLL_FORM_LABELS} for lang in LANGUAGES}
        pacer = pacer or ChannelPacer(per_second=config.posts_per_second,
                                      burst=max(3, config.posts_per_second))
        self.sender = SlackSender(self.client, db, clock, pacer=pacer, form_labels=labels,
                                  language=language, files_in_dm={
                                      lang: catalog.render(lang, "slack/files_in_dm")
                                      for lang in LANGUAGES})
        self.bolt = AsyncApp(
            name="cohortbot",
            client=AsyncWebClient(base_url=config.api_url, timeout=http_timeout),
            signing_secret=config.signing_secret or "",
            authorize=self._authorizer(),
            process_before_response=True,
            request_verification_enabled=config.mode == "http",
            attaching_conversation_kwargs_enabled=False,
        )
        listeners.register(self.bolt, self)
        self.endpoint = SlackHttpEndpoint(self.bolt, config.signing_secret or "",
                                          spawn=self._spawn)
        self.endpoint.fast_path = listeners.room_chatter(self)
        self.identity: BotIdentity | None = None
        self._identity_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(work_slots)
        self._tasks: set[asyncio.Task[None]] = set()
        self._socket: AsyncSocketModeHandler | None = None
        self._socket_task: asyncio.Task[None] | None = None
        self._unreadable = to_mrkdwn(catalog.render(language, "slack/unreadable_request",
                                                    prefix="/cohorte "))
        self._lanes: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.bridged: Callable[[str], bool] | None = None
        """Set by the bridge: whether a channel's chatter is relayed (then its messages,
        edits, deletions and reactions are submitted as ``RoomMessageEvent``s)."""
        self.room_gate: Callable[[str], Awaitable[None]] | None = None
        """Set by the bridge: room messages of a channel wait for it (the history missed
        while the bot was down is relayed first, so the order holds)."""

    # ------------------------------------------------------------------ wiring

    def routes(self) -> list[web.RouteDef]:
        """The HTTP endpoint (HTTP mode): one URL for commands, interactivity and events."""
        return self.endpoint.routes()

    @property
    def bot_user_id(self) -> str | None:
        return self.identity.user_id if self.identity else None

    def unreadable_text(self) -> str:
        return self._unreadable

    def is_bridged(self, channel: str) -> bool:
        return self.bridged is not None and self.bridged(channel)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the HTTP session, learn the bot's identity, in Socket Mode open the websocket."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._http_timeout))
            self.client.session = self._session
            self.sender.session = self._session
        try:
            await self.who_am_i()
        except SlackApiError as error:
            log.error("Slack auth.test failed (%s): check SLACK_BOT_TOKEN",
                      error.response.get("error"))
        except Exception as error:
            log.error("Slack unreachable at start (%s); will retry on the first request",
                      type(error).__name__)
        if self.config.mode == "socket":
            self._socket = AsyncSocketModeHandler(
                self.bolt, app_token=self.config.app_token,
                web_client=AsyncWebClient(base_url=self.config.api_url))
            self._socket_task = asyncio.create_task(self._socket.connect_async(),
                                                    name="slack-socket-mode")
        log.info("Slack adapter started", extra={"slack_mode": self.config.mode})

    async def connected(self) -> bool:
        """Socket Mode: whether the websocket is up. HTTP mode: whether auth.test worked."""
        if self._socket is not None:
            return await self._socket.client.is_connected()
        return self.identity is not None

    async def health(self) -> tuple[bool, str]:
        ok = await self.connected()
        return ok, ("connected" if ok else "not connected") if self._socket else (
            "ok" if ok else "auth.test failed")

    async def stop(self) -> None:
        """Close Socket Mode, let the events in hand finish (a few seconds), close clients."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._socket_task is not None:
            self._socket_task.cancel()
            await asyncio.gather(self._socket_task, return_exceptions=True)
            self._socket_task = None
        try:
            await asyncio.wait_for(self.drain(), STOP_GRACE)
        except TimeoutError:
            log.warning("stopping with %d Slack events still in hand", len(self._tasks))
            for task in list(self._tasks):
                task.cancel()
        await self.sender.close()
        if self._session is not None:
            self.client.session = None
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ identity

    async def who_am_i(self) -> BotIdentity:
        """The bot's identity, asked once of ``auth.test``."""
        if self.identity is not None:
            return self.identity
        async with self._identity_lock:
            if self.identity is None:
                response = await self.client.auth_test()
                self.identity = BotIdentity(
                    user_id=str(response["user_id"]), bot_id=response.get("bot_id"),
                    team_id=response.get("team_id"), enterprise_id=response.get("enterprise_id"))
        return self.identity

    def _authorizer(self) -> Callable[..., Awaitable[AuthorizeResult]]:
        """Bolt's authorization: the one installation this bot serves, from memory.

        (Bolt passes arguments by name, so this is a plain function, not a method.)
        """
        async def authorize(team_id: str | None) -> AuthorizeResult:
            identity = await self.who_am_i()
            return AuthorizeResult(enterprise_id=identity.enterprise_id,
                                   team_id=identity.team_id or team_id,
                                   bot_user_id=identity.user_id, bot_id=identity.bot_id,
                                   bot_token=self.config.bot_token)

        return authorize

    # ------------------------------------------------------------------ work after the ack

    def submit(self, event: Event, files: Sequence[SharedFile] = ()) -> None:
        """Run ``event`` through the dispatcher soon, after the acknowledgement.

        Events of one person in one conversation run in the order Slack sent them
        (two quick commands do not overtake each other); others run side by side.
        ``files`` shared with the message are downloaded first and travel in the event.
        """
        lane = _lane(event)
        previous = self._lanes.get(lane) if lane else None
        task = self._spawn(self._work(event, previous, tuple(files)))
        if lane:
            self._lanes[lane] = task
            task.add_done_callback(lambda done: self._forget_lane(lane, done))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Start background work that :meth:`drain` and :meth:`stop` wait for."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _forget_lane(self, lane: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._lanes.get(lane) is task:
            del self._lanes[lane]

    async def drain(self) -> None:
        """Wait until every submitted event has been handled (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _work(self, event: Event, previous: asyncio.Task[None] | None,
                    files: tuple[SharedFile, ...] = ()) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        if isinstance(event, RoomMessageEvent):
            if self.room_gate is not None:
                await self.room_gate(event.origin.room.room_id)
            if self.endpoint.in_flight:
                await self.endpoint.idle(ROOM_PATIENCE)
        else:
            await self.endpoint.idle()
        async with self._slots:
            try:
                event = await self._with_name(event)
            except Exception:
                log.exception("could not look up the Slack user's name")
            if files:
                event = await self._with_files(event, files)
            await self.dispatcher.handle(event)

    async def _with_files(self, event: Event, files: tuple[SharedFile, ...]) -> Event:
        """The event carrying the bytes of the files shared with it (the first few)."""
        got = []
        for shared in files[:SHARED_FILES]:
            content = await self._download(shared)
            if content is not None:
                got.append(Attachment(shared.name, shared.mimetype, content))
        if not got or not isinstance(event, CommandEvent | MessageEvent):
            return event
        return dataclasses.replace(event, files=tuple(got))

    async def _download(self, shared: SharedFile) -> bytes | None:
        """A shared file's bytes (with the bot token), at most one past the cap so that a
        handler can tell the file is too big; None when Slack will not give it."""
        session = self._session
        if session is None:
            log.warning("a Slack file arrived before the adapter started; ignored")
            return None
        try:
            async with session.get(shared.url, headers={
                    "Authorization": f"Bearer {self.config.bot_token}"}) as response:
                if response.status != 200:
                    log.warning("Slack file download refused (HTTP %s)", response.status,
                                extra={"slack_file": shared.file_id})
                    return None
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > MAX_SHARED_FILE_BYTES:
                        break
                return bytes(body[:MAX_SHARED_FILE_BYTES + 1])
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("Slack file download failed: %s", type(error).__name__,
                        extra={"slack_file": shared.file_id})
            return None

    async def _with_name(self, event: Event) -> Event:
        """The event with the person's Slack real name, for people the bot does not know yet
        (and, for a relayed message, the names of the people it mentions)."""
        if isinstance(event, RoomMessageEvent):
            mentioned = room_events.mentioned_users(event)
            if mentioned:
                names = {u: n for u in mentioned if (n := await self.directory.real_name(u))}
                event = room_events.with_mention_names(event, names)
        origin = getattr(event, "origin", None)
        if origin is None or origin.user_display_name:
            return event
        name = await self.directory.real_name(origin.user.user_id)
        if not name:
            return event
        return dataclasses.replace(event, origin=dataclasses.replace(  # type: ignore[type-var]
            origin, user_display_name=name))


def _lane(event: Event) -> tuple[str, str] | None:
    """Events run in order per person and conversation; room chatter in order per room
    (the bridge copies a channel's messages in the order they were written)."""
    origin = getattr(event, "origin", None)
    if origin is None:
        return None
    if isinstance(event, RoomMessageEvent):
        return origin.room.room_id, ""
    return origin.room.room_id, origin.user.user_id

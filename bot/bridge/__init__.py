"""The bridge at run time: which rooms are relayed, copies delivered by each platform's relay,
delivered copies recorded, and Slack history read back for what the events missed.

:func:`install` is called by the composition root when Slack and Matrix are both enabled.
What is relayed and how is decided by ``handlers/bridge`` (neutral); this package only
connects it to the adapters:

- the adapters ask :meth:`BridgeRuntime.is_bridged` (an in-memory set, refreshed when a
  cohort's bridge or rooms change, and every ``REFRESH_SECONDS``) before handing room
  chatter to the dispatcher;
- Slack channel messages wait at :meth:`BridgeRuntime.gate` until the channel's history
  since the last check (``bridge_cursor``) was relayed at start-up: messages written
  while the bot was down come first, once, in order; the check runs again every
  ``CATCH_UP_SECONDS`` for events Slack failed to deliver;
- Matrix needs nothing of the kind: the sync token is stored after handling, so the
  sync resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from bot.bridge.transport import FileUnavailable, RelayingSender, SentIndex
from bot.delivery import Outbound, Sent
from handlers.bridge.relay import is_relay
from handlers.core.events import SharedFile
from handlers.core.ids import Platform
from storage.uow import Store

if TYPE_CHECKING:
    from bot.bootstrap import App

log = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0
CATCH_UP_SECONDS = 300.0
CATCH_UP_MARGIN = timedelta(seconds=60)
"""History is read from a minute before the last check: a message whose event was in
flight during the check is not skipped (relaying is idempotent)."""
SETTLE = timedelta(seconds=30)
"""Periodic checks leave the last half minute to the Events API."""
HISTORY_PAGE = 200
HISTORY_MAX_PAGES = 50
THREADS_PER_CHECK = 50
RECORD_EVERY = 0.2
AVATAR_PATH = "/pont/avatars"


class BridgeRuntime:
    """A runtime part (``start``/``stop``) started before the adapters."""

    name = "bridge"

    def __init__(self, app: App) -> None:
        self.app = app
        self.db = app.db
        self.rooms: set[tuple[str, str]] = set()
        self.index = SentIndex(app.db)
        self.caught_up = asyncio.Event()
        self.catch_up_seconds = CATCH_UP_SECONDS
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None
        self._pending: list[tuple[str, str, int | None, datetime]] = []
        self._lags: dict[int, int] = {}
        self._wake = asyncio.Event()
        self._refreshing = False
        self._avatars: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ wiring

    def is_bridged(self, platform: str, room_id: str) -> bool:
        return (platform, room_id) in self.rooms

    async def gate(self, room_id: str) -> None:
        """Slack room messages wait here until the start-up history check is done."""
        if not self.caught_up.is_set():
            await self.caught_up.wait()

    def on_change(self, changed: set[str]) -> None:
        if changed & {"bridge", "rooms"} and not self._refreshing:
            self._refreshing = True
            task = asyncio.create_task(self._refresh_soon(), name="bridge-refresh")
            self._tasks.append(task)
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)

    async def _refresh_soon(self) -> None:
        try:
            await self.refresh()
        finally:
            self._refreshing = False

    async def refresh(self) -> None:
        async with self.db.session() as session:
            self.rooms = set(await Store(session).bridge.enabled_rooms())

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.refresh()
        async with self.db.session() as session:
            repaired = await Store(session).relays.repair_target_ids()
        if repaired:
            log.info("bridge: recorded %d copies delivered before a restart", repaired)
        self._tasks += [asyncio.create_task(self._catch_up_loop(), name="bridge-catch-up"),
                        asyncio.create_task(self._record_loop(), name="bridge-record"),
                        asyncio.create_task(self._refresh_loop(), name="bridge-rooms")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self._flush_records()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def health(self) -> tuple[bool, str]:
        return True, "caught up" if self.caught_up.is_set() else "reading Slack history"

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except Exception:
                log.exception("bridge: could not reload the bridged rooms")

    # ------------------------------------------------------------------ delivered copies

    async def on_sent(self, item: Outbound, sent: Sent) -> None:
        """A copy was delivered: note its id (for edits, deletions, threads) and the lag."""
        card = item.reply.card
        if not is_relay(card) or card.get("op") != "post":
            return
        now = self.app.clock.now()
        source = card.get("source") or {}
        lag = None
        if source.get("at"):
            try:
                lag = (now - datetime.fromisoformat(source["at"])).total_seconds()
            except ValueError:
                lag = None
        direction = f"{source.get('platform')}_to_{item.platform}"
        metrics = self.app.services.metrics
        metrics.incr("relayed", direction=direction)
        if lag is not None:
            metrics.observe("relay_lag_seconds", max(0.0, lag), direction=direction)
        cohort = card.get("cohort")
        if isinstance(cohort, int) and lag is not None:
            self._lags[cohort] = int(max(0.0, lag) * 1000)
        if sent.message_id:
            self._pending.append((item.key, sent.message_id, cohort, now))
            self._wake.set()

    async def _record_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(RECORD_EVERY)
            try:
                await self._flush_records()
            except Exception:
                log.exception("bridge: could not record delivered copies")

    async def _flush_records(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        lags = self._lags
        async with self.db.session() as session:
            store = Store(session)
            await store.relays.set_target_ids([(k, m) for k, m, _, _ in pending])
            await store.bridge.record_relayed([
                (cohort, at, lags.get(cohort))
                for _, _, cohort, at in pending if isinstance(cohort, int)])

    # ------------------------------------------------------------------ Slack history

    async def _catch_up_loop(self) -> None:
        first = True
        while True:
            try:
                await self.catch_up(settle=not first)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bridge: reading Slack history failed")
            finally:
                if first:
                    self.caught_up.set()
                    first = False
            await asyncio.sleep(self.catch_up_seconds)

    async def catch_up(self, *, settle: bool = True) -> int:
        """Relay what each bridged Slack channel got since its last check; returns how many
        messages were handed to the dispatcher (the already relayed are skipped there)."""
        slack = self.app.slack
        identity = await slack.who_am_i()
        handed = 0
        for platform, channel in sorted(self.rooms):
            if platform != "slack":
                continue
            try:
                handed += await self._catch_up_channel(channel, identity.user_id, settle)
            except Exception as error:
                log.warning("bridge: history of %s not read: %s", channel, error)
                await self._record_error(channel, f"Slack history: {error}")
        return handed

    async def _catch_up_channel(self, channel: str, bot_user_id: str, settle: bool) -> int:
        from bot.slack import room_events

        now = self.app.clock.now()
        async with self.db.session() as session:
            cursor = await Store(session).bridge.cursor("slack", channel)
        latest = now - SETTLE if settle else now
        if cursor is None:
            async with self.db.session() as session:
                await Store(session).bridge.set_cursor("slack", channel, _ts(latest), now)
            return 0
        oldest = Decimal(cursor) - Decimal(int(CATCH_UP_MARGIN.total_seconds()))
        messages = await self._history(channel, str(oldest), _ts(latest))
        handed = 0
        for message in messages:
            event = {**message, "channel": channel}
            found = [room_events.message(event, None, bot_user_id)]
            edited = message.get("edited")
            if isinstance(edited, dict) and Decimal(str(edited.get("ts") or 0)) > oldest:
                found.append(room_events.message(
                    {"type": "message", "subtype": "message_changed", "channel": channel,
                     "message": message}, None, bot_user_id))
            for relayed in found:
                if relayed is None:
                    continue
                relayed = await self.app.slack._with_name(relayed)
                await self.app.dispatcher.handle(relayed)
                handed += 1
        async with self.db.session() as session:
            await Store(session).bridge.set_cursor("slack", channel, _ts(latest),
                                                   self.app.clock.now())
        return handed

    async def _history(self, channel: str, oldest: str, latest: str) -> list[dict[str, Any]]:
        """Top-level messages and thread replies of ``channel`` in (oldest, latest], oldest
        first."""
        client = self.app.slack.client
        found: list[dict[str, Any]] = []
        cursor = None
        for _ in range(HISTORY_MAX_PAGES):
            args: dict[str, Any] = {"channel": channel, "oldest": oldest, "latest": latest,
                                    "limit": HISTORY_PAGE, "inclusive": True}
            if cursor:
                args["cursor"] = cursor
            page = await client.conversations_history(**args)
            found.extend(m for m in page.get("messages") or [] if isinstance(m, dict))
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                break
        threads = [m for m in found if m.get("reply_count") and
                   Decimal(str(m.get("latest_reply") or 0)) > Decimal(oldest)]
        for root in threads[:THREADS_PER_CHECK]:
            replies = await client.conversations_replies(channel=channel, ts=root["ts"],
                                                         oldest=oldest, latest=latest,
                                                         limit=HISTORY_PAGE, inclusive=True)
            found.extend(m for m in replies.get("messages") or []
                         if isinstance(m, dict) and m.get("ts") != root["ts"])
        unique = {m["ts"]: m for m in found if isinstance(m.get("ts"), str)}
        return sorted(unique.values(), key=lambda m: Decimal(m["ts"]))

    async def _record_error(self, channel: str, error: str) -> None:
        async with self.db.session() as session:
            store = Store(session)
            cohort = await store.rooms.cohort_of("slack", channel)
            if cohort is not None:
                await store.bridge.record_error(cohort.id, error, self.app.clock.now())

    # ------------------------------------------------------------------ files

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        return self._http

    async def fetch_slack(self, shared: SharedFile) -> bytes:
        """A file shared on Slack (its private URL, with the bot token)."""
        token = self.app.config.slack.bot_token or ""
        try:
            async with self._session().get(shared.url, headers={
                    "Authorization": f"Bearer {token}"}) as response:
                if response.status != 200:
                    raise FileUnavailable(f"Slack file: HTTP {response.status}")
                return await response.read()
        except aiohttp.ClientError as error:
            raise ConnectionError(f"Slack file: {type(error).__name__}") from None

    async def fetch_matrix(self, shared: SharedFile) -> bytes:
        """A file of the Matrix media repository (authenticated download)."""
        from nio import MemoryDownloadResponse

        client = self.matrix_connection.client
        response = await client.download(mxc=shared.url)
        if isinstance(response, MemoryDownloadResponse):
            return response.body
        status = getattr(getattr(response, "transport_response", None), "status", 0) or 0
        if status in (404, 403, 413):
            raise FileUnavailable(f"Matrix media: {status}")
        raise ConnectionError(f"Matrix media: {getattr(response, 'message', response)}")

    matrix_connection: Any = None

    # ------------------------------------------------------------------ avatars

    def picture_url(self, mxc: str) -> str | None:
        """A URL of the bot's own server showing a Matrix avatar to Slack (which cannot
        read the homeserver's authenticated media); only avatars seen here are served."""
        server, _, media = mxc[len("mxc://"):].partition("/")
        if not server or not media or "/" in media:
            return None
        self._avatars.add((server, media))
        base = self.app.settings.public_url.rstrip("/")
        return f"{base}{AVATAR_PATH}/{quote(server, safe='')}/{quote(media, safe='')}"

    async def serve_avatar(self, request: web.Request) -> web.StreamResponse:
        from nio import ThumbnailResponse

        key = (request.match_info["server"], request.match_info["media"])
        client = self.matrix_connection.client if self.matrix_connection else None
        if key not in self._avatars or client is None:
            raise web.HTTPNotFound()
        response = await client.thumbnail(key[0], key[1], 96, 96)
        if not isinstance(response, ThumbnailResponse):
            raise web.HTTPNotFound()
        return web.Response(body=response.body, content_type=response.content_type,
                            headers={"Cache-Control": "public, max-age=86400"})


def _ts(when: datetime) -> str:
    return f"{when.timestamp():.6f}"


def install(app: App) -> BridgeRuntime:
    """Connect the bridge to both adapters and to delivery (see the module docstring)."""
    from bot.matrix.adapter import MatrixAdapter
    from bot.matrix.relay import MatrixRelay
    from bot.matrix.sender import MatrixSender
    from bot.slack.relay import SlackRelay

    runtime = BridgeRuntime(app)
    matrix = next(p for p in app.runtime if isinstance(p, MatrixAdapter))
    runtime.matrix_connection = matrix.connection
    fetchers = {"slack": runtime.fetch_slack, "matrix": runtime.fetch_matrix}
    matrix_sender = app.delivery.senders[Platform.MATRIX]
    assert isinstance(matrix_sender, MatrixSender)
    app.delivery.senders[Platform.MATRIX] = RelayingSender(
        matrix_sender, MatrixRelay(matrix_sender, app.catalog, runtime.index, fetchers),
        runtime.index)
    slack_sender = app.slack.sender
    app.delivery.senders[Platform.SLACK] = RelayingSender(
        slack_sender, SlackRelay(slack_sender, app.catalog, runtime.index, fetchers,
                                 picture_url=runtime.picture_url), runtime.index)
    app.delivery.listeners.append(runtime.on_sent)
    matrix.bridged = lambda room_id: runtime.is_bridged("matrix", room_id)
    app.slack.bridged = lambda channel: runtime.is_bridged("slack", channel)
    app.slack.room_gate = runtime.gate
    previous: Callable[[set[str]], None] | None = app.services.on_change

    def on_change(changed: set[str]) -> None:
        if previous is not None:
            previous(changed)
        runtime.on_change(changed)

    app.services.on_change = on_change
    app.web.add_health_check("bridge", runtime.health)
    app.web.add_routes([web.get(AVATAR_PATH + "/{server}/{media}", runtime.serve_avatar)])
    app.runtime.insert(0, runtime)
    app.bridge = runtime
    return runtime

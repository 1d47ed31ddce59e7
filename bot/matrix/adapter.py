"""The Matrix sync loop: homeserver events in, neutral events to the dispatcher.

Promises:

- **Resume exactly where it stopped.** The sync token is stored only after every
  event of that sync went through the dispatcher, which claims each Matrix event
  id in the handler's transaction. It is written at most once a second (and at a
  clean stop): a crash replays the syncs of that last second at most, and the
  replay is recognised and not answered again. A ``limited`` timeline (more events than
  the sync returns) is completed with ``/messages`` back to the previous token.
- **Native poll votes.** A response to one of the bot's native polls is a ``poll.vote``
  from the voter's Matrix account; a reply to a poll's message is an answer typed as in
  ``sondage voter``. After a ``limited`` sync the open native polls of that room are
  tallied again from their ``/relations`` (each voter's last response; the dispatcher's
  claim of event ids keeps what was already counted from counting twice).
- **Only what is meant for the bot.** Its own events, the history from before it
  joined, notices, edits of commands and malformed events are skipped (the last
  logged); in encrypted rooms without the ``e2e`` option it says once, in clear,
  that it cannot read them.
- **Well-mannered in rooms.** It joins when a coordinator invites it, when the room
  is already linked to a cohort, or when a known member opens a DM; it declines
  other invites without a word.
- **Keeps going.** Network errors and homeserver restarts are retried with backoff;
  an expired token is replaced by a new login on the same device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from nio import (
    ErrorResponse,
    JoinResponse,
    MegolmEvent,
    MessageDirection,
    RoomLeaveResponse,
    RoomMessagesResponse,
    SyncResponse,
)

from bot.matrix import room_events
from bot.matrix.connection import LoginRefused, MatrixConnection, RoomInfo
from bot.matrix.events import (
    MalformedEvent,
    RoomView,
    poll_response,
    reply_target,
    translate,
    typed_answer_event,
    vote_event,
)
from bot.matrix.polls import PollEvents, latest_per_sender, relations_path
from handlers.core.clock import Clock
from handlers.core.dispatch import Dispatcher
from handlers.core.events import Reply
from handlers.core.ids import Platform
from handlers.core.settings import Settings
from messages.texts import Catalog
from storage.db import Database
from storage.uow import Store

log = logging.getLogger(__name__)

SYNC_TIMEOUT_MS = 30_000
TIMELINE_LIMIT = 50
GAP_PAGE = 100
GAP_MAX_PAGES = 50
RELATIONS_MAX_PAGES = 50
MAX_BACKOFF_S = 10.0
TOKEN_SAVE_INTERVAL_S = 1.0
"""A burst of syncs (each command, then the bot's own reply) costs one write of the
position per second instead of one per sync."""
UNDECRYPTED_RETRIES = 5
RELAY_ATTEMPTS = 3
"""Tries for a bridged room message whose handling failed (a database hiccup): the sync
token moves on after it, and Matrix, unlike Slack, has no later history check."""
MATRIX = Platform.MATRIX


class MatrixAdapter:
    """Runs the sync loop for one bot account (a runtime part: ``start`` / ``stop``)."""

    name = "matrix"
    leader_only = True
    """One sync loop per account in a deployment: :mod:`bot.runtime` runs it in the leader."""

    def __init__(self, connection: MatrixConnection, *, db: Database, dispatcher: Dispatcher,
                 catalog: Catalog, settings: Settings, clock: Clock,
                 notify: Callable[[set[Platform]], None],
                 polls: PollEvents | None = None,
                 sync_timeout_ms: int = SYNC_TIMEOUT_MS,
                 timeline_limit: int = TIMELINE_LIMIT,
                 gap_max_pages: int = GAP_MAX_PAGES) -> None:
        self.connection = connection
        self.db = db
        self.dispatcher = dispatcher
        self.catalog = catalog
        self.settings = settings
        self.clock = clock
        self.notify = notify
        self.sync_timeout_ms = sync_timeout_ms
        self.timeline_limit = timeline_limit
        self.gap_max_pages = gap_max_pages
        self.polls = polls or PollEvents(db, clock)
        self.retallies = 0
        self.token: str | None = None
        self._token_saved: str | None = None
        self._token_saved_at = 0.0
        self._token_task: asyncio.Task[None] | None = None
        self.syncs = 0
        self.gaps_filled = 0
        self.last_sync_at: float | None = None
        self.last_error: str | None = None
        self.refused: str | None = None
        self._filter_id: str | None = None
        self._batch: str | None = None
        """The position of the sync being handled (read back from there when needed)."""
        self._task: asyncio.Task[None] | None = None
        self._first_sync = asyncio.Event()
        self._undecrypted: list[tuple[str, MegolmEvent, int]] = []
        self._warned_encrypted: set[str] = set()
        self.bridged: Callable[[str], bool] | None = None
        """Set by the bridge: whether a room's chatter is relayed (then it is handed to the
        dispatcher as ``RoomMessageEvent``s; otherwise only commands and DMs are)."""

    @property
    def user_id(self) -> str:
        return self.connection.user_id

    async def start(self) -> None:
        """Start logging in and syncing in the background (never raises)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="matrix-sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        saving, self._token_task = self._token_task, None
        if saving is not None:
            saving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saving
        try:
            await self._save_token()
        except Exception:
            log.exception("could not record the matrix sync position at stop")
        await self.connection.close()

    async def _save_token_soon(self) -> None:
        """Record the position once the interval since the last write is over (the next
        sync may be a long poll that returns only much later)."""
        wait = self._token_saved_at + TOKEN_SAVE_INTERVAL_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            await self._save_token()
        except Exception as error:
            log.warning("could not record the matrix sync position: %s", error)

    async def _save_token(self) -> None:
        """Record the position of the last sync fully handled, if not recorded yet."""
        token = self.token
        if token is None or token == self._token_saved:
            return
        async with self.db.session() as session:
            await Store(session).matrix.save_sync_token(self.user_id, token, self.clock.now())
        self._token_saved = token
        self._token_saved_at = time.monotonic()

    async def wait_ready(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until logged in and one sync was handled (for tests and the demo)."""
        async with asyncio.timeout(timeout):
            while not self._first_sync.is_set():
                if self.refused:
                    raise LoginRefused(self.refused)
                if self._task is not None and self._task.done():
                    self._task.result()
                    raise RuntimeError("the matrix sync loop stopped")
                try:
                    await asyncio.wait_for(self._first_sync.wait(), 0.2)
                except TimeoutError:
                    continue

    async def health(self) -> tuple[bool, str]:
        """Ready when logged in and a sync succeeded within two sync timeouts."""
        if self.refused:
            return False, f"login refused: {self.refused}"
        if self.last_sync_at is None:
            return False, self.last_error or "not synced yet"
        age = time.monotonic() - self.last_sync_at
        if age > 2 * self.sync_timeout_ms / 1000 + 15:
            return False, f"no sync for {age:.0f} s ({self.last_error or 'no error'})"
        return True, f"synced {age:.0f} s ago"

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self.connection.connect()
                break
            except LoginRefused as error:
                self.refused = str(error)
                log.error("matrix login refused — check matrix.user_id and "
                          "COHORTBOT_MATRIX_PASSWORD / COHORTBOT_MATRIX_ACCESS_TOKEN: %s", error)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.last_error = f"login: {type(error).__name__}: {error}"
                log.warning("matrix login failed, retrying in %.1f s: %s", backoff, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        async with self.db.session() as session:
            saved = await Store(session).matrix.session_of(self.user_id)
        self.token = saved.next_batch if saved else None
        self._token_saved = self.token
        self.connection.ready.set()
        await self._sync_forever()

    async def _sync_forever(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self.sync_once()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except LoginRefused as error:
                self.refused = str(error)
                log.error("matrix login refused: %s", error)
                return
            except Exception as error:
                self.last_error = f"{type(error).__name__}: {error}"
                level = logging.WARNING if isinstance(error, (OSError, TimeoutError,
                                                               ConnectionError)) else logging.ERROR
                log.log(level, "matrix sync failed, retrying in %.1f s: %s", backoff, error,
                        exc_info=level == logging.ERROR)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def sync_once(self) -> None:
        """One sync: fetch, handle every event, then record the new position."""
        client = self.connection.client
        assert client is not None
        if self._filter_id is None:
            self._filter_id = await self._upload_filter()
        initial = self.token is None
        response = await client.sync(timeout=0 if initial else self.sync_timeout_ms,
                                     sync_filter=self._filter_id, since=self.token)
        if not isinstance(response, SyncResponse):
            await self._sync_error(response)
            return
        self._batch = response.next_batch
        await self._handle(response, initial=initial)
        if self.connection.e2e:
            await self._crypto_housekeeping()
        self.token = response.next_batch
        if initial or time.monotonic() - self._token_saved_at >= TOKEN_SAVE_INTERVAL_S:
            await self._save_token()
        elif self._token_task is None or self._token_task.done():
            self._token_task = asyncio.create_task(self._save_token_soon(),
                                                   name="matrix-sync-position")
        self.syncs += 1
        self.last_sync_at = time.monotonic()
        self.last_error = None
        self._first_sync.set()

    async def _sync_error(self, response: Any) -> None:
        code = getattr(response, "status_code", None)
        if code == "M_UNKNOWN_TOKEN" and not self.connection.config.access_token:
            log.warning("matrix access token expired: logging in again on the same device")
            await self.connection.connect()
            return
        if code == "M_UNKNOWN_TOKEN":
            raise LoginRefused("the access token is no longer valid")
        retry = getattr(response, "retry_after_ms", None)
        if retry:
            await asyncio.sleep(retry / 1000)
        raise ConnectionError(f"sync refused: {code} {getattr(response, 'message', '')}")

    async def _upload_filter(self) -> str | None:
        """Ask only for what the bot reads: no presence, typing or receipts."""
        client = self.connection.client
        assert client is not None
        response = await client.upload_filter(
            presence={"not_types": ["*"]},
            account_data={"not_types": ["*"]},
            room={
                # the bot's own events are not asked for: each reply it sends would
                # otherwise come back and end a sync by itself (see _own_join)
                "timeline": {"limit": self.timeline_limit, "not_senders": [self.user_id]},
                "state": {"lazy_load_members": True},
                "ephemeral": {"not_types": ["*"]},
                "account_data": {"not_types": ["*"]},
            },
        )
        filter_id = getattr(response, "filter_id", None)
        if filter_id is None:
            raise ConnectionError(f"filter upload failed: {response}")
        return filter_id

    async def _handle(self, response: SyncResponse, *, initial: bool) -> None:
        for room_id, info in response.rooms.invite.items():
            await self._guard(self._on_invite, room_id, info.invite_state)
        for room_id, info in response.rooms.join.items():
            await self._guard(self._on_joined_room, room_id, info, initial)
        for room_id in response.rooms.leave:
            await self._guard(self._on_left, room_id)
        await self._retry_undecrypted()

    async def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run one room's handling; a failure there is logged and does not stop the others."""
        try:
            await fn(*args)
        except asyncio.CancelledError:
            raise
        except (OSError, TimeoutError, ConnectionError):
            raise
        except Exception:
            log.exception("matrix room handling failed", extra={"room": args[0]})

    async def _on_joined_room(self, room_id: str, info: Any, initial: bool) -> None:
        events = list(info.timeline.events)
        known = self.connection.rooms.get(room_id)
        gap = info.timeline.limited and not initial and known is not None \
            and known.membership == "joined" and bool(self.token)
        if gap:
            events = await self._fill_gap(room_id, info.timeline.prev_batch) + events
        room = await self._room_on_join(room_id, info, events, initial)
        if initial:
            return
        for event in events:
            await self._on_timeline_event(room, event)
        if gap:
            await self._retally(room)

    async def _room_on_join(self, room_id: str, info: Any, events: list[Any], initial: bool
                            ) -> RoomInfo:
        """Make sure the room is known as joined, with the time of the bot's join."""
        known = self.connection.rooms.get(room_id)
        own_join = None
        for event in events:
            source = getattr(event, "source", None) or {}
            if _is_membership(source, self.user_id, "join") and _previous_membership(
                    source) != "join":
                own_join = source
        encrypted = any((getattr(e, "source", None) or {}).get("type") == "m.room.encryption"
                        for e in [*info.state, *events])
        nio_room = self.connection.client.rooms.get(room_id) if self.connection.client else None
        encrypted = encrypted or bool(nio_room and nio_room.encrypted)
        values: dict[str, Any] = {}
        if own_join is None and not initial and (known is None or known.membership != "joined"
                                                 or known.joined_at_ms is None):
            own_join = await self._own_join(room_id)
        if known is None or known.membership != "joined" or own_join is not None:
            values["membership"] = "joined"
            if own_join is not None and isinstance(own_join.get("origin_server_ts"), int):
                values["joined_at_ms"] = own_join["origin_server_ts"]
            elif known is None or known.joined_at_ms is None or known.membership != "joined":
                values["joined_at_ms"] = _history_end(events, initial)
        if encrypted and not (known and known.encrypted):
            values["encrypted"] = True
        if values:
            room = await self.connection.remember_room(room_id, **values)
        else:
            assert known is not None
            room = known
        if room.encrypted and not self.connection.e2e and not initial:
            await self._warn_encrypted(room_id)
        return room

    async def _on_timeline_event(self, room: RoomInfo, event: Any) -> None:
        source = getattr(event, "source", None)
        if not isinstance(source, dict):
            log.warning("matrix event without a body skipped", extra={"room": room.room_id})
            return
        sender = source.get("sender")
        if sender == self.user_id:
            return
        if source.get("type") == "m.room.member":
            await self._on_member_event(room, source)
            return
        stamp = source.get("origin_server_ts")
        if room.joined_at_ms is None or not isinstance(stamp, int) or stamp < room.joined_at_ms:
            return
        if isinstance(event, MegolmEvent):
            await self._on_undecrypted(room, event)
            return
        view = RoomView(room.room_id, room.is_direct)
        name = self.connection.display_name(room.room_id, str(sender))
        try:
            response = poll_response(source)
            if response is not None:
                found = await self.polls.find(response.start_event_id)
                vote = vote_event(response, view, found.poll_id, display_name=name) \
                    if found is not None and found.kind == "start" else None
                if vote is not None:
                    await self.dispatcher.handle(vote)
                return
            target = reply_target(source)
            if target is not None:
                found = await self.polls.find(target[0])
                if found is not None:
                    await self.dispatcher.handle(typed_answer_event(
                        source, view, found.poll_id, target[1], display_name=name))
                    return
            neutral = translate(source, view, display_name=name)
        except MalformedEvent as error:
            log.warning("malformed matrix event skipped: %s", error,
                        extra={"room": room.room_id, "event_id": source.get("event_id")})
            return
        if neutral is not None:
            await self.dispatcher.handle(neutral)
        elif self.bridged is not None and not room.is_direct and self.bridged(room.room_id):
            relayed = room_events.translate(
                source, room.room_id, display_name=self.connection.display_name(
                    room.room_id, str(sender)),
                avatar=self.connection.avatar(room.room_id, str(sender)))
            if relayed is not None:
                for attempt in range(RELAY_ATTEMPTS):
                    if not (await self.dispatcher.handle(relayed)).failed:
                        break
                    await asyncio.sleep(0.2 * (attempt + 1))

    async def _retally(self, room: RoomInfo) -> None:
        """Count the open native polls of ``room`` again from their relations: a ``limited``
        sync may have left responses out that the gap fetch did not bring back."""
        starts = await self.polls.open_starts(room_ids=[room.room_id])
        for start in starts:
            responses: list[dict[str, Any]] = []
            since: str | None = None
            for _ in range(RELATIONS_MAX_PAGES):
                status, body = await self.connection.raw(
                    "GET", relations_path(room.room_id, start.event_id, since))
                if status >= 400:
                    raise ConnectionError(f"relations of {start.event_id}: HTTP {status}")
                chunk = body.get("chunk")
                if isinstance(chunk, list):
                    responses.extend(e for e in chunk if isinstance(e, dict))
                since = body.get("next_batch")
                if not isinstance(since, str) or not chunk:
                    break
            votes = [e for e in responses if _is_response(e)]
            view = RoomView(room.room_id, room.is_direct)
            for source in latest_per_sender(votes, skip=self.user_id):
                try:
                    response = poll_response(source)
                except MalformedEvent:
                    continue
                vote = vote_event(response, view, start.poll_id) if response else None
                if vote is not None:
                    await self.dispatcher.handle(vote)
            self.retallies += 1
            log.info("matrix poll tallied again from its relations",
                     extra={"room": room.room_id, "poll": start.poll_id,
                            "responses": len(votes)})

    async def _on_member_event(self, room: RoomInfo, source: dict[str, Any]) -> None:
        """Someone left a DM: forget it, so the next private message opens a fresh one."""
        content = source.get("content")
        if not room.is_direct or not isinstance(content, dict):
            return
        if content.get("membership") in ("leave", "ban") and source.get("state_key") != \
                self.user_id:
            async with self.db.session() as session:
                await Store(session).matrix.forget_direct_room(str(MATRIX), room.room_id)
            client = self.connection.client
            if client is not None:
                await client.room_leave(room.room_id)
            await self.connection.remember_room(room.room_id, membership="left")

    async def _on_left(self, room_id: str) -> None:
        known = self.connection.rooms.get(room_id)
        if known is not None and known.membership in ("joined", "invited"):
            await self.connection.remember_room(room_id, membership="left")

    async def _own_join(self, room_id: str) -> dict[str, Any] | None:
        """The bot's latest join event in a room it was not known to be in.

        The sync filter leaves the bot's own events out, so its join is read back once per
        newly joined room: its time is where the history the bot ignores ends.
        """
        client = self.connection.client
        assert client is not None
        response = await client.room_messages(
            room_id, start=self._batch, direction=MessageDirection.back, limit=1,
            message_filter={"types": ["m.room.member"], "senders": [self.user_id]})
        if not isinstance(response, RoomMessagesResponse):
            log.warning("could not read the bot's join in a room: %s", response,
                        extra={"room": room_id})
            return None
        for event in response.chunk:
            source = getattr(event, "source", None) or {}
            if _is_membership(source, self.user_id, "join"):
                return source
        return None

    async def _fill_gap(self, room_id: str, prev_batch: str | None) -> list[Any]:
        """The events a ``limited`` sync left out, oldest first, back to our last position."""
        client = self.connection.client
        assert client is not None
        older: list[Any] = []
        start = prev_batch
        for _ in range(self.gap_max_pages):
            if start is None:
                break
            response = await client.room_messages(room_id, start=start, end=self.token,
                                                  direction=MessageDirection.back,
                                                  limit=GAP_PAGE)
            if not isinstance(response, RoomMessagesResponse):
                raise ConnectionError(f"gap fetch in {room_id} failed: {response}")
            older.extend(response.chunk)
            if not response.chunk or not response.end or response.end == start:
                break
            start = response.end
        else:
            log.warning("matrix gap longer than %d events: older ones skipped",
                        GAP_PAGE * self.gap_max_pages, extra={"room": room_id})
        self.gaps_filled += 1
        log.info("matrix gap filled", extra={"room": room_id, "events": len(older)})
        return older[::-1]

    async def _on_invite(self, room_id: str, invite_state: list[Any]) -> None:
        inviter = None
        is_direct = False
        encrypted = False
        for event in invite_state:
            source = getattr(event, "source", None) or {}
            content = getattr(event, "content", None) or source.get("content") or {}
            if getattr(event, "state_key", source.get("state_key")) == self.user_id and \
                    getattr(event, "membership", content.get("membership")) == "invite":
                inviter = getattr(event, "sender", source.get("sender"))
                is_direct = isinstance(content, dict) and content.get("is_direct") is True
            if source.get("type") == "m.room.encryption":
                encrypted = True
        known = self.connection.rooms.get(room_id)
        if known is not None and known.membership == "joined":
            return
        if not isinstance(inviter, str):
            log.warning("matrix invite without an inviter ignored", extra={"room": room_id})
            return
        accept, member = await self._invite_policy(inviter, room_id, is_direct)
        client = self.connection.client
        assert client is not None
        if not accept:
            log.info("matrix invite declined (not from a coordinator)",
                     extra={"room": room_id, "inviter": inviter})
            response = await client.room_leave(room_id)
            if not isinstance(response, RoomLeaveResponse):
                log.warning("declining the invite failed: %s", response, extra={"room": room_id})
            await self.connection.remember_room(room_id, membership="declined", inviter=inviter,
                                                is_direct=is_direct)
            return
        joined = await client.join(room_id)
        if not isinstance(joined, JoinResponse):
            if isinstance(joined, ErrorResponse) and joined.status_code in (
                    "M_FORBIDDEN", "M_NOT_FOUND"):
                log.warning("could not join %s: %s", room_id, joined.message)
                return
            raise ConnectionError(f"join {room_id} failed: {joined}")
        log.info("matrix room joined", extra={"room": room_id, "inviter": inviter,
                                              "direct": is_direct})
        await self.connection.remember_room(room_id, membership="joined", inviter=inviter,
                                            is_direct=is_direct, encrypted=encrypted,
                                            joined_at_ms=None)
        lang = member.language if member is not None and member.language else None
        if is_direct:
            async with self.db.session() as session:
                store = Store(session)
                if await store.direct_rooms.get(str(MATRIX), inviter) is None:
                    await store.direct_rooms.remember(str(MATRIX), inviter, room_id,
                                                      self.clock.now())
            await self._post(room_id, "matrix/hello_direct", f"matrix:hello:{room_id}", lang)
        else:
            async with self.db.session() as session:
                linked = await Store(session).rooms.is_linked(str(MATRIX), room_id)
            if not linked:
                await self._post(room_id, "matrix/hello_room", f"matrix:hello:{room_id}", lang)
        if encrypted and not self.connection.e2e:
            await self._warn_encrypted(room_id, lang)

    async def _invite_policy(self, inviter: str, room_id: str, is_direct: bool
                             ) -> tuple[bool, Any]:
        """Join for a coordinator or an admin, a linked room, or a known member's DM."""
        async with self.db.session() as session:
            store = Store(session)
            member = await store.identities.member_for(str(MATRIX), inviter)
            if member is not None and member.erased_at is not None:
                member = None
            if await store.rooms.is_linked(str(MATRIX), room_id):
                return True, member
            if f"matrix:{inviter}" in self.settings.admins:
                return True, member
            if member is None:
                return False, None
            _, coordinates = await store.members.cohort_ids(member)
            return bool(coordinates) or is_direct, member

    async def _on_undecrypted(self, room: RoomInfo, event: MegolmEvent) -> None:
        if not self.connection.e2e:
            await self._warn_encrypted(room.room_id)
            return
        client = self.connection.client
        log.info("matrix event not decrypted yet; asking for its key",
                 extra={"room": room.room_id, "event_id": event.event_id})
        if client is not None:
            try:
                await client.request_room_key(event)
            except Exception as error:
                log.debug("room key request failed: %s", error)
        self._undecrypted.append((room.room_id, event, 0))

    async def _retry_undecrypted(self) -> None:
        """Events whose key arrived in a later sync are decrypted and handled then."""
        if not self._undecrypted:
            return
        client = self.connection.client
        waiting, self._undecrypted = self._undecrypted, []
        for room_id, event, tries in waiting:
            decrypted = None
            try:
                decrypted = client.decrypt_event(event) if client is not None else None
            except Exception:
                decrypted = None
            room = self.connection.rooms.get(room_id)
            if decrypted is not None and room is not None and not isinstance(decrypted,
                                                                              MegolmEvent):
                await self._on_timeline_event(room, decrypted)
            elif tries + 1 < UNDECRYPTED_RETRIES:
                self._undecrypted.append((room_id, event, tries + 1))
            else:
                log.warning("matrix event could not be decrypted; skipped",
                            extra={"room": room_id, "event_id": event.event_id})

    async def _crypto_housekeeping(self) -> None:
        """What ``sync_forever`` would do: send and fetch the keys encryption needs."""
        client = self.connection.client
        if client is None or client.olm is None:
            return
        await client.send_to_device_messages()
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())

    async def _warn_encrypted(self, room_id: str, lang: str | None = None) -> None:
        """Say once, in clear, that this room's messages are unreadable without ``e2e``."""
        if room_id in self._warned_encrypted:
            return
        self._warned_encrypted.add(room_id)
        await self._post(room_id, "matrix/cannot_read_encrypted",
                         f"matrix:encrypted-notice:{room_id}", lang)

    async def _post(self, room_id: str, template: str, key: str, lang: str | None,
                    **context: Any) -> None:
        """Queue a message of the adapter's own (a greeting, a notice) once per ``key``."""
        language = lang or self.settings.default_language
        async with self.db.session() as session:
            store = Store(session)
            cohort = await store.rooms.cohort_of(str(MATRIX), room_id)
            if lang is None and cohort is not None:
                language = cohort.language
            text = self.catalog.render(language, template,
                                       prefix=self.settings.prefix(MATRIX), **context)
            await store.outbox.enqueue(key=key, platform=str(MATRIX), destination=room_id,
                                       payload=Reply(text).to_dict(), now=self.clock.now())
        self.notify({MATRIX})


def _is_response(source: dict[str, Any]) -> bool:
    try:
        return poll_response(source) is not None
    except MalformedEvent:
        return False


def _is_membership(source: dict[str, Any], user_id: str, membership: str) -> bool:
    content = source.get("content")
    return (source.get("type") == "m.room.member" and source.get("state_key") == user_id
            and isinstance(content, dict) and content.get("membership") == membership)


def _previous_membership(source: dict[str, Any]) -> str | None:
    unsigned = source.get("unsigned")
    previous = unsigned.get("prev_content") if isinstance(unsigned, dict) else None
    return previous.get("membership") if isinstance(previous, dict) else None


def _history_end(events: list[Any], initial: bool) -> int:
    """When the bot's join time is unknown: everything seen in an initial sync is history;
    otherwise the timeline given is taken as new."""
    stamps = [s.get("origin_server_ts") for s in
              (getattr(e, "source", None) or {} for e in events)]
    stamps = [s for s in stamps if isinstance(s, int)]
    if not stamps:
        return int(time.time() * 1000) if initial else 0
    return max(stamps) + 1 if initial else min(stamps)


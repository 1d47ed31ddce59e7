"""A human-like Matrix client for tests, built on matrix-nio.

`MatrixUser` is the person on the other side of the bot: it registers on a
`LocalSynapse`, creates rooms, invites, sends text (with HTML, replies, threads),
edits, redacts, reacts, sends raw events (poll answers), and keeps a background
sync loop that records every timeline event of every joined room, as the raw
dicts the server sent (``event.source``), so tests assert on ``content``,
``formatted_body`` and ``m.relates_to`` exactly as a Matrix client sees them.

It never retries a 429: a rate-limited request raises `MatrixAPIError` with
``retry_after_ms``, so tests see the server's limits instead of hanging on them.
Encrypted rooms can be created (to test how the bot treats them). Created with
``e2e_store`` (a directory), the client also encrypts what it sends to encrypted
rooms and decrypts what it receives there (needs the ``e2e`` extra); the ids of
events that arrived encrypted are in ``decrypted``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinResponse,
    MessageDirection,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomMessagesResponse,
    RoomPreset,
    RoomRedactResponse,
    RoomSendResponse,
    SyncResponse,
)

from bot.devtools.local_synapse import LocalSynapse, MatrixAPIError

__all__ = ["Event", "MatrixUser", "Predicate", "matching"]

Event = dict[str, Any]
"""A raw Matrix event as the server sent it."""

Predicate = Callable[[Event], bool]

log = logging.getLogger(__name__)

_SYNC_FILTER: dict[str, Any] = {
    "room": {
        "timeline": {"limit": 100},
        "state": {"lazy_load_members": True},
        "ephemeral": {"not_types": ["*"]},
    },
    "presence": {"not_types": ["*"]},
}
_GAP_PAGES = 10


def matching(
    *,
    sender: str | None = None,
    type: str | None = None,  # noqa: A002
    msgtype: str | None = None,
    body: str | None = None,
    body_contains: str | None = None,
    rel_type: str | None = None,
    relates_to: str | None = None,
    in_reply_to: str | None = None,
) -> Predicate:
    """A predicate for `MatrixUser.wait_for` matching every criterion given.

    ``relates_to`` is the ``m.relates_to.event_id`` (the edited, reacted-to or
    thread-root event); ``in_reply_to`` the ``m.in_reply_to.event_id``.
    """

    def predicate(event: Event) -> bool:
        content = event.get("content") or {}
        relation = content.get("m.relates_to") or {}
        checks = (
            (sender, event.get("sender")),
            (type, event.get("type")),
            (msgtype, content.get("msgtype")),
            (body, content.get("body")),
            (rel_type, relation.get("rel_type")),
            (relates_to, relation.get("event_id")),
            (in_reply_to, (relation.get("m.in_reply_to") or {}).get("event_id")),
        )
        if any(wanted is not None and wanted != actual for wanted, actual in checks):
            return False
        return body_contains is None or body_contains in str(content.get("body", ""))

    return predicate


@dataclass(frozen=True, slots=True)
class _Seen:
    seq: int
    received_at: float
    source: Event


class MatrixUser:
    """A person on Matrix, driven by a test.

    Build it with `create`; `close` it at the end of the test. Events are
    recorded from the moment `start` runs its first sync.
    """

    def __init__(
        self,
        synapse: LocalSynapse,
        user_id: str,
        access_token: str,
        device_id: str,
        password: str,
        *,
        sync_timeout_ms: int = 30_000,
        e2e_store: str | None = None,
    ) -> None:
        self.synapse = synapse
        self.user_id = user_id
        self.access_token = access_token
        self.device_id = device_id
        self.password = password
        self.sync_timeout_ms = sync_timeout_ms
        config = AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=0,
            encryption_enabled=e2e_store is not None,
            store_sync_tokens=False,
            request_timeout=30,
        )
        self.client = AsyncClient(synapse.base_url, user_id, device_id=device_id, config=config,
                                  store_path=e2e_store or "")
        self.client.restore_login(user_id, device_id, access_token)
        self.decrypted: set[str] = set()
        self.invites: dict[str, list[Event]] = {}
        self.sync_errors: list[str] = []
        self._rooms: dict[str, list[_Seen]] = {}
        self._ids: dict[str, set[str]] = {}
        self._seq = 0
        self._changed = asyncio.Condition()
        self._sync_task: asyncio.Task[None] | None = None

    @classmethod
    async def create(
        cls,
        synapse: LocalSynapse,
        localpart: str,
        password: str | None = None,
        *,
        displayname: str | None = None,
        admin: bool = False,
        start: bool = True,
        e2e_store: str | None = None,
    ) -> MatrixUser:
        """Register (or log in, when the account exists) and, unless ``start=False``,
        run the first sync and the background sync loop. ``e2e_store``: a directory for
        this device's encryption keys, to talk in encrypted rooms."""
        password = password or f"{localpart}-password"
        account = await synapse.register(localpart, password, admin=admin, displayname=displayname)
        if e2e_store is not None:
            import os

            os.makedirs(e2e_store, exist_ok=True)
        user = cls(synapse, account.user_id, account.access_token, account.device_id, password,
                   e2e_store=e2e_store)
        if start:
            await user.start()
        return user

    async def __aenter__(self) -> MatrixUser:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Run a first sync (recording what it returns) and start the sync loop."""
        if self._sync_task is not None:
            return
        resp = await self.client.sync(timeout=0, sync_filter=_SYNC_FILTER)
        if not isinstance(resp, SyncResponse):
            raise _api_error(resp)
        await self._ingest(resp, initial=True)
        await self._crypto_housekeeping()
        self._sync_task = asyncio.create_task(self._sync_loop(), name=f"matrix-sync {self.user_id}")

    async def close(self) -> None:
        """Stop the sync loop and close the HTTP session."""
        task, self._sync_task = self._sync_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self.client.close()

    async def create_room(
        self,
        name: str | None = None,
        invite: Sequence[str] = (),
        encrypted: bool = False,
        is_direct: bool = False,
        *,
        topic: str | None = None,
    ) -> str:
        """Create a private room (a trusted private chat when ``is_direct``) and return its id."""
        initial_state: list[dict[str, Any]] = []
        if encrypted:
            initial_state.append(
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            )
        resp = await self.client.room_create(
            name=name,
            topic=topic,
            invite=list(invite),
            is_direct=is_direct,
            preset=RoomPreset.trusted_private_chat if is_direct else RoomPreset.private_chat,
            initial_state=initial_state,
        )
        if not isinstance(resp, RoomCreateResponse):
            raise _api_error(resp)
        return resp.room_id

    async def invite(self, room_id: str, user_id: str) -> None:
        """Invite someone to a room."""
        resp = await self.client.room_invite(room_id, user_id)
        if not isinstance(resp, RoomInviteResponse):
            raise _api_error(resp)

    async def join(self, room_id: str) -> str:
        """Join a room (accepting an invite) and return its id."""
        resp = await self.client.join(room_id)
        if not isinstance(resp, JoinResponse):
            raise _api_error(resp)
        self.invites.pop(resp.room_id, None)
        return resp.room_id

    async def send_text(
        self,
        room_id: str,
        body: str,
        html: str | None = None,
        thread_root: str | None = None,
        reply_to: str | None = None,
        *,
        msgtype: str = "m.text",
        mentions: Iterable[str] | None = None,
    ) -> str:
        """Send a text message and return its event id.

        ``html`` becomes ``formatted_body``; ``reply_to`` adds ``m.in_reply_to``;
        ``thread_root`` puts the message in that thread (replying in-thread to
        ``reply_to`` when given, else with the thread fallback to the root);
        ``mentions`` fills ``m.mentions.user_ids``.
        """
        content: dict[str, Any] = {"msgtype": msgtype, "body": body}
        if html is not None:
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = html
        if thread_root is not None:
            content["m.relates_to"] = {
                "rel_type": "m.thread",
                "event_id": thread_root,
                "is_falling_back": reply_to is None,
                "m.in_reply_to": {"event_id": reply_to or thread_root},
            }
        elif reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        if mentions is not None:
            content["m.mentions"] = {"user_ids": list(mentions)}
        return await self.send_event(room_id, "m.room.message", content)

    async def edit(
        self, room_id: str, event_id: str, new_body: str, html: str | None = None
    ) -> str:
        """Replace the text of one of this user's messages (``m.replace``)."""
        new_content: dict[str, Any] = {"msgtype": "m.text", "body": new_body}
        content: dict[str, Any] = {"msgtype": "m.text", "body": f"* {new_body}"}
        if html is not None:
            new_content |= {"format": "org.matrix.custom.html", "formatted_body": html}
            content |= {"format": "org.matrix.custom.html", "formatted_body": f"* {html}"}
        content["m.new_content"] = new_content
        content["m.relates_to"] = {"rel_type": "m.replace", "event_id": event_id}
        return await self.send_event(room_id, "m.room.message", content)

    async def redact(self, room_id: str, event_id: str, reason: str | None = None) -> str:
        """Delete an event; return the id of the redaction event."""
        resp = await self.client.room_redact(room_id, event_id, reason=reason)
        if not isinstance(resp, RoomRedactResponse):
            raise _api_error(resp)
        return resp.event_id

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        """Annotate an event with a reaction key (an emoji or short text)."""
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return await self.send_event(room_id, "m.reaction", content)

    async def send_event(
        self,
        room_id: str,
        type: str,  # noqa: A002
        content: Mapping[str, Any],
        txn_id: str | None = None,
    ) -> str:
        """Send any room event (a poll answer, a custom event) and return its id.

        Reusing ``txn_id`` replays the original send, as Synapse deduplicates per
        device and transaction id.
        """
        resp = await self.client.room_send(
            room_id, type, dict(content), tx_id=txn_id, ignore_unverified_devices=True
        )
        if not isinstance(resp, RoomSendResponse):
            raise _api_error(resp)
        return resp.event_id

    def mark(self) -> int:
        """A marker for ``wait_for(since=...)``: only events recorded after it count."""
        return self._seq

    def events(self, room_id: str) -> list[Event]:
        """Every event recorded in a room, in timeline order."""
        return [seen.source for seen in self._rooms.get(room_id, [])]

    def received_at(self, event_id: str) -> float | None:
        """When (``time.perf_counter()``) the sync loop recorded an event."""
        for seen_list in self._rooms.values():
            for seen in seen_list:
                if seen.source.get("event_id") == event_id:
                    return seen.received_at
        return None

    async def wait_for(
        self,
        room_id: str,
        predicate: Predicate | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
        since: int | str | None = None,
    ) -> Event:
        """The first recorded event in ``room_id`` matching ``predicate``, waiting for it
        if needed.

        Events recorded before the call count too, limited by ``since``: a marker
        from `mark` (events recorded after it) or an event id (events after that one
        in the timeline, e.g. the command the test just sent). A predicate that
        raises ``KeyError``, ``TypeError`` or ``AttributeError`` is a non-match.
        Raises ``TimeoutError`` listing the room's last events.
        """
        return (await self.wait_for_count(room_id, predicate, 1, timeout, since))[0]

    async def wait_for_count(
        self,
        room_id: str,
        predicate: Predicate | None,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109
        since: int | str | None = None,
    ) -> list[Event]:
        """The first ``count`` matching events, as in `wait_for`."""
        if self._sync_task is None:
            raise RuntimeError(f"{self.user_id}: call start() before waiting for events")
        found: list[Event] = []
        try:
            async with asyncio.timeout(timeout), self._changed:
                while True:
                    found = self._find(room_id, predicate, since)
                    if len(found) >= count:
                        return found[:count]
                    if self._sync_task.done():
                        self._sync_task.result()
                        raise RuntimeError(f"{self.user_id}: the sync loop stopped")
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"{self.user_id}: {len(found)} of {count} matching event(s) in {room_id} "
                f"after {timeout} s. Last events there:\n{self._describe(room_id)}"
                + (f"\nSync errors: {self.sync_errors[-3:]}" if self.sync_errors else "")
            ) from None

    async def wait_for_invite(
        self,
        room_id: str | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
        *,
        inviter: str | None = None,
    ) -> str:
        """Wait for an invite (to ``room_id``, or to any room; from ``inviter``, or from
        anyone) and return the room id.

        Accounts outlive a test (they live as long as the session's Synapse), so an
        invite that an earlier test's bot sent and nobody accepted is still pending:
        waiting for "any room" should name who invites.
        """
        if self._sync_task is None:
            raise RuntimeError(f"{self.user_id}: call start() before waiting for invites")
        try:
            async with asyncio.timeout(timeout), self._changed:
                while True:
                    for invited in self.invites:
                        if (room_id is None or invited == room_id) and (
                                inviter is None or self.invited_by(invited) == inviter):
                            return invited
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"{self.user_id}: no invite to {room_id or 'any room'}"
                f"{f' from {inviter}' if inviter else ''} after {timeout} s "
                f"(pending: {[(r, self.invited_by(r)) for r in self.invites]})"
            ) from None

    def invited_by(self, room_id: str) -> str | None:
        """Who sent this account's pending invite to ``room_id`` (None when unknown)."""
        for event in self.invites.get(room_id, []):
            if event.get("type") == "m.room.member" and event.get("state_key") == self.user_id:
                return event.get("sender")
        return None

    def _find(
        self, room_id: str, predicate: Predicate | None, since: int | str | None
    ) -> list[Event]:
        seen_list = self._rooms.get(room_id, [])
        if isinstance(since, str):
            positions = [i for i, s in enumerate(seen_list) if s.source.get("event_id") == since]
            candidates = seen_list[positions[0] + 1 :] if positions else []
        elif since is not None:
            candidates = [s for s in seen_list if s.seq > since]
        else:
            candidates = seen_list
        return [s.source for s in candidates if _safe_match(predicate, s.source)]

    def _describe(self, room_id: str, last: int = 10) -> str:
        lines = []
        for seen in self._rooms.get(room_id, [])[-last:]:
            src = seen.source
            content = src.get("content") or {}
            lines.append(
                f"  {src.get('type')} from {src.get('sender')}: "
                f"{content.get('msgtype', '')} {str(content.get('body', ''))[:80]!r}"
            )
        return "\n".join(lines) or "  (none)"

    async def _sync_loop(self) -> None:
        delay = 0.05
        while True:
            try:
                resp = await self.client.sync(
                    timeout=self.sync_timeout_ms,
                    sync_filter=_SYNC_FILTER,
                    since=self.client.next_batch,
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                self.sync_errors.append(repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            if not isinstance(resp, SyncResponse):
                self.sync_errors.append(str(resp))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            delay = 0.05
            await self._ingest(resp, initial=False)
            try:
                await self._crypto_housekeeping()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                self.sync_errors.append(repr(exc))

    async def _crypto_housekeeping(self) -> None:
        client = self.client
        if client.olm is None:
            return
        await client.send_to_device_messages()
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())

    async def _ingest(self, resp: SyncResponse, *, initial: bool) -> None:
        now = time.perf_counter()
        batches: list[tuple[str, list[Event]]] = []
        for room_id, info in resp.rooms.join.items():
            for event in info.timeline.events:
                if getattr(event, "decrypted", False) and getattr(event, "event_id", None):
                    self.decrypted.add(event.event_id)
            sources = [event.source for event in info.timeline.events]
            if info.timeline.limited and not initial and self._ids.get(room_id):
                sources = await self._fetch_gap(room_id, info.timeline.prev_batch) + sources
            batches.append((room_id, sources))
        async with self._changed:
            for room_id, sources in batches:
                self._record(room_id, sources, now)
                self.invites.pop(room_id, None)
            for room_id, invite in resp.rooms.invite.items():
                self.invites[room_id] = [event.source for event in invite.invite_state]
            for room_id in resp.rooms.leave:
                self.invites.pop(room_id, None)
            self._changed.notify_all()

    def _record(self, room_id: str, sources: list[Event], now: float) -> None:
        room = self._rooms.setdefault(room_id, [])
        ids = self._ids.setdefault(room_id, set())
        for source in sources:
            event_id = source.get("event_id")
            if event_id is not None and event_id in ids:
                continue
            if event_id is not None:
                ids.add(event_id)
            self._seq += 1
            room.append(_Seen(self._seq, now, source))

    async def _fetch_gap(self, room_id: str, prev_batch: str | None) -> list[Event]:
        """Events between what was recorded and a ``limited`` timeline, oldest first."""
        known = self._ids.get(room_id, set())
        older: list[Event] = []
        token = prev_batch
        for _ in range(_GAP_PAGES):
            if token is None:
                break
            resp = await self.client.room_messages(
                room_id, start=token, direction=MessageDirection.back, limit=100
            )
            if not isinstance(resp, RoomMessagesResponse):
                self.sync_errors.append(f"gap fetch in {room_id}: {resp}")
                break
            for event in resp.chunk:
                if event.source.get("event_id") in known:
                    return older[::-1]
                older.append(event.source)
            if not resp.chunk:
                break
            token = resp.end
        return older[::-1]


def _safe_match(predicate: Predicate | None, event: Event) -> bool:
    if predicate is None:
        return True
    try:
        return bool(predicate(event))
    except (KeyError, TypeError, AttributeError):
        return False


def _api_error(resp: object) -> MatrixAPIError:
    """A `MatrixAPIError` from a nio error response (status, errcode, retry_after_ms)."""
    transport = getattr(resp, "transport_response", None)
    status = int(getattr(transport, "status", 0) or 0)
    if isinstance(resp, ErrorResponse):
        return MatrixAPIError(status, resp.status_code, resp.message, resp.retry_after_ms)
    return MatrixAPIError(status, None, f"unexpected response {resp!r}")

"""The bot's Matrix account: one matrix-nio client, logged in on a device that is kept.

The sync loop (:mod:`bot.matrix.adapter`) and the sender (:mod:`bot.matrix.sender`)
share this connection and its view of the rooms. Login reuses the device id stored
in the database, so Synapse keeps deduplicating transaction ids across restarts
and end-to-end keys stay valid.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    LoginResponse,
    WhoamiResponse,
)

from bot.config import MatrixConfig
from handlers.core.clock import Clock
from storage.db import Database
from storage.models_matrix import MatrixRoomState
from storage.uow import Store

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 30.0


class LoginRefused(Exception):
    """The homeserver refused the credentials: retrying will not help."""


@dataclass(slots=True)
class RoomInfo:
    """What the adapter and the sender remember about one room (mirrors ``matrix_room``)."""

    room_id: str
    membership: str = "joined"
    is_direct: bool = False
    encrypted: bool = False
    joined_at_ms: int | None = None
    inviter: str | None = None

    @classmethod
    def of(cls, row: MatrixRoomState) -> RoomInfo:
        return cls(row.room_id, row.membership, row.is_direct, row.encrypted, row.joined_at_ms,
                   row.inviter)


class MatrixConnection:
    """A logged-in nio client for the bot account, and the rooms it knows."""

    def __init__(self, config: MatrixConfig, *, db: Database, clock: Clock, data_dir: Path
                 ) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.data_dir = data_dir
        self.user_id = config.user_id
        self.rooms: dict[str, RoomInfo] = {}
        self.client: AsyncClient | None = None
        self.ready = asyncio.Event()

    @property
    def e2e(self) -> bool:
        return self.config.e2e

    @property
    def store_path(self) -> Path:
        """Where matrix-nio keeps the end-to-end keys of this device."""
        return self.data_dir / "matrix-e2e"

    def _build_client(self) -> AsyncClient:
        if self.e2e:
            from nio.crypto import ENCRYPTION_ENABLED

            if not ENCRYPTION_ENABLED:
                raise LoginRefused("matrix.e2e is true but end-to-end support is not installed "
                                   "— pip install 'cohortbot[e2e]'")
            self.store_path.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=0,
            store_sync_tokens=False,
            encryption_enabled=self.e2e,
            request_timeout=REQUEST_TIMEOUT_S,
        )
        return AsyncClient(self.config.homeserver, self.user_id, config=config,
                           store_path=str(self.store_path) if self.e2e else "")

    async def connect(self) -> None:
        """Log in (password or access token) on the stored device, load the rooms.

        Raises :class:`LoginRefused` for bad credentials; network errors propagate so
        the caller retries with backoff.
        """
        async with self.db.session() as session:
            store = Store(session)
            saved = await store.matrix.session_of(self.user_id)
            rooms = await store.matrix.rooms(self.user_id)
        device_id = saved.device_id if saved else None
        if self.client is not None:
            await self.client.close()
        client = self._build_client()
        self.client = client
        if self.config.access_token:
            client.access_token = self.config.access_token
            whoami = await client.whoami()
            if not isinstance(whoami, WhoamiResponse):
                raise LoginRefused(f"access token refused: {_describe(whoami)}")
            if whoami.user_id != self.user_id:
                raise LoginRefused(f"the access token belongs to {whoami.user_id}, "
                                   f"not {self.user_id}")
            if not whoami.device_id:
                raise LoginRefused("the access token has no device")
            client.restore_login(self.user_id, whoami.device_id, self.config.access_token)
            device_id = whoami.device_id
        else:
            if device_id:
                client.device_id = device_id
            response = await client.login(self.config.password, device_name=self.config.device_name)
            if not isinstance(response, LoginResponse):
                if _status(response) in (401, 403):
                    raise LoginRefused(f"password login refused: {_describe(response)}")
                raise ConnectionError(f"login failed: {_describe(response)}")
            device_id = response.device_id
        if self.e2e and client.should_upload_keys:
            await client.keys_upload()
        async with self.db.session() as session:
            await Store(session).matrix.save_device(self.user_id, device_id, self.clock.now())
        self.rooms = {row.room_id: RoomInfo.of(row) for row in rooms}
        log.info("matrix logged in", extra={"user": self.user_id, "device": device_id,
                                            "e2e": self.e2e})

    async def close(self) -> None:
        self.ready.clear()
        if self.client is not None:
            await self.client.close()

    async def remember_room(self, room_id: str, **values: Any) -> RoomInfo:
        """Update a room in memory and in ``matrix_room`` (one small transaction)."""
        info = self.rooms.get(room_id) or RoomInfo(room_id)
        for key, value in values.items():
            setattr(info, key, value)
        self.rooms[room_id] = info
        async with self.db.session() as session:
            await Store(session).matrix.put_room(self.user_id, room_id, self.clock.now(),
                                                 **values)
        return info

    def display_name(self, room_id: str, user_id: str) -> str | None:
        """A member's display name as the room knows it (None when unknown)."""
        client = self.client
        room = client.rooms.get(room_id) if client is not None else None
        if room is None:
            return None
        user = room.users.get(user_id)
        return user.display_name if user is not None and user.display_name else None

    def avatar(self, room_id: str, user_id: str) -> str | None:
        """A member's avatar (``mxc://`` URI) as the room knows it (None when unknown)."""
        client = self.client
        room = client.rooms.get(room_id) if client is not None else None
        user = room.users.get(user_id) if room is not None else None
        url = getattr(user, "avatar_url", None)
        return url if isinstance(url, str) and url.startswith("mxc://") else None

    async def account_data(self, kind: str) -> dict[str, Any]:
        """The bot's global account data of one type (empty when unset)."""
        status, body = await self.raw("GET", self._account_data_path(kind))
        if status == 404:
            return {}
        if status >= 400:
            raise ConnectionError(f"account data {kind}: HTTP {status}")
        return body

    async def set_account_data(self, kind: str, content: dict[str, Any]) -> None:
        status, _ = await self.raw("PUT", self._account_data_path(kind), content)
        if status >= 400:
            raise ConnectionError(f"account data {kind}: HTTP {status}")

    def _account_data_path(self, kind: str) -> str:
        return (f"/_matrix/client/v3/user/{quote(self.user_id, safe='')}/account_data/"
                f"{quote(kind, safe='')}")

    async def raw(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """One authenticated request nio has no method for; returns (status, JSON body)."""
        import json

        client = self.client
        assert client is not None and client.access_token
        headers = {"Authorization": f"Bearer {client.access_token}",
                   "Content-Type": "application/json"}
        data = json.dumps(body) if body is not None else None
        response = await client.send(method, path, data, headers,
                                     timeout=REQUEST_TIMEOUT_S)
        try:
            parsed = await response.json(content_type=None)
        except ValueError:
            parsed = {}
        finally:
            response.release()
        return response.status, parsed if isinstance(parsed, dict) else {}


def _status(response: Any) -> int:
    transport = getattr(response, "transport_response", None)
    return int(getattr(transport, "status", 0) or 0)


def _describe(response: Any) -> str:
    if isinstance(response, ErrorResponse):
        return f"{response.status_code or _status(response)} {response.message}"
    return type(response).__name__

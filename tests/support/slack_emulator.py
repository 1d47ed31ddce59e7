"""A local emulator of the Slack Web API, and builders of what Slack sends to an app.

No real Slack is reachable from the tests. `SlackEmulator` is an aiohttp server on
127.0.0.1 that answers ``/api/<method>`` the way Slack does for the methods a bot
uses, keeps the state a bot relies on (channels, users, messages, threads,
ephemeral messages, views, files, reactions), checks Block Kit limits, can rate
limit or fail on demand, and records every call::

    async with SlackEmulator() as emu:
        emu.add_user("U1", "alice")
        emu.add_channel("C1", "general", members=["U1"])
        client = AsyncWebClient(base_url=emu.base_url, token="xoxb-test")
        await client.chat_postMessage(channel="C1", text="hi")
        assert emu.messages("C1")[0]["text"] == "hi"

Method names and required arguments come from Slack's own reference, vendored
in ``tests/fixtures/slack_reference/methods`` (MIT, slack-ruby/slack-api-ref): a
method without a file there answers ``unknown_method``.

Socket Mode is served too: ``apps.connections.open`` (with an app-level token)
answers a ``ws://127.0.0.1:…/socket-mode/…`` URL of the emulator, `socket_send`
pushes envelopes to the connected app and `wait_for_ack` returns its
acknowledgement. `delay_next` makes a call take effect at once but answer late
(a lost or timed-out answer).

The module-level functions build the requests Slack sends *to* an app (slash
commands, ``block_actions``, ``view_submission``, Events API envelopes) and sign
them like Slack (`sign`), so a test can drive the real Bolt app over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import itertools
import json
import math
import mimetypes
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from tests.support.ports import bound_socket

__all__ = [
    "REFERENCE_DIR",
    "Call",
    "SlackEmulator",
    "block_actions_form",
    "block_kit_errors",
    "event_callback",
    "known_methods",
    "load_event_example",
    "load_method",
    "retry_headers",
    "sign",
    "slash_command_form",
    "url_verification",
    "view_errors",
    "view_submission_form",
]

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "slack_reference"
"""Vendored subset of Slack's machine-readable reference (methods/ and events/)."""

JSON_ARGS = frozenset({"blocks", "attachments", "metadata", "view", "files"})
"""Arguments that form-encoded callers send as JSON strings; decoded on arrival."""

MESSAGE_TEXT_LIMIT = 40_000
UPDATE_TEXT_LIMIT = 4_000
TRIGGER_TTL = 3.0
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL = 30 * 60.0

Handler = Callable[[dict[str, Any]], "Reply"]


# --------------------------------------------------------------------------- reference data


@functools.cache
def known_methods() -> frozenset[str]:
    """Names of the Web API methods vendored in ``methods/`` (the ones the emulator knows)."""
    return frozenset(p.stem for p in (REFERENCE_DIR / "methods").glob("*.json"))


@functools.cache
def _method_file(name: str) -> dict[str, Any]:
    path = REFERENCE_DIR / "methods" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def load_method(name: str) -> dict[str, Any]:
    """Slack's description of Web API method ``name`` (``args``, ``errors``, ``rate_limits``…).

    Raises `KeyError` when the method is not vendored.
    """
    if name not in known_methods():
        raise KeyError(f"{name} is not vendored in {REFERENCE_DIR / 'methods'}")
    return json.loads(json.dumps(_method_file(name)))


def _required_args(name: str) -> list[str]:
    return list(_method_file(name).get("args", {}).get("required", []) or [])


def load_event_example(name: str) -> dict[str, Any]:
    """A copy of the ``example`` payload of the vendored ``events/<name>.json``.

    Raises `KeyError` when the event is not vendored or Slack documents no example
    for it (``app_mention`` and ``message.im`` have none: build those by hand).
    """
    path = REFERENCE_DIR / "events" / f"{name}.json"
    if not path.is_file():
        raise KeyError(f"event {name!r} is not vendored in {path.parent}")
    data = json.loads(path.read_text(encoding="utf-8"))
    if "example" not in data:
        raise KeyError(f"Slack's reference has no example for event {name!r}")
    return data["example"]


# --------------------------------------------------------------------------- small helpers


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _ts_key(ts: Any) -> Decimal | None:
    """Numeric value of a Slack timestamp, or None when it is not one."""
    if ts is None or ts == "":
        return None
    try:
        return Decimal(str(ts))
    except InvalidOperation:
        return None


def _encode_cursor(prefix: str, value: str) -> str:
    return base64.b64encode(f"{prefix}:{value}".encode()).decode()


def _decode_cursor(cursor: str, prefix: str) -> str | None:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    head, _, value = raw.partition(":")
    return value if head == prefix and value else None


def _split_ids(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


# --------------------------------------------------------------------------- records


@dataclass
class Call:
    """One request to ``/api/<method>`` and the emulator's answer.

    ``args`` merges query, form and JSON body; JSON strings such as ``blocks``,
    ``attachments``, ``metadata``, ``view`` and ``files`` are decoded, and the
    ``token`` argument is left out (it is in ``headers`` or gone).
    """

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        """Whether the emulator answered ``ok: true``."""
        return bool(self.response.get("ok"))


@dataclass
class Reply:
    """What a method handler answers: a JSON body, an HTTP status and extra headers."""

    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def _ok(**fields: Any) -> Reply:
    return Reply({"ok": True, **fields})


def _err(error: str, status: int = 200, **fields: Any) -> Reply:
    return Reply({"ok": False, "error": error, **fields}, status)


def _invalid_arguments(messages: list[str]) -> Reply:
    return _err("invalid_arguments", response_metadata={"messages": messages})


@dataclass
class _Bucket:
    """A token bucket: ``burst`` requests at once, refilled at ``per_second``."""

    per_second: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.per_second


@dataclass
class _RateRule:
    per_second: float
    burst: int
    per_channel: bool
    buckets: dict[str, _Bucket] = field(default_factory=dict)


@dataclass
class _FailRule:
    remaining: int
    status: int
    error: str
    retry_after: int | None


@dataclass
class _Channel:
    id: str
    name: str
    members: list[str]
    is_im: bool = False
    is_mpim: bool = False
    is_private: bool = False
    bot_is_member: bool = True
    is_archived: bool = False
    user: str | None = None
    topic: str = ""
    purpose: str = ""
    created: int = 1_700_000_000
    messages: list[dict[str, Any]] = field(default_factory=list)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _ResponseUrl:
    id: str
    created: float
    channel: str | None
    user: str | None
    message_ts: str | None
    posts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _File:
    id: str
    filename: str
    length: int
    alt_txt: str | None
    snippet_type: str | None
    data: bytes | None = None
    title: str | None = None
    completed: bool = False
    channels: list[str] = field(default_factory=list)
    created: int = 0


# --------------------------------------------------------------------------- the emulator


class SlackEmulator:
    """An aiohttp emulator of the Slack Web API on 127.0.0.1 and a free port.

    Use it as ``async with SlackEmulator() as emu`` or with `start` / `stop`, and
    point ``AsyncWebClient(base_url=emu.base_url, token="xoxb-test")`` at it.

    The bot's identity (``auth.test``) is ``bot_user_id`` / ``bot_id`` / ``team_id``;
    ``bot_tokens`` are the valid bot tokens and ``app_tokens`` the app-level tokens,
    which only ``apps.connections.open`` accepts. ``clock`` (monotonic seconds)
    drives rate limits and the expiry of trigger ids and response URLs: replace it
    to test expiry without sleeping.
    """

    def __init__(
        self,
        *,
        bot_tokens: Iterable[str] = ("xoxb-test",),
        app_tokens: Iterable[str] = ("xapp-test",),
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        bot_name: str = "cohortbot",
        app_id: str = "A0001",
        team_id: str = "T0001",
        team_name: str = "Cohorte",
        team_domain: str = "cohorte",
        ts_start: int = 1_700_000_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot_tokens: set[str] = set(bot_tokens)
        self.app_tokens: set[str] = set(app_tokens)
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.workspace_url = f"https://{team_domain}.slack.com/"
        self.clock = clock
        self.strict_triggers = False
        self.socket_mode_url: str | None = None

        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, _Channel] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, _File] = {}

        self._ts_start = ts_start
        self._ts_counter = itertools.count(1)
        self._ids = itertools.count(1)
        self._ims: dict[frozenset[str], str] = {}
        self._triggers: dict[str, tuple[float, str | None]] = {}
        self._used_triggers: set[str] = set()
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._rate_rules: dict[str, _RateRule] = {}
        self._fail_rules: dict[str, list[_FailRule]] = {}
        self._delays: dict[str, list[float]] = {}
        self.socket_acks: list[dict[str, Any]] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_event = asyncio.Event()
        self._call_event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._handlers: dict[str, Handler] = self._build_handlers()

        self.add_user(bot_user_id, bot_name, real_name=bot_name, is_bot=True)

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start serving on 127.0.0.1 and a free port (idempotent)."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._serve_api)
        app.router.add_post("/upload/v1/{file_id}", self._serve_upload)
        app.router.add_get("/files-pri/{team_file}/{name}", self._serve_file)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._serve_file)
        app.router.add_post("/response/{rid}", self._serve_response_url)
        app.router.add_get("/socket-mode/{session}", self._serve_socket_mode)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        sock = bound_socket()
        port = sock.getsockname()[1]
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner, self._port = runner, port
        self._call_event = asyncio.Event()
        self._socket_event = asyncio.Event()

    async def stop(self) -> None:
        """Stop the server (idempotent). The recorded state stays readable."""
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api/``: the ``base_url`` for slack_sdk clients."""
        return f"{self.root_url}/api/"

    # ----------------------------------------------------------------- ids

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08X}"

    def _next_ts(self) -> str:
        n = next(self._ts_counter) * 100
        return f"{self._ts_start + n // 1_000_000}.{n % 1_000_000:06d}"

    # ----------------------------------------------------------------- dispatch

    def _build_handlers(self) -> dict[str, Handler]:
        return {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "conversations.members": self._conversations_members,
            "conversations.join": self._conversations_join,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "team.info": self._team_info,
            "bots.info": self._bots_info,
            "apps.connections.open": self._apps_connections_open,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "files.info": self._files_info,
            "files.delete": self._files_delete,
        }

    async def _read_args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method in {"POST", "PUT", "PATCH"} and request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except (json.JSONDecodeError, UnicodeDecodeError):
                    body = None
                if isinstance(body, dict):
                    args.update(body)
            elif ctype in {"application/x-www-form-urlencoded", "multipart/form-data"}:
                form = await request.post()
                for key in form:
                    value = form.get(key)
                    if isinstance(value, str):
                        args[key] = value
        for key in JSON_ARGS & args.keys():
            value = args[key]
            if isinstance(value, str) and value.strip()[:1] in {"[", "{"}:
                try:
                    args[key] = json.loads(value)
                except json.JSONDecodeError:
                    pass
        return args

    def _token_of(self, request: web.Request, args: dict[str, Any]) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        token = args.get("token")
        return str(token) if token else None

    def _check_auth(self, method: str, token: str | None) -> Reply | None:
        if "token" not in _required_args(method):
            return None
        if token is None:
            return _err("not_authed")
        if method == "apps.connections.open":
            if token in self.app_tokens:
                return None
            if token in self.bot_tokens:
                return _err("not_allowed_token_type")
            return _err("invalid_auth")
        if token in self.bot_tokens:
            return None
        if token in self.app_tokens:
            return _err("not_allowed_token_type")
        return _err("invalid_auth")

    def _missing_args(self, method: str, args: dict[str, Any]) -> Reply | None:
        missing = [
            name
            for name in _required_args(method)
            if name != "token" and (args.get(name) is None or args.get(name) == "")
        ]
        if not missing:
            return None
        return _invalid_arguments([f"[ERROR] missing required field: {name}" for name in missing])

    async def _serve_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._read_args(request)
        token = self._token_of(request, args)
        args.pop("token", None)
        reply = self._dispatch(method, args, token)
        self._record(method, args, request, reply)
        delays = self._delays.get(method)
        if delays:
            await asyncio.sleep(delays.pop(0))
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)

    def _dispatch(self, method: str, args: dict[str, Any], token: str | None) -> Reply:
        if method not in known_methods():
            return _err("unknown_method")
        for check in (
            lambda: self._check_auth(method, token),
            lambda: self._forced_failure(method),
            lambda: self._rate_limited(method, args),
            lambda: self._missing_args(method, args),
        ):
            reply = check()
            if reply is not None:
                return reply
        handler = self._handlers.get(method)
        if handler is None:
            return _err("emulator_unsupported_method")
        return handler(args)

    def _record(
        self, method: str, args: dict[str, Any], request: web.Request, reply: Reply
    ) -> None:
        self.calls.append(
            Call(
                method=method,
                args=args,
                headers=dict(request.headers),
                at=time.time(),
                status=reply.status,
                response=reply.body,
            )
        )
        self._call_event.set()
        self._call_event = asyncio.Event()

    # ----------------------------------------------------------------- failures and limits

    def _forced_failure(self, method: str) -> Reply | None:
        rules = self._fail_rules.get(method)
        if not rules:
            return None
        rule = rules[0]
        rule.remaining -= 1
        if rule.remaining <= 0:
            rules.pop(0)
        headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
        return Reply({"ok": False, "error": rule.error}, rule.status, headers)

    def _rate_limited(self, method: str, args: dict[str, Any]) -> Reply | None:
        rule = self._rate_rules.get(method)
        if rule is None:
            return None
        key = str(args.get("channel") or args.get("channel_id") or "") if rule.per_channel else ""
        now = self.clock()
        bucket = rule.buckets.get(key)
        if bucket is None:
            bucket = rule.buckets[key] = _Bucket(rule.per_second, rule.burst, rule.burst, now)
        wait = bucket.take(now)
        if wait <= 0:
            return None
        retry_after = max(1, math.ceil(wait))
        return Reply({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(retry_after)})

    # ----------------------------------------------------------------- methods: misc

    def _api_test(self, args: dict[str, Any]) -> Reply:
        echoed = {k: v for k, v in args.items() if k != "error"}
        if args.get("error"):
            return _err(str(args["error"]), args={**echoed, "error": args["error"]})
        return _ok(args=echoed) if echoed else _ok()

    def _auth_test(self, args: dict[str, Any]) -> Reply:
        return _ok(
            url=self.workspace_url,
            team=self.team_name,
            user=self.bot_name,
            team_id=self.team_id,
            user_id=self.bot_user_id,
            bot_id=self.bot_id,
            is_enterprise_install=False,
        )

    # ----------------------------------------------------------------- test-facing state

    def add_user(
        self,
        id: str,
        name: str,
        real_name: str = "",
        is_bot: bool = False,
        tz: str = "Europe/Paris",
        *,
        email: str | None = None,
        display_name: str | None = None,
        deleted: bool = False,
        is_admin: bool = False,
    ) -> dict[str, Any]:
        """Add (or replace) a workspace member; returns the ``users.info`` user object."""
        offset = datetime.now(ZoneInfo(tz)).utcoffset()
        profile: dict[str, Any] = {
            "real_name": real_name or name,
            "real_name_normalized": real_name or name,
            "display_name": display_name if display_name is not None else name,
            "display_name_normalized": display_name if display_name is not None else name,
            "status_text": "",
            "status_emoji": "",
            "image_48": f"https://avatars.example/{id}_48.png",
            "team": self.team_id,
        }
        if email:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = self.bot_id if id == self.bot_user_id else f"B{id[1:]}"
        user: dict[str, Any] = {
            "id": id,
            "team_id": self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real_name or name,
            "tz": tz,
            "tz_label": datetime.now(ZoneInfo(tz)).tzname(),
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "profile": profile,
            "is_admin": is_admin,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 1_700_000_000,
        }
        self.users[id] = user
        return user

    def add_channel(
        self,
        id: str,
        name: str,
        members: Iterable[str] = (),
        is_im: bool = False,
        *,
        is_private: bool = False,
        bot_member: bool = True,
        topic: str = "",
        purpose: str = "",
    ) -> None:
        """Add (or replace) a conversation.

        ``members`` are human members; the bot is a member too unless
        ``bot_member=False`` (then posting answers ``not_in_channel``, and a private
        channel is invisible: ``channel_not_found``). For an IM, ``members`` is the
        one user the bot talks with.
        """
        people = list(dict.fromkeys(members))
        channel = _Channel(
            id=id,
            name=name,
            members=people,
            is_im=is_im,
            is_private=is_private or is_im,
            bot_is_member=bot_member,
            user=people[0] if is_im and people else None,
            topic=topic,
            purpose=purpose,
        )
        self.channels[id] = channel
        if is_im and people:
            self._ims[frozenset(people)] = id

    def set_bot_member(self, channel: str, is_member: bool) -> None:
        """Make the bot join or leave ``channel``."""
        self.channels[channel].bot_is_member = is_member

    def im_id(self, *users: str) -> str:
        """The stable ``D…`` id of the IM with ``users`` (created as by conversations.open)."""
        return self._open_conversation(list(users)).id

    def _open_conversation(self, users: list[str]) -> _Channel:
        people = sorted({u for u in users if u != self.bot_user_id})
        key = frozenset(people)
        existing = self._ims.get(key)
        if existing is not None and existing in self.channels:
            return self.channels[existing]
        is_mpim = len(people) > 1
        cid = self._new_id("G" if is_mpim else "D")
        name = "mpdm-" + "--".join(self.users[u]["name"] for u in people) + "-1" if is_mpim else cid
        channel = _Channel(
            id=cid,
            name=name,
            members=people,
            is_im=not is_mpim,
            is_mpim=is_mpim,
            is_private=True,
            user=None if is_mpim else people[0],
            created=int(time.time()),
        )
        self.channels[cid] = channel
        self._ims[key] = cid
        return channel

    def add_message(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        thread_ts: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Store a message by ``user`` (e.g. a human) in ``channel``; return it with its ``ts``."""
        message: dict[str, Any] = {"type": "message", "user": user, "text": text, **extra}
        message["ts"] = self._next_ts()
        message.setdefault("team", self.team_id)
        return self._store_message(self.channels[channel], message, thread_ts)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Stored messages of ``channel``, top-level and replies, oldest first (live dicts)."""
        return list(self.channels[channel].messages)

    def ephemerals(self, channel: str) -> list[dict[str, Any]]:
        """Ephemeral messages posted in ``channel``, oldest first; ``user`` is the recipient."""
        return list(self.channels[channel].ephemerals)

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The stored message ``ts`` of ``channel``, or None."""
        found = self.channels.get(channel)
        return self._find(found, ts) if found else None

    # ----------------------------------------------------------------- test-facing calls

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls to ``method``, in order."""
        return [c for c in self.calls if c.method == method]

    def reset_calls(self) -> None:
        """Forget the recorded calls (state such as messages is kept)."""
        self.calls.clear()

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Call:
        """The first recorded call to ``method`` matching ``predicate``, waiting for it if needed.

        Calls recorded before this one are considered too (use `reset_calls` to
        look only at new ones). Raises `TimeoutError` listing the calls seen.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for call in self.calls:
                if call.method == method and (predicate is None or predicate(call)):
                    return call
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                seen = ", ".join(c.method for c in self.calls) or "none"
                raise TimeoutError(f"no matching {method} call within {timeout} s (calls: {seen})")
            try:
                await asyncio.wait_for(self._call_event.wait(), remaining)
            except TimeoutError:
                pass

    def rate_limit(
        self,
        method: str,
        per_second: float | None = 1.0,
        burst: int = 1,
        per_channel: bool = False,
    ) -> None:
        """Rate limit ``method``: ``burst`` calls at once, then ``per_second`` on average.

        With ``per_channel=True`` each ``channel`` / ``channel_id`` has its own
        budget (Slack's ~1 message per second per channel for chat.postMessage).
        Exceeding it answers HTTP 429, ``Retry-After`` (whole seconds, at least 1)
        and ``{"ok": false, "error": "ratelimited"}``. ``per_second=None`` removes
        the limit.
        """
        if per_second is None:
            self._rate_rules.pop(method, None)
            return
        if per_second <= 0 or burst < 1:
            raise ValueError("per_second must be > 0 and burst >= 1")
        self._rate_rules[method] = _RateRule(per_second, burst, per_channel)

    def apply_slack_rate_limits(self) -> None:
        """Rate limit every vendored method by its Slack tier, as documented.

        Tier 1: 1/min, tier 2: 20/min, tier 3: 50/min, tier 4: 100/min, each with
        a burst of one minute's worth; chat.postMessage: 1/s per channel, burst 1.
        """
        per_minute = {"t1": 1, "t2": 20, "t3": 50, "t4": 100}
        for method in known_methods():
            tier = _method_file(method).get("rate_limits")
            if tier in per_minute:
                n = per_minute[tier]
                self.rate_limit(method, per_second=n / 60.0, burst=n)
        self.rate_limit("chat.postMessage", per_second=1.0, burst=1, per_channel=True)

    def clear_rate_limits(self) -> None:
        """Remove every rate limit."""
        self._rate_rules.clear()

    def fail_next(
        self,
        method: str,
        count: int = 1,
        status: int | None = None,
        retry_after: int | None = 1,
        error: str | None = None,
    ) -> None:
        """Make the next ``count`` calls to ``method`` fail (after the token check).

        Without ``error`` it is a rate limit: HTTP 429, ``Retry-After:
        retry_after`` and ``ratelimited``. With ``error`` (e.g. ``internal_error``)
        the status defaults to 200 (Slack's usual) and may be 500; no
        ``Retry-After`` is sent unless the status is 429.
        """
        if error is None:
            error = "ratelimited" if status in (None, 429) else "internal_error"
        if status is None:
            status = 429 if error == "ratelimited" else 200
        after = max(1, int(retry_after or 1)) if status == 429 else None
        self._fail_rules.setdefault(method, []).append(_FailRule(count, status, error, after))

    def delay_next(self, method: str, seconds: float, count: int = 1) -> None:
        """Answer the next ``count`` calls to ``method`` only after ``seconds``.

        The call takes effect at once (a message is posted); only the answer is
        late, as when Slack did the work but the response was lost or timed out.
        """
        self._delays.setdefault(method, []).extend([seconds] * count)

    # ----------------------------------------------------------------- Socket Mode

    async def wait_for_socket(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until an app holds a Socket Mode connection (opened via apps.connections.open)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._sockets:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("no Socket Mode connection")
            try:
                await asyncio.wait_for(self._socket_event.wait(), remaining)
            except TimeoutError:
                pass

    async def socket_send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Push an envelope to the connected app, as Slack does in Socket Mode.

        ``kind`` is ``events_api`` (``payload`` an ``event_callback`` envelope),
        ``slash_commands`` (the command's fields) or ``interactive`` (the
        interaction payload). Returns the ``envelope_id`` the app must acknowledge.
        """
        if not self._sockets:
            raise RuntimeError("no Socket Mode connection")
        envelope_id = secrets.token_hex(8)
        envelope = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        await self._sockets[-1].send_str(json.dumps(envelope))
        return envelope_id

    async def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The app's acknowledgement of ``envelope_id`` (waiting for it if needed)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for ack in self.socket_acks:
                if ack.get("envelope_id") == envelope_id:
                    return ack
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"envelope {envelope_id} not acknowledged within {timeout} s")
            try:
                await asyncio.wait_for(self._socket_event.wait(), remaining)
            except TimeoutError:
                pass

    def _socket_changed(self) -> None:
        self._socket_event.set()
        self._socket_event = asyncio.Event()

    async def _serve_socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({
            "type": "hello",
            "num_connections": len(self._sockets),
            "debug_info": {"host": "emulator", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }))
        self._socket_changed()
        try:
            async for message in ws:
                if message.type != web.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(message.data)
                except json.JSONDecodeError:
                    continue
                if isinstance(data, dict):
                    self.socket_acks.append(data)
                    self._socket_changed()
        finally:
            self._sockets.remove(ws)
            self._socket_changed()
        return ws

    # ----------------------------------------------------------------- triggers and response URLs

    def new_trigger_id(self, view_id: str | None = None) -> str:
        """A fresh trigger id, valid once and for 3 s (checked when ``strict_triggers`` is set).

        ``view_id`` is the modal the interaction came from: ``views.push`` with this
        trigger stacks the new view on it (at most 3 views deep).
        """
        trigger = f"{next(self._ids)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"
        self._triggers[trigger] = (self.clock(), view_id)
        return trigger

    def new_response_url(
        self,
        *,
        channel: str | None = None,
        user: str | None = None,
        message_ts: str | None = None,
    ) -> str:
        """A ``response_url`` served by the emulator (5 uses within 30 minutes).

        With ``channel`` the posts take effect: ``response_type: in_channel`` posts a
        message, the default ephemeral one goes to ``user``, and
        ``replace_original`` / ``delete_original`` act on ``message_ts``.
        """
        rid = secrets.token_hex(12)
        self._response_urls[rid] = _ResponseUrl(rid, self.clock(), channel, user, message_ts)
        return f"{self.root_url}/response/{rid}"

    def responses(self, url: str) -> list[dict[str, Any]]:
        """The JSON bodies accepted at ``url`` (a `new_response_url`), in order."""
        rid = url.rstrip("/").rsplit("/", 1)[-1]
        entry = self._response_urls.get(rid)
        if entry is None:
            raise KeyError(f"{url} is not a response URL of this emulator")
        return list(entry.posts)

    # ----------------------------------------------------------------- message storage

    def _find(self, channel: _Channel, ts: Any) -> dict[str, Any] | None:
        key = _ts_key(ts)
        if key is None:
            return None
        return next((m for m in channel.messages if _ts_key(m["ts"]) == key), None)

    def _store_message(
        self, channel: _Channel, message: dict[str, Any], thread_ts: Any = None
    ) -> dict[str, Any]:
        parent = self._find(channel, thread_ts) if thread_ts else None
        if parent is not None:
            root_ts = parent.get("thread_ts") or parent["ts"]
            root = self._find(channel, root_ts) or parent
            message["thread_ts"] = root["ts"]
            message["parent_user_id"] = root.get("user")
            channel.messages.append(message)
            self._refresh_thread(channel, root)
        else:
            message.pop("thread_ts", None)
            channel.messages.append(message)
        return message

    def _replies_of(self, channel: _Channel, root_ts: str) -> list[dict[str, Any]]:
        return [m for m in channel.messages if m.get("thread_ts") == root_ts and m["ts"] != root_ts]

    def _refresh_thread(self, channel: _Channel, root: dict[str, Any]) -> None:
        replies = self._replies_of(channel, root["ts"])
        if not replies:
            for key in (
                "thread_ts",
                "reply_count",
                "reply_users",
                "reply_users_count",
                "latest_reply",
            ):
                root.pop(key, None)
            return
        users = list(dict.fromkeys(r.get("user") for r in replies if r.get("user")))
        root.update(
            thread_ts=root["ts"],
            reply_count=len(replies),
            reply_users=users[:5],
            reply_users_count=len(users),
            latest_reply=max(replies, key=lambda r: _ts_key(r["ts"]) or 0)["ts"],
        )

    def _is_top_level(self, message: dict[str, Any]) -> bool:
        thread_ts = message.get("thread_ts")
        return (
            thread_ts is None
            or thread_ts == message["ts"]
            or message.get("subtype") == "thread_broadcast"
        )

    def _resolve_channel(self, ref: Any, *, open_dm: bool = False) -> _Channel | Reply:
        name = str(ref or "").removeprefix("#")
        channel = self.channels.get(name)
        if channel is None and open_dm and name in self.users and name != self.bot_user_id:
            channel = self._open_conversation([name])
        if channel is None:
            channel = next(
                (c for c in self.channels.values() if c.name == name and not c.is_im), None
            )
        if channel is None or (channel.is_private and not channel.bot_is_member):
            return _err("channel_not_found")
        return channel

    def _postable(self, ref: Any) -> _Channel | Reply:
        channel = self._resolve_channel(ref, open_dm=True)
        if isinstance(channel, Reply):
            return channel
        if channel.is_archived:
            return _err("is_archived")
        if not channel.bot_is_member:
            return _err("not_in_channel")
        return channel

    def _content_error(self, args: Mapping[str, Any], text_limit: int) -> Reply | None:
        text = args.get("text")
        blocks = args.get("blocks")
        attachments = args.get("attachments")
        if not text and not blocks and not attachments and not args.get("markdown_text"):
            return _err("no_text")
        if isinstance(text, str) and len(text) > text_limit:
            return _err("msg_too_long")
        if blocks is not None and blocks != "":
            if not isinstance(blocks, list):
                return _err("invalid_blocks_format")
            errors = block_kit_errors(blocks)
            if errors:
                return _err(
                    "invalid_blocks",
                    errors=errors,
                    response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
                )
        if attachments is not None and attachments != "":
            if not isinstance(attachments, list):
                return _err("invalid_attachments")
            if len(attachments) > 100:
                return _err("too_many_attachments")
        metadata = args.get("metadata")
        if (
            metadata is not None
            and metadata != ""
            and not (
                isinstance(metadata, dict)
                and isinstance(metadata.get("event_type"), str)
                and isinstance(metadata.get("event_payload", {}), dict)
            )
        ):
            return _err("invalid_metadata_format")
        return None

    def _with_block_ids(self, blocks: list[Any]) -> list[Any]:
        copied = json.loads(json.dumps(blocks))
        for block in copied:
            if isinstance(block, dict) and not block.get("block_id"):
                block["block_id"] = secrets.token_urlsafe(4)[:5]
        return copied

    def _bot_message(self, args: Mapping[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": args.get("text") or "",
            "ts": ts,
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "team_id": self.team_id,
                "deleted": False,
                "updated": self._ts_start,
                "icons": {"image_48": "https://avatars.example/bot_48.png"},
            },
        }
        if args.get("blocks"):
            message["blocks"] = self._with_block_ids(args["blocks"])
        for key in ("attachments", "metadata", "username", "icon_url", "icon_emoji"):
            if args.get(key):
                message[key] = json.loads(json.dumps(args[key]))
        return message

    @staticmethod
    def _public(message: dict[str, Any], include_metadata: bool = True) -> dict[str, Any]:
        copied = json.loads(json.dumps(message))
        if not include_metadata:
            copied.pop("metadata", None)
        return copied

    # ----------------------------------------------------------------- methods: chat

    def _chat_post_message(self, args: dict[str, Any]) -> Reply:
        channel = self._postable(args.get("channel"))
        if isinstance(channel, Reply):
            return channel
        problem = self._content_error(args, MESSAGE_TEXT_LIMIT)
        if problem is not None:
            return problem
        message = self._bot_message(args, self._next_ts())
        thread_ts = args.get("thread_ts") or None
        if thread_ts and _truthy(args.get("reply_broadcast")):
            message["subtype"] = "thread_broadcast"
        stored = self._store_message(channel, message, thread_ts)
        return _ok(channel=channel.id, ts=stored["ts"], message=self._public(stored))

    def _chat_update(self, args: dict[str, Any]) -> Reply:
        channel = self._resolve_channel(args.get("channel"))
        if isinstance(channel, Reply):
            return channel
        message = self._find(channel, args.get("ts"))
        if message is None:
            return _err("message_not_found")
        if message.get("user") != self.bot_user_id or message.get("subtype") == "tombstone":
            return _err("cant_update_message")
        problem = self._content_error(args, UPDATE_TEXT_LIMIT)
        if problem is not None:
            return problem
        message["text"] = args.get("text") or ""
        for key in ("blocks", "attachments"):
            if key in args:
                if args[key]:
                    message[key] = self._with_block_ids(args[key]) if key == "blocks" else args[key]
                else:
                    message.pop(key, None)
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        shown = {k: v for k, v in self._public(message).items() if k not in {"ts", "edited"}}
        return _ok(channel=channel.id, ts=message["ts"], text=message["text"], message=shown)

    def _chat_delete(self, args: dict[str, Any]) -> Reply:
        channel = self._resolve_channel(args.get("channel"))
        if isinstance(channel, Reply):
            return channel
        message = self._find(channel, args.get("ts"))
        if message is None or message.get("subtype") == "tombstone":
            return _err("message_not_found")
        if message.get("user") != self.bot_user_id:
            return _err("cant_delete_message")
        self._delete_message(channel, message)
        return _ok(channel=channel.id, ts=message["ts"])

    def _delete_message(self, channel: _Channel, message: dict[str, Any]) -> None:
        root_ts = message.get("thread_ts")
        if root_ts == message["ts"] and self._replies_of(channel, message["ts"]):
            keep = {
                k: message[k]
                for k in (
                    "ts",
                    "thread_ts",
                    "reply_count",
                    "reply_users",
                    "reply_users_count",
                    "latest_reply",
                )
                if k in message
            }
            message.clear()
            message.update(
                type="message",
                subtype="tombstone",
                user="USLACKBOT",
                text="This message was deleted.",
                hidden=True,
                **keep,
            )
            return
        channel.messages.remove(message)
        if root_ts and root_ts != message["ts"]:
            root = self._find(channel, root_ts)
            if root is not None:
                self._refresh_thread(channel, root)
                if root.get("subtype") == "tombstone" and not self._replies_of(channel, root_ts):
                    channel.messages.remove(root)

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> Reply:
        channel = self._postable(args.get("channel"))
        if isinstance(channel, Reply):
            return channel
        user = str(args.get("user"))
        if user not in channel.members:
            return _err("user_not_in_channel")
        problem = self._content_error(args, MESSAGE_TEXT_LIMIT)
        if problem is not None:
            return problem
        ts = self._next_ts()
        message = self._bot_message(args, ts)
        message["user"] = user
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        channel.ephemerals.append(message)
        return _ok(message_ts=ts)

    def _chat_get_permalink(self, args: dict[str, Any]) -> Reply:
        channel = self._resolve_channel(args.get("channel"))
        if isinstance(channel, Reply):
            return channel
        message = self._find(channel, args.get("message_ts"))
        if message is None:
            return _err("message_not_found")
        link = f"{self.workspace_url}archives/{channel.id}/p{message['ts'].replace('.', '')}"
        root = message.get("thread_ts")
        if root and root != message["ts"]:
            link += f"?thread_ts={root}&cid={channel.id}"
        return _ok(channel=channel.id, permalink=link)

    # ----------------------------------------------------------------- methods: conversations

    def _channel_object(self, channel: _Channel, include_num_members: bool = False) -> dict:
        if channel.is_im:
            obj: dict[str, Any] = {
                "id": channel.id,
                "created": channel.created,
                "is_im": True,
                "is_org_shared": False,
                "user": channel.user,
                "is_user_deleted": False,
                "priority": 0,
                "is_open": True,
                "last_read": "0000000000.000000",
            }
        else:
            obj = {
                "id": channel.id,
                "name": channel.name,
                "is_channel": not channel.is_private and not channel.is_mpim,
                "is_group": channel.is_private and not channel.is_mpim,
                "is_im": False,
                "is_mpim": channel.is_mpim,
                "is_private": channel.is_private,
                "created": channel.created,
                "creator": channel.members[0] if channel.members else self.bot_user_id,
                "is_archived": channel.is_archived,
                "is_general": channel.name == "general",
                "unlinked": 0,
                "name_normalized": channel.name,
                "is_shared": False,
                "is_ext_shared": False,
                "is_org_shared": False,
                "pending_shared": [],
                "is_pending_ext_shared": False,
                "is_member": channel.bot_is_member,
                "context_team_id": self.team_id,
                "topic": {"value": channel.topic, "creator": "", "last_set": 0},
                "purpose": {"value": channel.purpose, "creator": "", "last_set": 0},
                "previous_names": [],
            }
        if include_num_members:
            obj["num_members"] = len(self._members_of(channel))
        return obj

    def _members_of(self, channel: _Channel) -> list[str]:
        members = list(channel.members)
        if channel.bot_is_member and self.bot_user_id not in members:
            members.append(self.bot_user_id)
        return members

    def _page_of_messages(
        self, messages: list[dict[str, Any]], args: Mapping[str, Any], newest_first: bool
    ) -> Reply | tuple[list[dict[str, Any]], bool, str]:
        oldest = _ts_key(args.get("oldest")) if args.get("oldest") not in (None, "") else None
        latest = _ts_key(args.get("latest")) if args.get("latest") not in (None, "") else None
        if args.get("oldest") not in (None, "") and oldest is None:
            return _err("invalid_ts_oldest")
        if args.get("latest") not in (None, "") and latest is None:
            return _err("invalid_ts_latest")
        inclusive = _truthy(args.get("inclusive"))
        selected = []
        for message in messages:
            key = _ts_key(message["ts"]) or Decimal(0)
            if oldest is not None and (key < oldest or (key == oldest and not inclusive)):
                continue
            if latest is not None and (key > latest or (key == latest and not inclusive)):
                continue
            selected.append(message)
        selected.sort(key=lambda m: _ts_key(m["ts"]) or Decimal(0), reverse=newest_first)
        cursor = args.get("cursor")
        if cursor:
            start_ts = _decode_cursor(str(cursor), "next_ts")
            start = _ts_key(start_ts)
            if start is None:
                return _err("invalid_cursor")
            selected = [
                m
                for m in selected
                if (
                    (_ts_key(m["ts"]) or 0) <= start
                    if newest_first
                    else (_ts_key(m["ts"]) or 0) >= start
                )
            ]
        limit = min(max(_int(args.get("limit"), 100), 1), 999)
        page, rest = selected[:limit], selected[limit:]
        next_cursor = _encode_cursor("next_ts", rest[0]["ts"]) if rest else ""
        return page, bool(rest), next_cursor

    def _readable(self, ref: Any) -> _Channel | Reply:
        channel = self._resolve_channel(ref)
        if isinstance(channel, Reply):
            return channel
        if not channel.bot_is_member:
            return _err("not_in_channel")
        return channel

    def _conversations_history(self, args: dict[str, Any]) -> Reply:
        channel = self._readable(args.get("channel"))
        if isinstance(channel, Reply):
            return channel
        top_level = [m for m in channel.messages if self._is_top_level(m)]
        paged = self._page_of_messages(top_level, args, newest_first=True)
        if isinstance(paged, Reply):
            return paged
        page, has_more, next_cursor = paged
        with_metadata = _truthy(args.get("include_all_metadata"))
        return _ok(
            messages=[self._public(m, with_metadata) for m in page],
            has_more=has_more,
            pin_count=0,
            channel_actions_ts=None,
            channel_actions_count=0,
            response_metadata={"next_cursor": next_cursor},
        )

    def _conversations_replies(self, args: dict[str, Any]) -> Reply:
        channel = self._readable(args.get("channel"))
        if isinstance(channel, Reply):
            return channel
        message = self._find(channel, args.get("ts"))
        if message is None:
            return _err("thread_not_found")
        root_ts = message.get("thread_ts") or message["ts"]
        root = self._find(channel, root_ts) or message
        thread = [root, *self._replies_of(channel, root["ts"])]
        paged = self._page_of_messages(thread, args, newest_first=False)
        if isinstance(paged, Reply):
            return paged
        page, has_more, next_cursor = paged
        with_metadata = _truthy(args.get("include_all_metadata"))
        return _ok(
            messages=[self._public(m, with_metadata) for m in page],
            has_more=has_more,
            response_metadata={"next_cursor": next_cursor},
        )

    def _conversations_info(self, args: dict[str, Any]) -> Reply:
        channel = self._resolve_channel(args.get("channel"))
        if isinstance(channel, Reply):
            return channel
        obj = self._channel_object(channel, _truthy(args.get("include_num_members")))
        if _truthy(args.get("include_locale")):
            obj["locale"] = "fr-FR"
        return _ok(channel=obj)

    def _conversations_open(self, args: dict[str, Any]) -> Reply:
        users = _split_ids(args.get("users"))
        if not users:
            if args.get("channel"):
                channel = self._resolve_channel(args["channel"])
                if isinstance(channel, Reply):
                    return channel
                if not (channel.is_im or channel.is_mpim):
                    return _err("method_not_supported_for_channel_type")
                return _ok(no_op=True, already_open=True, channel={"id": channel.id})
            return _err("users_list_not_supplied")
        if len(users) > 8:
            return _err("too_many_users")
        for user in users:
            if user not in self.users:
                return _err("user_not_found")
        key = frozenset(u for u in users if u != self.bot_user_id)
        if not key:
            return _err("not_enough_users")
        existed = self._ims.get(key) in self.channels
        channel = self._open_conversation(users)
        shown: dict[str, Any] = (
            self._channel_object(channel) if _truthy(args.get("return_im")) else {"id": channel.id}
        )
        extra = {"no_op": True, "already_open": True} if existed else {}
        return _ok(**extra, channel=shown)

    def _conversations_members(self, args: dict[str, Any]) -> Reply:
        channel = self._resolve_channel(args.get("channel"))
        if isinstance(channel, Reply):
            return channel
        page, next_cursor = self._page_of_ids(self._members_of(channel), args)
        if page is None:
            return _err("invalid_cursor")
        return _ok(members=page, response_metadata={"next_cursor": next_cursor})

    def _page_of_ids(self, ids: list[str], args: Mapping[str, Any]) -> tuple[list[str] | None, str]:
        start = 0
        if args.get("cursor"):
            after = _decode_cursor(str(args["cursor"]), "user")
            if after is None or after not in ids:
                return None, ""
            start = ids.index(after)
        limit = min(max(_int(args.get("limit"), 100), 1), 1000)
        page = ids[start : start + limit]
        rest = ids[start + limit :]
        return page, _encode_cursor("user", rest[0]) if rest else ""

    def _conversations_join(self, args: dict[str, Any]) -> Reply:
        channel = self._resolve_channel(args.get("channel"))
        if isinstance(channel, Reply):
            return channel
        if channel.is_im or channel.is_mpim or channel.is_private:
            return _err("method_not_supported_for_channel_type")
        if channel.is_archived:
            return _err("is_archived")
        already = channel.bot_is_member
        channel.bot_is_member = True
        obj = self._channel_object(channel)
        if already:
            return _ok(
                channel=obj,
                warning="already_in_channel",
                response_metadata={"warnings": ["already_in_channel"]},
            )
        return _ok(channel=obj)

    # ----------------------------------------------------------------- methods: users, team, bots

    def _users_info(self, args: dict[str, Any]) -> Reply:
        user = self.users.get(str(args.get("user")))
        if user is None:
            return _err("user_not_found")
        shown = json.loads(json.dumps(user))
        if _truthy(args.get("include_locale")):
            shown["locale"] = "fr-FR"
        return _ok(user=shown)

    def _users_list(self, args: dict[str, Any]) -> Reply:
        page, next_cursor = self._page_of_ids(list(self.users), args)
        if page is None:
            return _err("invalid_cursor")
        return _ok(
            members=[json.loads(json.dumps(self.users[u])) for u in page],
            cache_ts=int(time.time()),
            response_metadata={"next_cursor": next_cursor},
        )

    def _users_lookup_by_email(self, args: dict[str, Any]) -> Reply:
        email = str(args.get("email")).lower()
        for user in self.users.values():
            if str(user["profile"].get("email", "")).lower() == email:
                return _ok(user=json.loads(json.dumps(user)))
        return _err("users_not_found")

    def _team_info(self, args: dict[str, Any]) -> Reply:
        if args.get("team") and args["team"] != self.team_id:
            return _err("team_not_found")
        return _ok(
            team={
                "id": self.team_id,
                "name": self.team_name,
                "domain": self.team_domain,
                "email_domain": "",
                "icon": {"image_default": True},
            }
        )

    def _bots_info(self, args: dict[str, Any]) -> Reply:
        if args.get("bot") != self.bot_id:
            return _err("bot_not_found")
        return _ok(
            bot={
                "id": self.bot_id,
                "deleted": False,
                "name": self.bot_name,
                "updated": self._ts_start,
                "app_id": self.app_id,
                "user_id": self.bot_user_id,
                "icons": {"image_48": "https://avatars.example/bot_48.png"},
            }
        )

    def _apps_connections_open(self, args: dict[str, Any]) -> Reply:
        url = self.socket_mode_url or f"ws://127.0.0.1:{self._port}/socket-mode/{self._new_id('S')}"
        return _ok(url=url)

    # ----------------------------------------------------------------- methods: reactions

    def _reaction_target(self, args: Mapping[str, Any]) -> Reply | dict[str, Any]:
        if not args.get("channel") or not args.get("timestamp"):
            return _err("no_item_specified")
        channel = self._resolve_channel(args["channel"])
        if isinstance(channel, Reply):
            return channel
        message = self._find(channel, args["timestamp"])
        if message is None:
            return _err("message_not_found")
        return message

    def _reactions_add(self, args: dict[str, Any]) -> Reply:
        message = self._reaction_target(args)
        if isinstance(message, Reply):
            return message
        name = str(args.get("name")).strip(":")
        if not name:
            return _err("invalid_name")
        reactions = message.setdefault("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if entry is None:
            entry = {"name": name, "users": [], "count": 0}
            reactions.append(entry)
        if self.bot_user_id in entry["users"]:
            return _err("already_reacted")
        entry["users"].append(self.bot_user_id)
        entry["count"] = len(entry["users"])
        return _ok()

    def _reactions_remove(self, args: dict[str, Any]) -> Reply:
        if args.get("file"):
            return _err("file_not_found")
        message = self._reaction_target(args)
        if isinstance(message, Reply):
            return message
        name = str(args.get("name")).strip(":")
        reactions = message.get("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if entry is None or self.bot_user_id not in entry["users"]:
            return _err("no_reaction")
        entry["users"].remove(self.bot_user_id)
        entry["count"] = len(entry["users"])
        if not entry["users"]:
            reactions.remove(entry)
        if not reactions:
            message.pop("reactions", None)
        return _ok()

    # ----------------------------------------------------------------- methods: views

    def _view_problem(self, view: Any) -> Reply | None:
        if not isinstance(view, dict):
            return _invalid_arguments(["[ERROR] view must be a JSON object [json-pointer:/view]"])
        errors = view_errors(view)
        if errors:
            return _invalid_arguments([f"[ERROR] {e}" for e in errors])
        external_id = view.get("external_id")
        if external_id and any(v.get("external_id") == external_id for v in self.views.values()):
            return _err("duplicate_external_id")
        return None

    def _use_trigger(self, args: Mapping[str, Any]) -> Reply | str | None:
        """Check and consume the trigger; return the view it came from (if any) or an error."""
        trigger = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger:
            return _invalid_arguments(["[ERROR] missing required field: trigger_id"])
        trigger = str(trigger)
        issued = self._triggers.get(trigger)
        if self.strict_triggers:
            if issued is None:
                return _err("invalid_trigger_id")
            if trigger in self._used_triggers:
                return _err("exchanged_trigger_id")
            if self.clock() - issued[0] > TRIGGER_TTL:
                return _err("expired_trigger_id")
        self._used_triggers.add(trigger)
        return issued[1] if issued else None

    def _store_view(
        self, view: dict[str, Any], *, view_id: str | None = None, previous: str | None = None
    ) -> dict[str, Any]:
        vid = view_id or self._new_id("V")
        old = self.views.get(vid, {})
        root = old.get("root_view_id") or (
            self.views[previous].get("root_view_id", previous) if previous in self.views else vid
        )
        stored: dict[str, Any] = {
            "id": vid,
            "team_id": self.team_id,
            "type": view.get("type"),
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": self._with_block_ids(view.get("blocks") or []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", old.get("external_id", "")),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "submit_disabled": bool(view.get("submit_disabled", False)),
            "root_view_id": root,
            "previous_view_id": old.get("previous_view_id", previous),
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self.views[vid] = stored
        return stored

    def _stack_depth(self, view_id: str) -> int:
        depth, current = 0, self.views.get(view_id)
        while current is not None:
            depth += 1
            current = self.views.get(current.get("previous_view_id") or "")
        return depth

    def _views_open(self, args: dict[str, Any]) -> Reply:
        problem = self._view_problem(args.get("view"))
        if problem is not None:
            return problem
        used = self._use_trigger(args)
        if isinstance(used, Reply):
            return used
        return _ok(view=json.loads(json.dumps(self._store_view(args["view"]))))

    def _views_push(self, args: dict[str, Any]) -> Reply:
        problem = self._view_problem(args.get("view"))
        if problem is not None:
            return problem
        used = self._use_trigger(args)
        if isinstance(used, Reply):
            return used
        if used is not None and used in self.views and self._stack_depth(used) >= 3:
            return _err("push_limit_reached")
        stored = self._store_view(args["view"], previous=used)
        return _ok(view=json.loads(json.dumps(stored)))

    def _views_update(self, args: dict[str, Any]) -> Reply:
        view_id = args.get("view_id")
        external_id = args.get("external_id")
        if not view_id and not external_id:
            return _invalid_arguments(["[ERROR] missing required field: view_id or external_id"])
        if view_id:
            current = self.views.get(str(view_id))
        else:
            current = next(
                (v for v in self.views.values() if v.get("external_id") == external_id), None
            )
        if current is None:
            return _err("not_found")
        view = args.get("view")
        if not isinstance(view, dict):
            return _invalid_arguments(["[ERROR] view must be a JSON object [json-pointer:/view]"])
        errors = view_errors(view)
        if errors:
            return _invalid_arguments([f"[ERROR] {e}" for e in errors])
        new_external = view.get("external_id")
        if new_external and any(
            v.get("external_id") == new_external and v["id"] != current["id"]
            for v in self.views.values()
        ):
            return _err("duplicate_external_id")
        if args.get("hash") and args["hash"] != current["hash"]:
            return _err("hash_conflict")
        stored = self._store_view(view, view_id=current["id"])
        return _ok(view=json.loads(json.dumps(stored)))

    def _views_publish(self, args: dict[str, Any]) -> Reply:
        user_id = str(args.get("user_id"))
        if user_id not in self.users:
            return _invalid_arguments(["invalid `user_id`"])
        view = args.get("view")
        if not isinstance(view, dict) or view.get("type") != "home":
            return _invalid_arguments(["[ERROR] view type must be home [json-pointer:/view/type]"])
        errors = view_errors(view)
        if errors:
            return _invalid_arguments([f"[ERROR] {e}" for e in errors])
        current = self.home_views.get(user_id)
        if current is not None and args.get("hash") and args["hash"] != current["hash"]:
            return _err("hash_conflict")
        stored = self._store_view(view, view_id=current["id"] if current else None)
        self.home_views[user_id] = stored
        return _ok(view=json.loads(json.dumps(stored)))

    # ----------------------------------------------------------------- methods: files

    def _file_object(self, f: _File) -> dict[str, Any]:
        name = quote(f.filename)
        mimetype = mimetypes.guess_type(f.filename)[0] or "application/octet-stream"
        filetype = Path(f.filename).suffix.lstrip(".").lower() or "binary"
        base = f"{self.root_url}/files-pri/{self.team_id}-{f.id}"
        public = [c for c in f.channels if c in self.channels and not self.channels[c].is_private]
        private = [c for c in f.channels if c in self.channels and self.channels[c].is_private]
        obj: dict[str, Any] = {
            "id": f.id,
            "created": f.created,
            "timestamp": f.created,
            "name": f.filename,
            "title": f.title or f.filename,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": self.bot_user_id,
            "user_team": self.team_id,
            "editable": False,
            "size": len(f.data or b""),
            "mode": "snippet" if f.snippet_type else "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": bool(public),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{base}/{name}",
            "url_private_download": f"{base}/download/{name}",
            "permalink": f"{self.workspace_url}files/{self.bot_user_id}/{f.id}/{name}",
            "channels": public,
            "groups": [c for c in private if not self.channels[c].is_im],
            "ims": [c for c in private if self.channels[c].is_im],
            "comments_count": 0,
        }
        if f.alt_txt:
            obj["alt_txt"] = f.alt_txt
        return obj

    def _files_get_upload_url_external(self, args: dict[str, Any]) -> Reply:
        length = _int(args.get("length"), -1)
        if length < 0:
            return _invalid_arguments(["[ERROR] length must be a non-negative integer"])
        fid = self._new_id("F")
        self.files[fid] = _File(
            id=fid,
            filename=str(args["filename"]),
            length=length,
            alt_txt=args.get("alt_txt"),
            snippet_type=args.get("snippet_type"),
            created=int(time.time()),
        )
        return _ok(upload_url=f"{self.root_url}/upload/v1/{fid}", file_id=fid)

    def _files_complete_upload_external(self, args: dict[str, Any]) -> Reply:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            return _invalid_arguments(["[ERROR] files must be a non-empty JSON array"])
        uploads: list[_File] = []
        for entry in entries:
            f = self.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
            if f is None or f.data is None or f.completed:
                return _err("file_not_found")
            uploads.append(f)
        targets = _split_ids(args.get("channel_id")) + _split_ids(args.get("channels"))
        channels: list[_Channel] = []
        for ref in dict.fromkeys(targets):
            channel = self._postable(ref)
            if isinstance(channel, Reply):
                return channel
            channels.append(channel)
        if args.get("blocks"):
            errors = block_kit_errors(args["blocks"])
            if errors:
                return _err("invalid_blocks", errors=errors)
        for entry, f in zip(entries, uploads, strict=True):
            f.title = entry.get("title") or f.filename
            f.completed = True
            f.channels = [c.id for c in channels]
        for channel in channels:
            message = self._bot_message(
                {"text": args.get("initial_comment") or "", "blocks": args.get("blocks")},
                self._next_ts(),
            )
            message["files"] = [self._file_object(f) for f in uploads]
            message["upload"] = True
            self._store_message(channel, message, args.get("thread_ts") or None)
        return _ok(files=[self._file_object(f) for f in uploads])

    def _files_info(self, args: dict[str, Any]) -> Reply:
        f = self.files.get(str(args.get("file")))
        if f is None or not f.completed:
            return _err("file_not_found")
        return _ok(
            file=self._file_object(f),
            comments=[],
            response_metadata={"next_cursor": ""},
        )

    def _files_delete(self, args: dict[str, Any]) -> Reply:
        f = self.files.get(str(args.get("file")))
        if f is None or not f.completed:
            return _err("file_not_found")
        for channel in self.channels.values():
            for message in [m for m in channel.messages
                            if any(x.get("id") == f.id for x in m.get("files") or [])]:
                self._delete_message(channel, message)
        del self.files[f.id]
        return _ok()

    def add_user_file(self, user: str, filename: str, data: bytes,
                      channel: str | None = None) -> dict[str, Any]:
        """A file ``user`` uploaded (e.g. dragged into a message): stored, downloadable with a
        bot token, and returned as Slack describes it in a message's ``files``."""
        fid = self._new_id("F")
        f = _File(id=fid, filename=filename, length=len(data), alt_txt=None, snippet_type=None,
                  data=data, title=filename, completed=True,
                  channels=[channel] if channel else [], created=int(time.time()))
        self.files[fid] = f
        obj = self._file_object(f)
        obj["user"] = user
        return obj

    def file_bytes(self, file_id: str) -> bytes | None:
        """The bytes uploaded for ``file_id`` (None before the upload)."""
        return self.files[file_id].data

    # ----------------------------------------------------------------- other HTTP endpoints

    async def _serve_upload(self, request: web.Request) -> web.Response:
        f = self.files.get(request.match_info["file_id"])
        if f is None or f.completed:
            return web.Response(status=404, text="file_not_found")
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            data = b""
            async for part in reader:
                if part.filename is not None or part.name in {"file", "filename"}:
                    data = bytes(await part.read())
                    break
        else:
            data = await request.read()
        f.data = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _serve_file(self, request: web.Request) -> web.Response:
        _, _, fid = request.match_info["team_file"].partition("-")
        f = self.files.get(fid)
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if token not in self.bot_tokens:
            return web.Response(status=403, text="not_authed")
        if f is None or f.data is None:
            return web.Response(status=404, text="file_not_found")
        mimetype = mimetypes.guess_type(f.filename)[0] or "application/octet-stream"
        return web.Response(body=f.data, content_type=mimetype)

    async def _serve_response_url(self, request: web.Request) -> web.Response:
        entry = self._response_urls.get(request.match_info["rid"])
        if entry is None:
            return web.json_response({"ok": False, "error": "no_such_url"}, status=404)
        if self.clock() - entry.created > RESPONSE_URL_TTL:
            return web.json_response({"ok": False, "error": "expired_url"}, status=404)
        if len(entry.posts) >= RESPONSE_URL_MAX_USES:
            return web.json_response({"ok": False, "error": "used_url"}, status=404)
        try:
            body = await request.json(loads=json.loads)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "invalid_payload"}, status=400)
        if isinstance(body.get("blocks"), str):
            try:
                body["blocks"] = json.loads(body["blocks"])
            except json.JSONDecodeError:
                pass
        if not _truthy(body.get("delete_original")):
            problem = self._content_error(body, MESSAGE_TEXT_LIMIT)
            if problem is not None:
                return web.json_response(problem.body, status=400)
        entry.posts.append(body)
        self._apply_response(entry, body)
        return web.json_response({"ok": True})

    def _apply_response(self, entry: _ResponseUrl, body: dict[str, Any]) -> None:
        channel = self.channels.get(entry.channel or "")
        if channel is None:
            return
        original = self._find(channel, entry.message_ts) if entry.message_ts else None
        ephemeral = next((m for m in channel.ephemerals if m["ts"] == entry.message_ts), None)
        target = original if original is not None else ephemeral
        if _truthy(body.get("delete_original")):
            if original is not None:
                self._delete_message(channel, original)
            elif ephemeral is not None:
                channel.ephemerals.remove(ephemeral)
            return
        if _truthy(body.get("replace_original")) and target is not None:
            target["text"] = body.get("text") or ""
            if body.get("blocks"):
                target["blocks"] = self._with_block_ids(body["blocks"])
            else:
                target.pop("blocks", None)
            target["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
            return
        message = self._bot_message(body, self._next_ts())
        if body.get("response_type") == "in_channel":
            self._store_message(channel, message, body.get("thread_ts"))
        else:
            message["user"] = entry.user
            if body.get("thread_ts"):
                message["thread_ts"] = str(body["thread_ts"])
            channel.ephemerals.append(message)


# --------------------------------------------------------------------------- Block Kit checks

_KNOWN_BLOCKS = frozenset(
    {
        "section",
        "header",
        "actions",
        "context",
        "divider",
        "image",
        "input",
        "file",
        "rich_text",
        "video",
        "markdown",
        "call",
        "table",
        "context_actions",
    }
)
_PLAIN = frozenset({"plain_text"})
_ANY_TEXT = frozenset({"plain_text", "mrkdwn"})
_SELECTS_WITH_OPTIONS = frozenset({"static_select", "multi_static_select"})


class _BlockChecker:
    """Walks blocks and collects Slack-style errors: ``<what> … [json-pointer:/…]``."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._block_ids: set[str] = set()

    def add(self, pointer: str, message: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    def length(self, value: Any, pointer: str, what: str, limit: int) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(pointer, f"{what} must be at most {limit} characters (got {len(value)})")

    def text(
        self,
        obj: Any,
        pointer: str,
        what: str,
        limit: int | None,
        types: frozenset[str] = _ANY_TEXT,
        required: bool = True,
    ) -> None:
        if obj is None:
            if required:
                self.add(pointer, f"{what} is required")
            return
        if not isinstance(obj, dict):
            self.add(pointer, f"{what} must be a text object with type and text")
            return
        kind = obj.get("type")
        if kind not in types:
            allowed = " or ".join(sorted(types))
            self.add(f"{pointer}/type", f"{what} type must be {allowed} (got {kind!r})")
        value = obj.get("text")
        if not isinstance(value, str):
            self.add(f"{pointer}/text", f"{what} text is required (a string)")
        elif not value:
            self.add(f"{pointer}/text", f"{what} text must not be empty")
        elif limit is not None:
            self.length(value, f"{pointer}/text", what, limit)

    def blocks(self, blocks: Any, pointer: str, limit: int) -> None:
        if not isinstance(blocks, list):
            self.add(pointer, "blocks must be an array")
            return
        if len(blocks) > limit:
            self.add(pointer, f"no more than {limit} blocks allowed (got {len(blocks)})")
        for i, block in enumerate(blocks):
            self.block(block, f"{pointer}/{i}")

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            self.add(pointer, "a block must be an object with a type")
            return
        kind = block["type"]
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id:
                self.add(f"{pointer}/block_id", "block_id must be a non-empty string")
            else:
                self.length(block_id, f"{pointer}/block_id", "block_id", 255)
                if block_id in self._block_ids:
                    self.add(f"{pointer}/block_id", f"block_id {block_id!r} is not unique")
                self._block_ids.add(block_id)
        if kind not in _KNOWN_BLOCKS:
            self.add(f"{pointer}/type", f"unknown block type {kind!r}")
        elif kind == "section":
            self.section(block, pointer)
        elif kind == "header":
            self.text(block.get("text"), f"{pointer}/text", "header text", 150, _PLAIN)
        elif kind == "actions":
            self.actions(block, pointer)
        elif kind == "context":
            self.context(block, pointer)
        elif kind == "input":
            self.text(block.get("label"), f"{pointer}/label", "input label", 2000, _PLAIN)
            self.text(block.get("hint"), f"{pointer}/hint", "input hint", 2000, _PLAIN, False)
            if block.get("element") is None:
                self.add(f"{pointer}/element", "input element is required")
            else:
                self.element(block["element"], f"{pointer}/element")
        elif kind == "image":
            if not block.get("image_url") and not block.get("slack_file"):
                self.add(pointer, "image block needs image_url or slack_file")
            if not isinstance(block.get("alt_text"), str):
                self.add(f"{pointer}/alt_text", "image alt_text is required")
            self.length(block.get("alt_text"), f"{pointer}/alt_text", "image alt_text", 2000)
        elif kind == "markdown":
            self.length(block.get("text"), f"{pointer}/text", "markdown text", 12000)

    def section(self, block: dict[str, Any], pointer: str) -> None:
        fields = block.get("fields")
        self.text(block.get("text"), f"{pointer}/text", "section text", 3000, required=not fields)
        if fields is not None:
            if not isinstance(fields, list):
                self.add(f"{pointer}/fields", "section fields must be an array")
            else:
                if len(fields) > 10:
                    self.add(
                        f"{pointer}/fields", f"no more than 10 section fields (got {len(fields)})"
                    )
                for i, item in enumerate(fields):
                    self.text(item, f"{pointer}/fields/{i}", "section field", 2000)
        if block.get("accessory") is not None:
            self.element(block["accessory"], f"{pointer}/accessory")

    def actions(self, block: dict[str, Any], pointer: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.add(f"{pointer}/elements", "actions elements must be a non-empty array")
            return
        if len(elements) > 25:
            self.add(
                f"{pointer}/elements",
                f"no more than 25 elements in an actions block (got {len(elements)})",
            )
        for i, element in enumerate(elements):
            self.element(element, f"{pointer}/elements/{i}")

    def context(self, block: dict[str, Any], pointer: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.add(f"{pointer}/elements", "context elements must be a non-empty array")
            return
        if len(elements) > 10:
            self.add(
                f"{pointer}/elements",
                f"no more than 10 elements in a context block (got {len(elements)})",
            )
        for i, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") == "image":
                continue
            self.text(element, f"{pointer}/elements/{i}", "context element", 3000)

    def element(self, element: Any, pointer: str) -> None:
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            self.add(pointer, "an element must be an object with a type")
            return
        kind = element["type"]
        action_id = element.get("action_id")
        if action_id is not None:
            self.length(action_id, f"{pointer}/action_id", "action_id", 255)
        if element.get("placeholder") is not None:
            self.text(element["placeholder"], f"{pointer}/placeholder", "placeholder", 150, _PLAIN)
        if element.get("confirm") is not None:
            self.confirm(element["confirm"], f"{pointer}/confirm")
        if kind == "button":
            self.text(element.get("text"), f"{pointer}/text", "button text", 75, _PLAIN)
            self.length(element.get("value"), f"{pointer}/value", "button value", 2000)
            self.length(element.get("url"), f"{pointer}/url", "button url", 3000)
            style = element.get("style")
            if style is not None and style not in {"primary", "danger"}:
                self.add(
                    f"{pointer}/style", f"button style must be primary or danger (got {style!r})"
                )
        elif kind in _SELECTS_WITH_OPTIONS:
            self.options_list(element, pointer, 100, _PLAIN, groups=True)
        elif kind == "overflow":
            self.options_list(element, pointer, 5, _PLAIN)
        elif kind in {"radio_buttons", "checkboxes"}:
            self.options_list(element, pointer, 10, _ANY_TEXT)

    def options_list(
        self,
        element: dict[str, Any],
        pointer: str,
        limit: int,
        types: frozenset[str],
        groups: bool = False,
    ) -> None:
        kind = element["type"]
        if groups and element.get("option_groups") is not None:
            option_groups = element["option_groups"]
            if not isinstance(option_groups, list) or len(option_groups) > 100:
                self.add(f"{pointer}/option_groups", "no more than 100 option groups")
                return
            for g, group in enumerate(option_groups):
                gptr = f"{pointer}/option_groups/{g}"
                if not isinstance(group, dict):
                    self.add(gptr, "an option group must be an object")
                    continue
                self.text(group.get("label"), f"{gptr}/label", "option group label", 75, _PLAIN)
                self.options(group.get("options"), f"{gptr}/options", kind, 100, types)
            return
        self.options(element.get("options"), f"{pointer}/options", kind, limit, types)

    def options(
        self, options: Any, pointer: str, kind: str, limit: int, types: frozenset[str]
    ) -> None:
        if not isinstance(options, list) or not options:
            self.add(pointer, f"{kind} options must be a non-empty array")
            return
        if len(options) > limit:
            self.add(pointer, f"no more than {limit} options in a {kind} (got {len(options)})")
        for i, option in enumerate(options):
            optr = f"{pointer}/{i}"
            if not isinstance(option, dict):
                self.add(optr, "an option must be an object")
                continue
            self.text(option.get("text"), f"{optr}/text", "option text", 75, types)
            value = option.get("value")
            if not isinstance(value, str):
                self.add(f"{optr}/value", "option value is required (a string)")
            else:
                self.length(value, f"{optr}/value", "option value", 150)
            self.text(
                option.get("description"),
                f"{optr}/description",
                "option description",
                75,
                _PLAIN,
                False,
            )

    def confirm(self, confirm: Any, pointer: str) -> None:
        if not isinstance(confirm, dict):
            self.add(pointer, "confirm must be an object")
            return
        self.text(confirm.get("title"), f"{pointer}/title", "confirm title", 100, _PLAIN)
        self.text(confirm.get("text"), f"{pointer}/text", "confirm text", 300)
        self.text(confirm.get("confirm"), f"{pointer}/confirm", "confirm button", 30, _PLAIN)
        self.text(confirm.get("deny"), f"{pointer}/deny", "deny button", 30, _PLAIN)


def block_kit_errors(blocks: Any, *, max_blocks: int = 50, pointer: str = "/blocks") -> list[str]:
    """Block Kit limit violations in ``blocks`` (empty when valid).

    Checks the limits Slack enforces on messages: ``max_blocks`` blocks (50 in a
    message, 100 in a modal or Home tab), 25 elements per actions block, 10 per
    context block, section text 3000 and fields 10 × 2000, header text 150, button
    text 75 / value 2000, action_id and block_id 255, option text 75 / value 150,
    100 options per static select, unique block ids, well-formed text objects.
    Each error names the limit and ends with Slack's ``[json-pointer:…]``.
    """
    checker = _BlockChecker()
    checker.blocks(blocks, pointer, max_blocks)
    return checker.errors


def view_errors(view: Any) -> list[str]:
    """Violations in a modal or Home tab ``view``, with ``/view/…`` pointers (empty when valid).

    Modal title, submit and close at most 24 characters (plain_text), ``submit``
    required when the modal has input blocks, at most 100 blocks,
    ``private_metadata`` 3000, ``callback_id`` and ``external_id`` 255, and the
    block checks of `block_kit_errors`.
    """
    checker = _BlockChecker()
    if not isinstance(view, dict):
        checker.add("/view", "view must be an object")
        return checker.errors
    kind = view.get("type")
    if kind not in {"modal", "home"}:
        checker.add("/view/type", f"view type must be modal or home (got {kind!r})")
    if kind == "modal":
        checker.text(view.get("title"), "/view/title", "modal title", 24, _PLAIN)
        checker.text(view.get("submit"), "/view/submit", "modal submit", 24, _PLAIN, False)
        checker.text(view.get("close"), "/view/close", "modal close", 24, _PLAIN, False)
        blocks = view.get("blocks")
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if has_input and view.get("submit") is None:
            checker.add("/view/submit", "modal submit is required when the view has input blocks")
    checker.length(view.get("private_metadata"), "/view/private_metadata", "private_metadata", 3000)
    checker.length(view.get("callback_id"), "/view/callback_id", "callback_id", 255)
    checker.length(view.get("external_id"), "/view/external_id", "external_id", 255)
    checker.blocks(view.get("blocks"), "/view/blocks", 100)
    return checker.errors


# --------------------------------------------------------------------------- requests to the app


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack signs a request to an app with.

    ``X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{timestamp}:{body}")>`` and
    ``X-Slack-Request-Timestamp`` (now unless ``timestamp`` is given; Bolt rejects
    a skew over 5 minutes).
    """
    ts = int(time.time()) if timestamp is None else int(timestamp)
    base = b"v0:" + str(ts).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": str(ts)}


def retry_headers(num: int, reason: str = "http_timeout") -> dict[str, str]:
    """Headers of an Events API retry (Slack retries 3 times, with the same ``event_id``)."""
    return {"X-Slack-Retry-Num": str(num), "X-Slack-Retry-Reason": reason}


def _trigger_id() -> str:
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**13)}.{secrets.token_hex(16)}"


def _action_ts() -> str:
    return f"{time.time():.6f}"


def slash_command_form(
    text: str,
    *,
    user_id: str,
    channel_id: str,
    response_url: str,
    command: str = "/cohorte",
    user_name: str = "alice",
    channel_name: str = "general",
    team_id: str = "T0001",
    team_domain: str = "cohorte",
    trigger_id: str | None = None,
    api_app_id: str = "A0001",
    enterprise_id: str | None = None,
    enterprise_name: str | None = None,
    is_enterprise_install: str = "false",
    token: str = "verification-token",
) -> bytes:
    """The form-encoded body Slack POSTs for a slash command.

    Fields, in Slack's order: token, team_id, team_domain, (enterprise_id,
    enterprise_name when given), channel_id, channel_name, user_id, user_name,
    command, text, api_app_id, is_enterprise_install, response_url, trigger_id.
    Send it with ``Content-Type: application/x-www-form-urlencoded`` and `sign`.
    """
    fields: list[tuple[str, str]] = [
        ("token", token),
        ("team_id", team_id),
        ("team_domain", team_domain),
    ]
    if enterprise_id is not None:
        fields.append(("enterprise_id", enterprise_id))
        fields.append(("enterprise_name", enterprise_name or ""))
    fields += [
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("user_id", user_id),
        ("user_name", user_name),
        ("command", command),
        ("text", text),
        ("api_app_id", api_app_id),
        ("is_enterprise_install", is_enterprise_install),
        ("response_url", response_url),
        ("trigger_id", trigger_id or _trigger_id()),
    ]
    return urlencode(fields).encode()


def block_actions_form(
    *,
    user_id: str,
    channel_id: str,
    message_ts: str,
    action_id: str,
    value: str,
    response_url: str,
    block_id: str = "b1",
    trigger_id: str | None = None,
    team_id: str = "T0001",
    team_domain: str = "cohorte",
    user_name: str = "alice",
    channel_name: str = "general",
    api_app_id: str = "A0001",
    button_text: str = "Button",
    message: dict[str, Any] | None = None,
    container: dict[str, Any] | None = None,
    is_ephemeral: bool = False,
    token: str = "verification-token",
) -> bytes:
    """The form body (``payload=<JSON>``) Slack POSTs when a user clicks a button in a message.

    ``message`` is the message as Slack shows it (e.g. ``emu.message(channel, ts)``);
    without it a minimal bot message with ``message_ts`` is used. ``container``
    replaces the default ``{"type": "message", "message_ts", "channel_id",
    "is_ephemeral"}``.
    """
    shown = (
        message
        if message is not None
        else {
            "type": "message",
            "user": "UBOT",
            "bot_id": "BBOT",
            "text": "",
            "ts": message_ts,
        }
    )
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": token,
        "container": container
        if container is not None
        else {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        },
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": shown,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": _action_ts(),
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def view_submission_form(
    *,
    user_id: str,
    view_id: str,
    callback_id: str,
    state_values: dict[str, Any],
    private_metadata: str = "",
    trigger_id: str | None = None,
    team_id: str = "T0001",
    team_domain: str = "cohorte",
    user_name: str = "alice",
    api_app_id: str = "A0001",
    response_urls: Iterable[dict[str, str]] = (),
    view: dict[str, Any] | None = None,
    token: str = "verification-token",
) -> bytes:
    """The form body (``payload=<JSON>``) Slack POSTs when a user submits a modal.

    ``state_values`` is ``view.state.values`` (``{block_id: {action_id: {...}}}``).
    ``view`` (e.g. ``emu.views[view_id]``) supplies the rest of the view as Slack
    echoes it; ``response_urls`` are ``{block_id, action_id, channel_id,
    response_url}`` entries (when the modal has a conversation select with
    ``response_url_enabled``).
    """
    shown: dict[str, Any] = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": [],
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": "Modal", "emoji": True},
        "submit": None,
        "close": None,
        "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        "clear_on_close": False,
        "notify_on_close": False,
        "root_view_id": view_id,
        "previous_view_id": None,
        "app_id": api_app_id,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": "BBOT",
    }
    if view is not None:
        shown.update(json.loads(json.dumps(view)))
    shown.update(
        id=view_id,
        callback_id=callback_id,
        private_metadata=private_metadata,
        state={"values": state_values},
    )
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": team_domain},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": token,
        "trigger_id": trigger_id or _trigger_id(),
        "view": shown,
        "response_urls": list(response_urls),
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def event_callback(
    event: dict[str, Any],
    *,
    event_id: str | None = None,
    team_id: str = "T0001",
    api_app_id: str = "A0001",
    event_time: int | None = None,
    bot_user_id: str = "UBOT",
    token: str = "verification-token",
) -> bytes:
    """The JSON body of an Events API delivery wrapping ``event`` (``type: event_callback``).

    Envelope fields as Slack sends them: token, team_id, api_app_id, event, type,
    event_id (``Ev…``, random unless given: keep it for retries), event_time,
    authorizations (the bot's installation), is_ext_shared_channel, event_context.
    """
    context = {
        "et": event.get("type"),
        "tid": team_id,
        "aid": api_app_id,
        "cid": event.get("channel") if isinstance(event.get("channel"), str) else None,
    }
    encoded = base64.urlsafe_b64encode(json.dumps(context).encode()).decode().rstrip("=")
    envelope = {
        "token": token,
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or "Ev" + secrets.token_hex(5).upper(),
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{encoded}",
    }
    return json.dumps(envelope).encode()


def url_verification(challenge: str, token: str = "verification-token") -> bytes:
    """The JSON body Slack sends to verify an Events API request URL."""
    return json.dumps({"token": token, "challenge": challenge, "type": "url_verification"}).encode()

"""Slack's HTTP endpoint on the bot's one aiohttp server: ``POST /slack/events``.

One URL serves slash commands, interactivity and the Events API.

1. The signature is checked first (HMAC-SHA256 of ``v0:{timestamp}:{body}``, at
   most five minutes old): an unsigned, tampered or stale request, or the replay
   of one already accepted, gets 401 and nothing is stored or posted for it.
2. A well-formed request whose acknowledgement carries nothing (an event, a
   click, a form submission, a slash command with everything needed to answer it
   later) is acknowledged at once, before Bolt even runs: under a burst of
   requests each acknowledgement costs only reading, checking and parsing it.
   Bolt then dispatches it in a background task, where the listeners translate
   it and submit the neutral event to the adapter.
3. Anything else (``url_verification``, ``ssl_check``, a slash command missing a
   field) goes through Bolt before answering, within Slack's three seconds, so
   the challenge or the French explanation is in the answer. A request Bolt
   cannot serve is logged and answered 200 (400 when it is not even readable),
   never a 500 that would make Slack retry it.

Background work waits for the endpoint to be quiet (:meth:`SlackHttpEndpoint.idle`),
so acknowledgements do not queue behind the work of the previous ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from aiohttp import web
from multidict import CIMultiDict
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

log = logging.getLogger(__name__)

PATH = "/slack/events"
SIGNATURE_MAX_AGE = 300
REPLAY_WINDOW = SIGNATURE_MAX_AGE + 60
ACK_DEADLINE = 2.5
"""Seconds Bolt may take to produce a synchronous acknowledgement (Slack gives up after 3)."""
COMMAND_FIELDS = ("user_id", "channel_id", "trigger_id", "response_url")
"""What a slash command needs to be answered after its acknowledgement."""
EARLY_PAYLOAD = re.compile(
    r"%22type%22(?:\+|%20)*%3A(?:\+|%20)*%22(?:block_actions|view_submission|view_closed)%22",
    re.IGNORECASE)
"""An interaction whose acknowledgement carries nothing, seen in the still-encoded payload
(nested objects never have these types; a person's text has its quotes escaped)."""
QUIET_GAP = 0.003
"""Seconds without a new request before background work may run."""
IDLE_PATIENCE = 0.25
"""Seconds background work waits at most for the endpoint to be quiet."""

Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]


class ReplayGuard:
    """Signatures accepted in the last few minutes: the same request twice is a replay.

    A signature covers the timestamp and the whole body, and older ones are refused
    anyway, so a bounded in-memory set is enough. (Several HTTP workers each keep
    their own; the dispatcher's per-event claim in the database still runs a
    replayed command or click once.)
    """

    def __init__(self, window: float = REPLAY_WINDOW,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._monotonic = monotonic
        self._seen: dict[str, float] = {}
        self._next_prune = 0.0

    def first_time(self, signature: str) -> bool:
        """Record ``signature``; False when it was already seen within the window."""
        now = self._monotonic()
        if now >= self._next_prune:
            self._seen = {s: t for s, t in self._seen.items() if t > now}
            self._next_prune = now + 30
        expires = self._seen.get(signature)
        if expires is not None and expires > now:
            return False
        self._seen[signature] = now + self.window
        return True


class Unreadable(ValueError):
    """The body is not what its content type says (not UTF-8, not JSON, no payload)."""


def early_ack(body: bytes, content_type: str) -> bool:
    """Whether this request can be acknowledged before Bolt runs (see the module doc).

    Cheap on purpose (it runs for every request of a burst): form fields are only
    looked at, not decoded. Raises :class:`Unreadable` for a body that is not
    UTF-8, or not JSON when it says it is.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("not UTF-8") from None
    if content_type == "application/json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise Unreadable("not JSON") from None
        return isinstance(data, dict) and data.get("type") == "event_callback"
    fields = dict(part.partition("=")[::2] for part in text.split("&"))
    payload = fields.get("payload")
    if payload is not None:
        return EARLY_PAYLOAD.search(payload) is not None
    if "command" in fields:
        return all(fields.get(name) for name in COMMAND_FIELDS)
    return False


class SlackHttpEndpoint:
    """The aiohttp handler in front of the Bolt app."""

    def __init__(self, bolt: AsyncApp, signing_secret: str, *, spawn: Spawn,
                 wall_clock: Callable[[], float] = time.time,
                 replay_guard: ReplayGuard | None = None,
                 ack_deadline: float = ACK_DEADLINE) -> None:
        self.bolt = bolt
        self._secret = signing_secret.encode()
        self._wall_clock = wall_clock
        self._spawn = spawn
        self.replays = replay_guard or ReplayGuard()
        self.ack_deadline = ack_deadline
        self.refused = 0
        self.in_flight = 0
        self._last_arrival = float("-inf")
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._deferred: deque[tuple[bytes, str, CIMultiDict[str]]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self.fast_path: Callable[[Mapping[str, Any]], bool] | None = None
        """Given an acknowledged JSON body, handles it without Bolt and says so (the
        bridge's channel chatter, see ``listeners.room_chatter``); in arrival order."""

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.handle)]

    async def idle(self, patience: float = IDLE_PATIENCE) -> None:
        """Return once no request is being acknowledged and none arrived for a moment.

        A burst reaches the server over a few milliseconds, read in several passes
        of the event loop; waiting for ``QUIET_GAP`` without a new arrival keeps the
        work from slipping in between two of them. Waits ``patience`` seconds at
        most, so a steady stream of requests delays the work a little but never
        starves it.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            if not self._quiet.is_set():
                try:
                    await asyncio.wait_for(self._quiet.wait(), remaining)
                except TimeoutError:
                    return
                continue
            gap = self._last_arrival + QUIET_GAP - loop.time()
            if gap > 0:
                await asyncio.sleep(min(gap, remaining))
                continue
            await asyncio.sleep(0)
            if self.in_flight == 0 and self._quiet.is_set():
                return

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self._last_arrival = asyncio.get_running_loop().time()
        body = await request.read()
        self.in_flight += 1
        self._quiet.clear()
        try:
            return await self._handle(request, body)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._quiet.set()

    async def _handle(self, request: web.Request, body: bytes) -> web.StreamResponse:
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature")
        if not self._signed(body, timestamp, signature):
            return self._refuse(request, "bad or stale signature")
        assert signature is not None
        if not self.replays.first_time(signature):
            if request.headers.get("X-Slack-Retry-Num"):
                return web.Response(status=200)
            return self._refuse(request, "replayed request")
        try:
            early = early_ack(body, request.content_type)
        except Unreadable as error:
            log.warning("unreadable Slack request: %s", error)
            return web.Response(status=400, text="unreadable request")
        if early:
            self._deferred.append((body, request.query_string, request.headers.copy()))
            if self._worker is None or self._worker.done():
                self._worker = self._spawn(self._dispatch_deferred())
            return web.Response(status=200)
        headers = _header_lists(request.headers)
        try:
            bolt_request = AsyncBoltRequest(body=body.decode("utf-8"),
                                            query=request.query_string, headers=headers)
        except ValueError as error:
            log.warning("unreadable Slack request: %s", type(error).__name__)
            return web.Response(status=400, text="unreadable request")
        except Exception as error:
            log.warning("Slack request with unexpected fields: %s", type(error).__name__)
            return web.Response(status=200)
        try:
            response = await asyncio.wait_for(self.bolt.async_dispatch(bolt_request),
                                              self.ack_deadline)
        except TimeoutError:
            log.error("Slack request not acknowledged within %.1f s", self.ack_deadline)
            return web.Response(status=200)
        if response.status == 404 or response.status >= 500:
            log.warning("Slack request not served (Bolt said %s)", response.status,
                        extra={"slack_body_type": _kind(bolt_request)})
            return web.Response(status=200)
        return await to_aiohttp_response(response)

    async def _dispatch_deferred(self) -> None:
        """Bolt's turn for the requests already acknowledged, once the endpoint is quiet.

        One task for a whole burst (not one per request): acknowledging costs an
        append. It steps aside before each request (Bolt's dispatch never waits on
        anything, so it would otherwise hold the loop for the whole queue). The
        listeners translate each request and submit its work.
        """
        while self._deferred:
            body, query, headers = self._deferred[0]
            if self._fast(body, headers):
                self._deferred.popleft()
                continue
            await self.idle()
            body, query, headers = self._deferred.popleft()
            try:
                bolt_request = AsyncBoltRequest(body=body.decode("utf-8"), query=query,
                                                headers=_header_lists(headers))
            except Exception as error:
                log.warning("Slack request with unexpected fields: %s", type(error).__name__)
                continue
            response = await self.bolt.async_dispatch(bolt_request)
            if response.status == 404 or response.status >= 500:
                log.warning("Slack request not served (Bolt said %s)", response.status,
                            extra={"slack_body_type": _kind(bolt_request)})

    def _fast(self, body: bytes, headers: CIMultiDict[str]) -> bool:
        if self.fast_path is None or \
                not headers.get("Content-Type", "").startswith("application/json"):
            return False
        try:
            payload = json.loads(body)
        except ValueError:
            return False
        return isinstance(payload, Mapping) and self.fast_path(payload)

    def _signed(self, body: bytes, timestamp: str | None, signature: str | None) -> bool:
        """Slack's v0 signature over the raw bytes, at most five minutes from now."""
        if not timestamp or not signature or not timestamp.isdigit():
            return False
        if abs(self._wall_clock() - int(timestamp)) > SIGNATURE_MAX_AGE:
            return False
        base = b"v0:" + timestamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    def _refuse(self, request: web.Request, why: str) -> web.Response:
        self.refused += 1
        log.warning("Slack request refused: %s", why, extra={"remote": request.remote})
        return web.json_response({"error": "invalid request"}, status=401)


def _header_lists(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """Headers as Bolt reads them: every value of each name, in a list."""
    lists: dict[str, list[str]] = {}
    for name, value in headers.items():
        lists.setdefault(name, []).append(value)
    return lists


def _kind(request: AsyncBoltRequest) -> str:
    body = request.body if isinstance(request.body, dict) else {}
    kind = body.get("type") or ("slash_command" if "command" in body else "?")
    return str(kind)[:64]

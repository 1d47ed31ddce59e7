"""The baseline of bench/matrix_roundtrip.py: the smallest matrix-nio bot that answers.

It joins every invite and answers each ``!echo …`` with an ``m.notice`` replying to it,
with nio's own callbacks and ``sync_forever`` — what a typical minimal bot does, with
no database, templates or delivery guarantees. Given a JSON file (5th argument), it
answers with that content instead (the benchmark puts there a reply of cohortbot's, so
both bots make Synapse store and fan out events of the same size). Its timeline limit is raised to 100 so
that 8 concurrent users do not make it miss commands (it fetches no gaps). Run by the
benchmark as a process.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, InviteMemberEvent, MatrixRoom, RoomMessageText

_cached: dict[str, Any] = {}


def _reply(reply_file: str | None) -> dict[str, Any] | None:
    """The reply content to send (read once, when the benchmark has written it)."""
    if not reply_file:
        return None
    if not _cached and Path(reply_file).exists():
        _cached.update(json.loads(Path(reply_file).read_text(encoding="utf-8")))
    return dict(_cached) if _cached else None


async def main(homeserver: str, user_id: str, device_id: str, token: str,
               reply_file: str | None = None) -> None:
    client = AsyncClient(homeserver, user_id, device_id=device_id,
                         config=AsyncClientConfig(store_sync_tokens=False))
    client.restore_login(user_id, device_id, token)

    async def on_invite(room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == user_id and event.membership == "invite":
            await client.join(room.room_id)

    async def on_message(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender == user_id or not event.body.startswith("!echo"):
            return
        content = _reply(reply_file) or {"msgtype": "m.notice",
                                         "body": event.body[5:].strip() or "echo"}
        if "m.mentions" in content:
            content["m.mentions"] = {"user_ids": [event.sender]}
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": event.event_id}}
        await client.room_send(room.room_id, "m.room.message", content)

    client.add_event_callback(on_invite, InviteMemberEvent)  # type: ignore[arg-type]
    client.add_event_callback(on_message, RoomMessageText)  # type: ignore[arg-type]
    timeline = {"room": {"timeline": {"limit": 100}}}
    await client.sync(timeout=0, full_state=True, sync_filter=timeline)
    print("ready", flush=True)
    await client.sync_forever(timeout=30_000, sync_filter=timeline)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))

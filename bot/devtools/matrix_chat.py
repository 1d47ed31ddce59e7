"""Talk to the bot in the demo's Matrix room from a terminal, as one of the demo people.

    python -m bot.devtools.matrix_chat --dir demo --as bernard
    python -m bot.devtools.matrix_chat --dir demo --as camille --send "!cohorte aide"

Interactive: each line typed is sent to the cohort room, and what others (the bot
included) write there is printed. With ``--send``: one message, then the bot's
answer, then exit. The accounts, passwords and room come from the
``matrix-accounts.json`` that ``make demo`` writes in its folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, LoginResponse, RoomSendResponse, SyncResponse

ACCOUNTS_FILE = "matrix-accounts.json"


def read_accounts(directory: Path) -> dict[str, Any]:
    path = directory / ACCOUNTS_FILE
    if not path.exists():
        raise SystemExit(f"{path} not found: run `make demo` first (it creates the accounts).")
    return json.loads(path.read_text(encoding="utf-8"))


def show(event: dict[str, Any], names: dict[str, str]) -> str:
    content = event.get("content") or {}
    who = names.get(event.get("sender", ""), event.get("sender", "?"))
    return f"{who} : {content.get('body', '')}"


async def chat(directory: Path, person: str, send: str | None, timeout: float) -> int:  # noqa: ASYNC109
    accounts = read_accounts(directory)
    people = accounts["people"]
    if person not in people:
        raise SystemExit(f"--as {person!r}: choose one of {', '.join(sorted(people))}")
    me = people[person]
    room_id = accounts["room_id"]
    names = {p["user_id"]: p["name"] for p in people.values()}
    names[accounts["bot"]["user_id"]] = "cohortbot"
    client = AsyncClient(accounts["homeserver"], me["user_id"],
                         config=AsyncClientConfig(store_sync_tokens=False, max_timeouts=0))
    try:
        login = await client.login(me["password"], device_name="matrix_chat")
        if not isinstance(login, LoginResponse):
            print(f"login refused: {login}", file=sys.stderr)
            return 1
        first = await client.sync(timeout=0)
        if not isinstance(first, SyncResponse):
            print(f"sync failed: {first}", file=sys.stderr)
            return 1
        if room_id not in first.rooms.join:
            await client.join(room_id)
        if send is not None:
            return await _send_one(client, room_id, send, names, accounts["bot"]["user_id"],
                                   timeout)
        print(f"Salon de la cohorte ({room_id}) — vous êtes {me['name']}. "
              "Tapez un message (par exemple !cohorte aide) ; Ctrl-D pour sortir.")
        return await _interactive(client, room_id, names)
    finally:
        await client.close()


async def _send_one(client: AsyncClient, room_id: str, text: str, names: dict[str, str],
                    bot_id: str, timeout: float) -> int:  # noqa: ASYNC109
    sent = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text})
    if not isinstance(sent, RoomSendResponse):
        print(f"send failed: {sent}", file=sys.stderr)
        return 1
    print(show({"sender": client.user_id, "content": {"body": text}}, names))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        response = await client.sync(timeout=1000)
        if not isinstance(response, SyncResponse):
            continue
        info = response.rooms.join.get(room_id)
        for event in info.timeline.events if info else []:
            source = event.source
            relation = (source.get("content") or {}).get("m.relates_to") or {}
            if source.get("sender") == bot_id and (relation.get("m.in_reply_to") or {}).get(
                    "event_id") == sent.event_id:
                print(show(source, names))
                return 0
    print("(pas de réponse du bot)", file=sys.stderr)
    return 1


async def _interactive(client: AsyncClient, room_id: str, names: dict[str, str]) -> int:
    loop = asyncio.get_running_loop()

    async def printer() -> None:
        while True:
            response = await client.sync(timeout=30_000)
            if not isinstance(response, SyncResponse):
                await asyncio.sleep(1)
                continue
            info = response.rooms.join.get(room_id)
            for event in info.timeline.events if info else []:
                source = event.source
                if source.get("type") == "m.room.message" and source.get("sender") != \
                        client.user_id:
                    print(show(source, names), flush=True)

    task = asyncio.create_task(printer())
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return 0
            text = line.strip()
            if text:
                await client.room_send(room_id, "m.room.message",
                                       {"msgtype": "m.text", "body": text})
    finally:
        task.cancel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.devtools.matrix_chat",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("demo"))
    parser.add_argument("--as", dest="person", default="camille")
    parser.add_argument("--send", help="send this one message, print the bot's answer, exit")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    try:
        return asyncio.run(chat(args.dir, args.person, args.send, args.timeout))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""``make demo``: the bot on its embedded defaults, in a local Matrix homeserver and this terminal.

Creates a demo folder (configuration, SQLite database), loads the Occitanie
cohort from the seeds, starts a local Synapse (``demo/synapse``, kept from one run
to the next), registers the bot and three demo people, creates the cohort room,
links it to the cohort, runs the bot's Matrix adapter in the background, prints
how to talk to it from a Matrix client or another terminal, and opens the console
as the cohort's coordinator. Leaving the console stops everything.

``--no-matrix`` keeps the console only (no homeserver).
The scheduler runs meanwhile: a demo event's reminder shows up in the terminal
(and the Matrix room) a minute later.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import secrets
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import logs
from bot.config import Config, load

if TYPE_CHECKING:
    from bot.bootstrap import App

DEMO_COORDINATOR = "Camille Martin"
BOT_LOCALPART = "cohortbot"
DEMO_PEOPLE = {
    "camille": "Camille Martin",
    "bernard": "Bernard Roux",
    "nathalie": "Nathalie Fabre",
}
"""Matrix accounts of the demo, by localpart: the coordinator and two members of the
Barre-des-Cévennes delegation."""
ROOM_NAME = "Cohorte Occitanie"
READY_TIMEOUT_S = 60.0
DEMO_COHORT = "occitanie"
DEMO_REMINDER_IN = timedelta(minutes=1)


def write_config(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cohortbot.toml"
    if not path.exists():
        path.write_text(
            "# Demo configuration written by `make demo`.\n"
            "[bot]\n"
            f'data_dir = "{directory.resolve()}"\n'
            'language = "fr"\n'
            'timezone = "Europe/Paris"\n'
            'log_level = "WARNING"\n',
            encoding="utf-8")
    return path


def _accounts(directory: Path) -> dict[str, Any]:
    from bot.devtools.matrix_chat import ACCOUNTS_FILE

    path = directory / ACCOUNTS_FILE
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"bot": {"localpart": BOT_LOCALPART, "password": secrets.token_urlsafe(24)},
            "people": {localpart: {"name": name, "password": f"{localpart}-demo"}
                       for localpart, name in DEMO_PEOPLE.items()}}


def _save_accounts(directory: Path, accounts: dict[str, Any]) -> None:
    """Keep the demo accounts (passwords, room) for the next run and for matrix_chat;
    access tokens are not kept."""
    from bot.devtools.matrix_chat import ACCOUNTS_FILE

    kept = {**accounts, "people": {k: {x: y for x, y in v.items() if x != "token"}
                                   for k, v in accounts["people"].items()}}
    path = directory / ACCOUNTS_FILE
    path.write_text(json.dumps(kept, indent=2, ensure_ascii=False), encoding="utf-8")
    path.chmod(0o600)


async def start_matrix(directory: Path, config: Config) -> tuple[Any, Config, dict[str, Any]]:
    """Start the demo homeserver and its accounts; returns it, the bot's config, the accounts."""
    from bot.devtools.local_synapse import LocalSynapse

    synapse = LocalSynapse(directory / "synapse")
    print("Démarrage du serveur Matrix local (Synapse)…", flush=True)
    await synapse.start()
    accounts = _accounts(directory)
    accounts["homeserver"] = synapse.base_url
    bot = accounts["bot"]
    bot["user_id"] = (await synapse.register(bot["localpart"], bot["password"],
                                             displayname="Cohortbot")).user_id
    for localpart, person in accounts["people"].items():
        account = await synapse.register(localpart, person["password"],
                                         displayname=person["name"])
        person.update(user_id=account.user_id, token=account.access_token)
    _save_accounts(directory, accounts)
    matrix = dataclasses.replace(config.matrix, enabled=True, homeserver=synapse.base_url,
                                 user_id=bot["user_id"], password=bot["password"])
    return synapse, dataclasses.replace(config, matrix=matrix), accounts


async def link_people(app: Any, accounts: dict[str, Any]) -> None:
    """Each demo account is the Matrix identity of its demo member."""
    from storage.uow import Store

    async with app.db.session() as session:
        store = Store(session)
        cohort = await store.cohorts.by_slug("occitanie")
        members = {m.display_name: m for m in await store.members.in_cohort_scope(cohort.id)}
        for person in accounts["people"].values():
            await store.identities.link("matrix", person["user_id"],
                                        members[person["name"]].id, app.clock.now())


async def cohort_room(app: Any, synapse: Any, accounts: dict[str, Any]) -> str:
    """The cohort room: created by the coordinator, with everyone invited, linked to the
    cohort by her command (as a person would), or found again from an earlier run."""
    from urllib.parse import quote

    from bot.devtools.local_synapse import MatrixAPIError
    from storage.uow import Store

    people = accounts["people"]
    camille = people["camille"]
    room_id = accounts.get("room_id")
    if room_id:
        try:
            await synapse.request("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/state",
                                  token=camille["token"])
        except MatrixAPIError:
            room_id = None
    if not room_id:
        created = await synapse.request("POST", "/_matrix/client/v3/createRoom", json={
            "name": ROOM_NAME, "preset": "private_chat",
            "invite": [accounts["bot"]["user_id"]] + [
                p["user_id"] for k, p in people.items() if k != "camille"]},
            token=camille["token"])
        room_id = created["room_id"]
        for localpart, person in people.items():
            if localpart != "camille":
                await synapse.request("POST", f"/_matrix/client/v3/join/{quote(room_id)}",
                                      json={}, token=person["token"])
        accounts["room_id"] = room_id
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_S
    asked = False
    while loop.time() < deadline:
        async with app.db.session() as session:
            if await Store(session).rooms.is_linked("matrix", room_id):
                return room_id
        members = await synapse.request(
            "GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/joined_members",
            token=camille["token"])
        if not asked and accounts["bot"]["user_id"] in members.get("joined", {}):
            await synapse.request(
                "PUT", f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/"
                       f"demo-link-{secrets.token_hex(4)}",
                json={"msgtype": "m.text", "body": "!cohorte cohorte lier occitanie"},
                token=camille["token"])
            asked = True
        await asyncio.sleep(0.2)
    raise RuntimeError("the bot did not join and link the demo room in time")


def instructions(accounts: dict[str, Any], directory: Path) -> str:
    people = accounts["people"]
    lines = [
        "",
        f"Serveur Matrix local : {accounts['homeserver']}  (salon « {ROOM_NAME} »)",
        "Comptes de démonstration (identifiant / mot de passe) :",
        *[f"  {p['user_id']:<22} {k} / {p['password']:<16} {p['name']}"
          for k, p in people.items()],
        "",
        "Parler au bot dans le salon Matrix, depuis un autre terminal :",
        f"  .venv/bin/python -m bot.devtools.matrix_chat --dir {directory} --as bernard",
        f"  .venv/bin/python -m bot.devtools.matrix_chat --dir {directory} --as camille "
        "--send '!cohorte aide'",
        f"ou depuis n'importe quel client Matrix (Element…) : serveur {accounts['homeserver']},",
        "avec un des comptes ci-dessus, puis dans le salon : !cohorte aide",
        "",
    ]
    return "\n".join(lines)


async def main_async(directory: Path, as_name: str, *, matrix: bool = True,
                     reminder_in: timedelta = DEMO_REMINDER_IN) -> int:
    from bot.bootstrap import bootstrap
    from bot.cli import DEMO_FILE
    from bot.console import run_console
    from bot.dashboard import demo_link
    from bot.matrix.adapter import MatrixAdapter
    from handlers.admin.demo import load_cohort_file
    from storage.uow import Store

    folder = directory
    config = load(write_config(directory), env={})
    logs.setup("WARNING")
    synapse = None
    accounts: dict[str, Any] = {}
    if matrix:
        synapse, config, accounts = await start_matrix(directory, config)
    app = await bootstrap(config)
    try:
        async with app.db.session() as session:
            added = await load_cohort_file(Store(session), DEMO_FILE, app.clock.now())
        if any(added.values()):
            print("Cohorte de démonstration chargée : " +
                  ", ".join(f"{v} {k}" for k, v in added.items() if v))
        if matrix:
            await link_people(app, accounts)
            adapter = next(p for p in app.runtime if isinstance(p, MatrixAdapter))
            await adapter.start()
            app.delivery.start()
            await adapter.wait_ready(READY_TIMEOUT_S)
            await cohort_room(app, synapse, accounts)
            _save_accounts(directory, accounts)
            print(instructions(accounts, directory))
        print(f"Données : {folder} (SQLite). Vous êtes {as_name}, coordinatrice.\n"
              "Le bot est prêt.", flush=True)
        link = await demo_link(app, as_name)
        if link:
            print(f"Tableau de bord (lien personnel, 15 min, une fois) : {link}\n"
                  "Un nouveau lien : tapez « cohorte tableau ».")
        print()
        print(await live_reminder(app, reminder_in) + "\n", flush=True)
        await run_console(app, as_name, start_runtime=True)
    finally:
        await app.web.stop()
        await app.close()
        if synapse is not None:
            await synapse.stop()
    return 0


async def live_reminder(app: App, reminder_in: timedelta) -> str:
    """Link the console to the demo cohort and plan a reminder due ``reminder_in`` from now."""
    from bot.console import CONSOLE_ROOM
    from handlers.calendar.demo import schedule_live_demo
    from handlers.calendar.model import view
    from messages.render.plain import to_plain
    from storage.uow import Store

    now = app.clock.now()
    async with app.db.session() as session:
        store = Store(session)
        cohort = await store.cohorts.by_slug(DEMO_COHORT)
        if cohort is None:
            raise SystemExit(f"the demo cohort {DEMO_COHORT!r} is missing")
        if not await store.rooms.is_linked(CONSOLE_ROOM.platform, CONSOLE_ROOM.room_id):
            await store.rooms.link(CONSOLE_ROOM.platform, CONSOLE_ROOM.room_id, cohort.id, now,
                                   None)
        lang = cohort.language
        event = await schedule_live_demo(
            store, cohort, now, title=app.catalog.render(lang, "calendar/demo_title"),
            agenda=app.catalog.render(lang, "calendar/demo_agenda"), reminder_in=reminder_in)
        text = app.catalog.render(lang, "calendar/demo_announce", event=view(event, lang),
                                  due=event.starts_at - timedelta(minutes=1),
                                  tz=cohort.timezone, prefix="")
    return to_plain(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.demo")
    parser.add_argument("--dir", type=Path, default=Path("demo"))
    parser.add_argument("--as", dest="as_name", default=DEMO_COORDINATOR)
    parser.add_argument("--no-matrix", action="store_true",
                        help="the console only, without the local Matrix homeserver")
    parser.add_argument("--reminder-in", type=float, default=DEMO_REMINDER_IN.total_seconds(),
                        metavar="SECONDS", help="when the demo reminder shows up (default 60)")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(main_async(args.dir.resolve(), args.as_name,
                                      matrix=not args.no_matrix,
                                      reminder_in=timedelta(seconds=args.reminder_in)))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

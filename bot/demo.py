"""``make demo``: the bot on its embedded default, with the demo cohort, in this terminal.

Creates a demo folder (configuration, SQLite database), loads the Occitanie
cohort from the seeds (with its webinars and permanence), then opens the console
as its coordinator, with the scheduler running: a demo event's reminder shows up
in the terminal a minute later.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot import logs
from bot.config import load

if TYPE_CHECKING:
    from bot.bootstrap import App

DEMO_COORDINATOR = "Camille Martin"
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


async def main_async(directory: Path, as_name: str,
                     reminder_in: timedelta = DEMO_REMINDER_IN) -> int:
    from bot.bootstrap import bootstrap
    from bot.cli import DEMO_FILE
    from bot.console import run_console
    from handlers.admin.demo import load_cohort_file
    from storage.uow import Store

    config = load(write_config(directory), env={})
    logs.setup("WARNING")
    app = await bootstrap(config)
    try:
        async with app.db.session() as session:
            added = await load_cohort_file(Store(session), DEMO_FILE, app.clock.now())
        if any(added.values()):
            print("Cohorte de démonstration chargée : " +
                  ", ".join(f"{v} {k}" for k, v in added.items() if v))
        print(f"Données : {directory.resolve()} (SQLite). Vous êtes {as_name}, coordinatrice.\n")
        print(await live_reminder(app, reminder_in) + "\n")
        await run_console(app, as_name, start_runtime=True)
    finally:
        await app.close()
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
    parser.add_argument("--reminder-in", type=float, default=DEMO_REMINDER_IN.total_seconds(),
                        metavar="SECONDS", help="when the demo reminder shows up (default 60)")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(main_async(args.dir, args.as_name,
                                      timedelta(seconds=args.reminder_in)))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

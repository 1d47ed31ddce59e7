"""``make demo``: the bot on its embedded default, with the demo cohort, in this terminal.

Creates a demo folder (configuration, SQLite database), loads the Occitanie
cohort from the seeds, then opens the console as its coordinator.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot import logs
from bot.config import load

DEMO_COORDINATOR = "Camille Martin"


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


async def main_async(directory: Path, as_name: str) -> int:
    from bot.bootstrap import bootstrap
    from bot.cli import DEMO_FILE
    from bot.console import run_console
    from bot.dashboard import demo_link
    from handlers.admin.demo import load_cohort_file
    from storage.uow import Store

    folder = directory
    config = load(write_config(directory), env={})
    logs.setup("WARNING")
    app = await bootstrap(config)
    try:
        async with app.db.session() as session:
            added = await load_cohort_file(Store(session), DEMO_FILE, app.clock.now())
        if any(added.values()):
            print("Cohorte de démonstration chargée : " +
                  ", ".join(f"{v} {k}" for k, v in added.items() if v))
        print(f"Données : {folder} (SQLite). Vous êtes {as_name}, coordinatrice.")
        link = await demo_link(app, as_name)
        if link:
            print(f"Tableau de bord (lien personnel, 15 min, une fois) : {link}\n"
                  "Un nouveau lien : tapez « cohorte tableau ».")
        print()
        await run_console(app, as_name)
    finally:
        await app.web.stop()
        await app.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.demo")
    parser.add_argument("--dir", type=Path, default=Path("demo"))
    parser.add_argument("--as", dest="as_name", default=DEMO_COORDINATOR)
    args = parser.parse_args(argv)
    try:
        return asyncio.run(main_async(args.dir.resolve(), args.as_name))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

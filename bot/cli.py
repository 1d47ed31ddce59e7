"""``cohortbot``: run the bot, talk to it from the console, manage the database, load demo data."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import logs
from handlers.core.settings import find_content_dir

if TYPE_CHECKING:
    from bot.config import Config

log = logging.getLogger("cohortbot")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cohortbot", description=__doc__)
    p.add_argument("--config", type=Path, help="TOML configuration file "
                   "(default: $COHORTBOT_CONFIG, then ./cohortbot.toml, then built-in defaults)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot on the platforms enabled in the configuration")
    console = sub.add_parser("console", help="talk to the bot from this terminal")
    console.add_argument("--as", dest="as_name", metavar="NAME",
                         help="speak as this member or coordinator (default: the operator)")
    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply every pending migration")
    db_sub.add_parser("current", help="show the applied revision")
    backup = db_sub.add_parser("backup", help="write a consistent copy of the database "
                               "(SQLite online backup, or pg_dump)")
    backup.add_argument("file", type=Path)
    restore = db_sub.add_parser("restore", help="replace the database by a backup "
                                "(stop the bot first)")
    restore.add_argument("file", type=Path)
    revision = db_sub.add_parser("revision", help="write a new migration (developers)")
    revision.add_argument("-m", "--message", required=True)
    sub.add_parser("doctor", help="check configuration, database, tokens and reachability")
    export = sub.add_parser("export", help="everything stored about a cohort, as JSON and CSV "
                            "(a directory, or a .zip)")
    export.add_argument("--cohorte", "--cohort", dest="cohort", required=True, metavar="SLUG",
                        help="the cohort's identifier (as in `cohorte lister`)")
    export.add_argument("--out", type=Path, default=None,
                        help="a new directory, or a file ending in .zip "
                        "(default: export-<cohort>-<date>.zip here)")
    demo = sub.add_parser("demo-data", help="load the demo cohort (Occitanie) and its calendar")
    demo.add_argument("file", nargs="?", type=Path, help="a cohort YAML file (default: the demo)")
    return p


def main(argv: list[str] | None = None) -> int:
    """The ``cohortbot`` command.

    The cyclic garbage collector is off while the bot starts (it imports ~1,400 modules
    and builds ~100,000 objects: collections during that took about a third of the
    start-up time, see BENCHMARKS.md); ``run`` turns it back on once serving, other
    commands right after reading the configuration.
    """
    gc.disable()
    args = parser().parse_args(argv)
    from bot.config import ConfigError, load

    try:
        config = load(args.config)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    logs.setup(config.bot.log_level if args.command == "run" else "WARNING",
               config.bot.log_format)
    if args.command != "run":
        gc.enable()
    try:
        return _event_loop_runner(args.command)(_dispatch(args, config))
    except KeyboardInterrupt:
        return 130
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2


def _event_loop_runner(command: str) -> Callable[[Coroutine[Any, Any, int]], int]:
    """uvloop for ``run`` (where it is installed), plain asyncio otherwise.

    The same asyncio API on libuv: it serves HTTP about twice as fast, which is what
    keeps Slack's acknowledgements within a few milliseconds under a burst (see
    BENCHMARKS.md). Other commands are short-lived and keep the standard loop.
    """
    if command == "run":
        try:
            import uvloop
        except ImportError:
            return asyncio.run
        return uvloop.run
    return asyncio.run


async def _dispatch(args: argparse.Namespace, config: Config) -> int:
    if args.command == "db":
        return await _db(args, config)
    if args.command == "demo-data":
        return await _demo_data(config, args.file)
    if args.command == "console":
        return await _console(config, args.as_name)
    if args.command == "export":
        return await _export(config, args.cohort, args.out)
    if args.command == "doctor":
        from bot.doctor import doctor

        return await doctor(config, sys.stdout)
    if args.command == "run":
        from bot.runtime import run

        return await run(config)
    raise AssertionError(args.command)


async def _db(args: argparse.Namespace, config: Config) -> int:
    from storage.db import Database

    db = Database(config.database_url)
    try:
        if args.db_command == "upgrade":
            await db.upgrade()
            print(f"database up to date ({', '.join(sorted(await db.current_revisions()))})")
        elif args.db_command in ("backup", "restore"):
            from bot import backup as backups

            try:
                if args.db_command == "backup":
                    await backups.backup(config.database_url, args.file)
                    print(f"backup written to {args.file}")
                else:
                    await backups.restore(config.database_url, args.file)
                    print(f"database restored from {args.file}")
            except backups.BackupError as error:
                print(f"{args.db_command}: {error}", file=sys.stderr)
                return 1
        elif args.db_command == "current":
            print(", ".join(sorted(await db.current_revisions())) or "(empty)")
        elif args.db_command == "revision":
            from alembic import command

            from storage.db import alembic_config

            cfg = alembic_config(config.database_url)
            async with db.engine.begin() as conn:
                def make(sync_conn: object) -> None:
                    cfg.attributes["connection"] = sync_conn
                    command.revision(cfg, message=args.message, autogenerate=True)

                await conn.run_sync(make)
        return 0
    finally:
        await db.dispose()


async def _export(config: Config, slug: str, out: Path | None) -> int:
    from datetime import UTC, datetime

    from bot.export import ExportError, export
    from storage.db import Database

    db = Database(config.database_url)
    try:
        written = await export(db, slug, out, datetime.now(UTC))
    except ExportError as error:
        print(f"export: {error}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(f"cohort {slug} exported to {written}")
    return 0


DEMO_FILE = find_content_dir() / "demo" / "occitanie.yaml"


async def _demo_data(config: Config, path: Path | None) -> int:
    from bot.bootstrap import bootstrap
    from handlers.admin.demo import DemoDataError, load_cohort_file

    app = await bootstrap(config)
    try:
        async with app.db.session() as session:
            from storage.uow import Store

            added = await load_cohort_file(
                Store(session), path or app.settings.content_dir / "demo" / "occitanie.yaml",
                app.clock.now())
    except DemoDataError as error:
        print(f"demo-data: {error}", file=sys.stderr)
        return 1
    finally:
        await app.close()
    print("demo data loaded: " + ", ".join(f"{v} {k}" for k, v in added.items()))
    return 0


async def _console(config: Config, as_name: str | None) -> int:
    from bot.bootstrap import bootstrap
    from bot.console import run_console

    app = await bootstrap(config)
    try:
        await run_console(app, as_name, start_runtime=True)
    finally:
        await app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

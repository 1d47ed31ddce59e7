"""``cohortbot doctor``: check the configuration, database, tokens and reachability.

One line per check; each problem says how to fix it. Exit code 1 when anything is wrong.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from typing import TextIO

import aiohttp

from bot.config import Config

TIMEOUT = aiohttp.ClientTimeout(total=5)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok " if self.ok else "ERR"
        text = f"[{mark}] {self.name}: {self.detail}"
        return f"{text} — {self.fix}" if self.fix and not self.ok else text


async def check_database(config: Config) -> list[Check]:
    from alembic.script import ScriptDirectory

    from storage.db import Database, alembic_config

    db = Database(config.database_url)
    try:
        current = await db.current_revisions()
    except Exception as error:
        return [Check("database", False, f"cannot connect to {db.describe()} "
                      f"({type(error).__name__})",
                      "check database.url / COHORTBOT_DATABASE_URL and that the server runs")]
    finally:
        await db.dispose()
    heads = set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
    if current != heads:
        return [Check("database", False, f"schema at {sorted(current) or 'nothing'}, "
                      f"code expects {sorted(heads)}", "run `cohortbot db upgrade`")]
    return [Check("database", True, f"{db.describe()} reachable, schema up to date")]


def check_data_dir(config: Config) -> list[Check]:
    path = config.bot.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".doctor"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        return [Check("bot.data_dir", False, f"{path} is not writable ({error.strerror})",
                      f"create it and give the bot's user write access: chown {os.getuid()} "
                      f"{path}")]
    return [Check("bot.data_dir", True, f"{path} writable")]


def check_content(config: Config) -> list[Check]:
    """The questionnaires, campaigns, demo data and message templates the bot ships with."""
    from pathlib import Path

    from handlers.core.settings import find_content_dir
    from handlers.notes.questionnaires import QuestionnaireError, load_questionnaires
    from messages.texts import Catalog

    directory = Path(config.bot.content_dir) if config.bot.content_dir else find_content_dir()
    questionnaires = Path(config.notes.questionnaires_dir) if config.notes.questionnaires_dir \
        else directory / "questionnaires"
    try:
        found = load_questionnaires(questionnaires)
    except QuestionnaireError as error:
        return [Check("bot.content_dir", False, str(error),
                      "set bot.content_dir (or notes.questionnaires_dir) to the data folder "
                      "shipped with cohortbot (share/cohortbot/data)")]
    missing = [name for name in ("campaigns", "demo/occitanie.yaml")
               if not (directory / name).exists()]
    if missing:
        return [Check("bot.content_dir", False, f"{directory} lacks {', '.join(missing)}",
                      "reinstall cohortbot or point bot.content_dir to its data folder")]
    try:
        Catalog(default_language=config.bot.language).bind(config.bot.language)(
            "errors/internal")
    except Exception as error:  # noqa: BLE001 — reported, with its fix
        return [Check("messages", False, f"templates unreadable ({type(error).__name__})",
                      "reinstall cohortbot (its package data is incomplete)")]
    return [Check("bot.content_dir", True,
                  f"{directory}: {len(found)} questionnaires, campaigns, demo; templates ok")]


def check_port(config: Config) -> list[Check]:
    if not config.http.enabled:
        return []
    with socket.socket() as sock:
        try:
            sock.bind((config.http.host, config.http.port))
        except OSError:
            return [Check("http.port", True,
                          f"{config.http.host}:{config.http.port} in use (the bot running?)")]
    return [Check("http.port", True, f"{config.http.host}:{config.http.port} free")]


async def check_matrix(config: Config, session: aiohttp.ClientSession) -> list[Check]:
    m = config.matrix
    if not m.enabled:
        return [Check("matrix", True, "disabled")]
    base = m.homeserver.rstrip("/")
    try:
        async with session.get(f"{base}/_matrix/client/versions") as response:
            if response.status != 200:
                return [Check("matrix.homeserver", False, f"{base} answered {response.status}",
                              "check matrix.homeserver (the client API base URL)")]
    except (aiohttp.ClientError, TimeoutError) as error:
        return [Check("matrix.homeserver", False, f"{base} unreachable ({type(error).__name__})",
                      "check matrix.homeserver and that the homeserver runs")]
    checks = [Check("matrix.homeserver", True, f"{base} reachable")]
    if m.access_token:
        headers = {"Authorization": f"Bearer {m.access_token}"}
        async with session.get(f"{base}/_matrix/client/v3/account/whoami",
                               headers=headers) as response:
            body = await response.json(content_type=None)
        if response.status != 200:
            checks.append(Check("matrix.access_token", False, f"refused ({body.get('errcode')})",
                                "set a valid COHORTBOT_MATRIX_ACCESS_TOKEN"))
        elif body.get("user_id") != m.user_id:
            checks.append(Check("matrix.access_token", False,
                                f"belongs to {body.get('user_id')}, not {m.user_id}",
                                "use the bot account's token or fix matrix.user_id"))
        else:
            checks.append(Check("matrix.access_token", True, f"valid for {m.user_id}"))
    else:
        checks.append(Check("matrix.password", True, "set (checked at login)"))
    return checks


async def check_slack(config: Config, session: aiohttp.ClientSession) -> list[Check]:
    s = config.slack
    if not s.enabled:
        return [Check("slack", True, "disabled")]
    url = s.api_url.rstrip("/") + "/auth.test"
    try:
        async with session.post(url, headers={"Authorization": f"Bearer {s.bot_token}"}
                                ) as response:
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as error:
        return [Check("slack.api_url", False, f"{s.api_url} unreachable ({type(error).__name__})",
                      "check the network or slack.api_url")]
    if not body.get("ok"):
        return [Check("slack.bot_token", False, f"auth.test refused ({body.get('error')})",
                      "set a valid SLACK_BOT_TOKEN (xoxb-…) for the installed app")]
    return [Check("slack.bot_token", True,
                  f"valid for {body.get('user')} in {body.get('team')}")]


async def run_checks(config: Config) -> list[Check]:
    checks = [Check("config", True, str(config.source) if config.source else "built-in defaults")]
    checks += check_data_dir(config)
    checks += check_content(config)
    checks += await check_database(config)
    checks += check_port(config)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        matrix, slack = await asyncio.gather(check_matrix(config, session),
                                             check_slack(config, session))
    return checks + matrix + slack


async def doctor(config: Config, out: TextIO) -> int:
    checks = await run_checks(config)
    for check in checks:
        out.write(check.line() + "\n")
    problems = [c for c in checks if not c.ok]
    out.write(f"{len(problems)} problem(s)\n" if problems else "all good\n")
    return 1 if problems else 0

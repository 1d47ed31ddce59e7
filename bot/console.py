"""The console adapter: the ``!cohorte`` grammar typed in a terminal, replies printed.

Works with no chat account anywhere. ``--as NAME`` speaks as a member (found by
name); without it, as the local operator, who may do everything. A line starting
with ``>`` is a message in the person's DM with the bot (how questionnaires are
answered); any other line is a command typed in the console room. Files the bot
sends (exports) are saved under ``<data_dir>/exports`` and their path printed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.bootstrap import App
from bot.delivery import Outbound, Sent
from handlers.core.events import CommandEvent, MessageEvent, Origin
from handlers.core.grammar import fold
from handlers.core.ids import Platform, RoomRef, UserRef
from messages.render.plain import reply_to_plain, to_plain
from storage.uow import Store

CONSOLE_ROOM = RoomRef(Platform.CONSOLE, "console")
OPERATOR = "operator"
PREFIXES = ("!cohorte ", "/cohorte ", "!cohort ", "/cohort ")


class ConsoleSender:
    """Prints what the bot sends to the console room and to console DMs."""

    platform = Platform.CONSOLE

    def __init__(self, out: TextIO | None = None, names: Callable[[str], str] | None = None,
                 files_dir: Path | None = None) -> None:
        self.out = out or sys.stdout
        self.names = names or (lambda user: user)
        self.files_dir = files_dir

    async def send(self, message: Outbound) -> Sent:
        text = reply_to_plain(message.reply)
        if self.files_dir is not None and message.reply.attachments:
            self.files_dir.mkdir(parents=True, exist_ok=True)
            for attachment in message.reply.attachments:
                path = self.files_dir / Path(attachment.filename).name
                path.write_bytes(attachment.content)
                text = text.replace(f"📎 {attachment.filename}", f"📎 {path}")
        if message.direct_user:
            header = f"── message privé pour {self.names(message.direct_user)} ──\n"
        elif message.edit_message_id:
            header = "── (mise à jour) ──\n"
        else:
            header = ""
        self.out.write(f"{header}{text}\n\n")
        self.out.flush()
        return Sent(message_id=message.key)


async def identify(app: App, name: str | None) -> tuple[str, str]:
    """The console user id and display name for ``--as NAME`` (operator when None)."""
    if not name:
        return OPERATOR, "Opérateur·rice"
    async with app.db.session() as session:
        store = Store(session)
        members = []
        for cohort in await store.cohorts.all():
            members += await store.members.in_cohort_scope(cohort.id)
        wanted = fold(" ".join(name.split()))
        exact = [m for m in members if fold(m.display_name) == wanted]
        partial = [m for m in members if wanted in fold(m.display_name)]
        chosen = exact or partial
        unique = {m.id: m for m in chosen}
        if len(unique) != 1:
            names = sorted({m.display_name for m in (chosen or members)})[:10]
            hint = ("plusieurs personnes correspondent : " if chosen else
                    "personne de ce nom ; par exemple : ") + ", ".join(names)
            raise SystemExit(f"--as {name!r} : {hint}")
        member = next(iter(unique.values()))
        user_id = f"member-{member.id}"
        await store.identities.link(Platform.CONSOLE, user_id, member.id, app.clock.now())
        return user_id, member.display_name


def strip_prefix(line: str) -> tuple[bool, str]:
    """(is a command, text after the prefix). Bare words are commands in the console."""
    lowered = line.lower()
    for prefix in PREFIXES:
        if lowered.startswith(prefix):
            return True, line[len(prefix):]
    if lowered in ("!cohorte", "/cohorte"):
        return True, ""
    return True, line


async def run_console(app: App, as_name: str | None, *, stdin: TextIO | None = None,
                      stdout: TextIO | None = None, interactive: bool | None = None,
                      start_runtime: bool = False) -> None:
    """Read commands until end of input (or ``quitter``), printing each reply.

    With ``start_runtime`` the delivery workers and the scheduler run meanwhile, so
    reminders and other timed messages show up in the terminal as they fall due.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() if interactive is None else interactive
    user_id, display = await identify(app, as_name)
    sender = ConsoleSender(stdout, names=lambda user: display if user == user_id else user,
                           files_dir=app.settings.data_dir / "exports")
    app.delivery.add_sender(sender)
    if start_runtime:
        app.delivery.start()
        await app.scheduler.start()
    origin = Origin(user=UserRef(Platform.CONSOLE, user_id), room=CONSOLE_ROOM,
                    user_display_name=display)
    direct = Origin(user=origin.user, room=RoomRef(Platform.CONSOLE, f"dm-{user_id}"),
                    is_direct=True, user_display_name=display)
    if interactive:
        stdout.write(to_plain(app.catalog.render(app.config.bot.language, "console/welcome",
                                                 name=display, prefix="")) + "\n\n")
        stdout.flush()
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            stdout.write("cohorte> ")
            stdout.flush()
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            break
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if fold(line) in ("quitter", "quit", "exit", "sortir"):
            break
        if not interactive:
            stdout.write(f"cohorte> {line}\n")
        _, text = strip_prefix(line)
        if text.startswith(">"):
            await app.dispatcher.handle(MessageEvent(origin=direct, text=text[1:].strip()))
        else:
            await app.dispatcher.handle(CommandEvent(origin=origin, text=text))
        await app.delivery.flush(Platform.CONSOLE)

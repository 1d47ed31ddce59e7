"""A bot process for crash and leadership tests: the real runtime, with a stand-in platform.

``python -m tests.support.reminder_bot --db URL --out DIR`` bootstraps the app on that
database and runs :func:`bot.runtime.run` (leadership, scheduler, delivery) until
SIGTERM — or until it is killed. Messages go to :class:`FilePlatform`, which behaves
as Matrix does with transaction ids: a message is stored once per idempotency key,
and sending the same key again is acknowledged without a second message.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from bot import logs
from bot.bootstrap import bootstrap
from bot.config import BotConfig, Config, DatabaseConfig, HttpConfig
from bot.delivery import Outbound, Sent
from bot.runtime import run
from handlers.core.ids import Platform


class FilePlatform:
    """A chat platform in a directory: one file per message (named by its key), an attempt log.

    A message file is created with ``link()``, which fails if it exists: storing a
    message is atomic and happens once per key, across processes and SIGKILLs.
    """

    def __init__(self, platform: Platform, directory: Path, kill_after: int | None = None
                 ) -> None:
        self.platform = platform
        self.messages = directory / "messages"
        self.messages.mkdir(parents=True, exist_ok=True)
        self.attempts = os.open(directory / "attempts.jsonl",
                                os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.kill_after = kill_after
        self.count = 0

    async def send(self, message: Outbound) -> Sent:
        name = hashlib.sha256(message.key.encode()).hexdigest()[:32]
        line = json.dumps({"key": message.key, "platform": str(self.platform),
                           "room": message.destination, "pid": os.getpid(), "at": time.time(),
                           "text": message.reply.text[:300]}) + "\n"
        with tempfile.NamedTemporaryFile("w", dir=self.messages, delete=False,
                                         prefix=".tmp-") as handle:
            handle.write(line)
        try:
            os.link(handle.name, self.messages / name)
            stored = True
        except FileExistsError:
            stored = False
        finally:
            os.unlink(handle.name)
        os.write(self.attempts, line[:-2].encode() + f', "stored": {str(stored).lower()}}}\n'
                 .encode())
        self.count += 1
        if self.kill_after is not None and self.count >= self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return Sent(message_id=f"{self.platform}-{name[:12]}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--kill-after", type=int, default=None,
                        help="SIGKILL this process right after the n-th platform send")
    args = parser.parse_args(argv)
    logs.setup("INFO", "json")
    config = Config(bot=BotConfig(data_dir=args.out, log_level="INFO", log_format="json"),
                    database=DatabaseConfig(url=args.db), http=HttpConfig(enabled=False))
    app = await bootstrap(config, migrate=False)
    for platform in (Platform.MATRIX, Platform.SLACK):
        app.delivery.add_sender(FilePlatform(platform, args.out, args.kill_after))
    return await run(config, app=app)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

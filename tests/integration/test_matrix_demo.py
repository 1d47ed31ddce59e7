"""``make demo`` as a newcomer runs it: a local homeserver, the cohort room, the bot answering
there, and the console still working in the foreground."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.synapse


async def _read_until(stream: asyncio.StreamReader, marker: str, seen: list[str],
                      timeout: float = 120.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while True:
            line = (await stream.readline()).decode("utf-8", errors="replace")
            if not line:
                raise AssertionError("the demo stopped early:\n" + "".join(seen))
            seen.append(line)
            if marker in line:
                return


async def test_demo_starts_a_homeserver_where_the_bot_answers_in_the_cohort_room(
        tmp_path: Path) -> None:
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.demo", "--dir", str(tmp_path / "demo"), cwd=ROOT,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    assert demo.stdout is not None and demo.stdin is not None
    seen: list[str] = []
    try:
        await _read_until(demo.stdout, "Le bot est prêt", seen)
        chat = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.devtools.matrix_chat", "--dir", str(tmp_path / "demo"),
            "--as", "bernard", "--send", "!cohorte delegation lister", cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        answer = (await asyncio.wait_for(chat.communicate(), 60))[0].decode()
        demo.stdin.write(b"delegation lister\nquitter\n")
        await demo.stdin.drain()
        rest = (await asyncio.wait_for(demo.stdout.read(), 60)).decode()
        code = await asyncio.wait_for(demo.wait(), 30)
    finally:
        if demo.returncode is None:
            demo.kill()
            await demo.wait()

    output = "".join(seen)
    assert "@camille:localhost" in output and "bot.devtools.matrix_chat" in output
    assert chat.returncode == 0, answer
    assert "cohortbot : Bernard Roux : Délégations de Cohorte Occitanie" in answer
    assert "Commune de Barre-des-Cévennes" in rest
    assert code == 0
    assert "Traceback" not in output + answer + rest

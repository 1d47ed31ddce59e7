"""``make demo``: the demo cohort's calendar is there, and a reminder shows up by itself."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def run_demo(directory: Path, wait_for: str, timeout: float = 30) -> str:
    """Start the demo, type ``agenda``, and read until ``wait_for`` shows up (or time out)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.demo", "--dir", str(directory), "--reminder-in", "2",
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"agenda\n")
    await proc.stdin.drain()
    output = b""
    try:
        async with asyncio.timeout(timeout):
            while wait_for.encode() not in output:
                chunk = await proc.stdout.read(4096)
                if not chunk:
                    break
                output += chunk
    except TimeoutError:
        pass
    proc.stdin.close()
    output += await proc.stdout.read()
    await proc.wait()
    return output.decode()


async def test_the_demo_shows_a_reminder_arriving(tmp_path: Path) -> None:
    first = await run_demo(tmp_path / "demo", "⏰ Rappel : Café des transitions")
    assert "Démonstration des rappels" in first
    assert "Permanence mensuelle" in first
    reminder = first.split("⏰ Rappel : Café des transitions", 1)[1]
    assert "dans 1 min" in reminder.split("\n")[0]
    assert "Traceback" not in first
    second = await run_demo(tmp_path / "demo", "⏰ Rappel : Café des transitions")
    assert "⏰ Rappel : Café des transitions" in second
    agenda = second.split("cohorte> agenda", 1)[1].split("Détails")[0]
    assert agenda.count("Café des transitions") == 1

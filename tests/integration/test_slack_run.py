"""``cohortbot run`` with Slack in HTTP mode, as an operator starts it: a real process.

The bot reads its configuration file and its secrets from the environment, serves
``/slack/events`` and ``/healthz`` on its one HTTP server, answers a signed slash
command through the emulated Slack, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.support.slack_app import FORM, SECRET, people
from tests.support.slack_emulator import SlackEmulator, sign, slash_command_form

pytestmark = pytest.mark.slack

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_cohortbot_run_serves_slack_and_stops_cleanly(tmp_path: Path) -> None:
    async with SlackEmulator() as emu:
        people(emu)
        port = free_port()
        config = tmp_path / "cohortbot.toml"
        config.write_text(f"""
[bot]
data_dir = "{tmp_path / 'var'}"
admins = ["slack:U1"]
log_format = "json"

[http]
host = "127.0.0.1"
port = {port}

[slack]
enabled = true
mode = "http"
api_url = "{emu.base_url}"
""", encoding="utf-8")
        env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET,
               "PYTHONPATH": str(ROOT)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "--config", str(config), "run", cwd=tmp_path,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(200):
                    try:
                        async with session.get(f"{base}/healthz") as response:
                            health = await response.json()
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    assert process.returncode is None, "cohortbot run stopped early"
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("cohortbot run never became ready")
                assert health["checks"]["slack"]["ok"] is True

                url = emu.new_response_url(channel="C1", user="U1")
                body = slash_command_form('cohorte creer "Cohorte en production"',
                                          user_id="U1", channel_id="C1", response_url=url)
                async with session.post(f"{base}/slack/events", data=body,
                                        headers={"Content-Type": FORM,
                                                 **sign(body, SECRET)}) as response:
                    assert response.status == 200
                async with session.post(f"{base}/slack/events", data=body,
                                        headers={"Content-Type": FORM}) as response:
                    assert response.status == 401
            posted = await emu.wait_for_call("chat.postMessage", timeout=10)
            assert "*Cohorte en production* créée" in posted.args["text"]
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode == 0, output.decode(errors="replace")[-2000:]
        assert b"cohortbot stopping" in output
        assert b'"event_loop": "uvloop"' in output, "run uses uvloop where it is installed"
        assert SECRET.encode() not in output and b"xoxb-test" not in output, \
            "secrets never reach the logs"

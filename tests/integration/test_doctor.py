"""``cohortbot doctor`` names each problem with its fix, against real peers."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

from bot.config import Config, MatrixConfig, SlackConfig
from bot.devtools.local_synapse import LocalSynapse
from bot.doctor import doctor
from tests.conftest import make_config
from tests.support.ports import refused_port
from tests.support.slack_emulator import SlackEmulator


async def test_doctor_reports_each_problem_with_its_fix(tmp_path: Path) -> None:
    out = io.StringIO()
    with refused_port() as closed:
        config = replace(make_config(tmp_path),
                         matrix=MatrixConfig(enabled=True, user_id="@bot:localhost",
                                             homeserver=f"http://127.0.0.1:{closed}",
                                             password="x"))
        async with SlackEmulator() as emu:
            config = replace(config, slack=SlackConfig(enabled=True, api_url=emu.base_url,
                                                       bot_token="xoxb-wrong",
                                                       signing_secret="s"))
            assert await doctor(config, out) == 1
    lines = out.getvalue().splitlines()
    assert any(line.startswith("[ERR] database:") and "cohortbot db upgrade" in line
               for line in lines)
    assert any(line.startswith("[ERR] matrix.homeserver:") and "unreachable" in line
               for line in lines)
    assert any(line.startswith("[ERR] slack.bot_token:") and "invalid_auth" in line
               for line in lines)
    assert lines[-1] == "3 problem(s)"


async def test_doctor_is_happy_with_a_working_setup(tmp_path: Path, synapse: LocalSynapse
                                                    ) -> None:
    from storage.db import Database

    bot = await synapse.register("doctorbot", "pw-doctor")
    config: Config = make_config(tmp_path)
    db = Database(config.database_url)
    await db.upgrade()
    await db.dispose()
    async with SlackEmulator() as emu:
        config = replace(config,
                         matrix=MatrixConfig(enabled=True, user_id=bot.user_id,
                                             homeserver=synapse.base_url,
                                             access_token=bot.access_token),
                         slack=SlackConfig(enabled=True, api_url=emu.base_url,
                                           bot_token="xoxb-test", signing_secret="s"))
        out = io.StringIO()
        assert await doctor(config, out) == 0, out.getvalue()
    assert "valid for @doctorbot:localhost" in out.getvalue()

"""Configuration: one clear line naming the setting when something is wrong."""

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cohortbot.toml"
    path.write_text(text)
    return path


def test_defaults_need_no_file(tmp_path: Path) -> None:
    config = load(None, env={})
    assert config.bot.language == "fr"
    assert config.database_url.startswith("sqlite+aiosqlite:///")


@pytest.mark.parametrize("text, setting", [
    ('[bot]\nlangage = "fr"\n', "bot.langage"),
    ('[bot]\nlanguage = "de"\n', "bot.language"),
    ('[bot]\ntimezone = "Europe/Pariss"\n', "bot.timezone"),
    ('[bot]\nadmins = ["alice"]\n', "bot.admins"),
    ('[matrix]\nenabled = true\nuser_id = "@bot:localhost"\n', "matrix.password"),
    ('[matrix]\nenabled = "yes"\n', "matrix.enabled"),
    ('[slack]\nenabled = true\n', "slack.bot_token"),
    ('[slack]\nbot_token = "xoxb-1"\n', "slack.bot_token"),
    ('[database]\nurl = "postgresql+asyncpg://u:secret@h/db"\n', "database.url"),
    ('[database]\nurl = "mysql://h/db"\n', "database.url"),
    ('[http]\nport = 70000\n', "http.port"),
    ('[htp]\nport = 1\n', "htp"),
])
def test_wrong_settings_are_named(tmp_path: Path, text: str, setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(_write(tmp_path, text), env={})
    assert caught.value.setting == setting


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, '[slack]\nenabled = true\nmode = "http"\n')
    config = load(path, env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    assert config.slack.bot_token == "xoxb-1"
    assert "xoxb-1" not in repr(config)


def test_cli_prints_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    path = _write(tmp_path, '[bot]\nlanguage = "de"\n')
    assert main(["--config", str(path), "db", "current"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['config error: bot.language: must be "fr" or "en", not \'de\'']


def test_logs_mask_secrets() -> None:
    from bot.logs import mask

    line = mask("token xoxb-123-abc url postgresql+asyncpg://bot:hunter2@db/x password=pw")
    assert "xoxb-123" not in line and "hunter2" not in line and "pw" not in line.split()[-1]

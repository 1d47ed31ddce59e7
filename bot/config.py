"""Configuration: one TOML file for settings, the environment for secrets.

A wrong or missing setting stops start-up with one line naming it, e.g.
``config error: slack.signing_secret: missing — set SLACK_SIGNING_SECRET``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_CONFIG_PATHS = (Path("cohortbot.toml"),)


class ConfigError(Exception):
    """A setting is wrong or missing; the message names it and says how to fix it."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting


@dataclass(frozen=True, slots=True)
class BotConfig:
    language: str = "fr"
    timezone: str = "Europe/Paris"
    admins: tuple[str, ...] = ()
    data_dir: Path = Path("var")
    content_dir: str = ""
    """Questionnaires, campaigns and demo data (empty: the bundled ones, found by
    ``handlers.core.settings.find_content_dir``)."""
    log_level: str = "INFO"
    log_format: str = "text"


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str = ""
    echo: bool = False

    def resolved_url(self, data_dir: Path) -> str:
        return self.url or f"sqlite+aiosqlite:///{data_dir / 'cohortbot.db'}"


@dataclass(frozen=True, slots=True)
class MatrixConfig:
    enabled: bool = False
    homeserver: str = "http://127.0.0.1:8008"
    user_id: str = ""
    device_name: str = "cohortbot"
    e2e: bool = False
    password: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class SlackConfig:
    enabled: bool = False
    mode: str = "http"
    api_url: str = "https://slack.com/api/"
    bot_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    app_token: str | None = field(default=None, repr=False)
    posts_per_second: int = 1
    """Messages posted per channel and second (Slack allows about one; a test workspace or
    an emulator may take more)."""


@dataclass(frozen=True, slots=True)
class HttpConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@dataclass(frozen=True, slots=True)
class NotesConfig:
    questionnaires_dir: str = ""
    """Where the questionnaire YAML files are (empty: the bundled ``data/questionnaires``)."""
    reminder_days: int = 7
    """Days of silence before someone is reminded to finish a note (0: never)."""
    max_reminders: int = 2


@dataclass(frozen=True, slots=True)
class CalendarConfig:
    import_private_urls: bool = False
    """Let ``agenda importer <url>`` read from this machine or a private network."""


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """Days the bot keeps its own bookkeeping (0: forever); see storage/repos/retention.py."""

    processed_events_days: int = 30
    messages_days: int = 30
    message_keys_days: int = 365
    jobs_days: int = 90
    audit_days: int = 365
    relay_days: int = 30


@dataclass(frozen=True, slots=True)
class Config:
    bot: BotConfig = field(default_factory=BotConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    matrix: MatrixConfig = field(default_factory=MatrixConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    notes: NotesConfig = field(default_factory=NotesConfig)
    calendar: CalendarConfig = field(default_factory=CalendarConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    source: Path | None = None

    @property
    def database_url(self) -> str:
        return self.database.resolved_url(self.bot.data_dir)


SECRETS: dict[tuple[str, str], str] = {
    ("database", "url"): "COHORTBOT_DATABASE_URL",
    ("matrix", "password"): "COHORTBOT_MATRIX_PASSWORD",
    ("matrix", "access_token"): "COHORTBOT_MATRIX_ACCESS_TOKEN",
    ("slack", "bot_token"): "SLACK_BOT_TOKEN",
    ("slack", "signing_secret"): "SLACK_SIGNING_SECRET",
    ("slack", "app_token"): "SLACK_APP_TOKEN",
}
"""Settings read from the environment only (the database URL may also be in the file when
it holds no password)."""

_SECTIONS: dict[str, type] = {"bot": BotConfig, "database": DatabaseConfig,
                              "matrix": MatrixConfig, "slack": SlackConfig, "http": HttpConfig,
                              "notes": NotesConfig, "calendar": CalendarConfig,
                              "retention": RetentionConfig}


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the TOML file (if any) and the environment into a validated :class:`Config`."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    source = path
    if source is None:
        named = env.get("COHORTBOT_CONFIG")
        if named:
            source = Path(named)
        else:
            source = next((p for p in DEFAULT_CONFIG_PATHS if p.exists()), None)
    if source is not None:
        if not source.exists():
            raise ConfigError("--config", f"file {source} not found")
        try:
            raw = tomllib.loads(source.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(str(source), f"not valid TOML ({error})") from None
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _SECTIONS:
            raise ConfigError(name, f"unknown section{_suggest(name, _SECTIONS)}")
        if not isinstance(value, dict):
            raise ConfigError(name, "must be a [section]")
        sections[name] = _section(name, _SECTIONS[name], value, env)
    for name, cls in _SECTIONS.items():
        if name not in sections:
            sections[name] = _section(name, cls, {}, env)
    config = Config(**sections, source=source)
    validate(config)
    return config


def _section(name: str, cls: type, values: dict[str, Any], env: Mapping[str, str]) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{name}.{key}", f"unknown setting{_suggest(key, known)}")
        if (name, key) in SECRETS and (name, key) != ("database", "url"):
            raise ConfigError(f"{name}.{key}",
                              f"secrets are not read from files — set {SECRETS[(name, key)]}")
        kwargs[key] = _coerce(f"{name}.{key}", known[key].type, value)
        if (name, key) == ("database", "url") and _has_password(value):
            raise ConfigError("database.url",
                              "holds a password — set COHORTBOT_DATABASE_URL instead")
    for (section, key), variable in SECRETS.items():
        if section == name and env.get(variable):
            kwargs[key] = env[variable]
    return cls(**kwargs)


def _coerce(setting: str, annotation: Any, value: Any) -> Any:
    text = str(annotation)
    if text == "bool":
        if not isinstance(value, bool):
            raise ConfigError(setting, f"must be true or false, not {value!r}")
        return value
    if text == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(setting, f"must be a whole number, not {value!r}")
        return value
    if text == "Path":
        if not isinstance(value, str):
            raise ConfigError(setting, "must be a path in quotes")
        return Path(value)
    if text.startswith("tuple"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(setting, 'must be a list of strings, e.g. ["matrix:@alice:example.org"]')
        return tuple(value)
    if not isinstance(value, str):
        raise ConfigError(setting, f"must be a string in quotes, not {value!r}")
    return value


def validate(config: Config) -> None:
    """Check values that a type alone does not catch."""
    bot = config.bot
    if bot.language not in ("fr", "en"):
        raise ConfigError("bot.language", f'must be "fr" or "en", not {bot.language!r}')
    try:
        ZoneInfo(bot.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("bot.timezone", f"unknown time zone {bot.timezone!r} (e.g. Europe/Paris)"
                          ) from None
    for admin in bot.admins:
        platform, sep, user = admin.partition(":")
        if not sep or not user or platform not in ("slack", "matrix", "console"):
            raise ConfigError("bot.admins", f"{admin!r} must look like slack:U012AB or "
                                            "matrix:@alice:example.org")
    if bot.content_dir and not Path(bot.content_dir).is_dir():
        raise ConfigError("bot.content_dir", f"{bot.content_dir} is not a directory (leave it "
                          "empty for the bundled questionnaires, campaigns and demo data)")
    if bot.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("bot.log_level", "must be DEBUG, INFO, WARNING or ERROR")
    if bot.log_format not in ("text", "json"):
        raise ConfigError("bot.log_format", 'must be "text" or "json"')
    url = config.database_url
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("database.url", "not a database URL (e.g. "
                          "sqlite+aiosqlite:///var/cohortbot.db or postgresql+asyncpg://…)"
                          ) from None
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ConfigError("database.url", f"driver {parsed.drivername!r} not supported — use "
                          "sqlite+aiosqlite or postgresql+asyncpg")
    m = config.matrix
    if m.enabled:
        if not m.user_id.startswith("@") or ":" not in m.user_id:
            raise ConfigError("matrix.user_id", "must be a full Matrix id like @cohortbot:example.org")
        if not (m.password or m.access_token):
            raise ConfigError("matrix.password", "missing — set COHORTBOT_MATRIX_PASSWORD or "
                                                 "COHORTBOT_MATRIX_ACCESS_TOKEN")
        if not m.homeserver.startswith(("http://", "https://")):
            raise ConfigError("matrix.homeserver", "must be an http(s):// URL")
    s = config.slack
    if s.enabled:
        if s.mode not in ("http", "socket"):
            raise ConfigError("slack.mode", 'must be "http" or "socket"')
        if not s.bot_token:
            raise ConfigError("slack.bot_token", "missing — set SLACK_BOT_TOKEN (xoxb-…)")
        if s.mode == "http" and not s.signing_secret:
            raise ConfigError("slack.signing_secret", "missing — set SLACK_SIGNING_SECRET")
        if s.mode == "socket" and not s.app_token:
            raise ConfigError("slack.app_token", "missing — set SLACK_APP_TOKEN (xapp-…)")
        if s.mode == "http" and not config.http.enabled:
            raise ConfigError("http.enabled", "must be true when slack.mode is \"http\"")
    h = config.http
    if not 0 < h.port < 65536:
        raise ConfigError("http.port", "must be between 1 and 65535")
    if s.posts_per_second < 1:
        raise ConfigError("slack.posts_per_second", "must be 1 or more")
    n = config.notes
    if n.reminder_days < 0 or n.max_reminders < 0:
        raise ConfigError("notes.reminder_days" if n.reminder_days < 0 else
                          "notes.max_reminders", "must be 0 or more")
    for item in fields(RetentionConfig):
        if getattr(config.retention, item.name) < 0:
            raise ConfigError(f"retention.{item.name}", "must be 0 (keep forever) or more days")


def _has_password(url: str) -> bool:
    try:
        return bool(make_url(url).password)
    except ArgumentError:
        return False


def _suggest(name: str, known: Mapping[str, Any]) -> str:
    match = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""

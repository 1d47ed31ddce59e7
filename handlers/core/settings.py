"""The part of the configuration the handlers may read (no secrets, no platform details)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from handlers.core.ids import Platform

COMMAND_PREFIXES = {Platform.SLACK: "/cohorte ", Platform.MATRIX: "!cohorte ",
                    Platform.CONSOLE: ""}


@dataclass(frozen=True, slots=True)
class Settings:
    default_language: str = "fr"
    default_timezone: str = "Europe/Paris"
    admins: frozenset[str] = frozenset()
    """``platform:user_id`` of the people who may create cohorts (the console operator always may)."""
    public_url: str = "http://127.0.0.1:8080"
    data_dir: Path = Path("var")
    content_dir: Path = Path(__file__).resolve().parents[2] / "data"
    link_code_ttl_minutes: int = 60 * 24
    extra: dict[str, object] = field(default_factory=dict)

    def prefix(self, platform: Platform) -> str:
        return COMMAND_PREFIXES[platform]

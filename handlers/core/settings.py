"""The part of the configuration the handlers may read (no secrets, no platform details)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from handlers.core.ids import Platform

COMMAND_PREFIXES = {Platform.SLACK: "/cohorte ", Platform.MATRIX: "!cohorte ",
                    Platform.CONSOLE: ""}


def content_dirs() -> list[Path]:
    """Where the bundled questionnaires, campaigns and demo data may be, in order: next to
    the source (a checkout, an editable install), then where ``pip install`` puts them
    (``<prefix>/share/cohortbot/data``), then the usual system prefixes."""
    return [Path(__file__).resolve().parents[2] / "data",
            Path(sys.prefix) / "share" / "cohortbot" / "data",
            Path("/usr/local/share/cohortbot/data"),
            Path("/usr/share/cohortbot/data")]


def find_content_dir() -> Path:
    """The first of :func:`content_dirs` that holds questionnaires (else the first)."""
    candidates = content_dirs()
    return next((c for c in candidates if (c / "questionnaires").is_dir()), candidates[0])


@dataclass(frozen=True, slots=True)
class Settings:
    default_language: str = "fr"
    default_timezone: str = "Europe/Paris"
    admins: frozenset[str] = frozenset()
    """``platform:user_id`` of the people who may create cohorts (the console operator always may)."""
    public_url: str = "http://127.0.0.1:8080"
    data_dir: Path = Path("var")
    content_dir: Path = field(default_factory=find_content_dir)
    link_code_ttl_minutes: int = 60 * 24
    extra: dict[str, object] = field(default_factory=dict)

    def prefix(self, platform: Platform) -> str:
        return COMMAND_PREFIXES[platform]

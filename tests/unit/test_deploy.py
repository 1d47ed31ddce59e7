"""What an operator copies from deploy/: the sample configuration documents every setting
and loads as is; the container files agree with the package."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import yaml

from bot.config import _SECTIONS, SECRETS, load

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_sample_configuration_documents_every_setting_and_loads() -> None:
    text = (DEPLOY / "cohortbot.sample.toml").read_text(encoding="utf-8")
    sections = re.split(r"^\[(\w+)\]\s*$", text, flags=re.MULTILINE)
    body = dict(zip(sections[1::2], sections[2::2], strict=True))
    assert set(body) == set(_SECTIONS)
    for name, cls in _SECTIONS.items():
        for item in fields(cls):
            if (name, item.name) in SECRETS and (name, item.name) != ("database", "url"):
                assert SECRETS[(name, item.name)] in body[name] + text[-800:], item.name
                continue
            assert re.search(rf"^#?\s*{item.name}\s*=", body[name], re.MULTILINE), \
                f"[{name}] {item.name} is not in the sample"
    config = load(DEPLOY / "cohortbot.sample.toml", env={})
    assert config.retention.audit_days == 365 and config.http.port == 8080


def test_the_compose_configuration_loads_and_listens_for_the_host() -> None:
    config = load(DEPLOY / "cohortbot.compose.toml",
                  env={"COHORTBOT_DATABASE_URL": "postgresql+asyncpg://u:p@db/cohortbot"})
    assert config.http.host == "0.0.0.0" and config.bot.log_format == "json"
    assert str(config.bot.data_dir) == "/var/lib/cohortbot"


def test_the_image_ships_every_package_and_the_data_and_runs_unprivileged() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    pyproject = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]
                ["include"]]
    for folder in [*packages, "data"]:
        assert re.search(rf"^COPY {folder} {folder}$", dockerfile, re.MULTILINE), folder
    assert re.search(r"^USER cohortbot$", dockerfile, re.MULTILINE)
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"db", "bot"} <= set(services)
    assert services["synapse"]["profiles"] == ["synapse"]
    bot = services["bot"]
    assert "COHORTBOT_DATABASE_URL" in bot["environment"]
    assert any(v.endswith(":/etc/cohortbot/cohortbot.toml:ro") for v in bot["volumes"])
    assert "COHORTBOT_CONFIG=/etc/cohortbot/cohortbot.toml" in dockerfile
    unit = (DEPLOY / "cohortbot.service").read_text(encoding="utf-8")
    assert "User=cohortbot" in unit and "NoNewPrivileges=true" in unit

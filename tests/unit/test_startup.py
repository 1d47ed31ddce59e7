"""Start-up shortcuts must agree with what they stand for."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from storage.db import alembic_config, script_heads


def test_heads_read_from_the_scripts_are_alembics_heads() -> None:
    expected = set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
    assert script_heads() == expected

"""The console as a person uses it: the real CLI in a child process, commands on stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    config = tmp_path / "cohortbot.toml"
    if not config.exists():
        config.write_text(f'[bot]\ndata_dir = "{tmp_path}"\n')
    return subprocess.run([sys.executable, "-m", "bot.cli", "--config", str(config), *args],
                          input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_demo_data_then_console_as_the_coordinator(tmp_path: Path) -> None:
    loaded = run_cli(tmp_path, "demo-data")
    assert loaded.returncode == 0, loaded.stderr
    assert "8 delegations" in loaded.stdout
    again = run_cli(tmp_path, "demo-data")
    assert "0 delegations, 0 members" in again.stdout
    session = run_cli(tmp_path, "console", "--as", "Camille Martin", stdin=(
        "aide\n"
        "delegation ajouter Commune de Leucate\n"
        "membre ajouter Inès Garcia delegation=Leucate categorie=agent referent=oui\n"
        "!cohorte membre lister Leucate\n"
        "sondage\n"))
    out = session.stdout
    assert session.returncode == 0, session.stderr
    assert "Ce que vous pouvez faire ici (cohorte Cohorte Occitanie)" in out
    assert "Délégation Commune de Leucate ajoutée" in out
    assert "Inès Garcia — agent·e · référent·e" in out
    assert "Je ne connais pas la commande sondage" in out or "sondage" in out
    assert "Traceback" not in out + session.stderr


def test_console_as_an_unknown_name_stops_with_candidates(tmp_path: Path) -> None:
    run_cli(tmp_path, "demo-data")
    result = run_cli(tmp_path, "console", "--as", "Camile Martn")
    assert result.returncode != 0
    assert "personne de ce nom" in result.stderr


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "db", "upgrade")
    second = run_cli(tmp_path, "db", "upgrade")
    assert first.returncode == second.returncode == 0
    assert "database up to date" in second.stdout

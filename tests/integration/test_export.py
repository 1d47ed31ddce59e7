"""``cohortbot export --cohorte X``: the whole cohort as JSON and CSV, without secrets, and
nothing of another cohort."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.bootstrap import App
from bot.export import ExportError, export
from storage.models_calendar import CalendarSettings
from tests.conftest import load_demo
from tests.support.chat import operator
from tests.support.notes import member
from tests.support.polls import poll_number

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


async def test_the_export_holds_the_cohort_and_only_it(any_app: App, tmp_path: Path) -> None:
    app = any_app
    await load_demo(app)
    op = operator(app)
    n = poll_number(await op.say('sondage creer "Plénière le 12 ?"'))
    lea = await member(app, "Léa Fournier")
    await lea.say(f'sondage voter {n} oui commentaire="en train"')
    await lea.dm().say("note commencer intention")
    await lea.dm().message("Une cantine en circuit court.\nfin")
    await op.say("agenda lien")
    await op.say('cohorte creer "Autre cohorte"')
    assert "Brest" in await op.say("delegation ajouter Brest cohorte=autre-cohorte")
    async with app.db.session() as session:
        from sqlalchemy import select

        token = await session.scalar(select(CalendarSettings.feed_token))
    assert token

    now = datetime(2025, 3, 3, 12, tzinfo=UTC)
    folder = await export(app.db, "occitanie", tmp_path / "occitanie", now)
    data = json.loads((folder / "cohort.json").read_text(encoding="utf-8"))
    tables = data["tables"]
    assert data["cohort"]["slug"] == "occitanie"
    assert len(tables["delegation"]) == 8 and "Brest" not in json.dumps(tables)
    assert len(tables["member"]) == 34 and len(tables["coordinator_role"]) == 2
    assert tables["poll_answer"][0]["comment"] == "en train"
    assert tables["note_answer"][0]["value"] == "Une cantine en circuit court."
    assert len(tables["calendar_event"]) == 10
    assert tables["platform_identity"][0]["user_id"] == "@lea:localhost"
    for path in folder.iterdir():
        assert token not in path.read_text(encoding="utf-8"), path.name
    members = list(csv.DictReader(io.StringIO(
        (folder / "member.csv").read_text(encoding="utf-8-sig"))))
    assert len(members) == 34 and "Léa Fournier" in {m["display_name"] for m in members}
    answers = list(csv.DictReader(io.StringIO(
        (folder / "poll_answer.csv").read_text(encoding="utf-8-sig"))))
    assert json.loads(answers[0]["value"]) == {"choices": [1]}

    archive = await export(app.db, "occitanie", tmp_path / "occitanie.zip", now)
    with zipfile.ZipFile(archive) as opened:
        assert {"README.txt", "cohort.json", "member.csv", "poll_answer.csv"} <= \
            set(opened.namelist())
    with pytest.raises(ExportError, match="not empty"):
        await export(app.db, "occitanie", folder, now)
    with pytest.raises(ExportError, match="known: autre-cohorte, occitanie"):
        await export(app.db, "occitnie", tmp_path / "x", now)


def test_the_command_line_writes_a_zip(tmp_path: Path) -> None:
    config = tmp_path / "cohortbot.toml"
    config.write_text(f'[bot]\ndata_dir = "{tmp_path}"\n', encoding="utf-8")
    env = {**os.environ, "COHORTBOT_CONFIG": str(config)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    assert cli("demo-data").returncode == 0
    done = cli("export", "--cohorte", "occitanie")
    assert done.returncode == 0, done.stderr
    written = next(tmp_path.glob("export-occitanie-*.zip"))
    assert f"exported to {written.name}" in done.stdout
    wrong = cli("export", "--cohorte", "nope")
    assert wrong.returncode == 1 and "no cohort 'nope' (known: occitanie)" in wrong.stderr

"""Notes through the real CLI in a child process: a whole note in the console, a SIGKILL in
the middle of a questionnaire, and a broken questionnaire file stopping start-up."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.integration.test_console import ROOT, run_cli


class Console:
    """``cohortbot console`` as a child process, fed line by line through a pipe."""

    def __init__(self, config: Path, as_name: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "--config", str(config), "console", "--as",
             as_name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=ROOT, bufsize=1, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.output = ""
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def send(self, line: str, expect: str, timeout: float = 30.0) -> str:
        """Type ``line``; wait until the bot's output since then contains ``expect``."""
        assert self.proc.stdin is not None
        start = len(self.output)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while expect not in self.output[start:]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {expect!r} after {line!r}; got:\n{self.output[start:]}")
            try:
                self.output += self._lines.get(timeout=left)
            except queue.Empty:
                continue
        return self.output[start:]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> str:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


def _answers(data_dir: Path) -> dict[str, object]:
    import json

    with sqlite3.connect(data_dir / "cohortbot.db") as db:
        return {q: json.loads(v) for q, v in db.execute(
            "SELECT question_id, value FROM note_answer ORDER BY id")}


def test_a_whole_note_in_the_console(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "demo-data").returncode == 0
    session = run_cli(tmp_path, "console", "--as", "Léa Fournier", stdin=(
        "note commencer intention\n"
        "> Une cantine en circuit court.\n"
        "> Thèmes : alimentation, éducation.\n"
        "> fin\n"
        "> Maintenir l'agriculture locale.\n"
        "> fin\n"
        "> peut-être\n"
        "> oui\n"
        "> Moins de camions.\n"
        "> fin\n"
        "note statut\n"
        "note exporter intention format=docx\n"))
    out = session.stdout
    assert session.returncode == 0, session.stderr
    assert "── message privé pour Léa Fournier ──" in out
    assert "Note d'intention — question 1/4" in out
    assert "Répondez par oui ou par non" in out
    assert "Note d'intention de Commune de Gruissan est complète (4/4 questions)" in out
    assert "Note d'intention : 100\u00a0% ✓ ; par Léa Fournier" in out
    exported = tmp_path / "exports" / "note-intention-commune-de-gruissan.docx"
    assert f"📎 {exported}" in out and exported.stat().st_size > 5000
    assert "Traceback" not in out + session.stderr
    assert _answers(tmp_path)["recommandation_diagnostic"] is True


def test_sigkill_in_the_middle_of_a_questionnaire_loses_nothing(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "demo-data").returncode == 0
    config = tmp_path / "cohortbot.toml"
    first = Console(config, "Léa Fournier")
    first.send("note commencer cadrage", "question 1/5")
    first.send("> Services techniques (directe)", "C'est noté (1 message)")
    first.send("> Parents d'élèves (indirecte)\n> fin", "question 2/5")
    first.send("> 50 % de produits locaux", "C'est noté (1 message)")
    first.kill()
    assert first.proc.returncode == -signal.SIGKILL

    second = Console(config, "Léa Fournier")
    out = second.send("> Un comité de suivi", "C'est noté (2 messages)")
    out = second.send("> fin", "question 3/5")
    assert "Réponse 2 enregistrée" in out
    out = second.send("> statut", "Nous en sommes à la question 3/5")
    assert "40\u00a0% des questions obligatoires" in out
    errors = second.close()
    assert "Traceback" not in second.output + errors
    assert _answers(tmp_path) == {
        "parties_prenantes": ["Services techniques (directe)", "Parents d'élèves (indirecte)"],
        "objectifs": ["50 % de produits locaux", "Un comité de suivi"]}


def test_a_broken_questionnaire_stops_start_up_with_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "questionnaires"
    folder.mkdir()
    source = ROOT / "data" / "questionnaires" / "cadrage.yaml"
    (folder / "cadrage.yaml").write_text(
        source.read_text(encoding="utf-8").replace("type: long_text", "type: essay", 1),
        encoding="utf-8")
    config = tmp_path / "cohortbot.toml"
    config.write_text(f'[bot]\ndata_dir = "{tmp_path}"\n[notes]\n'
                      f'questionnaires_dir = "{folder}"\n')
    result = run_cli(tmp_path, "console")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("config error: notes.questionnaires_dir: ")
    assert f"{folder / 'cadrage.yaml'}: questions[2].type: 'essay' is not one of" in lines[0]

"""The Note d'arbitrage run end to end in the console, as the demo does it: the real CLI in
child processes, the coordinator and several delegation members taking turns."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

from tests.integration.test_console import run_cli


def console(tmp_path: Path, who: str, *lines: str) -> str:
    result = run_cli(tmp_path, "console", "--as", who, stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


def test_note_arbitrage_in_the_console_from_sending_to_export(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "demo-data").returncode == 0
    out = console(tmp_path, "Camille Martin", "cohorte lier occitanie",
                  "campagne lister", "campagne envoyer note-arbitrage relances=J-3,J-1")
    assert "note-arbitrage — Note d'arbitrage" in out and "brouillon" in out
    assert "Campagne note-arbitrage envoyée : 8 sondages (n°1 à n°8)" in out
    assert "Première session entre pairs : jeudi" in out
    out = console(tmp_path, "Bernard Roux", "campagne afaire", "sondage voter 1 oui oui si-besoin",
                  "sondage voter 2 oui", "sondage voter 5 oui non si-besoin oui non")
    assert "à vous de répondre" in out and out.count("Réponse enregistrée") == 3
    out = console(tmp_path, "Nathalie Fabre", "sondage voter 1 oui non non",
                  "sondage voter 2 non",
                  'sondage voter 3 "Retour possible sur notre cantine en régie"')
    assert "c'est le ou la référent·e" in out and out.count("Réponse enregistrée") == 2
    out = console(tmp_path, "Julien Ferrer", "sondage voter 2 non",
                  'sondage voter 6 "Le marché de producteurs de Canohès"')
    assert out.count("Réponse enregistrée") == 2
    out = console(tmp_path, "Camille Martin", "campagne suivi note-arbitrage",
                  "campagne relancer note-arbitrage", "sondage resultats 5",
                  "campagne fermer note-arbitrage", "campagne exporter note-arbitrage")
    assert "Commune de Barre-des-Cévennes" in out and "Total" in out
    assert "Relance envoyée en message privé" in out
    assert "Meilleure" in out
    assert "Campagne note-arbitrage close (8 sondages fermés)" in out
    exported = sorted((tmp_path / "exports").glob("campagne-note-arbitrage-*.xlsx"))
    assert exported, out
    book = load_workbook(exported[0])
    assert book.sheetnames[0] == "Tableau" and len(book.sheetnames) == 9
    table = list(book["Tableau"].values)
    barre = next(row for row in table if row[0] == "Commune de Barre-des-Cévennes")
    assert barre[1:4] == ("2/4", "1/1", "1/1")

"""The package as an operator installs it (a wheel, not the checkout) finds its templates,
migrations, questionnaires, campaigns and demo data, and passes ``cohortbot doctor``.

The wheel is built from a copy of the sources and installed into a fresh virtualenv
without dependencies; the dependencies come from the test environment through a ``.pth``
line, so nothing is downloaded but the build backend, and nothing of the checkout is on
the path (the commands run from an empty directory).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = {".git", ".venv", "tests", "bench", "build", "var", "demo", ".pytest_cache",
               ".ruff_cache"}
"""Top-level folders of a checkout that are not part of the package's sources."""


def skip(directory: str, names: list[str]) -> set[str]:
    top = Path(directory) == ROOT
    return {n for n in names if (top and n in NOT_SHIPPED) or n == "__pycache__"
            or n.endswith((".egg-info", ".db", ".db-wal", ".db-shm"))}


def run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done


def test_a_wheel_in_a_fresh_virtualenv_finds_its_data_and_passes_doctor(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=skip)
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
        "-w", wheels, source,
        cwd=tmp_path)
    (wheel,) = wheels.glob("cohortbot-*.whl")
    fresh = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", fresh, cwd=tmp_path)
    python = fresh / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                    cwd=tmp_path).stdout.strip())
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--quiet", wheel, cwd=tmp_path)

    work = tmp_path / "work"
    work.mkdir()
    (work / "cohortbot.toml").write_text('[bot]\ndata_dir = "var"\n[http]\nport = 18099\n')
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COHORTBOT_CONFIG")}
    cohortbot = fresh / "bin" / "cohortbot"
    where = run(python, "-c", "import bot, messages, handlers.core.settings as s; "
                "print(bot.__file__); print(s.find_content_dir())", cwd=work, env=env)
    module, content = where.stdout.split()
    assert module.startswith(str(fresh)) and content == str(fresh / "share/cohortbot/data")
    run(cohortbot, "db", "upgrade", cwd=work, env=env)
    doctor = run(cohortbot, "doctor", cwd=work, env=env)
    assert "[ok ] bot.content_dir: " + content + ": 5 questionnaires" in doctor.stdout
    assert doctor.stdout.strip().endswith("all good"), doctor.stdout
    loaded = run(cohortbot, "demo-data", cwd=work, env=env)
    assert "demo data loaded" in loaded.stdout
    console = subprocess.run([cohortbot, "console"], cwd=work, env=env, input="aide\nquitter\n",
                             capture_output=True, text=True, timeout=120)
    assert "Ce que vous pouvez faire ici" in console.stdout, console.stdout + console.stderr


def test_the_container_image_builds_where_docker_runs(tmp_path: Path) -> None:
    """Builds deploy/Dockerfile and runs ``cohortbot doctor`` in it when a Docker engine
    answers; without one (this suite does not need Docker) the image's recipe is checked
    against the package: what it copies, the user it runs as, its health check."""
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True,
                                        timeout=30).returncode != 0:
        from tests.unit.test_deploy import (
            test_the_image_ships_every_package_and_the_data_and_runs_unprivileged as recipe,
        )

        recipe()
        return
    run(docker, "build", "-f", "deploy/Dockerfile", "-t", "cohortbot:test", ".", cwd=ROOT)
    doctor = run(docker, "run", "--rm", "-e", "COHORTBOT_CONFIG=", "--entrypoint", "sh",
                 "cohortbot:test", "-c", "cohortbot db upgrade && cohortbot doctor", cwd=tmp_path)
    assert "share/cohortbot/data: 5 questionnaires" in doctor.stdout

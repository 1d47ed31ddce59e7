"""Start-up time and memory of ``cohortbot run`` with 100 cohorts of seeded data.

``python bench/startup.py [--runs 5] [--cohorts 100] [--backend sqlite|postgres|both]``

Seeds, once per database: 100 copies of the demo cohort (8 delegations × 4 members,
2 coordinators, the demo's calendar of 10 events and its campaign draft), and in each
cohort 3 polls answered by all 32 members and one note per delegation with 4 answers
(≈ 3,400 members, 1,000 events, 9,600 poll answers, 3,200 note answers).

Then, for each run, as a real child process:

- **baseline**: a bare Python process importing aiohttp and serving ``/healthz``;
- **cohortbot**: ``python -m bot.cli --config … run`` (migrations checked, templates,
  router, HTTP server, leadership, scheduler with the calendar's start-up planning);
- **cohortbot + Slack**: the same with Slack in HTTP mode against the local Slack Web API
  emulator (Bolt, the Slack SDK and uvloop loaded, ``auth.test`` before ready).

Measured from spawn: time to the first ``/healthz`` 200, time until the scheduler's
start-up planning was logged, CPU time the process used until ready (less sensitive
than wall time to other work on the machine), RSS at ready and 3 s later (settled). The goal is
≤ 1.5 s to ready and ≤ 120 MB RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import table, write  # noqa: E402
from bot.devtools.local_synapse import free_port  # noqa: E402
from tests.support.slack_emulator import SlackEmulator  # noqa: E402

DEMO = ROOT / "data" / "demo" / "occitanie.yaml"
BASELINE = """
import sys
from aiohttp import web
async def healthz(request):
    return web.json_response({"ready": True})
app = web.Application()
app.router.add_get("/healthz", healthz)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


async def seed(url: str, cohorts: int, work: Path) -> dict[str, int]:
    from sqlalchemy import func, select

    from bot.bootstrap import bootstrap
    from bot.config import BotConfig, Config, DatabaseConfig, HttpConfig
    from handlers.admin.demo import load_cohort_file
    from storage.models import Member
    from storage.models_notes import NoteAnswer, PilotNote
    from storage.models_polls import Poll, PollAnswer, PollKind, PollOption
    from storage.uow import Store

    app = await bootstrap(Config(bot=BotConfig(data_dir=work), database=DatabaseConfig(url=url),
                                 http=HttpConfig(enabled=False)))
    demo = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    now = datetime.now(UTC)
    try:
        for index in range(cohorts):
            spec = dict(demo, cohort={**demo["cohort"], "slug": f"cohorte-{index:03d}",
                                      "name": f"Cohorte n°{index}"})
            path = work / f"cohort-{index:03d}.yaml"
            path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
            async with app.db.session() as session:
                store = Store(session)
                await load_cohort_file(store, path, now)
                cohort = await store.cohorts.by_slug(f"cohorte-{index:03d}")
                assert cohort is not None
                delegations = await store.delegations.of_cohort(cohort.id)
                members = list((await session.scalars(select(Member).where(
                    Member.delegation_id.in_([d.id for d in delegations])))).all())
                for number in range(3):
                    poll = Poll(cohort_id=cohort.id, title=f"Sondage {number}", question="",
                                kind=PollKind.SINGLE, created_at=now)
                    await store.polls.add(poll, [PollOption(position=p, label=f"Option {p}")
                                                 for p in (1, 2, 3)])
                    session.add_all([PollAnswer(
                        poll_id=poll.id, scope_key=f"m:{m.id}", member_id=m.id,
                        delegation_id=m.delegation_id, category=str(m.category),
                        value={"choices": [1 + m.id % 3]}, platform="matrix", changes=0,
                        created_at=now, updated_at=now) for m in members])
                for delegation in delegations:
                    note = PilotNote(cohort_id=cohort.id, delegation_id=delegation.id,
                                     questionnaire="intention", questionnaire_version=1,
                                     created_at=now, updated_at=now)
                    session.add(note)
                    await session.flush()
                    session.add_all([NoteAnswer(note_id=note.id, question_id=f"q{q}",
                                                value=f"Réponse {q} de {delegation.territory}",
                                                answered_at=now, version=1) for q in range(4)])
        counts = {}
        async with app.db.session() as session:
            for model in (Member, PollAnswer, NoteAnswer):
                counts[model.__tablename__] = int(await session.scalar(
                    select(func.count()).select_from(model)) or 0)
        return counts
    finally:
        await app.close()


async def wait_ready(port: int, proc: asyncio.subprocess.Process, started: float,
                     limit: float = 60) -> float:
    url = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.perf_counter() - started < limit:
            if proc.returncode is not None:
                raise RuntimeError(f"exited with {proc.returncode}")
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.005)
    raise RuntimeError("not ready in time")


def rss_mib(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


async def measure(argv: list[str], port: int, log: Path | None, env: dict[str, str]
                  ) -> dict[str, float]:
    out = log.open("wb") if log else subprocess.DEVNULL
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, env=env, stdout=out,
                                                stderr=subprocess.STDOUT)
    try:
        ready = await wait_ready(port, proc, started)
        at_ready = rss_mib(proc.pid)
        times = psutil.Process(proc.pid).cpu_times()
        cpu = times.user + times.system
        planned = None
        if log is not None:
            while time.perf_counter() - started < 60 and planned is None:
                text = await asyncio.to_thread(log.read_text, encoding="utf-8",
                                               errors="replace")
                for line in text.splitlines():
                    if '"calendar planned"' in line:
                        planned = time.perf_counter() - started
                        break
                await asyncio.sleep(0.01)
        await asyncio.sleep(3)
        settled = rss_mib(proc.pid)
        return {"ready_s": round(ready, 3), "cpu_to_ready_s": round(cpu, 3),
                "planned_s": round(planned, 3) if planned else None,
                "rss_ready_mib": at_ready, "rss_settled_mib": settled}
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        if log:
            out.close()  # type: ignore[union-attr]


def config_file(work: Path, url: str, port: int, slack_api: str | None = None) -> Path:
    path = work / f"cohortbot-{port}.toml"
    slack = f'[slack]\nenabled = true\napi_url = "{slack_api}"\n' if slack_api else ""
    path.write_text(f'[bot]\ndata_dir = "{work}"\nlog_format = "json"\n'
                    f'[database]\nurl = "{url}"\n[http]\nport = {port}\n{slack}',
                    encoding="utf-8")
    return path


def median(rows: list[dict[str, float]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.median(values), 3) if values else None


async def bench_backend(name: str, url: str, work: Path, runs: int, cohorts: int
                        ) -> dict[str, object]:
    seeded = await seed(url, cohorts, work)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SLACK_BOT_TOKEN": "xoxb-test",
           "SLACK_SIGNING_SECRET": "bench-signing-secret"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    base, bot, slack = [], [], []
    async with SlackEmulator() as emu:
        for _ in range(runs):
            port = free_port()
            base.append(await measure([sys.executable, "-c", BASELINE, str(port)], port, None,
                                      env))
            for rows, api in ((bot, None), (slack, emu.base_url)):
                port = free_port()
                config = config_file(work, url, port, api)
                rows.append(await measure([sys.executable, "-m", "bot.cli", "--config",
                                           str(config), "run"], port, work / f"run-{port}.log",
                                          env))
    summary = {"backend": name, "seeded": seeded, "runs": runs, "baseline": base, "cohortbot": bot,
               "cohortbot_slack": slack, "load_average": [round(x, 2) for x in os.getloadavg()]}
    for who, rows in (("baseline", base), ("cohortbot", bot), ("cohortbot_slack", slack)):
        summary[f"{who}_median"] = {k: median(rows, k) for k in rows[0]}
        summary[f"{who}_min"] = {k: min((r[k] for r in rows if r.get(k) is not None),
                                        default=None) for k in rows[0]}
        summary[f"{who}_max"] = {k: max((r[k] for r in rows if r.get(k) is not None),
                                        default=None) for k in rows[0]}
    return summary


def compile_sources() -> None:
    """Byte-compile the bot's sources, as ``pip install`` does: an installed bot never
    compiles its modules at start-up (in a checkout run with PYTHONDONTWRITEBYTECODE, it
    would, every time: ~0.3 s of the start-up measured here)."""
    import compileall

    for package in ("bot", "handlers", "storage", "messages"):
        compileall.compile_dir(ROOT / package, quiet=1)


async def main(args: argparse.Namespace) -> list[dict[str, object]]:
    compile_sources()
    results = []
    with tempfile.TemporaryDirectory(prefix="cohortbot-startup-") as tmp:
        work = Path(tmp)
        if args.backend in ("sqlite", "both"):
            (work / "sqlite").mkdir()
            results.append(await bench_backend(
                "SQLite", f"sqlite+aiosqlite:///{work}/sqlite/bot.db", work / "sqlite",
                args.runs, args.cohorts))
        if args.backend in ("postgres", "both"):
            from bot.devtools.local_postgres import LocalPostgres

            cluster = LocalPostgres()
            await cluster.start()
            try:
                name = await cluster.create_database()
                (work / "pg").mkdir()
                results.append(await bench_backend("PostgreSQL", cluster.url_for(name),
                                                   work / "pg", args.runs, args.cohorts))
            finally:
                await cluster.stop()
    return results


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cohorts", type=int, default=100)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    results = asyncio.run(main(args))
    rows = []
    for r in results:
        for who in ("baseline", "cohortbot", "cohortbot_slack"):
            low, med, top = r[f"{who}_min"], r[f"{who}_median"], r[f"{who}_max"]
            rows.append({"backend": r["backend"], "process": who,
                         "ready s (min/median/max)":
                             f"{low['ready_s']} / {med['ready_s']} / {top['ready_s']}",
                         "CPU to ready s (min/median)":
                             f"{low['cpu_to_ready_s']} / {med['cpu_to_ready_s']}",
                         "planned s": f"{med.get('planned_s')} / {top.get('planned_s')}",
                         "RSS ready MiB": f"{med['rss_ready_mib']} / {top['rss_ready_mib']}",
                         "RSS settled MiB": f"{med['rss_settled_mib']} / "
                                            f"{top['rss_settled_mib']}"})
    print(table(rows, list(rows[0])))
    for r in results:
        print(f"{r['backend']}: seeded {r['seeded']}, load average after: {r['load_average']}")
    path = write("startup", {"results": results})
    print(f"written to {path}")
    print(json.dumps([r["cohortbot_median"] for r in results]))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())

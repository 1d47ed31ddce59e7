"""Benchmark: 100 concurrent note conversations × 20 steps through the real dispatcher.

Each simulated person fills one note of their delegation in their DM, waiting for the
bot's answer before sending the next message (start, a few ``statut``/``voir``, then
every answer, long ones over two messages). Measured per step: the time
``Dispatcher.handle`` takes (one transaction: state, answer, history, reminder, outbox).
The baseline, measured in the same run and with the same concurrency, is the same
number of bare dispatcher round trips of ``aide``. The delivery worker runs all along
(a sender that accepts at once), and the outbox is drained between phases so that
one phase's backlog does not slow the next. At the end every stored answer is
checked against what was sent: answers lost must be 0, doubles 0.

Before the concurrent phase, five other people fill one note each, one after the
other, and one person sends ``aide`` 100 times: the uncontended cost of a step
(this also warms templates and connections up).

    python bench/notes.py [--people 100] [--steps 20] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bot.bootstrap import App, bootstrap  # noqa: E402
from bot.config import BotConfig, Config, DatabaseConfig  # noqa: E402
from bot.delivery import Outbound, Sent  # noqa: E402
from handlers.core.events import CommandEvent, MessageEvent, Origin  # noqa: E402
from handlers.core.ids import Platform, RoomRef, UserRef  # noqa: E402
from handlers.notes.questionnaires import Questionnaire, QuestionType  # noqa: E402
from storage.models_notes import (  # noqa: E402
    ConversationState,
    NoteAnswer,
    NoteAnswerHistory,
    NoteConversation,
    PilotNote,
)
from storage.uow import Store  # noqa: E402

PLATFORM = Platform.MATRIX


class NullSender:
    """Accepts every message at once, so the outbox drains as it would in production."""

    platform = PLATFORM

    def __init__(self) -> None:
        self.count = 0

    async def send(self, message: Outbound) -> Sent:
        self.count += 1
        return Sent(message_id=f"m{self.count}", room_id=message.destination)


def script(questionnaire: Questionnaire, person: int, steps: int
           ) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The messages one person sends (kind, text) and the answers they should leave."""
    answers: list[tuple[str, str]] = []
    expected: dict[str, Any] = {}
    for q in questionnaire.questions:
        tag = f"p{person}-{q.id}"
        if q.type is QuestionType.LONG_TEXT:
            answers += [("msg", f"Début {tag}."), ("msg", f"Suite {tag}.\nfin")]
            expected[q.id] = f"Début {tag}.\n\nSuite {tag}."
        elif q.type is QuestionType.LIST:
            answers += [("msg", f"- Un {tag}\n- Deux {tag}"), ("msg", f"- Trois {tag}\nfin")]
            expected[q.id] = [f"Un {tag}", f"Deux {tag}", f"Trois {tag}"]
        elif q.type is QuestionType.NUMBER:
            answers.append(("msg", str(1000 + person)))
            expected[q.id] = 1000 + person
        elif q.type is QuestionType.YES_NO:
            answers.append(("msg", "oui" if person % 2 else "non"))
            expected[q.id] = bool(person % 2)
        else:
            answers.append(("msg", f"Réponse {tag}"))
            expected[q.id] = f"Réponse {tag}"
    padding = max(0, steps - 1 - len(answers))
    filler = [("msg", "statut" if i % 2 == 0 else "voir") for i in range(padding)]
    return [("cmd", f"note commencer {questionnaire.id}"), *filler, *answers], expected


async def populate(app: App, delegations: int, per_delegation: int) -> list[tuple[str, str]]:
    """A cohort with ``delegations`` × ``per_delegation`` members, each linked to an account;
    returns (user id, territory) per person."""
    now = app.clock.now()
    people = []
    async with app.db.session() as session:
        store = Store(session)
        cohort = await store.cohorts.add(slug="bench", name="Bench", language="fr",
                                         timezone="Europe/Paris", now=now)
        for d in range(delegations):
            territory = f"Territoire {d:03d}"
            delegation = await store.delegations.add(cohort.id, territory, now)
            for m in range(per_delegation):
                member = await store.members.add(display_name=f"Personne {d}-{m}", now=now,
                                                 delegation_id=delegation.id)
                user_id = f"@p{d}x{m}:bench"
                await store.identities.link(str(PLATFORM), user_id, member.id, now)
                people.append((user_id, territory))
    return people


async def run_people(count: int, body: Callable[[int], Awaitable[list[float]]]
                     ) -> tuple[list[float], float]:
    start = time.perf_counter()
    results = await asyncio.gather(*(body(i) for i in range(count)))
    return [x for r in results for x in r], time.perf_counter() - start


def summary(latencies: list[float], wall: float) -> dict[str, float]:
    ordered = sorted(latencies)
    q = statistics.quantiles(ordered, n=100)
    return {"steps": len(ordered), "p50_ms": round(q[49] * 1000, 2),
            "p99_ms": round(q[98] * 1000, 2), "max_ms": round(ordered[-1] * 1000, 2),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
            "wall_s": round(wall, 2), "steps_per_s": round(len(ordered) / wall, 1)}


async def bench(people: int, steps: int, db: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="cohortbot-bench-"))
    cluster = None
    url = f"sqlite+aiosqlite:///{tmp}/bench.db"
    if db == "postgres":
        from bot.devtools.local_postgres import LocalPostgres

        cluster = LocalPostgres()
        await cluster.start()
        url = cluster.url_for(await cluster.create_database())
    config = Config(bot=BotConfig(data_dir=tmp, log_level="WARNING"),
                    database=DatabaseConfig(url=url))
    app = await bootstrap(config)
    sender = NullSender()
    app.delivery.add_sender(sender)
    app.delivery.start()
    try:
        questionnaires = list(app.services.notes.questionnaires)
        per_delegation = len(questionnaires)
        delegations = -(-people // per_delegation)
        solo_people = per_delegation
        accounts = (await populate(app, delegations + 1, per_delegation))[:people + solo_people]
        plans = []
        for i, (user_id, territory) in enumerate(accounts):
            questionnaire = questionnaires[i % per_delegation]
            messages, expected = script(questionnaire, i, steps)
            plans.append((user_id, territory, questionnaire.id, messages, expected))

        def origin(user_id: str, n: int, prefix: str) -> Origin:
            return Origin(user=UserRef(PLATFORM, user_id),
                          room=RoomRef(PLATFORM, f"!dm-{user_id}"), is_direct=True,
                          event_id=f"{prefix}-{user_id}-{n}")

        failures: list[str] = []
        serial = iter(range(10**9))

        async def converse(i: int) -> list[float]:
            user_id, _, _, messages, _ = plans[i]
            times = []
            for n, (kind, body) in enumerate(messages):
                event = CommandEvent(origin(user_id, n, "n"), body) if kind == "cmd" else \
                    MessageEvent(origin(user_id, n, "n"), body)
                start = time.perf_counter()
                outcome = await app.dispatcher.handle(event)
                times.append(time.perf_counter() - start)
                if outcome.failed or not outcome.replies:
                    failures.append(f"{user_id} step {n}: {body!r}")
            return times

        async def baseline(i: int) -> list[float]:
            user_id = plans[i][0]
            times = []
            for _ in range(steps):
                start = time.perf_counter()
                await app.dispatcher.handle(CommandEvent(origin(user_id, next(serial), "b"),
                                                         "aide"))
                times.append(time.perf_counter() - start)
            return times

        solo_notes: list[float] = []
        solo_start = time.perf_counter()
        for i in range(people, people + solo_people):
            solo_notes += await converse(i)
        solo_notes_wall = time.perf_counter() - solo_start
        solo_base: list[float] = []
        solo_start = time.perf_counter()
        for _ in range(5):
            solo_base += await baseline(people + solo_people - 1)
        solo_base_wall = time.perf_counter() - solo_start

        await app.delivery.flush(PLATFORM)
        base, base_wall = await run_people(people, baseline)
        await app.delivery.flush(PLATFORM)
        notes, notes_wall = await run_people(people, converse)

        lost, doubles, unfinished = 0, 0, 0
        async with app.db.session() as session:
            for user_id, _territory, _note, _, expected in plans:
                rows = dict((await session.execute(
                    select(NoteAnswer.question_id, NoteAnswer.value).join(PilotNote)
                    .join(NoteConversation, NoteConversation.note_id == PilotNote.id)
                    .where(NoteConversation.user_id == user_id))).all())
                lost += sum(1 for k, v in expected.items() if rows.get(k) != v)
            history = await session.scalar(select(func.count()).select_from(NoteAnswerHistory))
            stored = await session.scalar(select(func.count()).select_from(NoteAnswer))
            doubles = int(history or 0) - int(stored or 0)
            unfinished = int(await session.scalar(select(func.count()).select_from(
                NoteConversation).where(NoteConversation.state != ConversationState.DONE)) or 0)
        await app.delivery.flush(PLATFORM)
        return {
            "benchmark": "notes", "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": db, "people": people, "steps_per_person": steps,
            "notes": summary(notes, notes_wall), "baseline_aide": summary(base, base_wall),
            "solo_notes": summary(solo_notes, solo_notes_wall),
            "solo_aide": summary(solo_base, solo_base_wall),
            "answers_expected": sum(len(p[4]) for p in plans), "answers_lost": lost,
            "history_doubles": doubles, "conversations_not_done": unfinished,
            "failed_steps": failures[:10], "messages_delivered": sender.count,
            "python": sys.version.split()[0],
        }
    finally:
        await app.close()
        if cluster is not None:
            await cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    result = asyncio.run(bench(args.people, args.steps, args.db))
    out = ROOT / "bench" / "results" / f"notes-{args.db}-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    n, b = result["notes"], result["baseline_aide"]
    print(f"{result['people']} conversations × {result['steps_per_person']} steps "
          f"({result['database']})")
    print(f"  note step : p50 {n['p50_ms']} ms, p99 {n['p99_ms']} ms, {n['steps_per_s']} steps/s")
    print(f"  aide      : p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms, {b['steps_per_s']} steps/s")
    sn, sb = result["solo_notes"], result["solo_aide"]
    print(f"  alone     : note step p50 {sn['p50_ms']} ms, p99 {sn['p99_ms']} ms; "
          f"aide p50 {sb['p50_ms']} ms, p99 {sb['p99_ms']} ms")
    print(f"  answers lost {result['answers_lost']} / {result['answers_expected']}, "
          f"history doubles {result['history_doubles']}, "
          f"unfinished {result['conversations_not_done']}, failed steps "
          f"{len(result['failed_steps'])}")
    print(f"  → {out}")
    ok = result["answers_lost"] == 0 and result["history_doubles"] == 0 and \
        not result["failed_steps"] and result["conversations_not_done"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

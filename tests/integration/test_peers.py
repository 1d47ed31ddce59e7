"""The peer launchers themselves: a real Synapse, real Matrix clients, a real PostgreSQL.

Timings (Synapse cold start and restart, one-hop message latency, PostgreSQL
start) are printed, not asserted: run with ``-s`` to read them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.devtools.local_postgres import LocalPostgres
from bot.devtools.local_synapse import LocalSynapse, MatrixAPIError
from tests.support.matrix_user import MatrixUser, matching

UserFactory = Callable[..., Awaitable[MatrixUser]]


async def _room_with(alice: MatrixUser, bob: MatrixUser, name: str) -> str:
    room_id = await alice.create_room(name=name, invite=[bob.user_id])
    await bob.wait_for_invite(room_id)
    await bob.join(room_id)
    await alice.wait_for(room_id, matching(type="m.room.member", sender=bob.user_id))
    return room_id


@pytest.mark.synapse
async def test_synapse_answers_versions(synapse: LocalSynapse) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{synapse.base_url}/_matrix/client/versions") as resp,
    ):
        body = await resp.json()
    assert resp.status == 200
    assert body["versions"]
    print(f"\n[measure] Synapse cold start (session fixture): {synapse.last_start_seconds:.2f} s")


@pytest.mark.synapse
async def test_two_users_see_each_others_messages(matrix_users: UserFactory) -> None:
    alice = await matrix_users("alice", displayname="Alice")
    bob = await matrix_users("bob")
    room_id = await _room_with(alice, bob, "exchange")

    hello = await alice.send_text(room_id, "hello *bob*", html="hello <em>bob</em>")
    seen_by_bob = await bob.wait_for(room_id, matching(sender=alice.user_id, body="hello *bob*"))
    answer = await bob.send_text(room_id, "hi alice", reply_to=hello)
    seen_by_alice = await alice.wait_for(room_id, matching(sender=bob.user_id, in_reply_to=hello))

    assert seen_by_bob["event_id"] == hello
    assert seen_by_bob["content"]["formatted_body"] == "hello <em>bob</em>"
    assert seen_by_bob["content"]["format"] == "org.matrix.custom.html"
    assert seen_by_alice["event_id"] == answer
    assert seen_by_alice["content"]["body"] == "hi alice"


@pytest.mark.synapse
async def test_edit_arrives_as_m_replace(matrix_users: UserFactory) -> None:
    alice = await matrix_users("alice")
    bob = await matrix_users("bob")
    room_id = await _room_with(alice, bob, "edits")
    original = await alice.send_text(room_id, "rendez-vous mardi")

    edit = await alice.edit(room_id, original, "rendez-vous mercredi")
    seen = await bob.wait_for(room_id, matching(rel_type="m.replace", relates_to=original))

    assert seen["event_id"] == edit
    assert seen["content"]["m.new_content"]["body"] == "rendez-vous mercredi"
    assert seen["content"]["body"] == "* rendez-vous mercredi"


@pytest.mark.synapse
async def test_threads_reactions_redactions_and_raw_events_arrive(
    matrix_users: UserFactory,
) -> None:
    alice = await matrix_users("alice")
    bob = await matrix_users("bob")
    room_id = await _room_with(alice, bob, "relations")
    root = await alice.send_text(room_id, "question du jour")

    in_thread = await bob.send_text(room_id, "ma réponse", thread_root=root)
    reaction = await bob.react(room_id, root, "👍")
    answer = await bob.send_event(
        room_id,
        "org.matrix.msc3381.poll.response",
        {
            "m.relates_to": {"rel_type": "m.reference", "event_id": root},
            "org.matrix.msc3381.poll.response": {"answers": ["yes"]},
        },
    )
    redaction = await bob.redact(room_id, in_thread, reason="oups")

    thread_msg = await alice.wait_for(room_id, matching(rel_type="m.thread", relates_to=root))
    annotation = await alice.wait_for(room_id, matching(type="m.reaction"))
    poll = await alice.wait_for(room_id, matching(type="org.matrix.msc3381.poll.response"))
    redacted = await alice.wait_for(room_id, matching(type="m.room.redaction"))

    assert thread_msg["event_id"] == in_thread
    assert thread_msg["content"]["m.relates_to"]["is_falling_back"] is True
    assert annotation["event_id"] == reaction
    assert annotation["content"]["m.relates_to"] == {
        "rel_type": "m.annotation",
        "event_id": root,
        "key": "👍",
    }
    assert poll["event_id"] == answer
    assert poll["content"]["org.matrix.msc3381.poll.response"]["answers"] == ["yes"]
    assert redacted["event_id"] == redaction
    assert redacted["content"].get("redacts", redacted.get("redacts")) == in_thread


@pytest.mark.synapse
async def test_wait_for_since_ignores_earlier_events(matrix_users: UserFactory) -> None:
    alice = await matrix_users("alice")
    bob = await matrix_users("bob")
    room_id = await _room_with(alice, bob, "markers")
    first = await alice.send_text(room_id, "ping", msgtype="m.notice")
    await bob.wait_for(room_id, matching(sender=alice.user_id, msgtype="m.notice"))

    marker = bob.mark()
    with pytest.raises(TimeoutError, match="0 of 1 matching"):
        await bob.wait_for(room_id, matching(msgtype="m.notice"), timeout=0.3, since=marker)
    second = await alice.send_text(room_id, "ping", msgtype="m.notice")
    by_marker = await bob.wait_for(room_id, matching(msgtype="m.notice"), since=marker)
    by_event = await bob.wait_for(room_id, matching(msgtype="m.notice"), since=first)

    assert by_marker["event_id"] == second
    assert by_event["event_id"] == second


@pytest.mark.synapse
async def test_one_hop_latency(matrix_users: UserFactory) -> None:
    alice = await matrix_users("alice")
    bob = await matrix_users("bob")
    room_id = await _room_with(alice, bob, "latency")
    hop_ms: list[float] = []
    after_ack_ms: list[float] = []

    for i in range(30):
        sent_at = time.perf_counter()
        event_id = await alice.send_text(room_id, f"tick {i}")
        acked_at = time.perf_counter()
        await bob.wait_for(room_id, lambda e, eid=event_id: e["event_id"] == eid)
        received_at = bob.received_at(event_id)
        assert received_at is not None
        hop_ms.append((received_at - sent_at) * 1000)
        after_ack_ms.append((received_at - acked_at) * 1000)

    print(
        f"\n[measure] one hop, send → other client's sync: {_p50_p95(hop_ms)}; "
        f"send answered → other client's sync: {_p50_p95(after_ack_ms)}"
    )


def _p50_p95(values_ms: list[float]) -> str:
    ordered = sorted(values_ms)
    p95 = ordered[round(0.95 * (len(ordered) - 1))]
    return f"p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms"


@pytest.mark.synapse
async def test_admin_override_ratelimit_yields_429_then_lifts(
    synapse: LocalSynapse, matrix_users: UserFactory
) -> None:
    admin = await synapse.register("overseer", "overseer-password", admin=True)
    carol = await matrix_users("carol")
    room_id = await carol.create_room(name="limits")

    await synapse.admin_override_ratelimit(
        carol.user_id, admin.access_token, messages_per_second=1, burst_count=1
    )
    with pytest.raises(MatrixAPIError) as caught:
        for i in range(5):
            await carol.send_text(room_id, f"flood {i}")
    await synapse.admin_override_ratelimit(carol.user_id, admin.access_token)
    for i in range(20):
        await carol.send_text(room_id, f"free {i}")

    assert caught.value.status == 429
    assert caught.value.errcode == "M_LIMIT_EXCEEDED"
    assert caught.value.retry_after_ms is not None and caught.value.retry_after_ms > 0


@pytest.mark.synapse
async def test_configured_rc_message_yields_429(tmp_path: Path) -> None:
    limited = LocalSynapse(
        tmp_path / "limited", rate_limits={"rc_message": {"per_second": 0.1, "burst_count": 2}}
    )
    await limited.start()
    try:
        dave = await MatrixUser.create(limited, "dave")
        try:
            room_id = await dave.create_room(name="slow")
            with pytest.raises(MatrixAPIError) as caught:
                for i in range(5):
                    await dave.send_text(room_id, f"msg {i}")
        finally:
            await dave.close()
    finally:
        await limited.stop()

    assert caught.value.status == 429
    assert caught.value.retry_after_ms is not None and caught.value.retry_after_ms > 1000


@pytest.mark.synapse
async def test_restart_keeps_users_rooms_and_history(tmp_path: Path) -> None:
    data_dir = tmp_path / "persistent"
    first = LocalSynapse(data_dir)
    await first.start()
    try:
        erin = await MatrixUser.create(first, "erin")
        room_id = await erin.create_room(name="survives")
        before = await erin.send_text(room_id, "avant le redémarrage")
        await erin.close()
        await first.restart()
        restart_seconds = first.last_start_seconds
        whoami = await first.request(
            "GET", "/_matrix/client/v3/account/whoami", token=erin.access_token
        )
        await first.stop()

        second = LocalSynapse(data_dir)
        await second.start()
        try:
            again = await MatrixUser.create(second, "erin")
            try:
                history = again.events(room_id)
            finally:
                await again.close()
        finally:
            await second.stop()
    finally:
        await first.stop()

    assert whoami["user_id"] == "@erin:localhost"
    assert second.port == first.port
    assert second.registration_shared_secret == first.registration_shared_secret
    assert before in [event["event_id"] for event in history]
    print(
        f"\n[measure] Synapse restart: {restart_seconds:.2f} s, "
        f"start on an existing data dir: {second.last_start_seconds:.2f} s"
    )


@pytest.mark.postgres
async def test_postgres_roundtrip_with_asyncpg(postgres: LocalPostgres) -> None:
    conn = await asyncpg.connect(postgres.dsn)
    try:
        await conn.execute("CREATE TABLE votes (poll int, voter text, UNIQUE (poll, voter))")
        await conn.executemany(
            "INSERT INTO votes VALUES ($1, $2)", [(1, "alice"), (1, "bob"), (2, "alice")]
        )
        rows = await conn.fetch("SELECT voter FROM votes WHERE poll = 1 ORDER BY voter")
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO votes VALUES (1, 'alice')")
        fsync = await conn.fetchval("SHOW fsync")
    finally:
        await conn.close()

    assert [row["voter"] for row in rows] == ["alice", "bob"]
    assert fsync == "off"
    seconds = postgres.last_start_seconds
    print(f"\n[measure] PostgreSQL start (initdb + postgres + ready): {seconds:.2f} s")


@pytest.mark.postgres
async def test_created_databases_are_independent(postgres: LocalPostgres) -> None:
    one, two = await postgres.create_database(), await postgres.create_database()
    try:
        first = await asyncpg.connect(postgres.dsn_for(one))
        second = await asyncpg.connect(postgres.dsn_for(two))
        try:
            await first.execute("CREATE TABLE only_here (x int)")
            present = await first.fetchval("SELECT to_regclass('only_here') IS NOT NULL")
            absent = await second.fetchval("SELECT to_regclass('only_here') IS NULL")
        finally:
            await first.close()
            await second.close()
    finally:
        await postgres.drop_database(one)
        await postgres.drop_database(two)

    assert one != two
    assert present and absent


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", [1, 2])
async def test_pg_url_is_a_fresh_database_per_test(pg_url: str, attempt: int) -> None:
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            tables = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM information_schema.tables"
                        " WHERE table_schema = 'public'"
                    )
                )
            ).scalar_one()
            await conn.execute(text("CREATE TABLE reminders (id int PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO reminders VALUES (:id)"), {"id": attempt})
            count = (await conn.execute(text("SELECT count(*) FROM reminders"))).scalar_one()
    finally:
        await engine.dispose()

    assert pg_url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
    assert tables == 0
    assert count == 1

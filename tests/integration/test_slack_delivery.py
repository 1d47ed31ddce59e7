"""Delivering the outbox to Slack: rate limits, pace, lost answers, refusals.

Messages are queued in the outbox as handlers queue them, and delivered by the
real delivery worker and Slack sender to the emulator. Time is the fake clock;
the sender's pace is read from it too, so Retry-After waits cost no real time.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import select

from bot.slack.pace import ChannelPacer
from handlers.core.events import Reply
from handlers.core.ids import Platform
from storage.models import OutboxMessage, OutboxStatus
from storage.uow import Store
from tests.support.fakes import FakeClock
from tests.support.slack_app import SlackRig

pytestmark = pytest.mark.slack


@pytest_asyncio.fixture(loop_scope="session")
async def rig(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SlackRig]:
    pacer = ChannelPacer(per_second=1000, burst=1000, monotonic=lambda: clock.now().timestamp())
    async with SlackRig.started(tmp_path, clock, pacer=pacer) as started:
        yield started


async def queue(rig: SlackRig, *messages: tuple[str, str], private_to: str | None = None
                ) -> None:
    """Queue ``(channel, text)`` messages, in order, as handlers do through ``ctx.send``."""
    async with rig.app.db.session() as session:
        store = Store(session)
        for channel, text in messages:
            await store.outbox.enqueue(key=f"test:{channel}:{text}", platform="slack",
                                       destination=channel, payload=Reply(text).to_dict(),
                                       now=rig.app.clock.now(), private_to=private_to)


async def rows(rig: SlackRig) -> list[OutboxMessage]:
    async with rig.app.db.session() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
                     ).all())


def texts(rig: SlackRig, channel: str) -> list[str]:
    return [m["text"] for m in rig.emu.messages(channel)]


async def test_a_429_is_honoured_in_order_and_nothing_is_dropped(rig: SlackRig,
                                                                  clock: FakeClock) -> None:
    rig.emu.fail_next("chat.postMessage", count=1, retry_after=3)
    await queue(rig, ("C1", "un"), ("C1", "deux"), ("C1", "trois"))
    await rig.app.delivery.flush(Platform.SLACK)
    assert texts(rig, "C1") == [], "the channel waits for Retry-After"
    await queue(rig, ("C2", "ailleurs"))
    await rig.app.delivery.flush(Platform.SLACK)
    assert texts(rig, "C2") == ["ailleurs"], "other channels are not held up"
    assert texts(rig, "C1") == []
    [limited] = [c for c in rig.emu.calls_to("chat.postMessage") if c.status == 429]
    assert limited.args["text"] == "un"
    first = (await rows(rig))[0]
    assert first.not_before is not None
    assert (first.not_before - clock.now()).total_seconds() == pytest.approx(3, abs=0.01)

    clock.advance(seconds=2)
    await rig.app.delivery.flush(Platform.SLACK)
    assert texts(rig, "C1") == [], "not before Retry-After has passed"
    clock.advance(seconds=1)
    await rig.app.delivery.flush(Platform.SLACK)
    assert texts(rig, "C1") == ["un", "deux", "trois"]
    assert {r.status for r in await rows(rig)} == {OutboxStatus.SENT}


async def test_the_pace_per_channel_keeps_clear_of_slacks_limit(tmp_path: Path,
                                                                clock: FakeClock) -> None:
    async with SlackRig.started(tmp_path, clock,
                                pacer=ChannelPacer(per_second=20, burst=2)) as rig:
        rig.emu.rate_limit("chat.postMessage", per_second=20, burst=3, per_channel=True)
        burst = [("C1", f"c1-{n}") for n in range(8)] + [("C2", f"c2-{n}") for n in range(8)]
        await queue(rig, *burst)
        start = time.perf_counter()
        await rig.app.delivery.flush(Platform.SLACK)
        elapsed = time.perf_counter() - start
        assert [c.status for c in rig.emu.calls_to("chat.postMessage")] == [200] * 16
        assert texts(rig, "C1") == [f"c1-{n}" for n in range(8)]
        assert texts(rig, "C2") == [f"c2-{n}" for n in range(8)]
        assert 0.25 <= elapsed < 2.0, "paced, and channels in parallel"


async def test_a_post_whose_answer_was_lost_is_not_posted_twice(rig: SlackRig,
                                                                 clock: FakeClock) -> None:
    rig.emu.delay_next("chat.postMessage", 1.0)
    shared = rig.app.slack.client.session
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as impatient:
        rig.app.slack.client.session = impatient
        await queue(rig, ("C1", "une seule fois"))
        await rig.app.delivery.flush(Platform.SLACK)
    assert texts(rig, "C1") == ["une seule fois"], "Slack got it, the answer was lost"
    assert (await rows(rig))[0].status is OutboxStatus.PENDING

    clock.advance(seconds=5)
    rig.app.slack.client.session = shared
    await rig.app.delivery.flush(Platform.SLACK)
    [row] = await rows(rig)
    assert row.status is OutboxStatus.SENT
    assert texts(rig, "C1") == ["une seule fois"]
    assert row.message_id == rig.emu.messages("C1")[0]["ts"]
    assert rig.emu.calls_to("conversations.history")[0].args["include_all_metadata"]


async def test_a_refused_destination_is_given_up_without_blocking_others(
        rig: SlackRig, caplog: pytest.LogCaptureFixture) -> None:
    rig.emu.add_channel("C8", "archive")
    rig.emu.channels["C8"].is_archived = True
    await queue(rig, ("C8", "trop tard"), ("CNOWHERE", "perdu"), ("C1", "bien reçu"))
    await rig.app.delivery.flush(Platform.SLACK)
    statuses = {r.destination: r.status for r in await rows(rig)}
    assert statuses == {"C8": OutboxStatus.FAILED, "CNOWHERE": OutboxStatus.FAILED,
                        "C1": OutboxStatus.SENT}
    assert "is_archived" in caplog.text and "channel_not_found" in caplog.text
    assert texts(rig, "C1") == ["bien reçu"]


async def test_a_revoked_token_is_retried_not_dropped(rig: SlackRig, clock: FakeClock) -> None:
    rig.emu.fail_next("chat.postMessage", error="token_revoked")
    await queue(rig, ("C1", "patience"))
    await rig.app.delivery.flush(Platform.SLACK)
    [row] = await rows(rig)
    assert row.status is OutboxStatus.PENDING and "token_revoked" in (row.last_error or "")
    clock.advance(seconds=61)
    await rig.app.delivery.flush(Platform.SLACK)
    assert texts(rig, "C1") == ["patience"]


async def test_a_private_message_is_ephemeral_or_goes_to_the_dm(rig: SlackRig) -> None:
    rig.emu.add_user("U7", "outsider", real_name="Hors Salon")
    await queue(rig, ("C1", "pour Alice seulement"), private_to="U1")
    await queue(rig, ("C2", "pour Zoé seulement"), private_to="U3")
    await rig.app.delivery.flush(Platform.SLACK)
    assert [(e["user"], e["text"]) for e in rig.emu.ephemerals("C1")] == [
        ("U1", "pour Alice seulement")]
    assert texts(rig, "C1") == [] and texts(rig, "C2") == []
    assert texts(rig, rig.emu.im_id("U3")) == ["pour Zoé seulement"], \
        "not in the channel: told in a DM"

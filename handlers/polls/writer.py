"""The lean vote path: clicks are queued and one task writes many per transaction.

A poll burst (a whole cohort clicking at once, Slack retrying, someone voting from
Slack and Matrix) is many small writes to a few rows. One transaction per vote
queues them behind SQLite's single writer lock (~570/s measured). Here each click
waits on a future while one task takes every vote queued so far and, in one
transaction: loads the polls and the voters (a few queries for the whole batch),
claims the platform event ids (a retry already handled is a duplicate), reads and
locks only the answers a vote is computed from (toggles, partial grids), upserts
the answers under the (poll, scope key) unique key, queues the confirmations and
plans one coalesced refresh per poll. Then each caller gets
its own outcome.

Anything that is not a plain valid vote (unknown voter, closed poll, bad option,
comment where none is allowed, a coordinator voting without a delegation) is
handed back to the ordinary transactional path, which judges it with the same
rules (:mod:`handlers.polls.logic`) and answers with the proper message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from handlers.core.errors import UserFacingError
from handlers.core.events import ActionEvent, Reply, Visibility
from handlers.core.ids import Platform
from handlers.polls.logic import (
    Voter,
    apply_vote,
    is_open,
    parse_action_value,
    request_from_action,
    slot_for,
)
from handlers.polls.service import REFRESH_DELAY
from storage.models_polls import PollKind
from storage.repos.polls import AnswerWrite
from storage.uow import Store

if TYPE_CHECKING:
    from handlers.core.dispatch import Dispatcher, Outcome

log = logging.getLogger(__name__)

MAX_BATCH = 500
TEXT_CACHE = 2048
LANGUAGE_TTL = 60.0
"""Confirmations are the same few sentences for a whole burst: render each once."""
FALLBACK = "fallback"
DUPLICATE = "duplicate"
ACCEPTED = "accepted"


@dataclass(slots=True)
class _Vote:
    event: ActionEvent
    poll_id: int
    parts: list[str]
    future: asyncio.Future[tuple[str, Reply | None]]
    result: str = ""
    reply: Reply | None = None
    slot: Any = None
    poll: Any = None
    voter: Any = None
    request: Any = None
    value: dict[str, Any] = field(default_factory=dict)


class VoteWriter:
    """Group commit for votes. Built once by the composition root; holds no connection
    between batches and starts its task only while votes are waiting."""

    def __init__(self, dispatcher: Dispatcher, *, max_batch: int = MAX_BATCH) -> None:
        self.dispatcher = dispatcher
        self.max_batch = max_batch
        self._queue: list[_Vote] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.largest_batch = 0
        self._texts: dict[tuple[Any, ...], str] = {}
        self._languages: dict[int, tuple[float, tuple[str, str]]] = {}

    async def submit(self, event: ActionEvent) -> tuple[str, Reply | None]:
        """Queue one vote; returns (``accepted`` | ``duplicate`` | ``fallback``, reply)."""
        try:
            poll_id, parts = parse_action_value(event.value)
        except UserFacingError:
            return FALLBACK, None
        future: asyncio.Future[tuple[str, Reply | None]] = \
            asyncio.get_running_loop().create_future()
        self._queue.append(_Vote(event, poll_id, parts, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="poll-vote-writer")
        return await future

    async def _run(self) -> None:
        while self._queue:
            batch = self._queue[:self.max_batch]
            del self._queue[:self.max_batch]
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(batch))
            try:
                await self._write(batch)
            except Exception as error:  # noqa: BLE001 — every waiter must hear of it
                log.exception("vote batch failed", extra={"votes": len(batch)})
                for vote in batch:
                    if not vote.future.done():
                        vote.future.set_exception(error)
                continue
            platforms: set[Platform] = set()
            for vote in batch:
                if vote.result == ACCEPTED:
                    self.dispatcher.services.metrics.incr(
                        "votes", platform=str(vote.event.origin.platform))
                if vote.result == ACCEPTED and vote.reply is not None:
                    platforms.add(vote.event.origin.platform)
                if not vote.future.done():
                    vote.future.set_result((vote.result or FALLBACK, vote.reply))
            if platforms:
                self.dispatcher.notify(platforms)
            on_change = self.dispatcher.services.on_change
            if on_change is not None and any(v.result == ACCEPTED for v in batch):
                try:
                    on_change({"jobs"})
                except Exception:
                    log.exception("change listener failed")

    async def _write(self, batch: Sequence[_Vote]) -> None:
        d = self.dispatcher
        now = d.clock.now()
        async with d.db.session() as session:
            repo = Store(session).polls
            polls = await repo.many(v.poll_id for v in batch)
            voters = await repo.voters([(str(v.event.origin.platform),
                                         v.event.origin.user.user_id) for v in batch])
            cohorts = await self._cohorts(repo, {p.cohort_id for p in polls.values()})
            seen_events: set[tuple[str, str]] = set()
            candidates: list[_Vote] = []
            for vote in batch:
                origin = vote.event.origin
                poll = polls.get(vote.poll_id)
                row = voters.get((str(origin.platform), origin.user.user_id))
                if poll is None or row is None or row.delegation_cohort_id != poll.cohort_id \
                        or not is_open(poll, now):
                    vote.result = FALLBACK
                    continue
                if origin.event_id is not None:
                    ident = (str(origin.platform), origin.event_id)
                    if ident in seen_events:
                        vote.result = DUPLICATE
                        continue
                    seen_events.add(ident)
                voter = Voter(row.member_id, row.name, row.delegation_id,
                              row.delegation_cohort_id, row.territory, row.category,
                              row.is_referent)
                try:
                    request = request_from_action(poll.kind, vote.parts, vote.event.form)
                    slot = slot_for(poll, voter)
                except UserFacingError:
                    vote.result = FALLBACK
                    continue
                if request.comment is not None and not poll.allow_comment:
                    vote.result = FALLBACK
                    continue
                vote.poll, vote.voter, vote.slot, vote.request = poll, row, slot, request
                candidates.append(vote)
            wanted = {(str(v.event.origin.platform), v.event.origin.event_id)
                      for v in candidates if v.event.origin.event_id is not None}
            claimed = await repo.claim_events(sorted(wanted), now)
            for vote in candidates:
                origin = vote.event.origin
                if origin.event_id is not None and \
                        (str(origin.platform), origin.event_id) not in claimed:
                    vote.result = DUPLICATE
            candidates = [v for v in candidates if v.result != DUPLICATE]
            needs_current = [v for v in candidates if _depends_on_current(v)]
            current = await repo.current_values(
                [(v.poll.id, v.slot.key) for v in needs_current])
            state: dict[tuple[int, str], dict[str, Any] | None] = {
                k: a.value for k, a in current.items()}
            writes: dict[tuple[int, str], AnswerWrite] = {}
            accepted: list[_Vote] = []
            released: list[tuple[str, str]] = []
            for vote in candidates:
                poll = vote.poll
                key = (poll.id, vote.slot.key)
                try:
                    if key in state and not poll.changeable:
                        raise UserFacingError("polls/already_answered", poll_id=poll.id)
                    value = apply_vote(poll, [o.position for o in poll.options], vote.request,
                                       state.get(key))
                except UserFacingError:
                    vote.result = FALLBACK
                    if vote.event.origin.event_id is not None:
                        released.append((str(vote.event.origin.platform),
                                         vote.event.origin.event_id))
                    continue
                state[key] = value
                vote.value = value
                previous = writes.get(key)
                comment = vote.request.comment
                keep = comment is None
                if previous is not None and keep and not previous.keep_comment:
                    comment, keep = previous.comment, False
                writes[key] = AnswerWrite(poll.id, vote.slot.key, vote.voter.member_id,
                                          vote.slot.delegation_id, vote.slot.category, value,
                                          comment, str(vote.event.origin.platform),
                                          keep_comment=keep)
                vote.result = ACCEPTED
                accepted.append(vote)
            if released:
                await repo.release_events(released)
            if not accepted:
                return
            await repo.upsert_answers(list(writes.values()), now)
            outbox = []
            for vote in accepted:
                if vote.event.form.get("silent"):
                    continue
                vote.reply = self._confirmation(vote, cohorts)
                origin = vote.event.origin
                base = origin.event_id or f"vote-{id(vote)}-{now.timestamp()}"
                outbox.append({
                    "key": f"reply:{origin.platform}:{base}:0", "platform": str(origin.platform),
                    "destination": origin.room.room_id, "payload": vote.reply.to_dict(),
                    "thread_id": origin.thread_id, "private_to": origin.user.user_id,
                    "hints": dict(origin.hints or {})})
            await repo.enqueue_many(outbox, now)
            dirty = await repo.mark_dirty(sorted({v.poll.id for v in accepted
                                                  if not v.poll.refresh_pending}))
            await repo.schedule_many([
                {"key": f"poll:{poll_id}:refresh:{seq}", "name": "polls.refresh",
                 "due_at": now + REFRESH_DELAY, "payload": {"poll": poll_id}}
                for poll_id, seq in dirty], now)

    async def _cohorts(self, repo: Any, cohort_ids: set[int]) -> dict[int, tuple[str, str]]:
        """Cohort language and time zone, for the confirmations; kept a minute."""
        clock = time.monotonic()
        missing = [c for c in cohort_ids
                   if c not in self._languages or self._languages[c][0] < clock]
        if missing:
            for cohort_id, value in (await repo.cohort_languages(missing)).items():
                self._languages[cohort_id] = (clock + LANGUAGE_TTL, value)
        return {c: self._languages[c][1] for c in cohort_ids if c in self._languages}

    def _confirmation(self, vote: _Vote, cohorts: dict[int, tuple[str, str]]) -> Reply:
        d = self.dispatcher
        origin = vote.event.origin
        lang = vote.voter.language or cohorts.get(vote.poll.cohort_id, ("fr", ""))[0]
        key = (lang, origin.platform, vote.poll.id, vote.slot.key[:1],
               json.dumps(vote.value, sort_keys=True))
        text = self._texts.get(key)
        if text is None:
            labels = {o.position: o.label for o in vote.poll.options}
            text = d.catalog.render(lang, "polls/voted", poll=vote.poll, value=vote.value,
                                    slot=vote.slot, labels=labels,
                                    prefix=d.settings.prefix(origin.platform))
            if len(self._texts) >= TEXT_CACHE:
                self._texts.clear()
            self._texts[key] = text
        return Reply(text, visibility=Visibility.PRIVATE, sensitive=vote.poll.anonymous)


def _depends_on_current(vote: _Vote) -> bool:
    """Whether the new value is computed from the standing one (a toggle, a partial grid, a
    poll whose answers cannot change): only those answers are read and locked."""
    request = vote.request
    return (request.pick is not None and vote.poll.kind is PollKind.MULTI) or \
        request.availability is not None or not vote.poll.changeable


async def direct_vote(dispatcher: Dispatcher, event: ActionEvent) -> Outcome | None:
    """The router's lean path for ``poll.vote`` and ``poll.submit``."""
    from handlers.core.dispatch import Outcome

    writer = dispatcher.services.votes
    if writer is None or event.action not in ("poll.vote", "poll.submit"):
        return None
    result, reply = await writer.submit(event)
    if result == DUPLICATE:
        return Outcome((), duplicate=True)
    if result == ACCEPTED:
        return Outcome((reply,) if reply is not None else ())
    return None


__all__ = ["ACCEPTED", "DUPLICATE", "FALLBACK", "VoteWriter", "direct_vote"]

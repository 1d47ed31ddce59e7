"""How long the bot keeps what it only needs for a while, and the purge that enforces it.

Personal data the cohort's record needs (members, votes, note answers, events) is kept
until a person or a coordinator removes it; this is about the bot's own bookkeeping:

- processed platform event ids (answer a retried event once): ``processed_events_days``;
- texts of delivered messages (payload, private recipient, hints; for retries, edits and
  ``moi``): blanked after ``messages_days``;
- delivered message rows (key and platform message id, to edit a message in place such
  as a poll's live results): deleted after ``message_keys_days`` unless edited since;
- finished timers (each timer runs once): ``jobs_days``;
- the audit log (who did which admin action): ``audit_days``;
- finished calendar URL imports and Slack post attempts: ``messages_days``; expired or
  used sign-in links, dashboard sessions and one-time codes: one day;
- bridge relay mappings (edits and deletions follow a relayed message): ``relay_days``.

A value of 0 keeps forever. Each rule is one statement; a feature with bookkeeping
tables of its own adds a rule to :data:`RULES` (the bridge: its relay mappings with
``relay_days``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, delete, exists, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import (
    AuditEntry,
    JobStatus,
    OneTimeCode,
    OutboxMessage,
    OutboxStatus,
    ProcessedEvent,
    ScheduledJob,
)
from storage.models_bridge import RelayMessage
from storage.models_calendar import CalendarImport, ImportStatus
from storage.models_dashboard import DashboardLink, DashboardSession
from storage.models_slack import SlackPostAttempt


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Days each kind of bookkeeping is kept (0: forever)."""

    processed_events_days: int = 30
    messages_days: int = 30
    message_keys_days: int = 365
    jobs_days: int = 90
    audit_days: int = 365
    relay_days: int = 30


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    setting: str | None
    """The :class:`RetentionPolicy` field giving the days (None: one day, fixed)."""
    statement: Callable[[datetime], Any]
    """The DELETE or UPDATE for rows older than the cutoff."""


_FINISHED = (OutboxStatus.SENT, OutboxStatus.FAILED)
_BLANK = {"text": ""}


def _blank_messages(cutoff: datetime) -> Any:
    """Old delivered messages keep their key and platform id (for edits), not their text."""
    return (update(OutboxMessage)
            .where(OutboxMessage.status.in_(_FINISHED),
                   func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at) < cutoff,
                   cast(OutboxMessage.payload, Text) != json.dumps(_BLANK))
            .values(payload=_BLANK, private_to=None, hints={}, last_error=None))


def _delete_messages(cutoff: datetime) -> Any:
    newer = aliased(OutboxMessage)
    edited_later = exists().where(newer.edit_of == OutboxMessage.key, newer.created_at >= cutoff)
    return delete(OutboxMessage).where(
        OutboxMessage.status.in_(_FINISHED),
        func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at) < cutoff,
        ~edited_later)


RULES: tuple[Rule, ...] = (
    Rule("processed_event", "processed_events_days",
         lambda cutoff: delete(ProcessedEvent).where(ProcessedEvent.at < cutoff)),
    Rule("outbox.texts", "messages_days", _blank_messages),
    Rule("outbox.rows", "message_keys_days", _delete_messages),
    Rule("scheduled_job", "jobs_days",
         lambda cutoff: delete(ScheduledJob).where(
             ScheduledJob.status.in_((JobStatus.DONE, JobStatus.CANCELLED, JobStatus.FAILED)),
             func.coalesce(ScheduledJob.done_at, ScheduledJob.due_at) < cutoff)),
    Rule("audit_log", "audit_days",
         lambda cutoff: delete(AuditEntry).where(AuditEntry.at < cutoff)),
    Rule("calendar_import", "messages_days",
         lambda cutoff: delete(CalendarImport).where(
             CalendarImport.status.in_((ImportStatus.DONE, ImportStatus.FAILED)),
             CalendarImport.created_at < cutoff)),
    Rule("slack_post_attempt", "messages_days",
         lambda cutoff: delete(SlackPostAttempt).where(SlackPostAttempt.started_at < cutoff)),
    Rule("relay_message", "relay_days",
         lambda cutoff: delete(RelayMessage).where(RelayMessage.created_at < cutoff)),
    Rule("dashboard_link", None,
         lambda cutoff: delete(DashboardLink).where(DashboardLink.expires_at < cutoff)),
    Rule("dashboard_session", None,
         lambda cutoff: delete(DashboardSession).where(
             or_(DashboardSession.expires_at < cutoff, DashboardSession.revoked_at < cutoff))),
    Rule("one_time_code", None,
         lambda cutoff: delete(OneTimeCode).where(
             or_(OneTimeCode.expires_at < cutoff, OneTimeCode.used_at < cutoff))),
)


class RetentionRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def purge(self, policy: RetentionPolicy, now: datetime,
                    rules: tuple[Rule, ...] = RULES) -> dict[str, int]:
        """Apply every rule; returns the rows touched per rule."""
        touched: dict[str, int] = {}
        for rule in rules:
            days = getattr(policy, rule.setting) if rule.setting else 1
            if days <= 0:
                continue
            result = await self.session.execute(
                rule.statement(now - timedelta(days=days)),
                execution_options={"synchronize_session": False})
            touched[rule.name] = int(result.rowcount or 0)
        return touched

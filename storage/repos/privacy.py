"""What the bot stores about one person, and erasing it (GDPR access and erasure).

**Access** (:meth:`PrivacyRepo.collect`): every table that holds something about a
member is read into :class:`PersonalData` — a profile and named sections of plain rows
(JSON-ready), the same content the chat summary and the attached JSON file show.

**Erasure** (:meth:`PrivacyRepo.erase`) in two layers:

1. What exists only because of the person is deleted: linked accounts (and with them
   dashboard links and sessions), direct-message rooms, note conversations in
   progress, one-time codes, coordinator roles, pending note reminders; messages to
   their DM are blanked.
2. Records the delegation needs stay, without the person: the member row becomes
   "Membre effacé n°<id>" (its delegation and category kept, so a vote or a note answer
   still counts for the delegation), and every text and JSON column of **every table**
   is scanned for the person's name and account ids (as written, Markdown-escaped,
   URL-quoted or JSON-escaped), which are replaced — also in what *other* people wrote
   (a note answer naming them, an audit line). Tables added later are covered without
   change here; a column that is part of a unique key gets a random token instead of
   the readable placeholder, so keys stay distinct.

A name shorter than :data:`MIN_NEEDLE` characters is not searched in free text (it would
erase other words); the member row is renamed whatever its length.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import JSON, LargeBinary, String, Text, cast, delete, or_, select, update
from sqlalchemy import Enum as SAEnum
from sqlalchemy.ext.asyncio import AsyncSession

from messages.markup import escape
from storage.models import (
    AuditEntry,
    Cohort,
    CoordinatorRole,
    Delegation,
    DirectRoom,
    JobStatus,
    LinkedRoom,
    Member,
    OneTimeCode,
    OutboxMessage,
    OutboxStatus,
    PlatformIdentity,
    ScheduledJob,
)
from storage.models_calendar import (
    CalendarEvent,
    CalendarImport,
    Reminder,
    ReminderStatus,
    TargetKind,
)
from storage.models_dashboard import DashboardLink, DashboardSession
from storage.models_notes import NoteAnswer, NoteAnswerHistory, NoteConversation, PilotNote
from storage.models_polls import Poll, PollAnswer, PollOption

ERASED_TEXT = "(donnée effacée)"
MIN_NEEDLE = 4
"""Shortest name searched for in free text."""
KEEP_AS_IS = {("member", "display_name"), ("platform_identity", "user_id")}
"""Other people's names and accounts: never rewritten because they contain a needle (the
person's own rows are renamed or deleted explicitly)."""


def erased_name(member_id: int) -> str:
    return f"Membre effacé n°{member_id}"


@dataclass(slots=True)
class PersonalData:
    """Everything stored about one member: the rows the ``moi`` command shows."""

    member: Member
    identities: list[PlatformIdentity]
    coordinates: list[int]
    audit: list[AuditEntry]
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def count(self, section: str) -> int:
        return len(self.sections.get(section, ()))

    def to_json(self) -> dict[str, Any]:
        """The whole record as plain JSON (the file a person receives)."""
        return {"profile": self.sections.get("profile", [{}])[0],
                **{k: v for k, v in self.sections.items() if k != "profile"}}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def variants(needle: str) -> set[str]:
    """The forms a name or account id takes in stored text: as written, escaped as
    Markdown (templates), URL-quoted (mention links), JSON-escaped (JSON columns)."""
    forms = {needle, escape(needle), quote(needle, safe="@:.-_"), quote(needle, safe="")}
    for form in list(forms):
        forms.add(json.dumps(form)[1:-1])
        forms.add(json.dumps(form, ensure_ascii=False)[1:-1])
    return {f for f in forms if f}


class _Replacer:
    """Replaces every form of every needle; readable placeholder or per-needle token."""

    def __init__(self, needles: Iterable[str]) -> None:
        self.forms: list[tuple[str, str]] = []
        for needle in sorted(set(needles), key=len, reverse=True):
            token = f"erased-{secrets.token_hex(6)}"
            for form in sorted(variants(needle), key=len, reverse=True):
                self.forms.append((form, token))

    def text(self, value: str, *, unique: bool) -> str:
        for form, token in self.forms:
            if form in value:
                value = value.replace(form, token if unique else ERASED_TEXT)
        return value

    def walk(self, value: Any, *, unique: bool) -> Any:
        if isinstance(value, str):
            return self.text(value, unique=unique)
        if isinstance(value, list):
            return [self.walk(v, unique=unique) for v in value]
        if isinstance(value, dict):
            return {self.text(str(k), unique=unique) if isinstance(k, str) else k:
                    self.walk(v, unique=unique) for k, v in value.items()}
        return value


def _text_columns(table: Any) -> list[tuple[Any, bool]]:
    """(column, is JSON) for every column that can hold text."""
    columns = []
    for column in table.columns:
        kind = column.type
        if isinstance(kind, SAEnum | LargeBinary) or column.primary_key:
            continue
        if isinstance(kind, JSON):
            columns.append((column, True))
        elif isinstance(kind, String | Text):
            columns.append((column, False))
    return columns


def _unique_columns(table: Any) -> set[str]:
    names = {c.name for c in table.columns if c.unique}
    for constraint in table.constraints:
        if constraint.__class__.__name__ == "UniqueConstraint":
            names.update(c.name for c in constraint.columns)
    for index in table.indexes:
        if index.unique:
            names.update(c.name for c in index.columns)
    return names


async def scrub_everywhere(session: AsyncSession, needles: Iterable[str]) -> int:
    """Replace every form of ``needles`` in every text and JSON column of every table.

    Returns how many cells changed. Rows are found with ``LIKE`` on each form (JSON
    columns cast to text) and rewritten in Python, so JSON keeps its structure.
    """
    from storage.schema import metadata

    needles = [n for n in needles if n]
    if not needles:
        return 0
    replacer = _Replacer(needles)
    forms = sorted({form for form, _ in replacer.forms})
    changed = 0
    for table in metadata.sorted_tables:
        unique = _unique_columns(table)
        pk = list(table.primary_key.columns)
        if len(pk) != 1:
            continue
        for column, is_json in _text_columns(table):
            if (table.name, column.name) in KEEP_AS_IS:
                continue
            target = cast(column, Text) if is_json else column
            rows = (await session.execute(
                select(pk[0], column).where(or_(*(target.contains(f, autoescape=True)
                                                  for f in forms))))).all()
            for key, value in rows:
                new = replacer.walk(value, unique=column.name in unique)
                if new != value:
                    await session.execute(update(table).where(pk[0] == key)
                                          .values({column.name: new}))
                    changed += 1
    return changed


class PrivacyRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ------------------------------------------------------------------ access

    async def collect(self, member: Member, now: datetime | None = None) -> PersonalData:
        """Everything stored about ``member``, across features, as plain rows."""
        s = self.session
        identities = list((await s.scalars(select(PlatformIdentity).where(
            PlatformIdentity.member_id == member.id).order_by(PlatformIdentity.id))).all())
        handles = [(i.platform, i.user_id) for i in identities]
        roles = (await s.execute(select(CoordinatorRole.cohort_id, Cohort.name,
                                        CoordinatorRole.granted_at)
                                 .join(Cohort, Cohort.id == CoordinatorRole.cohort_id)
                                 .where(CoordinatorRole.member_id == member.id))).all()
        audit = list((await s.scalars(select(AuditEntry).where(
            AuditEntry.actor_member_id == member.id).order_by(AuditEntry.id))).all())
        delegation = await s.get(Delegation, member.delegation_id) \
            if member.delegation_id else None
        cohort = await s.get(Cohort, delegation.cohort_id) if delegation else None
        sections: dict[str, list[dict[str, Any]]] = {}
        sections["profile"] = [{
            "id": member.id, "name": member.display_name,
            "delegation": delegation.territory if delegation else None,
            "cohort": cohort.name if cohort else None,
            "category": str(member.category) if member.category else None,
            "referent": member.is_referent, "language": member.language,
            "created_at": _iso(member.created_at)}]
        sections["accounts"] = [{"platform": i.platform, "user_id": i.user_id,
                                 "linked_at": _iso(i.linked_at)} for i in identities]
        sections["coordinator_of"] = [{"cohort": name, "since": _iso(at)}
                                      for _, name, at in roles]
        sections["poll_answers"] = await self._poll_answers(member)
        sections["polls_created"] = [
            {"poll": p.id, "title": p.title, "created_at": _iso(p.created_at)}
            for p in (await s.scalars(select(Poll).where(Poll.created_by == member.id)
                                      .order_by(Poll.id))).all()]
        sections["note_answers"], sections["note_history"] = await self._note_answers(member)
        sections["note_conversations"] = await self._conversations(member, handles)
        cohorts = {cohort.id} if cohort else set()
        cohorts |= {cohort_id for cohort_id, _, _ in roles}
        sections["reminders"] = await self._reminders(member, sorted(cohorts), now)
        sections["events_created"] = [
            {"event": e.id, "title": e.title, "created_at": _iso(e.created_at)}
            for e in (await s.scalars(select(CalendarEvent).where(
                CalendarEvent.created_by == member.id).order_by(CalendarEvent.id))).all()]
        sections["calendar_imports"] = [
            {"url": i.url, "status": str(i.status), "created_at": _iso(i.created_at)}
            for i in (await s.scalars(select(CalendarImport).where(
                CalendarImport.requested_by == member.id))).all()]
        sections["rooms_linked"] = [
            {"platform": r.platform, "room": r.room_id, "linked_at": _iso(r.linked_at)}
            for r in (await s.scalars(select(LinkedRoom).where(
                LinkedRoom.linked_by == member.id))).all()]
        sections["dashboard_sessions"] = await self._dashboard(identities)
        sections["direct_rooms"] = [
            {"platform": d.platform, "room": d.room_id, "since": _iso(d.created_at)}
            for d in await self._direct_rooms(handles)]
        sections["messages_to_you"] = await self._messages(handles)
        sections["codes"] = [
            {"purpose": c.purpose, "expires_at": _iso(c.expires_at), "used_at": _iso(c.used_at)}
            for c in (await s.scalars(select(OneTimeCode).where(
                OneTimeCode.member_id == member.id))).all()]
        sections["audit"] = [
            {"at": _iso(a.at), "action": a.action, "cohort": a.cohort_id,
             "details": a.details} for a in audit]
        return PersonalData(member, identities, [c for c, _, _ in roles], audit, sections)

    async def _poll_answers(self, member: Member) -> list[dict[str, Any]]:
        rows = (await self.session.execute(
            select(PollAnswer, Poll.title, Poll.kind, Cohort.name)
            .join(Poll, Poll.id == PollAnswer.poll_id)
            .join(Cohort, Cohort.id == Poll.cohort_id)
            .where(PollAnswer.member_id == member.id).order_by(PollAnswer.poll_id))).all()
        poll_ids = sorted({answer.poll_id for answer, *_ in rows})
        labels: dict[tuple[int, int], str] = {}
        if poll_ids:
            for option in (await self.session.scalars(select(PollOption).where(
                    PollOption.poll_id.in_(poll_ids)))).all():
                labels[(option.poll_id, option.position)] = option.label
        out = []
        for answer, title, _kind, cohort in rows:
            out.append({"poll": answer.poll_id, "title": title, "cohort": cohort,
                        "for": _scope_label(answer.scope_key),
                        "answer": _answer_text(answer.poll_id, answer.value, labels),
                        "value": answer.value, "comment": answer.comment,
                        "platform": answer.platform, "answered_at": _iso(answer.updated_at),
                        "changes": answer.changes})
        return out

    async def _note_answers(self, member: Member
                            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        answers = (await self.session.execute(
            select(NoteAnswer, PilotNote.questionnaire, Delegation.territory)
            .join(PilotNote, PilotNote.id == NoteAnswer.note_id)
            .join(Delegation, Delegation.id == PilotNote.delegation_id)
            .where(NoteAnswer.answered_by == member.id)
            .order_by(NoteAnswer.note_id, NoteAnswer.id))).all()
        history = (await self.session.execute(
            select(NoteAnswerHistory, PilotNote.questionnaire, Delegation.territory)
            .join(PilotNote, PilotNote.id == NoteAnswerHistory.note_id)
            .join(Delegation, Delegation.id == PilotNote.delegation_id)
            .where(NoteAnswerHistory.changed_by == member.id)
            .order_by(NoteAnswerHistory.id))).all()
        return ([{"note": q, "delegation": d, "question": a.question_id, "value": a.value,
                  "answered_at": _iso(a.answered_at)} for a, q, d in answers],
                [{"note": q, "delegation": d, "question": h.question_id, "version": h.version,
                  "previous": h.previous, "value": h.value, "changed_at": _iso(h.changed_at)}
                 for h, q, d in history])

    async def _conversations(self, member: Member, handles: list[tuple[str, str]]
                             ) -> list[dict[str, Any]]:
        conditions = [NoteConversation.member_id == member.id]
        conditions += [(NoteConversation.platform == p) & (NoteConversation.user_id == u)
                       for p, u in handles]
        rows = (await self.session.execute(
            select(NoteConversation, PilotNote.questionnaire)
            .join(PilotNote, PilotNote.id == NoteConversation.note_id)
            .where(or_(*conditions)).order_by(NoteConversation.id))).all()
        return [{"note": q, "platform": c.platform, "state": str(c.state),
                 "question": c.question_id, "draft": list(c.buffer or []),
                 "started_at": _iso(c.started_at), "last_activity_at": _iso(c.last_activity_at)}
                for c, q in rows]

    async def _reminders(self, member: Member, cohorts: list[int], now: datetime | None
                         ) -> list[dict[str, Any]]:
        """Reminders still to come that name the person's group (not yet sent)."""
        if not cohorts:
            return []
        query = (select(Reminder.occurrence_start, Reminder.offset_minutes, Reminder.due_at,
                        CalendarEvent.title, CalendarEvent.target_kind,
                        CalendarEvent.target_value, CalendarEvent.cohort_id)
                 .join(CalendarEvent, CalendarEvent.id == Reminder.event_id)
                 .where(CalendarEvent.cohort_id.in_(cohorts),
                        Reminder.status.in_((ReminderStatus.PLANNED, ReminderStatus.QUEUED)))
                 .order_by(Reminder.due_at))
        if now is not None:
            query = query.where(Reminder.due_at >= now)
        seen: set[tuple[Any, ...]] = set()
        out = []
        for start, offset, due, title, kind, value, _cohort in (await self.session.execute(
                query)).all():
            if not _targets(member, kind, value):
                continue
            key = (title, start, offset)
            if key in seen:
                continue
            seen.add(key)
            out.append({"event": title, "occurrence": _iso(start), "reminder_at": _iso(due),
                        "offset_minutes": offset})
        return out

    async def _dashboard(self, identities: list[PlatformIdentity]) -> list[dict[str, Any]]:
        ids = [i.id for i in identities]
        if not ids:
            return []
        out = []
        for link in (await self.session.scalars(select(DashboardLink).where(
                DashboardLink.identity_id.in_(ids)))).all():
            out.append({"kind": "link", "created_at": _iso(link.created_at),
                        "expires_at": _iso(link.expires_at), "used_at": _iso(link.used_at)})
        for sess in (await self.session.scalars(select(DashboardSession).where(
                DashboardSession.identity_id.in_(ids)))).all():
            out.append({"kind": "session", "created_at": _iso(sess.created_at),
                        "expires_at": _iso(sess.expires_at),
                        "revoked_at": _iso(sess.revoked_at)})
        return out

    async def _direct_rooms(self, handles: list[tuple[str, str]]) -> list[DirectRoom]:
        if not handles:
            return []
        return list((await self.session.scalars(select(DirectRoom).where(or_(*(
            (DirectRoom.platform == p) & (DirectRoom.user_id == u) for p, u in handles)))
        )).all())

    async def _messages(self, handles: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Messages the bot wrote to the person alone (their DM, or private replies)."""
        if not handles:
            return []
        rooms = {(d.platform, d.room_id) for d in await self._direct_rooms(handles)}
        conditions = []
        for platform, user in handles:
            conditions.append((OutboxMessage.platform == platform) & or_(
                OutboxMessage.destination == f"@dm:{user}", OutboxMessage.private_to == user))
        for platform, room in rooms:
            conditions.append((OutboxMessage.platform == platform)
                              & (OutboxMessage.destination == room))
        rows = (await self.session.scalars(select(OutboxMessage).where(or_(*conditions))
                                           .order_by(OutboxMessage.id))).all()
        return [{"platform": m.platform, "status": str(m.status),
                 "created_at": _iso(m.created_at), "sent_at": _iso(m.sent_at),
                 "text": (m.payload or {}).get("text", "")} for m in rows]

    # ----------------------------------------------------------------- erasure

    async def erase(self, member: Member, now: datetime) -> dict[str, Any]:
        """Remove what identifies the person; keep an anonymous member row for the records
        that the delegation needs (votes, note contributions), linked to nobody."""
        s = self.session
        name = member.display_name
        identities = (await s.scalars(select(PlatformIdentity).where(
            PlatformIdentity.member_id == member.id))).all()
        handles = [(i.platform, i.user_id) for i in identities]
        identity_ids = [i.id for i in identities]
        conversations = (await s.scalars(select(NoteConversation.id).where(or_(
            NoteConversation.member_id == member.id,
            *((NoteConversation.platform == p) & (NoteConversation.user_id == u)
              for p, u in handles))))).all()
        await self._cancel_note_reminders(list(conversations))
        for platform, user_id in handles:
            await s.execute(delete(DirectRoom).where(DirectRoom.platform == platform,
                                                     DirectRoom.user_id == user_id))
            await self._blank_direct_messages(platform, user_id)
        if conversations:
            await s.execute(delete(NoteConversation).where(
                NoteConversation.id.in_(list(conversations))))
        if identity_ids:
            await s.execute(delete(DashboardLink).where(
                DashboardLink.identity_id.in_(identity_ids)))
            await s.execute(delete(DashboardSession).where(
                DashboardSession.identity_id.in_(identity_ids)))
        await s.execute(delete(PlatformIdentity).where(PlatformIdentity.member_id == member.id))
        await s.execute(delete(OneTimeCode).where(OneTimeCode.member_id == member.id))
        await s.execute(delete(CoordinatorRole).where(CoordinatorRole.member_id == member.id))
        await s.execute(update(AuditEntry).where(AuditEntry.actor_member_id == member.id)
                        .values(actor=ERASED_TEXT))
        member.display_name = erased_name(member.id)
        member.language = None
        member.is_referent = False
        member.erased_at = now
        await s.flush()
        needles = [u for _, u in handles]
        if len(name) >= MIN_NEEDLE:
            needles.append(name)
        scrubbed = await scrub_everywhere(s, needles)
        return {"identities": len(handles), "scrubbed": scrubbed}

    async def _cancel_note_reminders(self, conversations: list[int]) -> None:
        if not conversations:
            return
        for job in (await self.session.scalars(select(ScheduledJob).where(
                ScheduledJob.name == "notes.remind",
                ScheduledJob.status == JobStatus.PENDING))).all():
            if int((job.payload or {}).get("conversation", -1)) in conversations:
                job.status = JobStatus.CANCELLED
                job.payload = {}

    async def _blank_direct_messages(self, platform: str, user_id: str) -> None:
        rows = (await self.session.scalars(select(OutboxMessage).where(
            OutboxMessage.platform == platform,
            or_(OutboxMessage.destination == f"@dm:{user_id}",
                OutboxMessage.private_to == user_id)))).all()
        for row in rows:
            if row.status is OutboxStatus.PENDING:
                row.status = OutboxStatus.FAILED
                row.last_error = "erased before delivery"
            row.payload = {"text": ERASED_TEXT}
            row.private_to = None
            row.hints = {}
            if row.destination.startswith("@dm:"):
                row.destination = "@dm:erased"

    async def forget_replies(self, platform: str, key_prefix: str, *, force: bool = False
                             ) -> tuple[int, bool]:
        """After the "your data was erased" reply left: blank it and forget the accounts
        it was addressed to (and the DM room delivery may have opened again).

        Returns (rows blanked, whether some are still waiting to be delivered); with
        ``force`` a reply still waiting is given up.
        """
        rows = (await self.session.scalars(select(OutboxMessage).where(
            OutboxMessage.platform == platform,
            OutboxMessage.key.startswith(key_prefix, autoescape=True)))).all()
        if not force and any(row.status is OutboxStatus.PENDING for row in rows):
            return 0, True
        users = {row.private_to for row in rows if row.private_to}
        users |= {row.destination[4:] for row in rows if row.destination.startswith("@dm:")}
        for user in users:
            await self.session.execute(delete(DirectRoom).where(
                DirectRoom.platform == platform, DirectRoom.user_id == user))
            await self._blank_direct_messages(platform, user)
        for row in rows:
            if row.status is OutboxStatus.PENDING:
                row.status = OutboxStatus.FAILED
                row.last_error = "erased before delivery"
            row.payload = {"text": ERASED_TEXT}
            row.private_to = None
            row.hints = {}
        await self.session.flush()
        await scrub_everywhere(self.session, users)
        return len(rows), False


def _targets(member: Member, kind: TargetKind, value: str | None) -> bool:
    if kind is TargetKind.COHORT:
        return True
    if kind is TargetKind.CATEGORY:
        return member.category is not None and str(member.category) == value
    if kind is TargetKind.DELEGATION:
        return member.delegation_id is not None and str(member.delegation_id) == value
    if kind is TargetKind.REFERENTS:
        return bool(member.is_referent)
    return False


def _scope_label(scope_key: str) -> str:
    if scope_key.startswith("d:"):
        return "delegation"
    if scope_key.startswith("c:"):
        return "category"
    return "self"


def _answer_text(poll_id: int, value: Mapping[str, Any],
                 labels: Mapping[tuple[int, int], str]) -> str:
    if "choices" in value:
        return ", ".join(labels.get((poll_id, int(c)), str(c)) for c in value["choices"])
    if "availability" in value:
        return ", ".join(f"{labels.get((poll_id, int(k)), k)}: {v}"
                         for k, v in sorted(value["availability"].items(),
                                            key=lambda kv: int(kv[0])))
    if "text" in value:
        return str(value["text"])
    return json.dumps(value, ensure_ascii=False)

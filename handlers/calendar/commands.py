"""``agenda``: the cohort's calendar — list, add, change, cancel, pause, import, export.

Every change re-plans the event's reminders in the same transaction, so what a
coordinator is told ("3 rappels prévus") is what the database will send.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from handlers.calendar.ics import MAX_ICS_BYTES, build_ics
from handlers.calendar.imports import import_ics
from handlers.calendar.model import KINDS, series_of, view
from handlers.calendar.parsing import (
    MAX_TEXT,
    MAX_TITLE,
    When,
    clean_text,
    day_bounds,
    parse_duration,
    parse_end,
    parse_kind,
    parse_link,
    parse_recorded,
    parse_target,
    parse_when,
)
from handlers.calendar.planner import PlanStats, plan_cohort
from handlers.calendar.recurrence import (
    Occurrence,
    check_rrule,
    expand,
    first_weekday_of_month,
    localize,
    next_occurrences,
    parse_offsets,
    wall,
)
from handlers.calendar.reminders import target_name
from handlers.core.commands import (
    Args,
    CommandGroup,
    Kind,
    Opt,
    Param,
    Role,
)
from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.core.events import Attachment, Reply
from handlers.core.grammar import fold
from handlers.core.ids import Platform, RoomRef
from storage.models_calendar import (
    CalendarEvent,
    CalendarImport,
    EventStatus,
    ExceptionKind,
    ImportStatus,
    Reminder,
    ReminderStatus,
    TargetKind,
)
from storage.repos.cohorts import AlreadyExists

commands = CommandGroup("agenda", aliases=("calendar", "calendrier"))

DEFAULT_DURATION = timedelta(hours=1)
AGENDA_DAYS = 60
AGENDA_LIMIT = 20
NO_WORDS = ("aucune", "aucun", "non", "none", "no")

_EVENT_OPTIONS = (
    Opt("debut", aliases=("le", "date", "start", "quand", "when"), key_en="start"),
    Opt("fin", aliases=("end", "jusqua"), key_en="end"),
    Opt("duree", aliases=("duration",), key_en="duration"),
    Opt("lieu", aliases=("place", "location"), key_en="place"),
    Opt("lien", aliases=("link", "url", "visio"), key_en="link"),
    Opt("programme", aliases=("ordre", "odj", "agenda"), key_en="agenda"),
    Opt("regle", aliases=("rrule", "recurrence", "rule"), key_en="rule"),
    Opt("pour", aliases=("for", "cible", "target"), key_en="for"),
    Opt("enregistre", aliases=("recorded", "enregistrement"), key_en="recorded"),
    Opt("note"),
    Opt("rappels", aliases=("reminders",), key_en="reminders"),
    Opt("type", aliases=("kind",), key_en="kind"),
)


async def find_event(ctx: Context, number: int) -> CalendarEvent:
    assert ctx.cohort is not None
    event = await ctx.store.calendar.event(ctx.cohort.id, number)
    if event is None:
        raise UserFacingError("calendar/unknown_event", number=number)
    return event


async def replan(ctx: Context, event: CalendarEvent) -> PlanStats:
    """Re-plan one event's reminders in this transaction; the scheduler hears of it after."""
    assert ctx.cohort is not None
    await ctx.store.session.flush()
    stats = await plan_cohort(ctx.store, ctx.cohort, ctx.now(), only=[event.id])
    if stats.timers:
        ctx.changed.add("jobs")
    ctx.changed.add("calendar")
    return stats


@commands.command(None, role=Role.MEMBER,
                  params=(Param("jours", Kind.INT, required=False, name_en="days"),))
async def upcoming(ctx: Context, args: Args) -> Reply:
    """The next occurrences (60 days by default), with the numbers commands use."""
    assert ctx.cohort is not None
    days = args.get("jours", AGENDA_DAYS)
    if not 1 <= days <= 366:
        raise UserFacingError("calendar/bad_days", days=days)
    now = ctx.now()
    settings = await ctx.store.calendar.settings(ctx.cohort.id)
    rows: list[tuple[Occurrence, CalendarEvent]] = []
    for event in await ctx.store.calendar.events(ctx.cohort.id, (EventStatus.ACTIVE,
                                                                 EventStatus.PAUSED)):
        for occurrence in expand(series_of(event), now - timedelta(days=1),
                                 now + timedelta(days=days)):
            if occurrence.end > now or occurrence.start >= now:
                rows.append((occurrence, event))
    rows.sort(key=lambda pair: (pair[0].start, pair[1].id))
    shown = [view(e, ctx.lang, occurrence=o, settings=settings,
                  target_name=await target_name(ctx.store, e)) for o, e in rows[:AGENDA_LIMIT]]
    return ctx.reply("calendar/agenda", items=shown, more=max(0, len(rows) - AGENDA_LIMIT),
                     days=days, cohort=ctx.cohort, tz=ctx.tz.key, now=now)


@commands.command("ajouter", aliases=("add", "creer", "create"), role=Role.COORDINATOR,
                  params=(Param("titre", Kind.REST, name_en="title"),), options=_EVENT_OPTIONS)
async def add(ctx: Context, args: Args) -> Reply:
    assert ctx.cohort is not None
    tz = ctx.tz
    now = ctx.now()
    title = clean_text(" ".join(args["titre"].split()), MAX_TITLE, "titre")
    if "debut" not in args:
        raise UserFacingError("errors/usage", spec=ctx.spec, missing="debut=…")
    when = parse_when(args["debut"], now, tz)
    if when.start < now:
        raise UserFacingError("calendar/start_in_past", start=when.start, tz=tz.key)
    end = _end_of(args, when, now, tz)
    event = CalendarEvent(
        cohort_id=ctx.cohort.id, uid=f"{uuid.uuid4()}@cohortbot", title=title,
        timezone=tz.key, all_day=when.all_day, starts_at=when.start, ends_at=end,
        status=EventStatus.ACTIVE, source="chat", sequence=0, i18n={}, kind="event",
        target_kind=TargetKind.COHORT, created_by=_member_id(ctx), created_at=now,
        updated_at=now)
    await _apply_details(ctx, event, args)
    for other in await ctx.store.calendar.events(ctx.cohort.id, (EventStatus.ACTIVE,
                                                                 EventStatus.PAUSED)):
        if other.starts_at == event.starts_at and fold(other.title) == fold(title):
            raise UserFacingError("calendar/duplicate_event", number=other.id, title=title)
    await ctx.store.calendar.add_event(event)
    stats = await replan(ctx, event)
    await ctx.audit("calendar.add", event_id=event.id)
    return await _described(ctx, "calendar/added", event, stats)


async def _apply_details(ctx: Context, event: CalendarEvent, args: Args) -> list[str]:
    """Set every optional detail given in ``args``; returns the names changed."""
    changed: list[str] = []
    if "lieu" in args:
        event.place = None if fold(args["lieu"]) in NO_WORDS else clean_text(
            args["lieu"], 500, "lieu")
        changed.append("lieu")
    if "lien" in args:
        event.link = None if fold(args["lien"]) in NO_WORDS else parse_link(args["lien"])
        changed.append("lien")
    if "programme" in args:
        event.agenda = clean_text(args["programme"], MAX_TEXT, "programme") or None
        event.i18n = {}
        changed.append("programme")
    if "note" in args:
        event.note = clean_text(args["note"], MAX_TEXT, "note") or None
        changed.append("note")
    if "enregistre" in args:
        event.recorded = parse_recorded(args["enregistre"])
        changed.append("enregistre")
    if "type" in args:
        event.kind = parse_kind(args["type"])
        changed.append("type")
    if "pour" in args:
        event.target_kind, event.target_value = await parse_target(ctx, args["pour"])
        changed.append("pour")
    if "rappels" in args:
        text = args["rappels"]
        event.offsets = None if fold(text) in ("cohorte", "defaut", "default") else list(
            parse_offsets(text))
        changed.append("rappels")
    if "regle" in args:
        text = args["regle"]
        event.rrule = None if fold(text) in NO_WORDS else check_rrule(
            text, event.starts_at, ZoneInfo(event.timezone))
        changed.append("regle")
    return changed


def _end_of(args: Args, when: When, now: datetime, tz: ZoneInfo) -> datetime:
    if "fin" in args and "duree" in args:
        raise UserFacingError("calendar/end_and_duration")
    if "fin" in args:
        return parse_end(args["fin"], when, now, tz)
    if "duree" in args:
        return when.start + parse_duration(args["duree"])
    return when.start + (timedelta(days=1) if when.all_day else DEFAULT_DURATION)


async def _described(ctx: Context, template: str, event: CalendarEvent, stats: PlanStats | None,
                     **extra: object) -> Reply:
    assert ctx.cohort is not None
    settings = await ctx.store.calendar.settings(ctx.cohort.id)
    nexts = next_occurrences(series_of(event), ctx.now(), 3) if event.rrule else []
    rooms = await ctx.store.rooms.of_cohort(ctx.cohort.id)
    return ctx.reply(template, event=view(event, ctx.lang, settings=settings,
                                          occurrence=nexts[0] if nexts else None,
                                          target_name=await target_name(ctx.store, event)),
                     nexts=nexts, planned=(stats.added + stats.revived) if stats else 0,
                     rooms=len(rooms), tz=ctx.tz.key, **extra)


def _member_id(ctx: Context) -> int | None:
    caller = ctx.caller
    return caller.member.id if caller and caller.member else None


@commands.command("modifier", aliases=("edit", "changer", "deplacer", "move"),
                  role=Role.COORDINATOR,
                  params=(Param("numero", Kind.INT, name_en="number"),
                          Param("date", Kind.DATE, required=False)),
                  options=(*_EVENT_OPTIONS, Opt("titre", aliases=("title",), key_en="title")))
async def edit(ctx: Context, args: Args) -> Reply:
    """Change an event (or, with a date, move that one occurrence of a series)."""
    event = await find_event(ctx, args["numero"])
    if event.status is EventStatus.CANCELLED:
        raise UserFacingError("calendar/event_cancelled", number=event.id)
    if "date" in args:
        return await _move_occurrence(ctx, event, args)
    tz = ZoneInfo(event.timezone)
    now = ctx.now()
    changed: list[str] = []
    if "titre" in args:
        event.title = clean_text(" ".join(args["titre"].split()), MAX_TITLE, "titre")
        if not event.title:
            raise UserFacingError("errors/usage", spec=ctx.spec, missing="titre=…")
        event.i18n = {}
        changed.append("titre")
    if "debut" in args or "fin" in args or "duree" in args:
        if "debut" in args:
            when = parse_when(args["debut"], now, tz)
            if when.start < now:
                raise UserFacingError("calendar/start_in_past", start=when.start, tz=tz.key)
        else:
            when = When(event.starts_at, event.all_day)
        if "fin" in args or "duree" in args:
            end = _end_of(args, when, now, tz)
        else:
            end = when.start + (event.ends_at - event.starts_at)
        event.starts_at, event.ends_at, event.all_day = when.start, end, when.all_day
        changed.append("horaire")
    changed += await _apply_details(ctx, event, args)
    if not changed:
        raise UserFacingError("calendar/nothing_to_change", spec=ctx.spec)
    if event.rrule and "horaire" in changed and "regle" not in changed:
        event.rrule = check_rrule(event.rrule, event.starts_at, tz)
    event.sequence += 1
    event.updated_at = now
    stats = await replan(ctx, event)
    await ctx.audit("calendar.edit", event_id=event.id, fields=changed)
    return await _described(ctx, "calendar/updated", event, stats, changed=changed)


async def find_occurrence(ctx: Context, event: CalendarEvent, day: date) -> Occurrence:
    """The occurrence of ``event`` that takes place (or was to take place) on ``day``."""
    tz = ZoneInfo(event.timezone)
    start, end = day_bounds(day, tz)
    series = series_of(event)
    around = expand(series, start - timedelta(days=400), end + timedelta(days=400))
    for occurrence in around:
        if start <= occurrence.original_start < end or start <= occurrence.start < end:
            return occurrence
    if any(start <= c < end for c in series.cancelled):
        raise UserFacingError("calendar/occurrence_already_cancelled", number=event.id, day=day)
    nexts = next_occurrences(series, ctx.now(), 3)
    raise UserFacingError("calendar/no_occurrence", number=event.id, day=day, nexts=nexts,
                          tz=ctx.tz.key)


async def _move_occurrence(ctx: Context, event: CalendarEvent, args: Args) -> Reply:
    allowed = {"debut", "fin", "duree"}
    given = {o.key for o in _EVENT_OPTIONS if o.key in args} | ({"titre"} if "titre" in args
                                                                else set())
    if given - allowed or not given:
        raise UserFacingError("calendar/occurrence_fields", number=event.id)
    occurrence = await find_occurrence(ctx, event, args["date"])
    tz = ZoneInfo(event.timezone)
    now = ctx.now()
    if occurrence.start <= now:
        raise UserFacingError("calendar/occurrence_past", start=occurrence.start, tz=tz.key)
    if "debut" in args:
        when = parse_when(args["debut"], now, tz)
        if when.start < now:
            raise UserFacingError("calendar/start_in_past", start=when.start, tz=tz.key)
    else:
        when = When(occurrence.start, event.all_day)
    if "fin" in args or "duree" in args:
        end = _end_of(args, when, now, tz)
    else:
        end = when.start + (occurrence.end - occurrence.start)
    if not event.rrule and not any(x.kind is ExceptionKind.ADDED for x in event.exceptions):
        event.starts_at, event.ends_at = when.start, end
    else:
        await ctx.store.calendar.set_exception(event, occurrence.original_start,
                                               ExceptionKind.MOVED, now, starts_at=when.start,
                                               ends_at=end)
    event.sequence += 1
    event.updated_at = now
    await _notify_rooms(ctx, event, occurrence, "calendar/notice_moved",
                        new_start=when.start, new_end=end)
    stats = await replan(ctx, event)
    await ctx.audit("calendar.move", event_id=event.id,
                    occurrence=occurrence.original_start.isoformat())
    moved = Occurrence(occurrence.original_start, when.start, end, moved=True)
    return ctx.reply("calendar/moved", event=view(event, ctx.lang, occurrence=moved),
                     old=occurrence, planned=stats.added + stats.revived, tz=ctx.tz.key)


@commands.command("annuler", aliases=("cancel", "supprimer", "delete"), role=Role.COORDINATOR,
                  params=(Param("numero", Kind.INT, name_en="number"),
                          Param("date", Kind.DATE, required=False)))
async def cancel(ctx: Context, args: Args) -> Reply:
    """Cancel an event or series; with a date, only that occurrence (an EXDATE)."""
    event = await find_event(ctx, args["numero"])
    if event.status is EventStatus.CANCELLED:
        raise UserFacingError("calendar/event_cancelled", number=event.id)
    now = ctx.now()
    if "date" in args and (event.rrule or event.exceptions):
        occurrence = await find_occurrence(ctx, event, args["date"])
        if occurrence.start <= now:
            raise UserFacingError("calendar/occurrence_past", start=occurrence.start,
                                  tz=ctx.tz.key)
        await ctx.store.calendar.set_exception(event, occurrence.original_start,
                                               ExceptionKind.CANCELLED, now)
        event.sequence += 1
        event.updated_at = now
        await _notify_rooms(ctx, event, occurrence, "calendar/notice_cancelled")
        await replan(ctx, event)
        await ctx.audit("calendar.cancel_occurrence", event_id=event.id,
                        occurrence=occurrence.original_start.isoformat())
        return ctx.reply("calendar/occurrence_cancelled", event=view(event, ctx.lang),
                         occurrence=occurrence, tz=ctx.tz.key)
    if "date" in args:
        await find_occurrence(ctx, event, args["date"])
    nexts = next_occurrences(series_of(event), now, 1)
    event.status = EventStatus.CANCELLED
    event.sequence += 1
    event.updated_at = now
    if nexts:
        await _notify_rooms(ctx, event, nexts[0], "calendar/notice_cancelled")
    await replan(ctx, event)
    await ctx.audit("calendar.cancel", event_id=event.id)
    return ctx.reply("calendar/cancelled", event=view(event, ctx.lang), tz=ctx.tz.key)


async def _notify_rooms(ctx: Context, event: CalendarEvent, occurrence: Occurrence,
                        template: str, **extra: object) -> None:
    """Tell the rooms that were already reminded of an occurrence that it changed."""
    assert ctx.cohort is not None
    reminded = await ctx.store.calendar.sent_for_occurrence(event.id, occurrence.start)
    rooms = {(r.platform, r.room_id) for r in reminded}
    if not rooms:
        return
    lang = ctx.cohort.language
    for platform, room_id in sorted(rooms):
        text = ctx.catalog.render(lang, template, prefix=ctx.settings.prefix(Platform(platform)),
                                  event=view(event, lang), occurrence=occurrence,
                                  tz=ctx.cohort.timezone, **extra)
        ctx.send(RoomRef(Platform(platform), room_id), Reply(text),
                 key=f"calendar-notice:{event.id}:{occurrence.original_start.isoformat()}:"
                     f"{event.sequence}:{platform}:{room_id}")


@commands.command("suspendre", aliases=("pause",), role=Role.COORDINATOR,
                  params=(Param("numero", Kind.INT, name_en="number"),))
async def pause(ctx: Context, args: Args) -> Reply:
    """Pause a series: it stays in the agenda, no reminder goes out until ``reprendre``."""
    event = await find_event(ctx, args["numero"])
    if event.status is not EventStatus.ACTIVE:
        raise UserFacingError("calendar/not_active", number=event.id,
                              status=event.status.value)
    event.status = EventStatus.PAUSED
    event.updated_at = ctx.now()
    stats = await replan(ctx, event)
    await ctx.audit("calendar.pause", event_id=event.id)
    return ctx.reply("calendar/paused", event=view(event, ctx.lang), stats=stats)


@commands.command("reprendre", aliases=("resume", "reactiver"), role=Role.COORDINATOR,
                  params=(Param("numero", Kind.INT, name_en="number"),))
async def resume(ctx: Context, args: Args) -> Reply:
    """Resume a paused (or cancelled) event; reminders due meanwhile are not sent late."""
    event = await find_event(ctx, args["numero"])
    if event.status is EventStatus.ACTIVE:
        raise UserFacingError("calendar/already_active", number=event.id)
    event.status = EventStatus.ACTIVE
    event.sequence += 1
    event.updated_at = ctx.now()
    stats = await replan(ctx, event)
    await ctx.audit("calendar.resume", event_id=event.id)
    return await _described(ctx, "calendar/resumed", event, stats)


@commands.command("voir", aliases=("show", "info", "details"), role=Role.MEMBER,
                  params=(Param("numero", Kind.INT, name_en="number"),))
async def show(ctx: Context, args: Args) -> Reply:
    event = await find_event(ctx, args["numero"])
    assert ctx.cohort is not None
    now = ctx.now()
    planned: list[Reminder] = []
    for reminder, owner in await ctx.store.calendar.of_cohort(
            ctx.cohort.id, statuses=(ReminderStatus.PLANNED,), since=now, limit=500):
        if owner.id == event.id and not any(p.due_at == reminder.due_at and p.offset_minutes ==
                                            reminder.offset_minutes for p in planned):
            planned.append(reminder)
    settings = await ctx.store.calendar.settings(ctx.cohort.id)
    nexts = next_occurrences(series_of(event), now, 5)
    shown = view(event, ctx.lang, settings=settings,
                 occurrence=nexts[0] if event.rrule and nexts else None,
                 target_name=await target_name(ctx.store, event))
    return ctx.reply("calendar/event", event=shown, nexts=nexts, tz=ctx.tz.key,
                     reminders=planned[:6], more_reminders=max(0, len(planned) - 6),
                     cancelled=[x for x in event.exceptions
                                if x.kind is ExceptionKind.CANCELLED and x.original_start > now],
                     private=True)


@commands.command("permanence", role=Role.COORDINATOR,
                  options=(Opt("debut", aliases=("le", "date", "start", "a-partir-du"),
                               key_en="start"),
                           Opt("heure", aliases=("time", "a"), key_en="time"),
                           Opt("fin", aliases=("end",), key_en="end"),
                           Opt("lien", aliases=("link", "url", "visio"), key_en="link"),
                           Opt("lieu", aliases=("place",), key_en="place"),
                           Opt("rappels", aliases=("reminders",), key_en="reminders"),
                           Opt("titre", aliases=("title",), key_en="title")))
async def permanence(ctx: Context, args: Args) -> Reply:
    """The monthly permanence: first Tuesday of the month, 11:00–13:00, every month."""
    from handlers.core.dates import parse_date, parse_time

    assert ctx.cohort is not None
    tz = ctx.tz
    now = ctx.now()
    today = wall(now, tz).date()
    start_time = parse_time(args["heure"]) if "heure" in args else time(11, 0)
    end_time = parse_time(args["fin"]) if "fin" in args else time(13, 0)
    if end_time <= start_time:
        raise UserFacingError("calendar/end_before_start", start=None, end=None, tz=tz.key)
    if "debut" in args:
        first = parse_date(args["debut"], today)
        if first.weekday() != 1 or first.day > 7:
            first = _first_tuesday_from(first)
    else:
        first = _first_tuesday_from(today)
    starts = localize(datetime.combine(first, start_time), tz)
    if starts <= now:
        first = _first_tuesday_from(first + timedelta(days=1))
        starts = localize(datetime.combine(first, start_time), tz)
    title = clean_text(args["titre"], MAX_TITLE, "titre") if "titre" in args else \
        ctx.catalog.render(ctx.cohort.language, "calendar/permanence_title")
    event = CalendarEvent(
        cohort_id=ctx.cohort.id, uid=f"permanence-{ctx.cohort.slug}@cohortbot", title=title,
        kind="permanence", timezone=tz.key, all_day=False, starts_at=starts,
        ends_at=localize(datetime.combine(first, end_time), tz), rrule="FREQ=MONTHLY;BYDAY=1TU",
        status=EventStatus.ACTIVE, source="chat", sequence=0,
        agenda=ctx.catalog.render(ctx.cohort.language, "calendar/permanence_agenda"),
        i18n={}, target_kind=TargetKind.COHORT, created_by=_member_id(ctx), created_at=now,
        updated_at=now)
    await _apply_details(ctx, event, args)
    for other in await ctx.store.calendar.events(ctx.cohort.id, (EventStatus.ACTIVE,
                                                                 EventStatus.PAUSED)):
        if other.kind == "permanence":
            raise UserFacingError("calendar/permanence_exists", number=other.id)
    try:
        await ctx.store.calendar.add_event(event)
    except AlreadyExists:
        existing = await ctx.store.calendar.by_uid(ctx.cohort.id, event.uid)
        raise UserFacingError("calendar/permanence_exists",
                              number=existing.id if existing else None) from None
    stats = await replan(ctx, event)
    await ctx.audit("calendar.permanence", event_id=event.id)
    return await _described(ctx, "calendar/added", event, stats)


def _first_tuesday_from(day: date) -> date:
    candidate = first_weekday_of_month(day.year, day.month, 1)
    if candidate >= day:
        return candidate
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return first_weekday_of_month(year, month, 1)


@commands.command("exporter", aliases=("export", "ics"), role=Role.MEMBER)
async def export(ctx: Context, args: Args) -> Reply:
    """The cohort's calendar as an ICS file, to open in any calendar application."""
    assert ctx.cohort is not None
    events = await ctx.store.calendar.events(ctx.cohort.id, (EventStatus.ACTIVE,
                                                             EventStatus.PAUSED))
    data = build_ics(events, name=ctx.cohort.name, default_tz=ctx.cohort.timezone,
                     now=ctx.now())
    attachment = Attachment(f"{ctx.cohort.slug}.ics", "text/calendar", data,
                            alt_text=ctx.cohort.name)
    return ctx.reply("calendar/exported", count=len(events), cohort=ctx.cohort,
                     attachments=(attachment,))


@commands.command("lien", aliases=("link", "abonnement", "subscribe", "flux", "feed"),
                  role=Role.MEMBER,
                  params=(Param("action", Kind.CHOICE, required=False,
                                choices=("renouveler", "renew")),))
async def feed(ctx: Context, args: Args) -> Reply:
    """The address a calendar application subscribes to (kept secret: it is the key)."""
    assert ctx.cohort is not None and ctx.caller is not None
    renew = "action" in args
    if renew and not ctx.caller.coordinates_cohort(ctx.cohort.id):
        raise UserFacingError("errors/forbidden", spec=ctx.spec, registered=True)
    settings = await ctx.store.calendar.ensure_settings(ctx.cohort.id, ctx.now())
    if renew or not settings.feed_token:
        settings.feed_token = secrets.token_urlsafe(24)
        settings.updated_at = ctx.now()
        await ctx.audit("calendar.feed_token", renewed=renew)
    url = f"{ctx.settings.public_url}/ics/{ctx.cohort.slug}/{settings.feed_token}.ics"
    return ctx.reply("calendar/feed", url=url, renewed=renew, cohort=ctx.cohort, private=True)


@commands.command("importer", aliases=("import",), role=Role.COORDINATOR,
                  params=(Param("source", Kind.REST, name_en="source", required=False),))
async def import_(ctx: Context, args: Args) -> Reply:
    """Import an ICS file (shared with the command in chat; console: a path) or URL
    (fetched in the background)."""
    assert ctx.cohort is not None and ctx.origin is not None
    source = (args.get("source") or "").strip()
    shared = _shared_calendar(ctx)
    if shared is not None and not source:
        return await _import_bytes(ctx, shared.content, shared.filename)
    if not source:
        raise UserFacingError("calendar/import_needs_url", platform=str(ctx.origin.platform))
    if fold(source).startswith(("http://", "https://", "webcal://")):
        url = "https://" + source[len("webcal://"):] if fold(source).startswith("webcal://") \
            else source
        if " " in url or len(url) > 2000:
            raise UserFacingError("calendar/bad_link", text=source)
        origin = ctx.origin
        row = await ctx.store.calendar.add_import(CalendarImport(
            cohort_id=ctx.cohort.id, url=url, status=ImportStatus.FETCHING,
            reply_to={"platform": str(origin.platform), "room": origin.room.room_id,
                      "thread": origin.thread_id, "user": origin.user.user_id,
                      "lang": ctx.lang, "actor": ctx.caller.actor if ctx.caller else None},
            requested_by=_member_id(ctx), created_at=ctx.now()))
        ctx.changed.add("calendar.fetch")
        await ctx.audit("calendar.import_url", import_id=row.id)
        return ctx.reply("calendar/import_started", url=url)
    if ctx.origin.platform is not Platform.CONSOLE:
        raise UserFacingError("calendar/import_needs_url", platform=str(ctx.origin.platform))
    return await _import_bytes(ctx, read_local_file(source), Path(source).name)


def _shared_calendar(ctx: Context) -> Attachment | None:
    """The file shared with the command: the first ``.ics`` one, else the first one."""
    files = getattr(ctx.event, "files", ())
    return next((f for f in files if f.filename.lower().endswith(".ics") or
                 f.mimetype.startswith("text/calendar")), files[0] if files else None)


async def _import_bytes(ctx: Context, data: bytes, name: str) -> Reply:
    assert ctx.cohort is not None
    result = await import_ics(ctx.store, ctx.cohort, data, source=f"file:{name}",
                              now=ctx.now(), member_id=_member_id(ctx))
    if result.timers:
        ctx.changed.add("jobs")
    ctx.changed.add("calendar")
    await ctx.audit("calendar.import_file", added=result.added, updated=result.updated,
                    cancelled=result.cancelled)
    return ctx.reply("calendar/imported", result=result, source=name)


def read_local_file(text: str) -> bytes:
    """An ICS file on the console operator's disk, size-checked before it is read."""
    path = Path(text).expanduser()
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise UserFacingError("calendar/import_file_missing", path=text)
        if size > MAX_ICS_BYTES:
            raise UserFacingError("calendar/ics_too_big", size=size, limit=MAX_ICS_BYTES)
        return path.read_bytes()
    except OSError:
        raise UserFacingError("calendar/import_file_missing", path=text) from None


__all__ = ["KINDS", "commands", "find_event"]

"""``rappel``: reminder offsets (per cohort, per event), what is planned, a preview."""

from __future__ import annotations

from datetime import timedelta

from handlers.calendar.commands import find_event, replan
from handlers.calendar.model import cohort_offsets, offsets_for, series_of, view
from handlers.calendar.planner import plan_cohort
from handlers.calendar.recurrence import next_occurrences, parse_offsets
from handlers.calendar.reminders import render_reminder
from handlers.core.commands import Args, CommandGroup, Kind, Opt, Param, Role
from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.core.events import Reply
from handlers.core.grammar import fold
from storage.models_calendar import Reminder, ReminderStatus

commands = CommandGroup("rappel", aliases=("remind", "rappels", "reminder", "reminders"))

LIST_DAYS = 14
HISTORY_DAYS = 7


@commands.command("delais", aliases=("offsets", "quand", "when"), role=Role.COORDINATOR,
                  params=(Param("delais", Kind.REST, required=False, name_en="offsets"),),
                  options=(Opt("evenement", Kind.INT, aliases=("event", "numero"),
                               key_en="event"),))
async def offsets(ctx: Context, args: Args) -> Reply:
    """Show or set when reminders go out: for the whole cohort, or for one event."""
    assert ctx.cohort is not None
    store = ctx.store
    settings = await store.calendar.settings(ctx.cohort.id)
    event = await find_event(ctx, args["evenement"]) if "evenement" in args else None
    if "delais" not in args:
        current = offsets_for(event, settings) if event else cohort_offsets(settings)
        return ctx.reply("calendar/offsets_show", offsets=current, event=view(
            event, ctx.lang, settings=settings) if event else None, private=True)
    text = args["delais"]
    reset = fold(text) in ("defaut", "default", "cohorte", "cohort")
    values = None if reset else list(parse_offsets(text))
    if event is not None:
        event.offsets = values
        event.updated_at = ctx.now()
        stats = await replan(ctx, event)
    else:
        settings = await store.calendar.ensure_settings(ctx.cohort.id, ctx.now())
        settings.offsets = values
        settings.updated_at = ctx.now()
        await store.session.flush()
        stats = await plan_cohort(store, ctx.cohort, ctx.now())
        if stats.timers:
            ctx.changed.add("jobs")
        ctx.changed.add("calendar")
    await ctx.audit("calendar.offsets", event_id=event.id if event else None, offsets=values)
    shown = offsets_for(event, settings) if event else cohort_offsets(settings)
    return ctx.reply("calendar/offsets_set", offsets=shown, reset=reset,
                     event=view(event, ctx.lang, settings=settings) if event else None,
                     planned=stats.added + stats.revived, cancelled=stats.cancelled)


@commands.command("lister", aliases=("list", "prochains", "next"), role=Role.MEMBER)
async def list_reminders(ctx: Context, args: Args) -> Reply:
    """The reminders planned for the next two weeks, and what went out (or not) lately."""
    assert ctx.cohort is not None and ctx.caller is not None
    now = ctx.now()
    store = ctx.store
    planned = await store.calendar.of_cohort(
        ctx.cohort.id, statuses=(ReminderStatus.PLANNED,), since=now,
        until=now + timedelta(days=LIST_DAYS), limit=200)
    history = []
    if ctx.caller.coordinates_cohort(ctx.cohort.id):
        history = await store.calendar.of_cohort(
            ctx.cohort.id, statuses=(ReminderStatus.QUEUED, ReminderStatus.SENT,
                                     ReminderStatus.SKIPPED),
            since=now - timedelta(days=HISTORY_DAYS), until=now, limit=30, newest_first=True)
    return ctx.reply("calendar/reminder_list", planned=_by_instant(ctx, planned)[:15],
                     history=[(r, view(e, ctx.lang)) for r, e in history], tz=ctx.tz.key,
                     days=LIST_DAYS, private=True)


def _by_instant(ctx: Context, rows: list[tuple[Reminder, object]]) -> list[dict[str, object]]:
    """One line per reminder message, whatever the number of rooms it goes to."""
    lines: dict[tuple[int, object, int], dict[str, object]] = {}
    for reminder, event in rows:
        key = (reminder.event_id, reminder.occurrence_start, reminder.offset_minutes)
        line = lines.setdefault(key, {"reminder": reminder, "event": view(event, ctx.lang),
                                      "rooms": 0})
        line["rooms"] = int(line["rooms"]) + 1  # type: ignore[call-overload]
    return list(lines.values())


@commands.command("test", aliases=("apercu", "preview", "essai"), role=Role.COORDINATOR,
                  params=(Param("numero", Kind.INT, name_en="number"),))
async def preview(ctx: Context, args: Args) -> Reply:
    """Show here, now, the reminder the next occurrence of an event will get."""
    assert ctx.cohort is not None and ctx.origin is not None
    event = await find_event(ctx, args["numero"])
    now = ctx.now()
    nexts = next_occurrences(series_of(event), now, 1)
    if not nexts:
        raise UserFacingError("calendar/no_upcoming", number=event.id)
    occurrence = nexts[0]
    settings = await ctx.store.calendar.settings(ctx.cohort.id)
    offsets = offsets_for(event, settings) or (60,)
    sample = Reminder(event_id=event.id, occurrence_start=occurrence.start,
                      occurrence_end=occurrence.end, offset_minutes=min(offsets),
                      platform=str(ctx.origin.platform), room_id=ctx.origin.room.room_id,
                      due_at=now)
    members = await ctx.store.members.of_cohort(ctx.cohort.id)
    reply = await render_reminder(ctx, event, ctx.cohort, sample, now=now, late=False,
                                  members=members, preview=True)
    return Reply(reply.text)

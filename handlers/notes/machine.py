"""The questionnaire conversation: an explicit state machine, persisted at every step.

States are :class:`~storage.models_notes.ConversationState`; what a message means
is an :class:`Intent` (an answer, or a control word such as ``passer``); the
:data:`TRANSITIONS` table says which step serves each (state, intent), and each
step returns the next state. The conversation row, the answer and its history are
written in the transaction of the message that caused them, so a restart between
two messages resumes exactly where the person was, partial long answers included.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

from handlers.core.context import Context
from handlers.core.events import MessageEvent, Reply, TimerEvent
from handlers.core.grammar import fold
from handlers.core.ids import Platform, UserRef
from handlers.notes.answers import (
    DONE_WORDS,
    InvalidAnswer,
    parse_multi,
    parse_single,
    shown,
    split_closing,
)
from handlers.notes.questionnaires import Question, Questionnaire, QuestionType, text
from handlers.notes.service import NotesPolicy, completion, may_see, member_names, policy
from storage.models import Delegation
from storage.models_notes import (
    OPEN_STATES,
    ConversationState,
    NoteConversation,
    PilotNote,
)

State = ConversationState
REMIND_TIMER = "notes.remind"


class Intent(StrEnum):
    """What a message in the conversation means."""

    TEXT = "text"
    FINISH = "finish"
    SKIP = "skip"
    BACK = "back"
    EDIT = "edit"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    STATUS = "status"
    SHOW = "show"
    HELP = "help"


WORDS: dict[str, Intent] = {
    "passer": Intent.SKIP, "skip": Intent.SKIP, "suivant": Intent.SKIP, "next": Intent.SKIP,
    "plus tard": Intent.SKIP,
    "retour": Intent.BACK, "back": Intent.BACK, "precedent": Intent.BACK,
    "previous": Intent.BACK,
    "pause": Intent.PAUSE,
    "reprendre": Intent.RESUME, "resume": Intent.RESUME, "continuer": Intent.RESUME,
    "annuler": Intent.CANCEL, "cancel": Intent.CANCEL, "stop": Intent.CANCEL,
    "arreter": Intent.CANCEL,
    "statut": Intent.STATUS, "status": Intent.STATUS, "ou en suis-je": Intent.STATUS,
    "voir": Intent.SHOW, "show": Intent.SHOW, "relire": Intent.SHOW,
    "aide": Intent.HELP, "help": Intent.HELP, "?": Intent.HELP,
    "modifier": Intent.EDIT, "edit": Intent.EDIT,
}
_EDIT = re.compile(r"^(?:modifier|edit|corriger|question|change)\s+(?:la\s+question\s+)?"
                   r"(?:n[°o]\s*)?(\d{1,3})$")
_QUOTED = re.compile(r"^\s*([\"«“])(.*)([\"»”])\s*$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """The frozen key a conversation is stored under."""

    platform: str
    user_id: str
    note_id: int


def read_intent(message: str) -> tuple[Intent, str, int | None]:
    """(intent, the answer text, the question number for ``modifier n``).

    Only a whole message is a control word: a long answer that contains "voir" is
    an answer. A message in quotes is always an answer (to answer "passer" itself).
    """
    quoted = _QUOTED.match(message)
    if quoted:
        return Intent.TEXT, quoted.group(2).strip(), None
    folded = fold(" ".join(message.split())).rstrip(" !")
    if folded in DONE_WORDS:
        return Intent.FINISH, message, None
    match = _EDIT.match(folded)
    if match:
        return Intent.EDIT, message, int(match.group(1))
    folded = folded.rstrip(".? ") if folded not in WORDS else folded
    if folded in WORDS:
        return WORDS[folded], message, None
    return Intent.TEXT, message, None


@dataclass(slots=True)
class Turn:
    """One message applied to one conversation: what the steps read and what they say."""

    ctx: Context
    conv: NoteConversation
    note: PilotNote
    delegation: Delegation
    questionnaire: Questionnaire
    policy: NotesPolicy
    intent: Intent = Intent.TEXT
    text: str = ""
    number: int | None = None
    answered: dict[str, int] = field(default_factory=dict)
    parts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def say(self, template: str, **context: Any) -> None:
        self.parts.append((template, context))

    @property
    def question(self) -> Question | None:
        return self.questionnaire.question(self.conv.question_id)

    @property
    def title(self) -> str:
        return text(self.questionnaire.title, self.ctx.lang)

    @property
    def me(self) -> int | None:
        caller = self.ctx.caller
        return caller.member.id if caller and caller.member else None

    def reply(self) -> Reply:
        return Reply("\n\n".join(self.ctx.t(name, **context) for name, context in self.parts))


Step = Callable[[Turn], Awaitable[State]]


# ---------------------------------------------------------------- asking questions

async def ask(turn: Turn, question: Question, *, resumed: bool = False) -> State:
    """Put ``question`` to the person (with its current answer, if any)."""
    conv = turn.conv
    if conv.question_id != question.id or not resumed:
        conv.buffer = []
    conv.question_id = question.id
    conv.seen_version = turn.answered.get(question.id, 0)
    conv.room_hint = None
    current = None
    if question.id in turn.answered:
        answer = await turn.ctx.store.notes.answer(turn.note.id, question.id)
        if answer is not None:
            names = await member_names(turn.ctx.store, {answer.answered_by})
            current = {"answer": shown(question, answer.value, turn.ctx.lang),
                       "by": names.get(answer.answered_by or -1), "at": answer.answered_at}
    turn.say("notes/question", title=turn.title, q=question, total=len(
        turn.questionnaire.questions), prompt=text(question.prompt, turn.ctx.lang),
        help=text(question.help, turn.ctx.lang),
        choices=[text(c.label, turn.ctx.lang) for c in question.choices],
        unit=text(question.unit, turn.ctx.lang), current=current,
        collecting=len(conv.buffer), tz=turn.ctx.tz)
    return State.COLLECTING if conv.buffer else State.ASKING


def next_question(turn: Turn, after: Question | None) -> Question | None:
    """The next question still to ask: unanswered and not passed over, after ``after``,
    then from the start."""
    questions = turn.questionnaire.questions
    start = after.number if after else 0
    order = list(questions[start:]) + list(questions[:start])
    skipped = set(turn.conv.skipped or ())
    for question in order:
        if question.id not in turn.answered and question.id not in skipped:
            return question
    return None


async def forward(turn: Turn, after: Question | None) -> State:
    following = next_question(turn, after)
    if following is not None:
        return await ask(turn, following)
    return await end_of_round(turn)


async def end_of_round(turn: Turn) -> State:
    """Every question was visited: finished when complete, else a review of what is left."""
    done = completion(turn.questionnaire, set(turn.answered))
    turn.conv.question_id = None
    turn.conv.buffer = []
    if done.complete:
        turn.say("notes/done", title=turn.title, completion=done,
                 note=turn.questionnaire.id, territory=turn.delegation.territory)
        return State.DONE
    turn.say("notes/review", title=turn.title, completion=done)
    return State.REVIEW


async def save(turn: Turn, question: Question, value: Any) -> None:
    """Store an answer; say so, and say whose answer it replaced if they wrote meanwhile."""
    ctx = turn.ctx
    saved = await ctx.store.notes.save_answer(note_id=turn.note.id, question_id=question.id,
                                              value=value, by=turn.me, now=ctx.now())
    turn.answered[question.id] = saved.version
    turn.conv.buffer = []
    if question.id in (turn.conv.skipped or ()):
        turn.conv.skipped = [s for s in turn.conv.skipped if s != question.id]
    seen = turn.conv.seen_version or 0
    if not saved.unchanged and saved.previous_version != seen and \
            saved.previous_by != turn.me and saved.previous is not None:
        names = await member_names(ctx.store, {saved.previous_by})
        turn.say("notes/overwrote", q=question, by=names.get(saved.previous_by or -1),
                 note=turn.questionnaire.id)
    turn.say("notes/saved", q=question)
    await ctx.store.notes.touch(turn.note.id, ctx.now(), completion(
        turn.questionnaire, set(turn.answered)).complete)


async def keep_buffer(turn: Turn) -> bool:
    """Before leaving a question, store what was written for it (never lose a draft).

    False when the draft cannot be stored (too long): the person is told, and stays.
    """
    question = turn.question
    if not turn.conv.buffer or question is None or not question.type.multi_message:
        return True
    try:
        value = parse_multi(question, list(turn.conv.buffer))
    except InvalidAnswer as error:
        turn.say("notes/invalid", q=question, problem=error.problem, details=error.details)
        return False
    await save(turn, question, value)
    return True


# ---------------------------------------------------------------- the steps

async def answer(turn: Turn) -> State:
    question = turn.question
    if question is None:
        return await forward(turn, None)
    if question.type.multi_message:
        return await collect(turn)
    content, _ = split_closing(turn.text)
    try:
        value = parse_single(question, content or turn.text,
                             turn.ctx.now().astimezone(turn.ctx.tz).date())
    except InvalidAnswer as error:
        turn.say("notes/invalid", q=question, problem=error.problem, details=error.details,
                 choices=[text(c.label, turn.ctx.lang) for c in question.choices],
                 unit=text(question.unit, turn.ctx.lang))
        return State.ASKING
    await save(turn, question, value)
    return await forward(turn, question)


async def collect(turn: Turn) -> State:
    """One more message of a long answer; ``fin`` on its last line closes it."""
    content, closed = split_closing(turn.text)
    if content.strip():
        turn.conv.buffer = [*(turn.conv.buffer or []), content.strip()]
    if closed:
        return await finish(turn)
    turn.say("notes/collecting", count=len(turn.conv.buffer), q=turn.question)
    return State.COLLECTING


async def finish(turn: Turn) -> State:
    question = turn.question
    if question is None:
        return await forward(turn, None)
    if not turn.conv.buffer:
        turn.say("notes/nothing_written", q=question)
        return State.ASKING
    try:
        value = parse_multi(question, list(turn.conv.buffer))
    except InvalidAnswer as error:
        turn.say("notes/invalid", q=question, problem=error.problem, details=error.details)
        return State.COLLECTING
    await save(turn, question, value)
    return await forward(turn, question)


async def skip(turn: Turn) -> State:
    question = turn.question
    if question is None:
        return await forward(turn, None)
    if turn.conv.buffer:
        if not await keep_buffer(turn):
            return State.COLLECTING
    else:
        if question.id not in (turn.conv.skipped or ()):
            turn.conv.skipped = [*(turn.conv.skipped or []), question.id]
        turn.say("notes/skipped", q=question, answered=question.id in turn.answered)
    return await forward(turn, question)


async def back(turn: Turn) -> State:
    question = turn.question
    if not await keep_buffer(turn):
        return State.COLLECTING
    questions = turn.questionnaire.questions
    if question is None:
        target = questions[-1]
    elif question.number == 1:
        turn.say("notes/at_first")
        return await ask(turn, question, resumed=True)
    else:
        target = questions[question.number - 2]
    return await ask(turn, target)


async def edit(turn: Turn) -> State:
    total = len(turn.questionnaire.questions)
    target = turn.questionnaire.by_number(turn.number) if turn.number else None
    if target is None:
        turn.say("notes/bad_question_number", number=turn.number, total=total)
        return turn.conv.state
    if not await keep_buffer(turn):
        return State.COLLECTING
    turn.conv.skipped = [s for s in (turn.conv.skipped or ()) if s != target.id]
    return await ask(turn, target)


async def pause(turn: Turn) -> State:
    turn.say("notes/paused", title=turn.title, collecting=len(turn.conv.buffer or ()))
    return State.PAUSED


async def resume(turn: Turn) -> State:
    turn.say("notes/resumed", title=turn.title)
    question = turn.question
    if question is None:
        return await forward(turn, None)
    return await ask(turn, question, resumed=True)


async def cancel(turn: Turn) -> State:
    if not await keep_buffer(turn):
        return State.COLLECTING
    turn.say("notes/cancelled", title=turn.title,
             completion=completion(turn.questionnaire, set(turn.answered)),
             note=turn.questionnaire.id)
    return State.CANCELLED


async def close(turn: Turn) -> State:
    turn.say("notes/closed", title=turn.title,
             completion=completion(turn.questionnaire, set(turn.answered)),
             note=turn.questionnaire.id)
    return State.DONE


async def status(turn: Turn) -> State:
    done = completion(turn.questionnaire, set(turn.answered))
    turn.say("notes/conversation_status", title=turn.title, completion=done,
             territory=turn.delegation.territory, q=turn.question,
             total=len(turn.questionnaire.questions), paused=turn.conv.state is State.PAUSED)
    return turn.conv.state


async def show(turn: Turn) -> State:
    from handlers.notes.service import note_views

    view = (await note_views(turn.ctx, turn.delegation, [turn.questionnaire]))[0]
    turn.say("notes/show", view=view, tz=turn.ctx.tz)
    return turn.conv.state


async def help_(turn: Turn) -> State:
    turn.say("notes/conversation_help", state=turn.conv.state.value)
    return turn.conv.state


async def review_hint(turn: Turn) -> State:
    done = completion(turn.questionnaire, set(turn.answered))
    turn.say("notes/review", title=turn.title, completion=done)
    return State.REVIEW


async def paused_hint(turn: Turn) -> State:
    turn.say("notes/paused_hint", title=turn.title)
    return State.PAUSED


_ANYWHERE: dict[Intent, Step] = {Intent.STATUS: status, Intent.SHOW: show, Intent.HELP: help_}

TRANSITIONS: dict[State, dict[Intent, Step]] = {
    State.ASKING: {
        Intent.TEXT: answer, Intent.FINISH: finish, Intent.SKIP: skip, Intent.BACK: back,
        Intent.EDIT: edit, Intent.PAUSE: pause, Intent.RESUME: resume, Intent.CANCEL: cancel,
        **_ANYWHERE},
    State.COLLECTING: {
        Intent.TEXT: collect, Intent.FINISH: finish, Intent.SKIP: skip, Intent.BACK: back,
        Intent.EDIT: edit, Intent.PAUSE: pause, Intent.RESUME: resume, Intent.CANCEL: cancel,
        **_ANYWHERE},
    State.REVIEW: {
        Intent.TEXT: review_hint, Intent.FINISH: close, Intent.SKIP: review_hint,
        Intent.BACK: back, Intent.EDIT: edit, Intent.PAUSE: pause, Intent.RESUME: review_hint,
        Intent.CANCEL: close, **_ANYWHERE},
    State.PAUSED: {
        Intent.TEXT: paused_hint, Intent.FINISH: paused_hint, Intent.SKIP: paused_hint,
        Intent.BACK: paused_hint, Intent.EDIT: edit, Intent.PAUSE: paused_hint,
        Intent.RESUME: resume, Intent.CANCEL: cancel, **_ANYWHERE},
}
"""Which step serves a message, per state. DONE and CANCELLED conversations receive no
message: they are no longer the account's current conversation."""


# ---------------------------------------------------------------- driving it

async def load_turn(ctx: Context, conv: NoteConversation) -> Turn | None:
    """Everything a step needs about a conversation, or None when its note is gone."""
    note = await ctx.store.notes.get(conv.note_id)
    if note is None:
        return None
    rules = policy(ctx)
    questionnaire = rules.questionnaires.get(note.questionnaire)
    delegation = await ctx.store.delegations.get(note.delegation_id)
    if questionnaire is None or delegation is None:
        return None
    cohort = await ctx.store.cohorts.get(note.cohort_id)
    if ctx.cohort is None and cohort is not None:
        ctx.cohort = cohort
    caller = ctx.caller
    if cohort is not None and not (caller and caller.member and caller.member.language):
        ctx.lang = cohort.language
    answers = await ctx.store.notes.answers([note.id])
    return Turn(ctx=ctx, conv=conv, note=note, delegation=delegation,
                questionnaire=questionnaire, policy=rules,
                answered={a.question_id: a.version for a in answers})


async def apply(turn: Turn, step: Step) -> Reply:
    """Run one step and persist where the conversation now stands."""
    ctx = turn.ctx
    conv = turn.conv
    state = await step(turn)
    conv.last_activity_at = ctx.now()
    conv.reminders_sent = 0
    if state in (State.DONE, State.CANCELLED):
        conv.question_id = None if state is State.DONE else conv.question_id
        conv.buffer = []
        await ctx.store.note_conversations.release(conv, state)
        await ctx.cancel_job(remind_key(conv))
    else:
        conv.state = state
        await schedule_reminder(ctx, conv, turn.policy)
    await ctx.store.session.flush()
    return turn.reply()


async def on_message(ctx: Context, event: MessageEvent) -> Reply | None:
    """A message from someone with a current conversation: in their DM it drives the
    questionnaire; in a room, it may be an answer typed in the wrong place."""
    origin = event.origin
    conversations = ctx.store.note_conversations
    direct = origin.is_direct
    conv = await conversations.current(str(origin.platform), origin.user.user_id, lock=direct)
    if conv is None:
        return None
    if not direct:
        return await _room_hint(ctx, conv, event)
    turn = await load_turn(ctx, conv)
    if turn is None:
        await conversations.release(conv, State.CANCELLED)
        return None
    if not may_see(ctx.caller, turn.delegation):
        await conversations.release(conv, State.CANCELLED)
        await ctx.cancel_job(remind_key(conv))
        return ctx.reply("notes/not_your_delegation", territory=turn.delegation.territory)
    turn.intent, turn.text, turn.number = read_intent(event.text)
    step = TRANSITIONS[conv.state].get(turn.intent)
    if step is None:
        return None
    return await apply(turn, step)


_CLOSED_TYPES = (QuestionType.NUMBER, QuestionType.DATE, QuestionType.YES_NO,
                 QuestionType.CHOICE, QuestionType.MULTI_CHOICE)


async def _room_hint(ctx: Context, conv: NoteConversation, event: MessageEvent
                     ) -> Reply | None:
    """Tell, once per question, someone who seems to answer in a room to answer in the DM.

    "Seems to answer": a control word (``passer``, ``fin``…), or a message that is a
    valid answer to a yes/no, number, date or choice question. Other talk is left alone.
    """
    if conv.state not in (State.ASKING, State.COLLECTING) or conv.room_hint == conv.question_id:
        return None
    turn = await load_turn(ctx, conv)
    if turn is None or turn.question is None:
        return None
    intent, message, _ = read_intent(event.text)
    question = turn.question
    looks_like_answer = intent is not Intent.TEXT
    if not looks_like_answer and question.type in _CLOSED_TYPES:
        try:
            parse_single(question, message, ctx.now().astimezone(ctx.tz).date())
            looks_like_answer = True
        except InvalidAnswer:
            looks_like_answer = False
    if not looks_like_answer:
        return None
    conv.room_hint = conv.question_id
    return ctx.reply("notes/answer_in_dm", private=True, title=turn.title, q=question,
                     platform=str(event.origin.platform))


# ---------------------------------------------------------------- reminders

def remind_key(conv: NoteConversation) -> str:
    return f"notes:remind:{conv.id}:{conv.remind_epoch}"


async def schedule_reminder(ctx: Context, conv: NoteConversation, rules: NotesPolicy,
                            *, after: Any = None) -> None:
    """(Re)arm the reminder: ``reminder_days`` after the last activity."""
    if rules.max_reminders <= 0 or rules.reminder_days <= 0:
        return
    base = after or conv.last_activity_at
    await ctx.schedule(remind_key(conv), REMIND_TIMER, base + timedelta(days=rules.reminder_days),
                       {"conversation": conv.id, "epoch": conv.remind_epoch})


async def remind(ctx: Context, event: TimerEvent) -> None:
    """Nudge someone whose note has been silent for ``reminder_days``, in their DM."""
    rules = policy(ctx)
    conv = await ctx.store.note_conversations.get(int(event.payload["conversation"]), lock=True)
    if conv is None or conv.state not in OPEN_STATES or \
            conv.remind_epoch != event.payload.get("epoch"):
        return
    silence = timedelta(days=rules.reminder_days)
    conv.remind_epoch += 1
    if ctx.now() - conv.last_activity_at < silence:
        await schedule_reminder(ctx, conv, rules)
        return
    turn = await load_turn(ctx, conv)
    if turn is None:
        return
    member = await ctx.store.members.get(conv.member_id) if conv.member_id else None
    if member is not None:
        outside = member.delegation_id != turn.delegation.id and \
            not await _coordinates(ctx, member.id, turn.note.cohort_id)
        if member.erased_at is not None or outside:
            return
        if member.language:
            ctx.lang = member.language
    done = completion(turn.questionnaire, set(turn.answered))
    platform = Platform(conv.platform)
    text_ = ctx.texts("notes/reminder", prefix=ctx.settings.prefix(platform), title=turn.title,
                      completion=done, q=turn.question, paused=conv.state is State.PAUSED,
                      current=conv.current_for is not None, note=turn.questionnaire.id,
                      territory=turn.delegation.territory)
    ctx.send(UserRef(platform, conv.user_id), Reply(text_),
             key=f"notes:reminder:{conv.id}:{conv.remind_epoch - 1}")
    conv.reminders_sent += 1
    if conv.reminders_sent < rules.max_reminders:
        await schedule_reminder(ctx, conv, rules, after=ctx.now())


async def _coordinates(ctx: Context, member_id: int, cohort_id: int) -> bool:
    member = await ctx.store.members.get(member_id)
    if member is None:
        return False
    _, coordinated = await ctx.store.members.cohort_ids(member)
    return cohort_id in coordinated

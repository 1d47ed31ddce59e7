"""The rules of a poll, as pure functions: who answers for which scope key, what an answer
becomes after a vote, the tally and the best dates.

Both vote paths (the transactional one behind commands and the batched one behind
clicks) call these, so a vote is judged the same way whichever way it came in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handlers.core.errors import UserFacingError
from handlers.core.grammar import fold
from storage.models_polls import AnsweredBy, Poll, PollKind, PollScope, PollStatus

YES, MAYBE, NO = "yes", "maybe", "no"
AVAILABILITY_VALUES = (YES, MAYBE, NO)
CATEGORIES = ("elu", "agent", "socioeco", "etat")
MAX_TEXT = 4000
MAX_OPTIONS = 50

_AVAILABILITY_WORDS = {
    YES: ("oui", "o", "yes", "y", "+", "ok", "dispo", "disponible", "1"),
    MAYBE: ("si-besoin", "si_besoin", "sibesoin", "si besoin", "sb", "?", "peut-etre",
            "maybe", "if-need-be", "ifneedbe", "~"),
    NO: ("non", "n", "no", "-", "x", "indisponible", "0"),
}
_YES_NO_WORDS = {1: ("oui", "o", "yes", "y", "1"), 2: ("non", "n", "no", "2")}


@dataclass(frozen=True, slots=True)
class Voter:
    """The member behind a vote, as far as poll rules care."""

    member_id: int
    name: str
    delegation_id: int | None
    delegation_cohort_id: int | None
    territory: str | None
    category: str | None
    is_referent: bool
    coordinates: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Slot:
    """Where an answer is filed: the unique scope key and what it stands for."""

    key: str
    delegation_id: int | None
    category: str | None


@dataclass(frozen=True, slots=True)
class VoteRequest:
    """What a voter asked for, independent of how it reached the bot.

    ``pick`` chooses one option (toggles it in a multiple-choice poll); ``choices``
    replaces the whole selection; ``availability`` sets some options' answers (the
    others keep theirs); ``text`` is a free-text answer.
    """

    pick: int | None = None
    choices: tuple[int, ...] | None = None
    availability: dict[int, str] | None = None
    text: str | None = None
    comment: str | None = None


def slot_for(poll: Poll, voter: Voter) -> Slot:
    """The scope key ``voter`` answers under, or a :class:`UserFacingError` saying why not."""
    in_cohort = voter.delegation_cohort_id == poll.cohort_id
    if not in_cohort and poll.cohort_id not in voter.coordinates:
        raise UserFacingError("polls/not_member", poll_id=poll.id)
    if poll.only_category and voter.category != poll.only_category:
        raise UserFacingError("polls/not_your_category", poll_id=poll.id,
                              category=poll.only_category)
    if poll.only_delegations and (not in_cohort or
                                  voter.delegation_id not in poll.only_delegations):
        raise UserFacingError("polls/not_your_delegation", poll_id=poll.id)
    if poll.scope is PollScope.MEMBER:
        return Slot(f"m:{voter.member_id}", voter.delegation_id if in_cohort else None,
                    voter.category if in_cohort else None)
    if not in_cohort or voter.delegation_id is None:
        raise UserFacingError("polls/needs_delegation", poll_id=poll.id)
    if poll.scope is PollScope.DELEGATION:
        if poll.answered_by is AnsweredBy.REFERENT and not voter.is_referent:
            raise UserFacingError("polls/referent_only", poll_id=poll.id,
                                  territory=voter.territory or "")
        return Slot(f"d:{voter.delegation_id}", voter.delegation_id, None)
    if voter.category is None:
        raise UserFacingError("polls/needs_category", poll_id=poll.id)
    return Slot(f"c:{voter.delegation_id}:{voter.category}", voter.delegation_id,
                voter.category)


def is_open(poll: Poll, now: datetime) -> bool:
    """Open, and its deadline (if any) not passed: a late timer never lets a vote in."""
    return poll.status is PollStatus.OPEN and (poll.deadline is None or now < poll.deadline)


def apply_vote(poll: Poll, positions: Sequence[int], request: VoteRequest,
               current: dict[str, Any] | None) -> dict[str, Any]:
    """The answer value after ``request``, given the one standing (``current``)."""
    valid = set(positions)
    kind = poll.kind
    if kind is PollKind.TEXT:
        text = " ".join((request.text or "").split()) if request.text is not None else None
        if text is None:
            raise UserFacingError("polls/wrong_answer_kind", poll_id=poll.id, kind=kind.value)
        if not text:
            raise UserFacingError("polls/empty_text", poll_id=poll.id)
        if len(text) > MAX_TEXT:
            raise UserFacingError("errors/too_long", length=len(text), limit=MAX_TEXT)
        return {"text": request.text.strip()}
    if kind is PollKind.AVAILABILITY:
        if request.availability is None:
            raise UserFacingError("polls/wrong_answer_kind", poll_id=poll.id, kind=kind.value)
        merged = {int(k): v for k, v in ((current or {}).get("availability") or {}).items()}
        for position, value in request.availability.items():
            if position not in valid:
                raise UserFacingError("polls/bad_option", poll_id=poll.id, text=str(position),
                                      count=len(valid))
            if value not in AVAILABILITY_VALUES:
                raise UserFacingError("polls/bad_availability", text=value)
            merged[position] = value
        return {"availability": {str(k): merged[k] for k in sorted(merged)}}
    if request.text is not None or request.availability is not None:
        raise UserFacingError("polls/wrong_answer_kind", poll_id=poll.id, kind=kind.value)
    if request.choices is not None:
        chosen = list(dict.fromkeys(request.choices))
    elif request.pick is not None:
        if kind is PollKind.MULTI:
            chosen = list((current or {}).get("choices") or [])
            if request.pick in chosen:
                chosen.remove(request.pick)
            else:
                chosen.append(request.pick)
        else:
            chosen = [request.pick]
    else:
        raise UserFacingError("polls/wrong_answer_kind", poll_id=poll.id, kind=kind.value)
    for position in chosen:
        if position not in valid:
            raise UserFacingError("polls/bad_option", poll_id=poll.id, text=str(position),
                                  count=len(valid))
    if not chosen:
        raise UserFacingError("polls/nothing_chosen", poll_id=poll.id)
    limit = 1 if kind is not PollKind.MULTI else (poll.max_choices or len(valid))
    if len(chosen) > limit:
        raise UserFacingError("polls/too_many", poll_id=poll.id, limit=limit)
    return {"choices": sorted(chosen)}


def check_can_answer(poll: Poll, now: datetime, has_answer: bool) -> None:
    """Refuse a vote on a closed poll, or a change where changes are not allowed."""
    if not is_open(poll, now):
        raise UserFacingError("polls/closed", poll_id=poll.id)
    if has_answer and not poll.changeable:
        raise UserFacingError("polls/already_answered", poll_id=poll.id)


# --- reading what people type ----------------------------------------------------------


def availability_word(word: str) -> str:
    folded = fold(word.strip())
    for value, words in _AVAILABILITY_WORDS.items():
        if folded in words:
            return value
    raise UserFacingError("polls/bad_availability", text=word)


def _option_by_word(word: str, labels: dict[int, str], poll_id: int) -> int:
    text = word.strip()
    if text.isdigit():
        number = int(text)
        if number in labels:
            return number
        raise UserFacingError("polls/bad_option", poll_id=poll_id, text=text, count=len(labels))
    folded = fold(" ".join(text.split()))
    exact = [p for p, label in labels.items() if fold(label) == folded]
    if len(exact) == 1:
        return exact[0]
    partial = [p for p, label in labels.items() if folded and folded in fold(label)]
    if len(partial) == 1:
        return partial[0]
    raise UserFacingError("polls/bad_option", poll_id=poll_id, text=text, count=len(labels))


def parse_typed_vote(poll: Poll, labels: dict[int, str], words: Sequence[str],
                     comment: str | None = None) -> VoteRequest:
    """Read ``sondage voter <n> …`` arguments for this poll's kind."""
    raw = " ".join(words).strip()
    if not raw:
        raise UserFacingError("polls/nothing_chosen", poll_id=poll.id)
    kind = poll.kind
    if kind is PollKind.TEXT:
        return VoteRequest(text=raw, comment=comment)
    if kind is PollKind.YES_NO:
        folded = fold(raw)
        for position, accepted in _YES_NO_WORDS.items():
            if folded in accepted:
                return VoteRequest(choices=(position,), comment=comment)
        raise UserFacingError("polls/bad_yes_no", text=raw)
    if kind is PollKind.AVAILABILITY:
        pieces = [p for chunk in words for p in chunk.replace(",", " ").split()]
        merged: list[str] = []
        for piece in pieces:
            if merged and fold(merged[-1]) == "si" and fold(piece) == "besoin":
                merged[-1] = "si-besoin"
            else:
                merged.append(piece)
        if len(merged) != len(labels):
            raise UserFacingError("polls/availability_count", poll_id=poll.id,
                                  count=len(labels), given=len(merged))
        return VoteRequest(availability={pos: availability_word(w)
                                         for pos, w in zip(sorted(labels), merged, strict=True)},
                           comment=comment)
    if kind is PollKind.SINGLE:
        return VoteRequest(choices=(_option_by_word(raw, labels, poll.id),), comment=comment)
    parts = [p for chunk in words for p in chunk.replace(";", ",").split(",")]
    parts = [p for p in (x.strip() for x in parts) if p]
    if all(p.replace(" ", "").isdigit() for p in parts):
        parts = [n for p in parts for n in p.split()]
    return VoteRequest(choices=tuple(_option_by_word(p, labels, poll.id) for p in parts),
                       comment=comment)


def parse_action_value(value: str) -> tuple[int, list[str]]:
    """``"12:3"`` → (12, ["3"]); ``"12:3:yes"`` → (12, ["3", "yes"]); errors as unknown."""
    head, *rest = value.split(":")
    if not head.isdigit():
        raise UserFacingError("errors/unknown_action")
    return int(head), rest


def request_from_action(kind: PollKind, parts: list[str], form: dict[str, Any]
                        ) -> VoteRequest:
    """A click or a submitted form as a :class:`VoteRequest` (see HACKING.md, Polls)."""
    comment = form.get("comment")
    comment = str(comment).strip() if isinstance(comment, str) and comment.strip() else None
    try:
        if kind is PollKind.TEXT:
            if "text" not in form:
                raise UserFacingError("polls/wrong_answer_kind", poll_id=0, kind=kind.value)
            return VoteRequest(text=str(form["text"]), comment=comment)
        if kind is PollKind.AVAILABILITY:
            if parts:
                if len(parts) != 2:
                    raise UserFacingError("errors/unknown_action")
                return VoteRequest(availability={int(parts[0]): _availability_value(parts[1])},
                                   comment=comment)
            grid = form.get("availability")
            if not isinstance(grid, dict) or not grid:
                raise UserFacingError("polls/nothing_chosen", poll_id=0)
            return VoteRequest(availability={int(k): _availability_value(str(v))
                                             for k, v in grid.items()}, comment=comment)
        if parts:
            return VoteRequest(pick=int(parts[0]), comment=comment)
        options = form.get("options")
        if not isinstance(options, list):
            raise UserFacingError("polls/nothing_chosen", poll_id=0)
        return VoteRequest(choices=tuple(int(o) for o in options), comment=comment)
    except ValueError:
        raise UserFacingError("errors/unknown_action") from None


def _availability_value(text: str) -> str:
    if text in AVAILABILITY_VALUES:
        return text
    return availability_word(text)


# --- results ----------------------------------------------------------------------------


@dataclass(slots=True)
class OptionTally:
    position: int
    label: str
    count: int = 0
    yes: int = 0
    maybe: int = 0
    no: int = 0
    voters: list[str] = field(default_factory=list)
    maybe_voters: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Tally:
    options: list[OptionTally]
    answers: int
    texts: list[tuple[str, str]]
    best: list[OptionTally]
    comments: list[tuple[str, str]]


def tally(poll: Poll, answers: Iterable[Any], label_of: Any) -> Tally:
    """Counts per option, the free-text answers, and the best option(s).

    ``label_of(answer)`` names who an answer stands for ("Gruissan — élu·e"); it is
    not called for anonymous polls. The best dates: most "yes", then most "yes" +
    "if need be"; for choice polls, the most chosen.
    """
    by_position = {o.position: OptionTally(o.position, o.label) for o in poll.options}
    texts: list[tuple[str, str]] = []
    comments: list[tuple[str, str]] = []
    count = 0
    for answer in answers:
        count += 1
        who = "" if poll.anonymous else label_of(answer)
        value = answer.value or {}
        for position in value.get("choices") or ():
            if position in by_position:
                by_position[position].count += 1
                if who:
                    by_position[position].voters.append(who)
        for key, choice in (value.get("availability") or {}).items():
            option = by_position.get(int(key))
            if option is None:
                continue
            if choice == YES:
                option.yes += 1
                if who:
                    option.voters.append(who)
            elif choice == MAYBE:
                option.maybe += 1
                if who:
                    option.maybe_voters.append(who)
            else:
                option.no += 1
        if value.get("text"):
            texts.append((who, value["text"]))
        if answer.comment:
            comments.append((who, answer.comment))
    options = [by_position[p] for p in sorted(by_position)]
    best: list[OptionTally] = []
    if count and options:
        if poll.kind is PollKind.AVAILABILITY:
            top = max((o.yes, o.yes + o.maybe) for o in options)
            if top[1] > 0:
                best = [o for o in options if (o.yes, o.yes + o.maybe) == top]
        else:
            top_count = max(o.count for o in options)
            if top_count > 0:
                best = [o for o in options if o.count == top_count]
    return Tally(options, count, texts, best, comments)


@dataclass(frozen=True, slots=True)
class Expected:
    """A scope key a poll waits for, and the people who may give it."""

    key: str
    delegation: str | None
    category: str | None
    member_name: str | None
    answerers: tuple[Any, ...]


def expected_slots(poll: Poll, delegations: Sequence[Any]) -> list[Expected]:
    """Every scope key the poll expects an answer for, from the cohort's delegations (with
    their members loaded): members, delegations, or categories present in a delegation."""
    found: list[Expected] = []
    for delegation in delegations:
        if poll.only_delegations and delegation.id not in poll.only_delegations:
            continue
        members = [m for m in delegation.members if m.erased_at is None]
        if poll.only_category:
            members = [m for m in members if _cat(m.category) == poll.only_category]
        if not members:
            continue
        if poll.scope is PollScope.MEMBER:
            for member in members:
                found.append(Expected(f"m:{member.id}", delegation.territory,
                                      _cat(member.category), member.display_name, (member,)))
        elif poll.scope is PollScope.DELEGATION:
            answerers = [m for m in members if m.is_referent] \
                if poll.answered_by is AnsweredBy.REFERENT else members
            found.append(Expected(f"d:{delegation.id}", delegation.territory, None, None,
                                  tuple(answerers)))
        else:
            for category in CATEGORIES:
                people = [m for m in members if _cat(m.category) == category]
                if people:
                    found.append(Expected(f"c:{delegation.id}:{category}", delegation.territory,
                                          category, None, tuple(people)))
    return found


def _cat(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "value", value)


def parse_offsets(text: str) -> list[int]:
    """``J-3,J-1,H-2`` → minutes before the deadline, largest first."""
    offsets: set[int] = set()
    for raw in text.replace(";", ",").split(","):
        item = fold(raw.strip()).replace(" ", "")
        if not item:
            continue
        unit, _, number = item.partition("-")
        if unit in ("j", "d") and number.isdigit() and int(number) > 0:
            offsets.add(int(number) * 24 * 60)
        elif unit == "h" and number.isdigit() and int(number) > 0:
            offsets.add(int(number) * 60)
        else:
            raise UserFacingError("polls/bad_offsets", text=raw.strip())
    if not offsets:
        raise UserFacingError("polls/bad_offsets", text=text)
    return sorted(offsets, reverse=True)


def offset_label(minutes: int) -> str:
    return f"J-{minutes // 1440}" if minutes % 1440 == 0 else f"H-{minutes // 60}"

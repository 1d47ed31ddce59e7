"""Poll rules as pure functions: scope keys, answers after a vote, tallies and best dates,
what people type, campaign files."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from handlers.core.errors import UserFacingError
from handlers.polls.campaigns import CampaignFileError, definition_from, rebase
from handlers.polls.logic import (
    Voter,
    VoteRequest,
    apply_vote,
    expected_slots,
    parse_offsets,
    parse_typed_vote,
    request_from_action,
    slot_for,
    tally,
)
from storage.models_polls import AnsweredBy, Poll, PollKind, PollOption, PollScope

PARIS = ZoneInfo("Europe/Paris")


def poll(kind: PollKind = PollKind.SINGLE, options: int = 3, **kw: Any) -> Poll:
    p = Poll(id=7, cohort_id=1, title="T", question="Q", kind=kind,
             scope=kw.pop("scope", PollScope.MEMBER),
             answered_by=kw.pop("answered_by", AnsweredBy.ANY), only_delegations=[],
             changeable=True, anonymous=False, **kw)
    p.options = [PollOption(position=i, label=f"Option {i}") for i in range(1, options + 1)]
    return p


def voter(**kw: Any) -> Voter:
    base: dict[str, Any] = {"member_id": 5, "name": "Zoé", "delegation_id": 3,
                            "delegation_cohort_id": 1, "territory": "Gruissan",
                            "category": "elu", "is_referent": False}
    base.update(kw)
    return Voter(**base)


def test_scope_keys_per_member_delegation_and_category() -> None:
    assert slot_for(poll(), voter()).key == "m:5"
    assert slot_for(poll(scope=PollScope.DELEGATION), voter()).key == "d:3"
    assert slot_for(poll(scope=PollScope.CATEGORY), voter()).key == "c:3:elu"


@pytest.mark.parametrize("the_poll, the_voter, template", [
    (poll(scope=PollScope.DELEGATION, answered_by=AnsweredBy.REFERENT), voter(),
     "polls/referent_only"),
    (poll(), voter(delegation_cohort_id=2), "polls/not_member"),
    (poll(only_category="etat"), voter(), "polls/not_your_category"),
    (poll(scope=PollScope.CATEGORY), voter(category=None), "polls/needs_category"),
    (poll(scope=PollScope.DELEGATION), voter(delegation_id=None, delegation_cohort_id=None,
                                             coordinates=frozenset({1})),
     "polls/needs_delegation"),
])
def test_who_may_not_answer_is_told_why(the_poll: Poll, the_voter: Voter, template: str
                                        ) -> None:
    with pytest.raises(UserFacingError) as caught:
        slot_for(the_poll, the_voter)
    assert caught.value.template == template


def test_a_coordinator_without_delegation_answers_a_member_poll() -> None:
    coordinator = voter(delegation_id=None, delegation_cohort_id=None, category=None,
                        coordinates=frozenset({1}))
    assert slot_for(poll(), coordinator).key == "m:5"


def test_votes_replace_toggle_and_merge() -> None:
    positions = [1, 2, 3]
    single = poll()
    assert apply_vote(single, positions, VoteRequest(pick=2), {"choices": [1]}) == {
        "choices": [2]}
    multi = poll(PollKind.MULTI, max_choices=2)
    value = apply_vote(multi, positions, VoteRequest(pick=1), None)
    value = apply_vote(multi, positions, VoteRequest(pick=3), value)
    assert value == {"choices": [1, 3]}
    with pytest.raises(UserFacingError) as caught:
        apply_vote(multi, positions, VoteRequest(pick=2), value)
    assert caught.value.template == "polls/too_many"
    assert apply_vote(multi, positions, VoteRequest(pick=1), value) == {"choices": [3]}
    grid = poll(PollKind.AVAILABILITY)
    value = apply_vote(grid, positions, VoteRequest(availability={1: "yes"}), None)
    value = apply_vote(grid, positions, VoteRequest(availability={2: "maybe"}), value)
    assert value == {"availability": {"1": "yes", "2": "maybe"}}
    with pytest.raises(UserFacingError):
        apply_vote(grid, positions, VoteRequest(availability={9: "yes"}), value)
    with pytest.raises(UserFacingError):
        apply_vote(poll(PollKind.TEXT, options=0), [], VoteRequest(text="   "), None)


@dataclass
class A:
    value: dict[str, Any]
    comment: str | None = None
    who: str = ""
    extra: list[int] = field(default_factory=list)


def test_best_dates_most_yes_then_yes_and_if_need_be() -> None:
    grid = poll(PollKind.AVAILABILITY)
    answers = [A({"availability": {"1": "yes", "2": "yes", "3": "no"}}),
               A({"availability": {"1": "maybe", "2": "yes", "3": "yes"}}),
               A({"availability": {"1": "yes", "2": "maybe", "3": "yes"}})]
    result = tally(grid, answers, lambda a: a.who)
    assert [o.position for o in result.best] == [1, 2]
    answers.append(A({"availability": {"1": "no", "2": "maybe", "3": "maybe"}}))
    assert [o.position for o in tally(grid, answers, lambda a: a.who).best] == [2]


def test_typed_votes() -> None:
    labels = {1: "28/04", 2: "29/04", 3: "30/04"}
    grid = poll(PollKind.AVAILABILITY)
    assert parse_typed_vote(grid, labels, ["oui si besoin non"]).availability == {
        1: "yes", 2: "maybe", 3: "no"}
    assert parse_typed_vote(poll(PollKind.MULTI), labels, ["1, 3"]).choices == (1, 3)
    assert parse_typed_vote(poll(), {1: "Visio", 2: "Présentiel"}, ["presentiel"]).choices == (2,)
    assert parse_typed_vote(poll(PollKind.YES_NO, 2), {1: "Oui", 2: "Non"}, ["NON"]).choices == (
        2,)
    with pytest.raises(UserFacingError):
        parse_typed_vote(grid, labels, ["oui", "non"])


def test_action_values() -> None:
    assert request_from_action(PollKind.AVAILABILITY, ["2", "maybe"], {}).availability == {
        2: "maybe"}
    assert request_from_action(PollKind.MULTI, [], {"options": ["1", "4"]}).choices == (1, 4)
    assert request_from_action(PollKind.TEXT, [], {"text": "x", "comment": " ok "}).comment == "ok"
    with pytest.raises(UserFacingError):
        request_from_action(PollKind.SINGLE, ["deux"], {})


def test_offsets() -> None:
    assert parse_offsets("J-1, J-3,H-2") == [4320, 1440, 120]
    with pytest.raises(UserFacingError):
        parse_offsets("demain")


def test_expected_slots_follow_the_delegations() -> None:
    @dataclass
    class M:
        id: int
        display_name: str
        category: str
        is_referent: bool = False
        erased_at: Any = None

    @dataclass
    class D:
        id: int
        territory: str
        members: list[M]

    delegations = [D(1, "Gruissan", [M(1, "A", "elu", True), M(2, "B", "agent")]),
                   D(2, "Canohès", [M(3, "C", "elu")])]
    cat = expected_slots(poll(scope=PollScope.CATEGORY), delegations)
    assert [e.key for e in cat] == ["c:1:elu", "c:1:agent", "c:2:elu"]
    ref = expected_slots(poll(scope=PollScope.DELEGATION, answered_by=AnsweredBy.REFERENT),
                         delegations)
    assert [[m.display_name for m in e.answerers] for e in ref] == [["A"], []]


def test_campaign_files_are_checked_and_past_dates_moved_by_whole_weeks() -> None:
    with pytest.raises(CampaignFileError):
        definition_from({"id": "x", "questions": [{"id": "q", "kind": "poll"}]}, "fr", PARIS)
    data = {"id": "n", "questions": [{"id": "a1", "kind": "availability", "title": "T",
                                      "options": [{"id": "p", "start": "2022-03-10T09:00",
                                                   "label": {"fr": "Session : jeudi 10 mars"}}]}]}
    definition = rebase(definition_from(data, "fr", PARIS),
                        datetime(2025, 3, 3, tzinfo=UTC), "fr")
    option = definition["questions"][0]["options"][0]
    start = datetime.fromisoformat(option["start"])
    assert start.weekday() == 3 and start > datetime(2025, 3, 3, tzinfo=UTC)
    from messages.dates import long_date

    assert option["label"] == f"Session : {long_date(start, 'fr', year=False)}"


def test_moving_past_dates_keeps_the_local_hour_across_summer_time() -> None:
    data = {"id": "n", "questions": [{"id": "a1", "kind": "availability", "title": "T",
                                      "options": [{"id": "p", "start": "2022-03-24T14:00",
                                                   "end": "2022-03-24T17:00",
                                                   "label": {"fr": "jeudi 24 mars"}}]}]}
    definition = rebase(definition_from(data, "fr", PARIS),
                        datetime(2025, 3, 20, tzinfo=UTC), "fr", PARIS)
    option = definition["questions"][0]["options"][0]
    start = datetime.fromisoformat(option["start"]).astimezone(PARIS)
    end = datetime.fromisoformat(option["end"]).astimezone(PARIS)
    assert start.dst() and (start.hour, end.hour) == (14, 17)

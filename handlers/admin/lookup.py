"""Finding a member, a delegation or a cohort by the name a person typed."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TypeVar

from handlers.core.context import Context
from handlers.core.errors import UserFacingError
from handlers.core.grammar import fold
from storage.models import Delegation, Member

T = TypeVar("T")


def _pick(typed: str, items: Sequence[T], name_of: type | object, *, unknown: str,
          ambiguous: str, **context: object) -> T:
    names = {id(i): name_of(i) for i in items}  # type: ignore[operator]
    key = fold(" ".join(typed.split()))
    exact = [i for i in items if fold(names[id(i)]) == key]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        raise UserFacingError(ambiguous, name=typed, candidates=[names[id(i)] for i in exact],
                              **context)
    partial = [i for i in items if key and key in fold(names[id(i)])]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        raise UserFacingError(ambiguous, name=typed, candidates=[names[id(i)] for i in partial],
                              **context)
    folded = {fold(n): n for n in names.values()}
    close = difflib.get_close_matches(key, list(folded), n=3, cutoff=0.5)
    raise UserFacingError(unknown, name=typed, candidates=[folded[c] for c in close], **context)


async def find_member(ctx: Context, typed: str) -> Member:
    """A member of the current cohort (delegation member or coordinator) by name."""
    assert ctx.cohort is not None
    members = await ctx.store.members.in_cohort_scope(ctx.cohort.id)
    return _pick(typed, members, lambda m: m.display_name, unknown="errors/unknown_member",
                 ambiguous="errors/ambiguous_member", cohort=ctx.cohort.name)


async def find_delegation(ctx: Context, typed: str) -> Delegation:
    assert ctx.cohort is not None
    delegations = await ctx.store.delegations.of_cohort(ctx.cohort.id)
    return _pick(typed, delegations, lambda d: d.territory, unknown="errors/unknown_delegation",
                 ambiguous="errors/ambiguous_delegation", cohort=ctx.cohort.name)

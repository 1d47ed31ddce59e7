"""Loading a cohort described in a YAML file (the demo's Occitanie cohort).

Loading is idempotent: the cohort, its delegations and members are matched by
slug, territory and name, so running it twice changes nothing. Features that
own more of the file (events, campaigns) register a loader in ``EXTRA_LOADERS``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from storage.models import Category, Cohort
from storage.uow import Store

ExtraLoader = Callable[[Store, Cohort, dict[str, Any], datetime], Awaitable[None]]
EXTRA_LOADERS: list[ExtraLoader] = []


class DemoDataError(Exception):
    """The file does not describe a cohort; the message says what is wrong."""


async def load_cohort_file(store: Store, path: Path, now: datetime) -> dict[str, int]:
    """Create (or complete) the cohort described in ``path``; returns what was added."""
    try:
        data = yaml.safe_load(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DemoDataError(f"{path}: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cohort"), dict):
        raise DemoDataError(f"{path}: a 'cohort' mapping is required")
    spec = data["cohort"]
    added = {"cohorts": 0, "delegations": 0, "members": 0, "coordinators": 0}
    cohort = await store.cohorts.by_slug(spec["slug"])
    if cohort is None:
        cohort = await store.cohorts.add(slug=spec["slug"], name=spec["name"],
                                         language=spec.get("language", "fr"),
                                         timezone=spec.get("timezone", "Europe/Paris"), now=now)
        added["cohorts"] += 1
    known = {m.display_name: m for m in await store.members.in_cohort_scope(cohort.id)}
    for entry in data.get("coordinators", []):
        member = known.get(entry["name"])
        if member is None:
            member = await store.members.add(display_name=entry["name"], now=now,
                                             language=entry.get("language"))
            known[member.display_name] = member
            added["members"] += 1
        if await store.members.grant_coordinator(cohort.id, member.id, now):
            added["coordinators"] += 1
    delegations = {d.territory: d for d in await store.delegations.of_cohort(cohort.id)}
    for entry in data.get("delegations", []):
        delegation = delegations.get(entry["territory"])
        if delegation is None:
            delegation = await store.delegations.add(cohort.id, entry["territory"], now)
            delegations[delegation.territory] = delegation
            added["delegations"] += 1
        for person in entry.get("members", []):
            if person["name"] in known:
                continue
            member = await store.members.add(
                display_name=person["name"], now=now, delegation_id=delegation.id,
                category=Category(person["category"]),
                is_referent=bool(person.get("referent", False)),
                language=person.get("language"))
            known[member.display_name] = member
            added["members"] += 1
    for loader in EXTRA_LOADERS:
        await loader(store, cohort, data, now)
    await store.audit.record(actor="cohortbot demo-data", action="cohort.load", now=now,
                             cohort_id=cohort.id, file=path.name, **added)
    return added

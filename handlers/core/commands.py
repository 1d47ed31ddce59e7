"""Declaring commands next to the function that serves them, and finding them again.

A feature module builds one :class:`CommandGroup` per verb and lists its
subcommands with :meth:`CommandGroup.command`; its ``register(router)`` includes
the group. The router resolves ``verbe sous-commande arguments…`` to a
:class:`CommandSpec`; the dispatcher checks roles and binds the arguments.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any

from handlers.core.dates import parse_date, parse_datetime, parse_time
from handlers.core.errors import UserFacingError
from handlers.core.events import Reply
from handlers.core.grammar import Option, Word, fold

if TYPE_CHECKING:
    from handlers.core.context import Context


class Role(IntEnum):
    """Who may run a command; higher includes lower."""

    ANYONE = 0
    MEMBER = 1
    COORDINATOR = 2
    ADMIN = 3


class Where(StrEnum):
    """Where a command may be typed."""

    ANYWHERE = "anywhere"
    ROOM = "room"
    DIRECT = "direct"


class CohortScope(StrEnum):
    """Whether a command acts on a cohort (the room's, or the one named)."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


class Kind(StrEnum):
    """How a parameter's text is read."""

    WORD = "word"
    TEXT = "text"
    REST = "rest"
    INT = "int"
    DATE = "date"
    TIME = "time"
    DATETIME = "datetime"
    CHOICE = "choice"


@dataclass(frozen=True, slots=True)
class Param:
    """A positional parameter. ``name`` is what the usage line shows (French)."""

    name: str
    kind: Kind = Kind.WORD
    required: bool = True
    choices: tuple[str, ...] = ()
    name_en: str | None = None


@dataclass(frozen=True, slots=True)
class Opt:
    """A ``clé=valeur`` option; ``aliases`` are the English or short keys."""

    key: str
    kind: Kind = Kind.WORD
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    key_en: str | None = None


Handler = Callable[["Context", "Args"], Awaitable[Reply | Sequence[Reply] | None]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """Everything the router, the dispatcher and ``aide`` need to know about one command."""

    verb: str
    sub: str | None
    handler: Handler
    role: Role
    where: Where
    cohort: CohortScope
    params: tuple[Param, ...]
    options: tuple[Opt, ...]
    sub_aliases: tuple[str, ...] = ()
    verb_aliases: tuple[str, ...] = ()
    hidden: bool = False

    @property
    def key(self) -> str:
        return f"{self.verb} {self.sub}" if self.sub else self.verb

    @property
    def help_template(self) -> str:
        """The template whose blocks ``summary`` and ``example`` describe this command."""
        return f"help/{self.verb}_{self.sub}" if self.sub else f"help/{self.verb}"

    def usage(self, lang: str = "fr") -> str:
        """``cohorte creer <nom> [fuseau=…]`` in the reader's language."""
        parts = [self.verb_aliases[0] if lang == "en" and self.verb_aliases else self.verb]
        if self.sub:
            parts.append(self.sub_aliases[0] if lang == "en" and self.sub_aliases else self.sub)
        for p in self.params:
            name = p.name_en if lang == "en" and p.name_en else p.name
            shown = "|".join(p.choices) if p.kind is Kind.CHOICE else name
            if p.kind is Kind.REST:
                shown += "…"
            parts.append(f"<{shown}>" if p.required else f"[{shown}]")
        for o in self.options:
            key = o.key_en if lang == "en" and o.key_en else o.key
            value = "|".join(o.choices) if o.choices else "…"
            parts.append(f"[{key}={value}]")
        return " ".join(parts)


class Args:
    """The bound, converted arguments of one command call."""

    def __init__(self, values: dict[str, Any], words: Sequence[str] = ()) -> None:
        self._values = values
        self.words = tuple(words)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def get(self, name: str, default: Any = None) -> Any:
        value = self._values.get(name)
        return default if value is None else value

    def __contains__(self, name: str) -> bool:
        return self._values.get(name) is not None

    def __repr__(self) -> str:
        return f"Args({self._values!r})"


class CommandGroup:
    """The commands of one verb (``cohorte creer``, ``cohorte lister`` …)."""

    def __init__(self, verb: str, *, aliases: Sequence[str] = ()) -> None:
        self.verb = verb
        self.aliases = tuple(aliases)
        self.specs: list[CommandSpec] = []

    def command(
        self,
        sub: str | None = None,
        *,
        aliases: Sequence[str] = (),
        role: Role = Role.MEMBER,
        where: Where = Where.ANYWHERE,
        cohort: CohortScope = CohortScope.REQUIRED,
        params: Sequence[Param] = (),
        options: Sequence[Opt] = (),
        hidden: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Declare the decorated coroutine as ``<verb> <sub>``."""

        def decorate(fn: Handler) -> Handler:
            self.specs.append(CommandSpec(
                verb=self.verb, sub=sub, handler=fn, role=role, where=where, cohort=cohort,
                params=tuple(params), options=tuple(options), sub_aliases=tuple(aliases),
                verb_aliases=self.aliases, hidden=hidden,
            ))
            return fn

        return decorate


ActionHandler = Callable[["Context", Any], Awaitable[Reply | Sequence[Reply] | None]]
MessageHandler = Callable[["Context", Any], Awaitable[Reply | Sequence[Reply] | None | bool]]
TimerHandler = Callable[["Context", Any], Awaitable[None]]
RoomMessageHandler = Callable[["Context", Any], Awaitable[None]]
DirectActionHandler = Callable[[Any, Any], Awaitable[Any]]
"""``(dispatcher, ActionEvent) -> Outcome | None``: see :meth:`Router.on_direct_action`."""


@dataclass(slots=True)
class Router:
    """Where every feature registers what it answers to."""

    _verbs: dict[str, list[CommandSpec]] = field(default_factory=dict)
    _verb_names: dict[str, str] = field(default_factory=dict)
    _actions: dict[str, ActionHandler] = field(default_factory=dict)
    _messages: list[tuple[str, MessageHandler]] = field(default_factory=list)
    _timers: dict[str, TimerHandler] = field(default_factory=dict)
    _direct_actions: dict[str, DirectActionHandler] = field(default_factory=dict)
    _room_messages: list[tuple[str, RoomMessageHandler]] = field(default_factory=list)

    def include(self, group: CommandGroup) -> None:
        """Add every command of ``group``; a verb or alias may be registered once only."""
        for name in (group.verb, *group.aliases):
            key = fold(name)
            owner = self._verb_names.get(key)
            if owner is not None and owner != group.verb:
                raise ValueError(f"verb {name!r} already registered by {owner!r}")
            self._verb_names[key] = group.verb
        specs = self._verbs.setdefault(group.verb, [])
        for spec in group.specs:
            if any(s.sub == spec.sub for s in specs):
                raise ValueError(f"command {spec.key!r} registered twice")
            specs.append(spec)

    def on_action(self, prefix: str, handler: ActionHandler) -> None:
        """Serve :class:`ActionEvent` whose ``action`` is ``prefix`` or starts with ``prefix.``."""
        if prefix in self._actions:
            raise ValueError(f"action {prefix!r} registered twice")
        self._actions[prefix] = handler

    def on_direct_action(self, prefix: str, handler: DirectActionHandler) -> None:
        """Offer :class:`ActionEvent` named ``prefix`` (or ``prefix.…``) to a lean path first.

        The handler runs outside the per-event transaction (e.g. votes written in batches
        by one task) and takes on the dispatcher's duties itself: claiming the platform
        event id, identifying the caller. It returns an ``Outcome``, or None to let the
        ordinary transactional path (and its error answers) handle the event.
        """
        if prefix in self._direct_actions:
            raise ValueError(f"direct action {prefix!r} registered twice")
        self._direct_actions[prefix] = handler

    def direct_action_handler(self, action: str) -> DirectActionHandler | None:
        name = action
        while name:
            if name in self._direct_actions:
                return self._direct_actions[name]
            name = name.rpartition(".")[0]
        return None

    def on_message(self, name: str, handler: MessageHandler) -> None:
        """Offer every non-command message to ``handler``; it returns None when not concerned."""
        self._messages.append((name, handler))

    def on_room_message(self, name: str, handler: RoomMessageHandler) -> None:
        """Offer every ``RoomMessageEvent`` (room chatter, edits, deletions) to ``handler``.

        Unlike :meth:`on_message`, this sees what people say to each other in group rooms;
        it answers nothing in the room (a failure is logged, never apologised for there).
        """
        self._room_messages.append((name, handler))

    def room_message_handlers(self) -> list[tuple[str, RoomMessageHandler]]:
        return list(self._room_messages)

    def on_timer(self, name: str, handler: TimerHandler) -> None:
        if name in self._timers:
            raise ValueError(f"timer {name!r} registered twice")
        self._timers[name] = handler

    def specs(self) -> Iterator[CommandSpec]:
        for verb in self._verbs:
            yield from self._verbs[verb]

    def verbs(self) -> list[str]:
        return list(self._verbs)

    def action_handler(self, action: str) -> ActionHandler | None:
        name = action
        while name:
            if name in self._actions:
                return self._actions[name]
            name = name.rpartition(".")[0]
        return None

    def message_handlers(self) -> list[tuple[str, MessageHandler]]:
        return list(self._messages)

    def timer_handler(self, name: str) -> TimerHandler | None:
        return self._timers.get(name)

    def resolve(self, items: Sequence[Word | Option]) -> tuple[CommandSpec, list[Word | Option]]:
        """Find the command named by the first words; the rest are its arguments."""
        if not items or not isinstance(items[0], Word):
            raise UserFacingError("errors/empty_command")
        typed = items[0].text
        verb = self._verb_names.get(fold(typed))
        if verb is None:
            raise UserFacingError("errors/unknown_verb", verb=typed,
                                  suggestion=self._closest(typed, self._verb_names))
        specs = self._verbs[verb]
        rest = list(items[1:])
        if rest and isinstance(rest[0], Word) and not rest[0].quoted:
            word = fold(rest[0].text)
            for spec in specs:
                if spec.sub and word in (spec.sub, *map(fold, spec.sub_aliases)):
                    return spec, rest[1:]
        default = next((s for s in specs if s.sub is None), None)
        if default is not None:
            return default, rest
        subs = {fold(n): s.sub for s in specs if s.sub for n in (s.sub, *s.sub_aliases)}
        typed_sub = rest[0].text if rest and isinstance(rest[0], Word) else ""
        raise UserFacingError(
            "errors/unknown_subcommand", verb=verb, sub=typed_sub,
            suggestion=self._closest(typed_sub, subs) if typed_sub else None,
            specs=[s for s in specs if not s.hidden],
        )

    @staticmethod
    def _closest(typed: str, names: dict[str, str | None]) -> str | None:
        match = difflib.get_close_matches(fold(typed), list(names), n=1, cutoff=0.6)
        return names[match[0]] if match else None


def bind(spec: CommandSpec, items: Sequence[Word | Option], *, now: datetime, tz: Any
         ) -> Args:
    """Match words to the spec's parameters and options, converting each value.

    Missing or extra arguments raise ``errors/usage`` with the command's usage line.
    """
    values: dict[str, Any] = {}
    words = [i for i in items if isinstance(i, Word)]
    options = [i for i in items if isinstance(i, Option)]
    by_key = {fold(k): o for o in spec.options for k in (o.key, *o.aliases, o.key_en or o.key)}
    for option in options:
        opt = by_key.get(option.key)
        if opt is None:
            raise UserFacingError("errors/unknown_option", option=option.key, spec=spec)
        values[opt.key] = _convert(opt.kind, opt.choices, option.value, now=now, tz=tz,
                                   name=opt.key, spec=spec)
    index = 0
    for param in spec.params:
        if param.kind is Kind.REST:
            if index < len(words):
                values[param.name] = " ".join(w.text for w in words[index:])
                index = len(words)
            elif param.required:
                raise UserFacingError("errors/usage", spec=spec, missing=param.name)
            continue
        if index >= len(words):
            if param.required:
                raise UserFacingError("errors/usage", spec=spec, missing=param.name)
            continue
        values[param.name] = _convert(param.kind, param.choices, words[index].text, now=now,
                                      tz=tz, name=param.name, spec=spec)
        index += 1
    if index < len(words):
        raise UserFacingError("errors/usage", spec=spec,
                              extra=" ".join(w.text for w in words[index:]))
    return Args(values, [w.text for w in words])


def _convert(kind: Kind, choices: tuple[str, ...], text: str, *, now: datetime, tz: Any,
             name: str, spec: CommandSpec) -> Any:
    if kind in (Kind.WORD, Kind.TEXT, Kind.REST):
        return text
    if kind is Kind.INT:
        try:
            return int(text)
        except ValueError:
            raise UserFacingError("errors/bad_number", text=text, name=name) from None
    if kind is Kind.CHOICE:
        folded = fold(text)
        for choice in choices:
            if fold(choice) == folded:
                return choice
        raise UserFacingError("errors/bad_choice", text=text, name=name, choices=choices)
    if kind is Kind.DATE:
        return parse_date(text, now.astimezone(tz).date())
    if kind is Kind.TIME:
        return parse_time(text)
    if kind is Kind.DATETIME:
        return parse_datetime(text, now, tz)
    raise AssertionError(kind)


__all__ = [
    "Args", "CohortScope", "CommandGroup", "CommandSpec", "Kind", "Opt", "Param", "Role",
    "Router", "Where", "bind", "date", "time",
]

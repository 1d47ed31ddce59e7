"""Neutral events coming in from the adapters, and neutral replies going out.

Adapters translate platform payloads to these and back; handlers see nothing else.
Replies are plain data (they are stored in the outbox before being delivered), so
every field here survives a round trip through :meth:`Reply.to_dict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from handlers.core.ids import Platform, RoomRef, UserRef


@dataclass(frozen=True, slots=True)
class Origin:
    """Who did something, where, and under which platform event id."""

    user: UserRef
    room: RoomRef
    is_direct: bool = False
    thread_id: str | None = None
    event_id: str | None = None
    user_display_name: str | None = None
    hints: dict[str, str] = field(default_factory=dict, compare=False)
    """Adapter-specific delivery hints carried to the reply (e.g. Slack's ``response_url``)."""

    @property
    def platform(self) -> Platform:
        return self.room.platform


@dataclass(frozen=True, slots=True)
class CommandEvent:
    """``!cohorte …``, ``/cohorte …`` or a console line; ``text`` is what follows the prefix."""

    origin: Origin
    text: str
    files: tuple[Attachment, ...] = ()
    """Files shared with the command (an ICS file with ``agenda importer``), downloaded by
    the adapter before dispatch."""


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A message that is not a command (an answer in a conversation, a reply to the bot)."""

    origin: Origin
    text: str
    in_reply_to: str | None = None
    files: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class ActionEvent:
    """A button click, a native poll vote or a form submission.

    ``action`` names what was done (``poll.vote``, ``poll.open_form`` …), ``value`` is
    the compact payload the bot put in the button, ``form`` the submitted fields.
    """

    origin: Origin
    action: str
    value: str = ""
    form: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimerEvent:
    """A scheduled job that fell due (see ``Context.schedule``).

    The dispatcher claims the job in the handler's transaction: a job runs once,
    even when two timers fire for it or the bot restarts mid-way.
    """

    name: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    job_id: int | None = None
    key: str | None = None


class RoomChange(StrEnum):
    """What happened to a message in a group room (see :class:`RoomMessageEvent`)."""

    POST = "post"
    EDIT = "edit"
    DELETE = "delete"
    REACT = "react"
    UNREACT = "unreact"


@dataclass(frozen=True, slots=True)
class SharedFile:
    """A file or picture attached to a room message, still on its platform.

    ``url`` is where the adapter that relays it can fetch it (a Slack private URL, a
    Matrix ``mxc://`` URI); nothing is downloaded before it is needed.
    """

    name: str
    url: str
    mimetype: str = "application/octet-stream"
    size: int | None = None
    kind: str = "file"
    """``image``, ``video``, ``audio`` or ``file``."""
    width: int | None = None
    height: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "mimetype": self.mimetype,
                "size": self.size, "kind": self.kind, "width": self.width,
                "height": self.height}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SharedFile:
        return cls(str(data["name"]), str(data["url"]), str(data.get("mimetype") or
                                                            "application/octet-stream"),
                   data.get("size"), str(data.get("kind") or "file"), data.get("width"),
                   data.get("height"))


@dataclass(frozen=True, slots=True)
class RoomMessageEvent:
    """A person's message in a group room that is not a command: what the bridge relays.

    Only features that ask for room chatter (``Router.on_room_message``) see these;
    conversation hooks (``on_message``) never do. ``text`` is neutral markup (the
    adapter converted the platform's formatting); mentions are ``cb-mention:`` links
    carrying the source platform's account. ``message_id`` is the platform's id of the
    message concerned (for an edit, deletion or reaction: the message edited, deleted
    or reacted to), ``change_id`` the id of the change itself (an edit's own event,
    a reaction's event), ``thread_root`` the root of its thread, ``reply_to`` the
    message it answers outside a thread.
    """

    origin: Origin
    message_id: str
    change: RoomChange = RoomChange.POST
    text: str = ""
    change_id: str | None = None
    thread_root: str | None = None
    reply_to: str | None = None
    files: tuple[SharedFile, ...] = ()
    emote: bool = False
    reaction: str | None = None
    """The reaction, as Unicode emoji or a ``:shortcode:``."""
    unsupported: str | None = None
    """Content that cannot be relayed (``call``, ``poll``, ``huddle``…): a placeholder
    says what happened instead."""
    sent_at: datetime | None = None
    """When the platform says the message was sent (for the relay lag)."""


Event = CommandEvent | MessageEvent | ActionEvent | TimerEvent | RoomMessageEvent


class Visibility(StrEnum):
    """Who sees a reply."""

    ROOM = "room"
    """Everybody in the room where it is sent."""
    PRIVATE = "private"
    """Only the person it answers (Slack ephemeral; elsewhere the same room or the DM)."""


class ActionStyle(StrEnum):
    DEFAULT = "default"
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Action:
    """A button under a message: a label already in the reader's language, and what it does.

    ``command`` is the same thing written as a command (without the ``!cohorte``
    prefix), shown where a platform has no buttons.
    """

    label: str
    action: str
    value: str = ""
    style: ActionStyle = ActionStyle.DEFAULT
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "action": self.action, "value": self.value,
                "style": self.style.value, "command": self.command}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Action:
        return cls(data["label"], data["action"], data.get("value", ""),
                   ActionStyle(data.get("style", "default")), data.get("command", ""))


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a reply (an export, a results picture, an ICS file), or shared by
    someone with a command or message."""

    filename: str
    mimetype: str
    content: bytes
    alt_text: str = ""

    def to_dict(self) -> dict[str, Any]:
        import base64

        return {"filename": self.filename, "mimetype": self.mimetype,
                "content_b64": base64.b64encode(self.content).decode("ascii"),
                "alt_text": self.alt_text}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attachment:
        import base64

        return cls(data["filename"], data["mimetype"], base64.b64decode(data["content_b64"]),
                   data.get("alt_text", ""))


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot says: neutral markup (a Markdown subset) rendered from a template.

    ``card`` carries structured content a platform may show natively (a poll, a
    form); renderers that do not know the card show ``text`` and ``actions`` only.
    """

    text: str
    visibility: Visibility = Visibility.ROOM
    actions: tuple[Action, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    card: dict[str, Any] | None = None
    sensitive: bool = False
    """Personal data or a secret (a link code): platforms without private replies in a
    room (Matrix) deliver it in the person's DM instead of the room."""

    def to_dict(self) -> dict[str, Any]:
        data = {
            "text": self.text,
            "visibility": self.visibility.value,
            "actions": [a.to_dict() for a in self.actions],
            "attachments": [a.to_dict() for a in self.attachments],
            "card": self.card,
        }
        if self.sensitive:
            data["sensitive"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        return cls(
            text=data["text"],
            visibility=Visibility(data.get("visibility", "room")),
            actions=tuple(Action.from_dict(a) for a in data.get("actions", ())),
            attachments=tuple(Attachment.from_dict(a) for a in data.get("attachments", ())),
            card=data.get("card"),
            sensitive=bool(data.get("sensitive", False)),
        )

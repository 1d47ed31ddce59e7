"""Matrix native polls (MSC3381): the poll card shown as ``org.matrix.msc3381.poll.start``,
and its ``…poll.end``.

Pure functions over the neutral card (HACKING.md, "Polls: card and actions"). The
unstable names are sent because they are what Element and the other clients read
today; the stable ``m.poll.*`` names are accepted on the way in (see
:mod:`bot.matrix.events`).
"""

from __future__ import annotations

from typing import Any

POLL_START = "org.matrix.msc3381.poll.start"
POLL_RESPONSE = "org.matrix.msc3381.poll.response"
POLL_END = "org.matrix.msc3381.poll.end"
STABLE_RESPONSE = "m.poll.response"
RESPONSE_TYPES = (POLL_RESPONSE, STABLE_RESPONSE)
TEXT = "org.matrix.msc1767.text"
DISCLOSED = "org.matrix.msc3381.poll.disclosed"
UNDISCLOSED = "org.matrix.msc3381.poll.undisclosed"
MAX_ANSWERS = 20
"""MSC3381: a poll holds at most 20 answers."""
CHOICE_KINDS = ("yes_no", "single", "multi")


def poll_card(card: Any) -> dict[str, Any] | None:
    """The card when it is a poll card this module understands, else None."""
    if isinstance(card, dict) and card.get("type") == "poll" and card.get("version") == 1 \
            and isinstance(card.get("poll_id"), int) and isinstance(card.get("options"), list):
        return card
    return None


def native_fits(card: dict[str, Any], *, private_room: bool) -> bool:
    """Whether a native poll can stand for this card where it is sent.

    Only one choice among 1–20 answers: Element shows every poll with radio buttons and
    sends one answer whatever ``max_selections`` says, so a "choose up to 3" poll would
    silently become "choose 1" there; those polls are answered by command or reply.
    Never an anonymous poll in a shared room: every vote is a room event naming its
    voter. In a DM only the person and the bot see it, so a private ballot may be native.
    """
    options = card.get("options") or []
    return (card.get("kind") in CHOICE_KINDS and card.get("max_selections") == 1
            and 1 <= len(options) <= MAX_ANSWERS
            and (private_room or not card.get("anonymous")))


def poll_start(card: dict[str, Any]) -> dict[str, Any]:
    """The content of the native poll showing ``card`` (answer ids are the option ids, so a
    response names the same options as ``sondage voter``)."""
    question = str(card.get("question") or card.get("title") or "")
    answers = [{"id": str(o["id"]), TEXT: str(o["label"])} for o in card["options"]]
    fallback = "\n".join([question, *(f"{i}. {a[TEXT]}" for i, a in enumerate(answers, 1))])
    return {
        POLL_START: {
            "question": {TEXT: question, "body": question, "msgtype": "m.text"},
            "kind": DISCLOSED if card.get("results_visible", True) else UNDISCLOSED,
            "max_selections": 1,
            "answers": answers,
        },
        TEXT: fallback,
        "body": fallback,
    }


def poll_end(start_event_id: str, text: str) -> dict[str, Any]:
    """The content that ends the native poll ``start_event_id`` (only its sender, or someone
    allowed to redact it, may end a poll: the bot ends its own)."""
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": start_event_id},
        POLL_END: {},
        TEXT: text,
        "body": text,
    }

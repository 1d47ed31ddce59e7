"""What the polls feature does for Matrix, through the real router and database: private
ballots for anonymous polls, answers typed in a reply, confirmations kept out of rooms
when a poll is anonymous, and what a native vote carries."""

from __future__ import annotations

from bot.bootstrap import App
from handlers.core.events import Visibility
from handlers.core.ids import Platform
from storage.uow import Store
from tests.conftest import load_demo
from tests.support.chat import Speaker
from tests.support.fakes import RecordingSender
from tests.support.polls import answers, member, poll_number

MATRIX_ROOM = "!cohorte:localhost"


async def _rooms(app: App, op: Speaker) -> None:
    await load_demo(app)
    async with app.db.session() as session:
        store = Store(session)
        for platform, room in (("slack", "C-COHORTE"), ("matrix", MATRIX_ROOM)):
            await store.rooms.link(platform, room, 1, app.clock.now(), None)


def recorder(app: App, platform: Platform) -> RecordingSender:
    sender = app.delivery.senders[platform]
    assert isinstance(sender, RecordingSender)
    return sender


async def test_anonymous_poll_sends_private_ballots_to_matrix_accounts_only(
        app: App, op: Speaker) -> None:
    await _rooms(app, op)
    bernard = await member(app, op, "Bernard Roux", Platform.MATRIX, room=MATRIX_ROOM)
    await member(app, op, "Nathalie Fabre", Platform.SLACK)
    await member(app, op, "Karim Benali", Platform.MATRIX)
    n = poll_number(await op.say('sondage creer "Satisfait·e du parcours ?" anonyme=oui '
                                 "delegations=\"Barre-des-Cévennes\""))
    for platform in (Platform.MATRIX, Platform.SLACK):
        await app.delivery.flush(platform)
    matrix, slack = recorder(app, Platform.MATRIX), recorder(app, Platform.SLACK)

    ballots = [m for m in matrix.sent if m.key.startswith(f"ballot:{n}:")]
    assert [m.destination for m in ballots] == [f"@dm:{bernard.user.user_id}"]
    assert "anonyme" in ballots[0].reply.text and ballots[0].reply.card["anonymous"]
    assert [a.action for a in ballots[0].reply.actions] == ["poll.vote", "poll.vote",
                                                            "poll.results"]
    assert not [m for m in slack.sent if m.key.startswith("ballot:")]
    room_card = next(m for m in matrix.sent if m.key == f"poll:{n}:matrix:{MATRIX_ROOM}")
    assert [a.action for a in room_card.reply.actions] == ["poll.results"]
    assert "message privé" in room_card.reply.text
    slack_card = next(m for m in slack.sent if m.key == f"poll:{n}:slack:C-COHORTE")
    assert "poll.vote" in [a.action for a in slack_card.reply.actions]

    confirmation = await bernard.command(f"sondage voter {n} oui")
    assert confirmation.replies[0].sensitive
    assert confirmation.replies[0].visibility is Visibility.PRIVATE


async def test_an_answer_typed_in_a_reply_is_read_like_the_vote_command(
        app: App, op: Speaker) -> None:
    await _rooms(app, op)
    n = poll_number(await op.say('sondage creer "Date du webinaire ?" type=dispo '
                                 'options="28/04 14h-17h|29/04 9h-12h|30/04"'))
    julien = await member(app, op, "Julien Ferrer", Platform.MATRIX, room=MATRIX_ROOM)
    text = await julien.click("poll.submit", str(n), form={"typed": "non oui si besoin"})
    assert "Réponse enregistrée" in text
    assert (await answers(app, n))[0].value == {
        "availability": {"1": "no", "2": "yes", "3": "maybe"}}
    wrong = await julien.click("poll.submit", str(n), form={"typed": "oui"})
    assert "propose 3 dates et j'ai lu 1 réponse" in wrong
    m = poll_number(await op.say('sondage creer "Quel format ?" options="Visio|Présentiel"'))
    assert "Présentiel" in await julien.click("poll.submit", str(m), form={"typed": "2"})
    assert "n'a pas d'option" in await julien.click("poll.submit", str(m),
                                                    form={"typed": "7"})


async def test_a_native_vote_is_silent_and_replaces_the_selection(app: App, op: Speaker
                                                                  ) -> None:
    await _rooms(app, op)
    n = poll_number(await op.say('sondage creer "Quel format ?" options="Visio|Présentiel"'))
    karim = await member(app, op, "Karim Benali", Platform.MATRIX, room=MATRIX_ROOM)
    first = await karim.click("poll.vote", str(n), form={"options": ["1"], "silent": True},
                              event_id="$vote1")
    again = await karim.click("poll.vote", str(n), form={"options": ["1"], "silent": True},
                              event_id="$vote1")
    await karim.click("poll.vote", str(n), form={"options": ["2"], "silent": True},
                      event_id="$vote2")
    assert first == "" and again == ""
    rows = await answers(app, n)
    assert len(rows) == 1 and rows[0].value == {"choices": [2]}
    unknown = await karim.click("poll.vote", str(n), form={"options": ["9"], "silent": True})
    assert "n'a pas d'option" in unknown

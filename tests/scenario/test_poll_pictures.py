"""Results pictures in chat: when an availability poll or a campaign closes, and on
``sondage resultats``, the grid comes as a PNG beside its summary in words."""

from __future__ import annotations

import io

from PIL import Image

from bot.bootstrap import App
from handlers.core.events import Attachment, Reply
from handlers.core.ids import Platform
from messages.grid import Answer
from messages.render.grid_png import FILL, Layout
from tests.conftest import load_demo
from tests.support.chat import Speaker
from tests.support.polls import member, outbox, poll_number


def picture(payload: dict) -> tuple[Attachment, Image.Image]:
    reply = Reply.from_dict(payload)
    assert len(reply.attachments) == 1, reply
    attachment = reply.attachments[0]
    assert attachment.mimetype == "image/png"
    image = Image.open(io.BytesIO(attachment.content))
    image.load()
    return attachment, image.convert("RGB")


async def dated_poll(app: App, op: Speaker) -> int:
    await load_demo(app)
    await op.say("cohorte lier occitanie")
    n = poll_number(await op.say(
        'sondage creer "Date du webinaire ?" type=dispo '
        'options="28/04 14h-17h|29/04 9h-12h|30/04"'))
    for name, line in {"Bernard Roux": "oui si-besoin non",
                       "Karim Benali": "non oui oui"}.items():
        speaker = await member(app, op, name)
        assert "Réponse enregistrée" in await speaker.say(f"sondage voter {n} {line}")
    return n


async def test_an_availability_poll_closing_posts_its_grid_as_a_picture(
        app: App, op: Speaker) -> None:
    n = await dated_poll(app, op)
    await op.say(f"sondage fermer {n}")
    closed = await outbox(app, f"poll:{n}:closed:")
    assert len(closed) == 1
    attachment, image = picture(closed[0].payload)
    layout = Layout()
    assert image.size == layout.size(3, 32)
    assert "Bernard Roux" in closed[0].payload["text"]
    assert attachment.alt_text.startswith("Date du webinaire ? — 2 réponses sur 32.")
    assert "Meilleur choix : mar. 29/04 9 h – 12 h (1 oui, 1 si besoin)" in \
        attachment.alt_text.replace("\u00a0", " ")
    rows = [r for r in range(32)]
    colours = {image.getpixel((layout.cell(r, 0)[0] + 6, layout.cell(r, 0)[1] + 4))
               for r in rows}
    assert colours == {FILL[Answer.YES], FILL[Answer.NO], FILL[Answer.NONE]}


async def test_results_asked_in_chat_come_with_the_picture(app: App, op: Speaker) -> None:
    n = await dated_poll(app, op)
    outcome = await op.command(f"sondage resultats {n}")
    (reply,) = outcome.replies
    assert "Résultats du sondage" in reply.text
    image = Image.open(io.BytesIO(reply.attachments[0].content))
    assert image.size == Layout().size(3, 32)
    yes_no = poll_number(await op.say('sondage creer "Venez-vous ?"'))
    assert (await op.command(f"sondage resultats {yes_no}")).replies[0].attachments == ()
    await op.say(f"sondage fermer {yes_no}")
    (notice,) = await outbox(app, f"poll:{yes_no}:closed:")
    assert Reply.from_dict(notice.payload).attachments == ()


async def test_hidden_results_send_no_picture_before_the_close(app: App, op: Speaker) -> None:
    await load_demo(app)
    await op.say("cohorte lier occitanie")
    n = poll_number(await op.say(
        'sondage creer "Quand ?" type=dispo options="28/04|29/04" resultats=cloture'))
    bernard = await member(app, op, "Bernard Roux")
    await bernard.say(f"sondage voter {n} oui non")
    assert (await bernard.command(f"sondage resultats {n}")).replies[0].attachments == ()
    assert (await op.command(f"sondage resultats {n}")).replies[0].attachments != ()


async def test_a_campaign_closing_posts_who_handed_in_what(app: App, op: Speaker) -> None:
    await load_demo(app)
    await op.say("cohorte lier occitanie")
    await op.say('campagne envoyer note-arbitrage echeance="20/03 18h"')
    bernard = await member(app, op, "Bernard Roux", Platform.SLACK)
    assert "Réponse enregistrée" in await bernard.say("sondage voter 2 oui")
    assert "Réponse enregistrée" in await bernard.say(
        'sondage voter 3 "Un retour sur la cantine"')
    await op.say("campagne fermer note-arbitrage")
    (closed,) = await outbox(app, "campaign:1:closed:")
    attachment, image = picture(closed.payload)
    layout = Layout()
    assert image.size == layout.size(8, 8)
    text = closed.payload["text"]
    assert "0 délégation sur 8 a tout rendu" in text
    assert "Commune de Barre-des-Cévennes : reste a1, a4, a5, a6, a7, a8" in text
    assert attachment.filename == "campagne-note-arbitrage.png"
    barre = next(r for r in range(8) if image.getpixel(
        (layout.cell(r, 1)[0] + 6, layout.cell(r, 1)[1] + 4)) == FILL[Answer.YES])
    assert image.getpixel((layout.cell(barre, 0)[0] + 6, layout.cell(barre, 0)[1] + 4)) == \
        FILL[Answer.NONE]
    a1 = await outbox(app, "poll:1:closed:")
    assert picture(a1[0].payload)[1].size == layout.size(3, 32)
    a2 = await outbox(app, "poll:2:closed:")
    assert Reply.from_dict(a2[0].payload).attachments == ()

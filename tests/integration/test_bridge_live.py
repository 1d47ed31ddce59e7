"""Two people, one on Slack (the Web API emulator, signed Events API requests to the real
bot) and one on Matrix (a real nio client on a real Synapse), hold one conversation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.devtools.local_synapse import LocalSynapse
from tests.support.bridge_rig import CHANNEL, BridgeRig
from tests.support.matrix_user import MatrixUser

pytestmark = [pytest.mark.synapse, pytest.mark.slack]
Users = Callable[..., Awaitable[MatrixUser]]


async def matrix_copy(rig: BridgeRig, user: MatrixUser, contains: str,
                      timeout: float = 15.0) -> dict:  # noqa: ASYNC109
    return await user.wait_for(rig.room, lambda e: e["sender"] == rig.bot_id and contains in
                               e["content"].get("body", ""), timeout=timeout)


async def test_a_conversation_both_ways_with_names_and_formatting(
        synapse: LocalSynapse, matrix_users: Users, tmp_path: Path) -> None:
    nathalie = await matrix_users("nathalie")
    async with BridgeRig.started(synapse, tmp_path, nathalie) as rig:
        await rig.link("Nathalie Fabre", "matrix", nathalie.user_id)
        await rig.link("Bernard Roux", "slack", "U2")
        bob = rig.slack("U2")
        await bob.say("Bonjour *tout le monde* : ~lundi~ _mardi_ `14h`, <https://ex.org|ordre du jour>"
                      " :tada: et <@U1>")
        copy = await matrix_copy(rig, nathalie, "Bonjour")
        html = copy["content"]["formatted_body"]
        assert copy["content"]["msgtype"] == "m.text"
        assert html.startswith("<p><strong>Bernard Roux</strong>\u00a0: Bonjour "
                               "<strong>tout le monde</strong>")
        assert "<s>lundi</s>" in html and "<em>mardi</em>" in html and "<code>14h</code>" in html
        assert '<a href="https://ex.org">ordre du jour</a>' in html and "🎉" in html
        assert "Alice Martin" in copy["content"]["body"]

        await nathalie.send_text(
            rig.room, "Merci Bernard", html='Merci <a href="https://matrix.to/#/@x:localhost">'
            'X</a> : <strong>gras</strong>, <em>italique</em>, <del>barré</del>, '
            '<code>code</code><ul><li>un</li><li>deux</li></ul>'
            '<blockquote>cité</blockquote><pre><code>x = 1\n</code></pre>')
        [posted] = await rig.wait_slack(1)
        assert posted["username"] == "Nathalie Fabre"
        text = posted["text"]
        assert "*gras*" in text and "_italique_" in text and "~barré~" in text
        assert "`code`" in text and "• un\n• deux" in text and "> cité" in text
        assert "```\nx = 1\n```" in text

        # what an operator watches: copies per direction and their lag, on /metrics
        async with rig.session.get(f"http://127.0.0.1:{rig.app.web.port}/metrics") as response:
            scraped = await response.text()
        for direction in ("slack_to_matrix", "matrix_to_slack"):
            assert f'cohortbot_relayed_total{{direction="{direction}"}} 1.0' in scraped, direction
            assert f'cohortbot_relay_lag_seconds_count{{direction="{direction}"}} 1.0' \
                in scraped, direction


async def test_rich_text_blocks_mentions_of_linked_members_and_channel(
        synapse: LocalSynapse, matrix_users: Users, tmp_path: Path) -> None:
    nathalie = await matrix_users("nathalie")
    async with BridgeRig.started(synapse, tmp_path, nathalie) as rig:
        await rig.link("Nathalie Fabre", "matrix", nathalie.user_id)
        await rig.link("Nathalie Fabre", "slack", "U3")
        blocks = [{"type": "rich_text", "elements": [
            {"type": "rich_text_section", "elements": [
                {"type": "text", "text": "Salut "}, {"type": "user", "user_id": "U3"},
                {"type": "text", "text": " dans "}, {"type": "channel", "channel_id": CHANNEL},
                {"type": "text", "text": " !", "style": {"bold": True}}]},
            {"type": "rich_text_list", "style": "ordered", "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "a"}]},
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "b"}]}]}]}]
        await rig.slack("U2").say("Salut <@U3>", blocks=blocks)
        copy = await matrix_copy(rig, nathalie, "Salut")
        html = copy["content"]["formatted_body"]
        assert f'<a href="https://matrix.to/#/{nathalie.user_id}">Nathalie Fabre</a>' in html
        assert f'<a href="https://matrix.to/#/{rig.room}">' in html
        assert "<ol>" in html and copy["content"]["m.mentions"] == {
            "user_ids": [nathalie.user_id]}
        await nathalie.send_text(rig.room, "Nathalie", html=f'<a href="https://matrix.to/#/'
                                 f'{nathalie.user_id}">Nathalie Fabre</a> ici')
        [posted] = await rig.wait_slack(1)
        assert posted["text"].startswith("<@U3> ici")


async def test_edits_deletions_and_threads_follow_both_ways(
        synapse: LocalSynapse, matrix_users: Users, tmp_path: Path) -> None:
    nathalie = await matrix_users("nathalie")
    async with BridgeRig.started(synapse, tmp_path, nathalie) as rig:
        bob = rig.slack("U2")
        root = await bob.say("On fixe la date ?")
        root_copy = await matrix_copy(rig, nathalie, "On fixe la date")
        await bob.edit(root, "On fixe la date de la plénière ?")
        edit = await nathalie.wait_for(rig.room, lambda e: (e["content"].get(
            "m.relates_to") or {}).get("rel_type") == "m.replace")
        assert edit["content"]["m.relates_to"]["event_id"] == root_copy["event_id"]
        assert "plénière" in edit["content"]["m.new_content"]["body"]

        reply_id = await nathalie.send_text(rig.room, "Le 12 me va",
                                            thread_root=root_copy["event_id"])
        [in_thread] = await rig.wait_slack(1)
        assert in_thread["thread_ts"] == root
        await bob.say("Parfait, le 12", thread_ts=root)
        threaded = await matrix_copy(rig, nathalie, "Parfait")
        assert threaded["content"]["m.relates_to"]["rel_type"] == "m.thread"
        assert threaded["content"]["m.relates_to"]["event_id"] == root_copy["event_id"]

        await nathalie.edit(rig.room, reply_id, "Le 12 me va très bien")
        await rig.emu.wait_for_call("chat.update")
        assert "très bien" in rig.relayed_to_slack()[0]["text"]
        await nathalie.redact(rig.room, reply_id)
        await rig.emu.wait_for_call("chat.delete")
        assert rig.relayed_to_slack() == []
        await bob.delete(root)
        redaction = await nathalie.wait_for(rig.room, lambda e: e["type"] == "m.room.redaction"
                                            and e["sender"] == rig.bot_id)
        assert redaction["redacts"] == root_copy["event_id"] or \
            redaction["content"].get("redacts") == root_copy["event_id"]


async def test_files_and_pictures_are_copied_both_ways(
        synapse: LocalSynapse, matrix_users: Users, tmp_path: Path) -> None:
    import io

    from PIL import Image

    nathalie = await matrix_users("nathalie")
    async with BridgeRig.started(synapse, tmp_path, nathalie) as rig:
        picture = io.BytesIO()
        Image.new("RGB", (40, 30), "red").save(picture, "PNG")
        data = picture.getvalue()
        upload = await rig.app.slack.client.files_getUploadURLExternal(filename="carte.png",
                                                                      length=len(data))
        rig.emu.files[upload["file_id"]].data = data
        rig.emu.files[upload["file_id"]].completed = True
        shared = rig.emu._file_object(rig.emu.files[upload["file_id"]])
        await rig.slack("U2").say("la carte", files=[{**shared, "mimetype": "image/png"}])
        image = await nathalie.wait_for(rig.room, lambda e: e["content"].get(
            "msgtype") == "m.image")
        assert image["content"]["info"]["w"] == 40 and image["content"]["filename"] == "carte.png"
        assert image["content"]["body"].startswith("Bob Durand")
        text = await matrix_copy(rig, nathalie, "la carte")
        assert text["origin_server_ts"] <= image["origin_server_ts"]

        content_uri = (await nathalie.client.upload(io.BytesIO(b"%PDF-1.4 notes"),
                                                    content_type="application/pdf",
                                                    filename="notes.pdf",
                                                    filesize=14))[0].content_uri
        await nathalie.send_event(rig.room, "m.room.message", {
            "msgtype": "m.file", "body": "notes.pdf", "url": content_uri,
            "info": {"mimetype": "application/pdf", "size": 14}})
        call = await rig.emu.wait_for_call("files.completeUploadExternal")
        file_id = call.args["files"][0]["id"]
        assert rig.emu.file_bytes(file_id) == b"%PDF-1.4 notes"
        assert "notes.pdf" in call.args["initial_comment"]


async def test_messages_posted_while_events_were_lost_are_relayed_once_in_order(
        synapse: LocalSynapse, matrix_users: Users, tmp_path: Path) -> None:
    nathalie = await matrix_users("nathalie")
    async with BridgeRig.started(synapse, tmp_path, nathalie) as rig:
        bob = rig.slack("U2")
        await bob.say("avant")
        await matrix_copy(rig, nathalie, "avant")
        for n in range(5):
            await bob.say(f"perdu {n}", deliver=n == 2)
        await matrix_copy(rig, nathalie, "perdu 2")
        await rig.app.bridge.catch_up(settle=False)
        await rig.app.bridge.catch_up(settle=False)
        await matrix_copy(rig, nathalie, "perdu 4")
        await bob.say("après")
        await matrix_copy(rig, nathalie, "après")
        bodies = [e["content"]["body"].split(": ", 1)[-1] for e in rig.from_bot(nathalie)]
        assert bodies.count("perdu 2") == 1
        assert sorted(bodies, key=bodies.index) == bodies
        assert [b for b in bodies if b.startswith("perdu")] == \
            ["perdu 2", "perdu 0", "perdu 1", "perdu 3", "perdu 4"]


async def test_reactions_follow_both_ways(synapse: LocalSynapse, matrix_users: Users,
                                          tmp_path: Path) -> None:
    nathalie = await matrix_users("nathalie")
    async with BridgeRig.started(synapse, tmp_path, nathalie) as rig:
        bob = rig.slack("U2")
        ts = await bob.say("On part sur le 12 ?")
        copy = await matrix_copy(rig, nathalie, "On part sur le 12")
        await bob.react(ts, "thumbsup")
        reaction = await nathalie.wait_for(rig.room, lambda e: e["type"] == "m.reaction")
        assert reaction["content"]["m.relates_to"] == {
            "rel_type": "m.annotation", "event_id": copy["event_id"], "key": "👍"}
        await bob.react(ts, "thumbsup", removed=True)
        await nathalie.wait_for(rig.room, lambda e: e["type"] == "m.room.redaction" and (
            e.get("redacts") or e["content"].get("redacts")) == reaction["event_id"])

        mine = await nathalie.react(rig.room, copy["event_id"], "🎉")
        call = await rig.emu.wait_for_call("reactions.add")
        assert (call.args["timestamp"], call.args["name"]) == (ts, "tada")
        await nathalie.redact(rig.room, mine)
        removed = await rig.emu.wait_for_call("reactions.remove")
        assert removed.args["name"] == "tada"
        assert "reactions" not in rig.emu.message(CHANNEL, ts)


async def test_a_matrix_authors_picture_shows_on_slack(
        synapse: LocalSynapse, matrix_users: Users, tmp_path: Path) -> None:
    import io
    from urllib.parse import urlsplit

    import aiohttp
    from PIL import Image

    nathalie = await matrix_users("nathalie")
    async with BridgeRig.started(synapse, tmp_path, nathalie) as rig:
        picture = io.BytesIO()
        Image.new("RGB", (128, 128), "blue").save(picture, "PNG")
        uploaded, _ = await nathalie.client.upload(io.BytesIO(picture.getvalue()),
                                                   content_type="image/png",
                                                   filename="me.png",
                                                   filesize=len(picture.getvalue()))
        await nathalie.client.set_avatar(uploaded.content_uri)
        await nathalie.wait_for(rig.room, lambda e: e["type"] == "m.room.member" and (
            e["content"].get("avatar_url") == uploaded.content_uri))
        await nathalie.send_text(rig.room, "me voici")
        [posted] = await rig.wait_slack(1)
        path = urlsplit(posted["icon_url"]).path
        assert path.startswith("/pont/avatars/")
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{rig.app.web.port}"
            async with session.get(base + path) as response:
                assert response.status == 200
                assert response.content_type.startswith("image/")
            async with session.get(base + "/pont/avatars/localhost/unknown") as response:
                assert response.status == 404


async def test_slack_messages_written_while_the_homeserver_is_down_arrive_once_in_order(
        synapse: LocalSynapse, matrix_users: Users, tmp_path: Path) -> None:
    nathalie = await matrix_users("nathalie")
    async with BridgeRig.started(synapse, tmp_path, nathalie) as rig:
        bob = rig.slack("U2")
        await bob.say("avant la panne")
        await matrix_copy(rig, nathalie, "avant la panne")
        await synapse.stop()
        try:
            for n in range(6):
                await bob.say(f"pendant {n}")
            await asyncio.sleep(1.5)
        finally:
            await synapse.start()
        await matrix_copy(rig, nathalie, "pendant 5", timeout=60)
        await nathalie.send_text(rig.room, "de retour")
        [back] = await rig.wait_slack(1, timeout=30)
        assert back["text"] == "de retour"
        bodies = [e["content"]["body"].split(": ", 1)[-1] for e in rig.from_bot(nathalie)]
        assert bodies == ["avant la panne"] + [f"pendant {n}" for n in range(6)]


async def test_a_file_too_big_to_copy_leaves_a_note_instead(
        synapse: LocalSynapse, matrix_users: Users, tmp_path: Path) -> None:
    from handlers.core.ids import Platform

    nathalie = await matrix_users("nathalie")
    async with BridgeRig.started(synapse, tmp_path, nathalie) as rig:
        rig.app.delivery.senders[Platform.MATRIX].relay.max_file_bytes = 1000
        big = {"id": "F9", "name": "film.mp4", "mimetype": "video/mp4", "size": 5_000_000,
               "url_private_download": f"{rig.emu.root_url}/files-pri/T0001-F9/film.mp4"}
        await rig.slack("U2").say("", files=[big])
        note = await matrix_copy(rig, nathalie, "film.mp4")
        assert "trop volumineux" in note["content"]["body"]
        assert "4,8\u00a0Mo" in note["content"]["body"]
        assert "sur Slack" in note["content"]["body"]

"""Socket Mode: the same bot over a websocket the test serves (through the emulator).

The bot asks ``apps.connections.open`` with its app-level token, connects to the
``ws://127.0.0.1:…`` URL it gets, and receives Slack's envelopes there; it must
acknowledge each ``envelope_id`` at once and answer through the Web API.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl

import pytest

from tests.support.fakes import FakeClock
from tests.support.slack_app import SlackRig
from tests.support.slack_emulator import block_actions_form, event_callback, slash_command_form

pytestmark = pytest.mark.slack


async def test_socket_mode_acknowledges_and_answers(tmp_path, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    async with SlackRig.started(tmp_path, clock, mode="socket") as rig:
        emu = rig.emu
        await emu.wait_for_socket()
        [opened] = emu.calls_to("apps.connections.open")
        assert opened.headers["Authorization"] == "Bearer xapp-test"

        url = emu.new_response_url(channel="C1", user="U1")
        command = dict(parse_qsl(slash_command_form(
            'cohorte creer "Cohorte Socket"', user_id="U1", channel_id="C1",
            response_url=url).decode()))
        start = time.perf_counter()
        envelope = await emu.socket_send("slash_commands", command)
        ack = await emu.wait_for_ack(envelope)
        assert time.perf_counter() - start < 1.0
        assert ack == {"envelope_id": envelope}
        await rig.settle()
        assert "*Cohorte Socket* créée" in emu.messages("C1")[-1]["text"]

        event = json.loads(event_callback({
            "type": "app_mention", "user": "U1", "text": "<@UBOT> cohorte lister",
            "ts": "1700000300.000100", "channel": "C1", "event_ts": "1700000300.000100"},
            event_id="Ev0SOCKET"))
        first = await emu.socket_send("events_api", event)
        again = await emu.socket_send("events_api", event, retry_attempt=1,
                                      retry_reason="timeout")
        await emu.wait_for_ack(first)
        await emu.wait_for_ack(again)
        await rig.settle()
        assert len([e for e in emu.ephemerals("C1") if "cohorte-socket" in e["text"]]) == 1

        message = emu.messages("C1")[-1]
        click = json.loads(dict(parse_qsl(block_actions_form(
            user_id="U1", channel_id="C1", message_ts=message["ts"], action_id="poll.vote#0",
            value="1", response_url=(click_url := emu.new_response_url(
                channel="C1", user="U1"))).decode()))["payload"])
        await emu.wait_for_ack(await emu.socket_send("interactive", click))
        await rig.settle()
        assert "Ce bouton n'est plus valable" in emu.responses(click_url)[0]["text"]

        answer, _ = await rig.command("aide")
        assert answer.status in (404, 405), "no HTTP endpoint in Socket Mode"

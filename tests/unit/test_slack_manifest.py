"""The Slack app manifest asks for what the code uses, and for nothing more."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from bot.slack.http import PATH
from handlers.core.ids import Platform
from handlers.core.settings import COMMAND_PREFIXES
from tests.support.slack_emulator import REFERENCE_DIR, load_method

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "deploy" / "slack-manifest.yaml").read_text(encoding="utf-8"))
SOURCES = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "bot" / "slack").glob("*.py"))

CALLED = ["chat.postMessage", "chat.postEphemeral", "chat.update", "conversations.open",
          "conversations.history", "conversations.replies", "users.info",
          "files.getUploadURLExternal", "files.completeUploadExternal", "views.open",
          "auth.test", "chat.delete", "reactions.add", "reactions.remove", "files.delete"]
"""Web API methods the bot calls (files_upload_v2 calls the two files.* methods)."""
WITHOUT_METHOD = {
    "chat:write.customize": "username=",
    "files:read": "url_private",
}
"""Scopes no Web API method of the reference asks for, and the code that needs them: the
bridge posts copies under their author's name, and downloads files shared in Slack."""


def test_the_methods_listed_are_the_ones_the_code_calls() -> None:
    for method in CALLED:
        if method.startswith("files."):
            assert "files_upload_v2" in SOURCES
        else:
            assert method.replace(".", "_") in SOURCES, method


def test_every_method_and_event_is_covered_by_a_scope() -> None:
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    for method in CALLED:
        needed = load_method(method).get("scope", {}).get("bot") or []
        assert not needed or scopes & set(needed), f"{method} needs one of {needed}"
    events = MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    for event in events:
        data = json.loads((REFERENCE_DIR / "events" / f"{event}.json").read_text())
        needed = {s.replace("app_mentions.read", "app_mentions:read") for s in data["scopes"]}
        assert scopes & needed, f"{event} needs one of {needed}"


def test_no_scope_is_unexplained_or_unused() -> None:
    scopes = MANIFEST["oauth_config"]["scopes"]["bot"]
    used = {"commands"} | {s.replace("app_mentions.read", "app_mentions:read")
                           for event in MANIFEST["settings"]["event_subscriptions"]["bot_events"]
                           for s in json.loads((REFERENCE_DIR / "events" / f"{event}.json")
                                               .read_text())["scopes"]}
    for method in CALLED:
        used |= set(load_method(method).get("scope", {}).get("bot") or [])
    everything = SOURCES + "\n".join(p.read_text(encoding="utf-8") for p in (
        ROOT / "bot" / "bridge").glob("*.py")) + (ROOT / "messages" / "render" / "relay.py"
                                                  ).read_text(encoding="utf-8")
    for scope, evidence in WITHOUT_METHOD.items():
        assert evidence.rstrip("=") in everything, f"{scope}: {evidence} not found in the code"
        used.add(scope)
    assert set(scopes) <= used, f"scopes nothing needs: {set(scopes) - used}"
    lines = (ROOT / "deploy" / "slack-manifest.yaml").read_text(encoding="utf-8").splitlines()
    for scope in scopes:
        index = lines.index(f"      - {scope}")
        while lines[index - 1].strip().startswith("- "):
            index -= 1
        assert lines[index - 1].strip().startswith("#"), f"{scope} has no explanation"


def test_one_url_for_commands_interactivity_and_events() -> None:
    [command] = MANIFEST["features"]["slash_commands"]
    assert command["command"] + " " == COMMAND_PREFIXES[Platform.SLACK]
    assert command["should_escape"] is True
    urls = {command["url"], MANIFEST["settings"]["interactivity"]["request_url"],
            MANIFEST["settings"]["event_subscriptions"]["request_url"]}
    assert len(urls) == 1 and next(iter(urls)).endswith(PATH)
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_mention", "message.im", "message.channels", "message.groups", "reaction_added",
        "reaction_removed"}
    assert re.search(r"\bmessages_tab_enabled: true", (ROOT / "deploy" /
                                                       "slack-manifest.yaml").read_text())


def test_shared_files_can_be_downloaded() -> None:
    assert "files:read" in MANIFEST["oauth_config"]["scopes"]["bot"]

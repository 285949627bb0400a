"""The Slack app manifest is generated from the code and the prompt files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from bot.slack.manifest import BOT_EVENTS, BOT_SCOPES, SURFACE_EVENTS, bot_events, build_manifest
from bot.prompts import load_catalog
from handlers import SUBSCRIBED_EVENTS

from .harness import message

ROOT = Path(__file__).resolve().parent.parent


def run_manifest(*args: str, **env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "manifest", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env},
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_every_subscribed_event_has_a_handler_and_every_command_a_prompt():
    catalog = load_catalog(ROOT / "prompts")
    manifest = build_manifest(catalog, url="https://bot.example.com", name="Assistant", management_command="/assistant")
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        assert event.split(".")[0] in SUBSCRIBED_EVENTS, f"{event} has no handler: Bolt would answer 404"
    for command in manifest["features"]["slash_commands"]:
        assert command["command"] == "/assistant" or catalog.for_command(command["command"]) is not None
        assert command["url"] == "https://bot.example.com/slack/events"
    assert {c["command"] for c in manifest["features"]["slash_commands"]} == {*catalog.commands, "/assistant"}


def test_manifest_command_prints_yaml_with_urls_commands_and_scopes():
    manifest = run_manifest("--url", "https://bot.example.com/")
    assert manifest["settings"]["event_subscriptions"]["request_url"] == "https://bot.example.com/slack/events"
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == bot_events("agent_view")
    assert manifest["oauth_config"]["scopes"]["bot"] == BOT_SCOPES
    translate = next(c for c in manifest["features"]["slash_commands"] if c["command"] == "/translate")
    assert translate["usage_hint"] == "<language> <text>" and translate["description"]


def test_with_a_client_id_the_manifest_is_for_a_distributable_app():
    manifest = run_manifest("--url", "https://bot.example.com", SLACK_CLIENT_ID="1111.2222")
    assert manifest["oauth_config"]["redirect_urls"] == ["https://bot.example.com/slack/oauth_redirect"]
    assert manifest["settings"]["token_rotation_enabled"] is True and manifest["settings"]["org_deploy_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == [*bot_events("agent_view"), "app_uninstalled",
                                                                          "tokens_revoked"]
    single = build_manifest(load_catalog(ROOT / "prompts"), url="https://bot.example.com", name="Assistant",
                            management_command="/assistant")
    assert "redirect_urls" not in single["oauth_config"] and single["settings"]["token_rotation_enabled"] is False


# The agent_view feature as Slack documents it for new apps (mid-2026): a description; the
# suggested prompts are set by the app when the Messages tab opens.  assistant_view as before.
AI_FEATURE_FIELDS = {"agent_view": {"agent_description"}, "assistant_view": {"assistant_description", "suggested_prompts"}}
APP_HOME_FIELDS = {"home_tab_enabled", "messages_tab_enabled", "messages_tab_read_only_enabled"}


def test_new_apps_get_agent_view_and_existing_ones_can_keep_the_split_view():
    manifest = run_manifest("--url", "https://bot.example.com")
    features = manifest["features"]
    assert "assistant_view" not in features, "a new app can only use agent view"
    assert set(features["agent_view"]) == AI_FEATURE_FIELDS["agent_view"]
    assert 0 < len(features["agent_view"]["agent_description"]) <= 120
    assert set(features["app_home"]) == APP_HOME_FIELDS and features["app_home"]["messages_tab_enabled"] is True
    assert features["app_home"]["messages_tab_read_only_enabled"] is False, "people write to the agent in its tab"
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_home_opened", "app_context_changed", "message.im"} <= set(events)
    assert not {"assistant_thread_started", "assistant_thread_context_changed"} & set(events)
    assert "assistant:write" in manifest["oauth_config"]["scopes"]["bot"], "status, titles and suggested prompts"

    split = run_manifest("--url", "https://bot.example.com", SLACK_AGENT_SURFACE="assistant_view")["features"]
    assert "agent_view" not in split and set(split["assistant_view"]) == AI_FEATURE_FIELDS["assistant_view"]
    split_events = run_manifest(SLACK_AGENT_SURFACE="assistant_view")["settings"]["event_subscriptions"]["bot_events"]
    assert "assistant_thread_started" in split_events and "app_context_changed" not in split_events


def test_socket_mode_manifest_has_no_request_urls():
    manifest = run_manifest("--socket-mode")
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in manifest["settings"]["event_subscriptions"]
    assert all("url" not in c for c in manifest["features"]["slash_commands"])


def test_a_new_prompt_file_appears_in_the_manifest(tmp_path):
    folder = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", folder)
    (folder / "eli5.md").write_text(
        "---\nname: eli5\nversion: 1\ndescription: Explain like I'm five\ncommand: /eli5\nusage: <topic>\n"
        "arguments:\n  - name: topic\n    kind: text\n---\nExplain ${topic} simply.\n"
    )
    manifest = run_manifest(PROMPTS_DIR=str(folder))
    eli5 = next(c for c in manifest["features"]["slash_commands"] if c["command"] == "/eli5")
    assert eli5["description"] == "Explain like I'm five" and eli5["usage_hint"] == "<topic>"


def test_every_subscribed_event_type_gets_200(app, sender):
    channel_types = {"message.channels": "channel", "message.groups": "group", "message.im": "im", "message.mpim": "mpim"}
    thread = {"user_id": "U1", "channel_id": "D9", "thread_ts": "1.000002", "context": {}}
    others = {
        "app_mention": {"type": "app_mention", "user": "U1", "text": "<@UBOT>", "ts": "1.000001", "channel": "C9"},
        "assistant_thread_started": {"type": "assistant_thread_started", "assistant_thread": thread, "event_ts": "1.3"},
        "assistant_thread_context_changed": {"type": "assistant_thread_context_changed", "assistant_thread": thread,
                                             "event_ts": "1.4"},
        "app_home_opened": {"type": "app_home_opened", "user": "U1", "channel": "D9", "tab": "messages", "event_ts": "1.5"},
        "agent_session_stopped": {"type": "agent_session_stopped", "channel": "D9", "thread_ts": "1.000002", "user": "U1",
                                  "streaming_message_ts": [], "event_ts": "1.6"},
    }
    others["channel_deleted"] = {"type": "channel_deleted", "channel": "C9", "event_ts": "1.8"}
    others["group_deleted"] = {"type": "group_deleted", "channel": "G9", "event_ts": "1.9"}
    others["app_context_changed"] = {"type": "app_context_changed", "user": "U1", "event_ts": "1.7",
                                     "context": {"entities": [{"type": "slack#/types/channel_id", "value": "C9"}]}}
    for event in [*BOT_EVENTS, *(e for events in SURFACE_EVENTS.values() for e in events)]:
        if event in others:
            payload = others[event]
        else:
            payload = message("hello", channel="G9", channel_type=channel_types[event], subtype="channel_join")
        assert sender.send_event(payload).status_code == 200, event

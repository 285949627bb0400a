"""The shipped Slack app manifest and the code agree."""

from __future__ import annotations

from pathlib import Path

import yaml

from handlers.messages import SUBSCRIBED_EVENTS

from .harness import message

ROOT = Path(__file__).resolve().parent.parent


def manifest() -> dict:
    return yaml.safe_load((ROOT / "slack-app-manifest.yaml").read_text())


def test_every_subscribed_event_has_a_handler():
    events = manifest()["settings"]["event_subscriptions"]["bot_events"]
    assert events, "the manifest subscribes to events"
    for event in events:
        assert event.split(".")[0] in SUBSCRIBED_EVENTS, f"{event} has no handler: Bolt would answer 404"


def test_scopes_cover_the_api_methods_used():
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "channels:history", "groups:history", "im:history", "users:read"} <= scopes


def test_every_subscribed_event_type_gets_200(app, sender):
    channel_types = {"message.channels": "channel", "message.groups": "group", "message.im": "im", "message.mpim": "mpim"}
    for event in manifest()["settings"]["event_subscriptions"]["bot_events"]:
        if event == "app_mention":
            payload = {"type": "app_mention", "user": "U1", "text": "<@UBOT>", "ts": "1.000001", "channel": "C9"}
        else:
            payload = message("hello", channel="G9", channel_type=channel_types[event], subtype="channel_join")
        assert sender.send_event(payload).status_code == 200, event

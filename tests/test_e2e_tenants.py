"""Tenants stay apart: tools only for the workspaces TOOLS_WORKSPACES lists, installations
encrypted at rest (and rotated), a bounded install page, and /metrics behind its token."""

from __future__ import annotations

import httpx
import pytest
from cryptography.fernet import Fernet

from bot.settings import ConfigError, load_settings

from .fakes.openai_api import Scripted
from .harness import sync_client
from .test_e2e_workspaces import SECOND, THIRD, TOKEN_KEY, distributed, install, mention_in, send_in
from .test_unit_settings_tokens_prompts import BASE


def installation_raw(redis_url: str, key_prefix: str, team: str) -> str:
    client = sync_client(redis_url)
    try:
        return client.get(f"{key_prefix}:v1:installation:-:{team}").decode()
    finally:
        client.close()


def test_tools_reach_only_the_workspaces_tools_workspaces_lists(start_app, slack, model, sender_for):
    app = distributed(start_app, slack, DEFAULT_TOOLS="current_time", TOOLS_WORKSPACES="T2")
    for workspace in (SECOND, THIRD):
        assert install(app.url, slack, workspace).status_code == 200
    sender = sender_for(app)
    model.enqueue(Scripted(text="Listed."), Scripted(text="Not listed."))
    send_in(sender, SECOND, mention_in(SECOND, "time?", "C2"))
    slack.wait_for_answers(1, final=lambda t: t == "Listed.")
    send_in(sender, THIRD, mention_in(THIRD, "time?", "C3"))
    slack.wait_for_answers(2, final=lambda t: t in ("Listed.", "Not listed."))
    listed, unlisted = model.wait_for_requests(2)
    assert listed.tool_names == ["current_time"] and unlisted.tool_names == []
    response = sender.send_command("/assistant", "tools", team="T3", response_url=slack.response_url("m"))
    overview = response.json()["text"]
    assert "Tools are switched off in this workspace" in overview and "TOOLS_WORKSPACES" in overview


def test_installations_are_encrypted_at_rest_and_rotated_to_the_first_key(start_app, slack, model, sender_for,
                                                                          redis_url, key_prefix):
    app = distributed(start_app, slack)
    assert install(app.url, slack, SECOND).status_code == 200
    raw = installation_raw(redis_url, key_prefix, "T2")
    assert raw.startswith("fernet:") and "xoxb" not in raw and "xoxe" not in raw
    app.stop()
    # A new key first, the old one still listed: the installation is read, then written with the new key.
    new = Fernet.generate_key().decode()
    app = distributed(start_app, slack, TOKEN_ENCRYPTION_KEY=f"{new},{TOKEN_KEY}")
    send_in(sender_for(app), SECOND, mention_in(SECOND, "hello", "C2"))
    slack.wait_for_answers(1)
    rotated = installation_raw(redis_url, key_prefix, "T2")
    assert rotated != raw
    Fernet(new).decrypt(rotated.removeprefix("fernet:").encode())  # the new key opens it alone


def test_distributed_mode_without_a_key_says_how_to_make_one():
    base = {k: v for k, v in BASE.items() if k != "SLACK_BOT_TOKEN"}
    with pytest.raises(ConfigError, match=r"Missing setting TOKEN_ENCRYPTION_KEY: .*python -m bot keygen"):
        load_settings({**base, "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s"}, env_file=None)
    with pytest.raises(ConfigError, match=r"Invalid setting TOKEN_ENCRYPTION_KEY \(.*not a Fernet key"):
        load_settings({**base, "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s",
                       "TOKEN_ENCRYPTION_KEY": "not-a-key"}, env_file=None)


def test_the_install_page_keeps_a_few_states_per_address_a_minute(start_app, slack, redis_url, key_prefix):
    app = distributed(start_app, slack, INSTALL_STARTS_PER_MINUTE=3)
    with httpx.Client(base_url=app.url, timeout=10) as browser:
        answers = [browser.get("/slack/install").status_code for _ in range(6)]
    assert answers == [302, 302, 302, 429, 429, 429]
    client = sync_client(redis_url)
    try:
        assert len(list(client.scan_iter(match=f"{key_prefix}:*oauth-state*", count=1000))) == 3
    finally:
        client.close()


def test_metrics_ask_for_the_token_when_one_is_set(start_app):
    app = start_app(METRICS_TOKEN="s3cret")
    with httpx.Client(base_url=app.url, timeout=10) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and "assistant_" in ok.text

"""Many workspaces (distributed mode), end to end: Bolt's OAuth flow against the fake
Slack, each workspace answered with its own token and bot identity, org-wide installs,
uninstalling, and token rotation shared by two processes."""

from __future__ import annotations

import pytest

import re
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from bot.memory.conversation import ConversationId

from .fakes.slack_api import Installed
from .harness import eventually, new_ts, sync_client
from .redis_servers import wait_until

pytestmark = pytest.mark.on_cluster  # each test also runs on the Redis Cluster

SECOND = Installed("T2", "Second Co", "UB2", "BB2")
THIRD = Installed("T3", "Third Co", "UB3", "BB3")


TOKEN_KEY = "u9rS6Ht7oM0v1k9JgkQGf2y7sbD3m6ZQ8X6nQeD4hAc="  # a Fernet key for the tests


def distributed(start_app, slack, **overrides: Any):
    return start_app(SLACK_BOT_TOKEN="", SLACK_CLIENT_ID=slack.client_id, SLACK_CLIENT_SECRET=slack.client_secret,
                     **{"TOKEN_ENCRYPTION_KEY": TOKEN_KEY, **overrides})


def install(app_url: str, slack, installed: Installed, *, state: str | None = None) -> httpx.Response:
    """A person installing the app: /slack/install → Slack's consent page (approved) → the redirect,
    with the state cookie the install page set (as a browser on https sends it back)."""
    with httpx.Client(base_url=app_url, timeout=10) as browser:
        started = browser.get("/slack/install")
        assert started.status_code == 302, started.text
        location = urlsplit(started.headers["location"])
        query = parse_qs(location.query)
        assert location.netloc == "slack.com" and location.path == "/oauth/v2/authorize"
        assert query["client_id"] == [slack.client_id] and "chat:write" in query["scope"][0].split(",")
        cookie = started.headers["set-cookie"].split(";", 1)[0]
        code = slack.authorize_code(installed)
        return browser.get("/slack/oauth_redirect", params={"code": code, "state": state or query["state"][0]},
                           headers={"Cookie": cookie})


def mention_in(workspace: Installed, text: str, channel: str, user: str = "U1") -> dict[str, Any]:
    ts = new_ts()
    return {"type": "app_mention", "user": user, "text": f"<@{workspace.bot_user_id}> {text}", "ts": ts,
            "event_ts": ts, "channel": channel, "team": workspace.team_id}


def send_in(sender, workspace: Installed, event: dict[str, Any], **extra: Any):
    return sender.send_event(event, team=workspace.team_id, bot_user=workspace.bot_user_id, **extra)


def posts_with_token(slack, channel: str) -> list[str]:
    return [call.token or "" for call in slack.calls_to("chat.postMessage") if call.params.get("channel") == channel]


def keys_of(redis_url: str, prefix: str, team: str) -> list[str]:
    """The keys that name workspace ``team`` as a whole id (not inside a random OAuth state)."""
    named = re.compile(rf"(?<![A-Za-z0-9]){re.escape(team)}(?![A-Za-z0-9])")
    client = sync_client(redis_url)
    try:
        return sorted(k.decode() for k in client.scan_iter(match=f"{prefix}:*", count=1000) if named.search(k.decode()))
    finally:
        client.close()


def test_install_flow_stores_the_installation_and_refuses_a_bad_state(start_app, slack, redis_url, key_prefix):
    app = distributed(start_app, slack)
    done = install(app.url, slack, SECOND)
    assert done.status_code == 200 and "Installed" in done.text and "Second Co" in done.text
    [exchange] = slack.calls_to("oauth.v2.access")
    assert exchange.params["code"].startswith("code-") and exchange.params["client_secret"] == slack.client_secret
    assert keys_of(redis_url, key_prefix, "T2") == [f"{key_prefix}:v1:installation:-:T2"]

    refused = install(app.url, slack, THIRD, state="forged-state")
    assert refused.status_code == 400 and "Not installed" in refused.text and "different browser" in refused.text
    assert keys_of(redis_url, key_prefix, "T3") == []
    assert len(slack.calls_to("oauth.v2.access")) == 1  # a bad state never reaches Slack

    # A state is spent once: the same redirect again is refused.
    with httpx.Client(base_url=app.url, timeout=10) as browser:
        started = browser.get("/slack/install")
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        cookie = {"Cookie": started.headers["set-cookie"].split(";", 1)[0]}
        assert browser.get("/slack/oauth_redirect", params={"code": slack.authorize_code(THIRD), "state": state},
                           headers=cookie).status_code == 200
        again = browser.get("/slack/oauth_redirect", params={"code": slack.authorize_code(THIRD), "state": state},
                            headers=cookie)
        assert again.status_code == 401 and "expired or was already used" in again.text


def test_each_workspace_is_answered_with_its_own_token_and_identity(start_app, slack, model, sender_for):
    slack.users.update({"UB2": "Helper Two"})  # the bot's name in the second workspace (the third's has none)
    app = distributed(start_app, slack)
    for workspace in (SECOND, THIRD):
        assert install(app.url, slack, workspace).status_code == 200
    tokens = {installed.team_id: token for token, (installed, _) in slack.tokens.items()}
    sender = sender_for(app)

    # Both workspaces at the same time.
    events = [(SECOND, mention_in(SECOND, "hello from two", "C2")), (THIRD, mention_in(THIRD, "hello from three", "C3"))]
    threads = [threading.Thread(target=send_in, args=(sender, w, e)) for w, e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slack.wait_for_answers(2)
    assert set(posts_with_token(slack, "C2")) == {tokens["T2"]}
    assert set(posts_with_token(slack, "C3")) == {tokens["T3"]}
    questions = sorted(request.last_user_text for request in model.requests)
    # Each workspace's own bot mention is what is taken out of the question.
    assert questions == [f'<from name="alice" id="U1"/>\nhello from {n}' for n in ("three", "two")]
    # The bot's name read once at install: its own in the second workspace, BOT_NAME where it has none.
    systems = {r.last_user_text.rsplit(" ", 1)[-1]: r.messages[0]["content"] for r in model.requests}
    assert "Helper Two" in systems["two"] and "Helper Two" not in systems["three"] and "Assistant" in systems["three"]

    # An event from a workspace that never installed the app is not answered.
    stranger = Installed("T9", "Nobody", "UB9", "BB9")
    send_in(sender, stranger, mention_in(stranger, "anyone?", "C9"))
    send_in(sender, SECOND, mention_in(SECOND, "still there?", "C2"))
    slack.wait_for_answers(3)
    assert posts_with_token(slack, "C9") == []


def test_org_wide_install_answers_every_workspace_of_the_org(start_app, slack, model, sender_for):
    app = distributed(start_app, slack)
    org = Installed("", "", "UORG", "BORG", enterprise_id="E1", is_enterprise_install=True)
    assert install(app.url, slack, org).status_code == 200
    [token] = [t for t, (installed, _) in slack.tokens.items() if installed.enterprise_id == "E1"]
    sender = sender_for(app)
    for team, channel in (("T5", "C5"), ("T6", "C6")):
        event = {**mention_in(org, f"hi from {team}", channel), "team": team}
        sender.send_event(event, team=team, bot_user="UORG", enterprise="E1", org_install=True)
    slack.wait_for_answers(2)
    assert posts_with_token(slack, "C5") == [token] and posts_with_token(slack, "C6") == [token]


def test_uninstall_forgets_the_workspace_and_nothing_else(start_app, slack, model, sender_for, redis_url, key_prefix):
    app = distributed(start_app, slack)
    for workspace in (SECOND, THIRD):
        install(app.url, slack, workspace)
    sender = sender_for(app)
    for workspace, channel in ((SECOND, "C2"), (THIRD, "C3")):
        send_in(sender, workspace, mention_in(workspace, "remember this", channel))
    slack.wait_for_answers(2)
    app.wait_stored(ConversationId("T2", "C2", slack.posts("C2")[0].thread_ts), 2)
    app.wait_stored(ConversationId("T3", "C3", slack.posts("C3")[0].thread_ts), 2)
    # Someone in the second workspace opened the bot's Messages tab and looks at a channel (agent view).
    send_in(sender, SECOND, {"type": "app_home_opened", "user": "U1", "channel": "D2", "tab": "messages", "event_ts": new_ts()})
    wait_until(lambda: keys_of(redis_url, key_prefix, "D2"), "the greeting marked")
    send_in(sender, SECOND, {"type": "app_context_changed", "user": "U1", "event_ts": new_ts(),
                             "context": {"entities": [{"type": "slack#/types/channel_id", "value": "C2"}]}})
    wait_until(lambda: any(k.endswith(":D2:viewing") for k in keys_of(redis_url, key_prefix, "D2")), "the view kept")
    kept_for_second = keys_of(redis_url, key_prefix, "T2")
    assert any(":conv:{T2:C2:" in k for k in kept_for_second) and any(":usage:{T2}:" in k for k in kept_for_second)
    third_before = keys_of(redis_url, key_prefix, "T3")

    slack.revoke_workspace("T2")
    send_in(sender, SECOND, {"type": "app_uninstalled", "event_ts": new_ts()})
    wait_until(lambda: not keys_of(redis_url, key_prefix, "T2"), "the workspace to be forgotten")
    assert keys_of(redis_url, key_prefix, "D2") == [], "its DMs' greeting and view too"
    assert keys_of(redis_url, key_prefix, "T3") == third_before
    audit = app.runtime.core.audit
    trail = eventually(lambda: [(e.action, e.team) for e in app.call(lambda: audit.read(action="workspace."))
                                if e.action == "workspace.uninstall"] and
                       [(e.action, e.team) for e in app.call(lambda: audit.read(action="workspace."))], "the uninstall audited")
    assert trail == [("workspace.install", "T2"), ("workspace.install", "T3"), ("workspace.uninstall", "T2")], \
        "the audit trail outlives the workspace's data"

    # After uninstalling, the workspace's events are not answered; the other's still are.
    send_in(sender, SECOND, mention_in(SECOND, "hello?", "C2"))
    send_in(sender, THIRD, mention_in(THIRD, "and you?", "C3"))
    slack.wait_for_answers(3)
    assert len(slack.posts("C2")) == 1


def test_tokens_revoked_for_the_bot_forgets_the_workspace(start_app, slack, sender_for, redis_url, key_prefix):
    app = distributed(start_app, slack)
    install(app.url, slack, SECOND)
    sender = sender_for(app)
    send_in(sender, SECOND, {"type": "tokens_revoked", "tokens": {"oauth": ["U1"]}, "event_ts": new_ts()})
    send_in(sender, SECOND, {"type": "tokens_revoked", "tokens": {"bot": ["UB2"]}, "event_ts": new_ts()})
    wait_until(lambda: not keys_of(redis_url, key_prefix, "T2"), "the workspace to be forgotten")


def test_two_processes_refresh_an_expiring_token_once(start_app, slack, model, sender_for):
    """Slack spends a refresh token once: two processes finding the token about to expire at
    the same moment must not both refresh (the second would get invalid_refresh_token)."""
    first = distributed(start_app, slack)
    second = distributed(start_app, slack)
    rotating = Installed("T4", "Rotating Co", "UB4", "BB4", expires_in=3600)  # within the 120-minute refresh window
    install(first.url, slack, rotating)
    [old_token] = [t for t, (installed, _) in slack.tokens.items() if installed.team_id == "T4"]
    slack.delays["oauth.v2.access"] = 0.5  # a slow refresh: both processes are sure to be in it at once
    events = [(first, mention_in(rotating, "one", "C41")), (second, mention_in(rotating, "two", "C42"))]
    threads = [threading.Thread(target=send_in, args=(sender_for(app), rotating, event)) for app, event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slack.wait_for_answers(2)
    refresh_calls = [c for c in slack.calls_to("oauth.v2.access") if c.params.get("grant_type") == "refresh_token"]
    assert len(refresh_calls) == 1 and slack.refreshes == 1
    [new_token] = [t for t, (installed, _) in slack.tokens.items() if installed.team_id == "T4" and t != old_token]
    assert set(posts_with_token(slack, "C41")) == {new_token} and set(posts_with_token(slack, "C42")) == {new_token}
    assert len(slack.refresh_tokens) == 1  # the new refresh token, kept for next time



def test_distributed_history_reads_keep_to_slacks_limits_and_say_so(start_app, slack, model, sender_for):
    """Outside the Marketplace: conversations.history/replies once a minute per workspace, 15 messages a call."""
    app = distributed(start_app, slack)
    install(app.url, slack, SECOND)
    slack.history["C2"] = [{"type": "message", "user": "U2", "text": f"note {n}", "ts": f"1700000{n:03d}.000001"}
                           for n in range(40)]
    sender = sender_for(app)
    sender.send_command("/summarize", "30", response_url=slack.response_url("first"), channel="C2", team="T2")
    slack.wait_for_response("first")
    [call] = slack.calls_to("conversations.history")
    assert int(call.params["limit"]) == 15
    text = model.requests[0].last_user_text
    assert "the last 15 messages of the channel (Slack lets this app read at most 15 messages at a time)" in text
    assert len([line for line in text.splitlines() if line.startswith("[")]) == 15

    sender.send_command("/summarize", "10", response_url=slack.response_url("second"), channel="C2", team="T2")
    [reply] = slack.wait_for_response("second")
    assert "once a minute" in reply["text"] and len(slack.calls_to("conversations.history")) == 1
    assert len(model.requests) == 1

    # Threads the bot joins late: the first one's earlier messages are read (15 at most); the second
    # one's are not read this minute (its budget is taken), and it is answered all the same.
    for n in (1, 2):
        root = new_ts()
        slack.threads[("C2", root)] = [{"type": "message", "user": "U2", "text": f"earlier {n}", "ts": root}]
        send_in(sender, SECOND, {**mention_in(SECOND, f"what did I miss {n}?", "C2"), "thread_ts": root})
        slack.wait_for_answers(n)
    [read] = slack.calls_to("conversations.replies")
    assert int(read.params["limit"]) <= 15
    assert "earlier 1" in str(model.requests[1].messages) and "earlier 2" not in str(model.requests[2].messages)

"""Built-in tools (no MCP server), the tools overview, and prompt files that declare tools."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .fakes.openai_api import Scripted
from .harness import SlackSender, message
from .test_e2e_management import manage
from .test_e2e_tools import McpHttpServer, ask, write_config

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


def test_current_time_is_in_the_askers_time_zone(start_app, slack, model):
    slack.timezones["U1"] = "Asia/Tokyo"
    app = start_app(DEFAULT_TOOLS="current_time")
    model.enqueue(Scripted(tool_calls=[("current_time", "{}")]), Scripted(text="It is late."))
    ask(app, "what time is it?")
    slack.wait_for_answers(1, final=lambda t: t == "It is late.")
    result = model.wait_for_requests(2)[1].tool_results[0]["content"]
    assert "(Asia/Tokyo, UTC+0900)" in result


def test_a_slack_link_is_read_only_when_the_asker_can_read_it(start_app, slack, model):
    slack.channels.update({"C300": "secret-plans"})
    slack.private.add("C300")
    slack.members["C300"] = {"U2"}
    slack.threads[("C200", "1700000000.000100")] = [
        {"type": "message", "ts": "1700000000.000100", "user": "U2", "text": "launch is friday"},
        {"type": "message", "ts": "1700000001.000100", "user": "U3", "text": "agreed", "thread_ts": "1700000000.000100"},
    ]
    app = start_app(DEFAULT_TOOLS="read_slack_link")
    model.enqueue(
        Scripted(tool_calls=[("read_slack_link", json.dumps({"url": "https://example.slack.com/archives/C200/p1700000000000100"})),
                             ("read_slack_link", json.dumps({"url": "https://example.slack.com/archives/C300/p1700000000000200"}))]),
        Scripted(text="Read."))
    ask(app, "what did they decide?")
    slack.wait_for_answers(1, final=lambda t: t == "Read.")
    public, private = model.wait_for_requests(2)[1].tool_results
    assert "bob: launch is friday" in public["content"] and "carol: agreed" in public["content"]
    assert private["content"] == "Error: the person asking cannot read that conversation, so it is not shown."
    assert not any(c.params.get("channel") == "C300" for c in slack.calls_to("conversations.replies"))


def test_search_uses_the_events_action_token(start_app, slack, model):
    slack.search_results = [{"author_name": "bob", "channel_id": "C100", "channel_name": "general", "content": "the budget is 10k",
                             "permalink": "https://example.slack.com/archives/C100/p1"}]
    app = start_app(DEFAULT_TOOLS="search_workspace", TOOL_SEARCH_WORKSPACE="true", SLACK_STREAMING="off")
    model.enqueue(Scripted(tool_calls=[("search_workspace", '{"query": "budget"}')]), Scripted(text="10k."),
                  Scripted(tool_calls=[("search_workspace", '{"query": "budget"}')]), Scripted(text="No token."))
    sender = SlackSender(app.url)
    try:
        event = message("what is the budget?", channel="D100", channel_type="im", action_token="at-123")
        sender.send_event(event)
        slack.wait_for_answers(1, final=lambda t: t == "10k.")
        sender.send_event(message("again?", channel="D100", channel_type="im"))
        slack.wait_for_answers(2, final=lambda t: t in ("10k.", "No token."))
    finally:
        sender.close()
    requests = model.wait_for_requests(4)
    assert requests[1].tool_results[0]["content"] == "[#general] bob: the budget is 10k"
    assert [c.params.get("action_token") for c in slack.calls_to("assistant.search.context")] == ["at-123"]
    assert requests[3].tool_results[-1]["content"].startswith("Error: search works only on a message")


def test_tools_overview_names_servers_their_state_and_tools(start_app, slack, model, tmp_path):
    orders = McpHttpServer("orders").start()
    try:
        config = write_config(tmp_path, {"orders": {"url": orders.url}, "gone": {"url": "http://127.0.0.1:9/mcp"}})
        app = start_app(MCP_CONFIG=config, DEFAULT_TOOLS="orders:*")
        sender = SlackSender(app.url)
        try:
            text = manage(sender, slack, "tools")
            sender.send_event({"type": "app_home_opened", "user": "U1", "channel": "D100", "tab": "home",
                               "event_ts": "1.1"})
            slack.wait_for(lambda s: "U1" in s.home_views)
        finally:
            sender.close()
    finally:
        orders.stop()
    assert "• Built-in: `current_time`, `read_slack_link`" in text
    assert "*orders* (http, connected): `lookup_order`" in text and "`delete_order` (asks first)" in text
    assert "*gone* (http, down: ConnectError)" in text
    assert "`orders:lookup_order`" in text.splitlines()[-1]
    assert "*orders* (http, connected)" in json.dumps(slack.home_views["U1"])


def test_a_prompt_file_can_give_a_slash_command_tools(start_app, slack, model, tmp_path):
    prompts = tmp_path / "prompts"
    shutil.copytree(PROMPTS, prompts)
    (prompts / "clock.md").write_text(
        "---\nname: clock\nversion: 1\ncommand: /clock\ndescription: Tell the time\ntools: [current_time]\n---\n"
        "What time is it for me?\n")
    app = start_app(PROMPTS_DIR=str(prompts))
    model.enqueue(Scripted(tool_calls=[("current_time", "{}")]), Scripted(text="Noon."))
    sender = SlackSender(app.url)
    try:
        assert sender.send_command("/clock", "", response_url=slack.response_url("clock")).status_code == 200
        slack.wait_for(lambda s: any(r.get("text") == "Noon." for r in s.responses.get("clock", [])))
    finally:
        sender.close()
    first, second = model.wait_for_requests(2)
    assert first.tool_names == ["current_time"]
    assert second.tool_results[0]["content"].endswith("(UTC, UTC+0000)")
    # A mention without DEFAULT_TOOLS offers no tools.
    ask(app, "hello")
    slack.wait_for_answers(1, final=lambda t: t.startswith("Answer to"))
    assert "tools" not in model.wait_for_requests(3)[2].body

"""Tools end to end: a real MCP server (the SDK's, over streamable HTTP and stdio), the
fake model asking for calls as OpenAI streams them, the app over HTTP, real Redis."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from bot.memory.conversation import ConversationId

from .fakes.mcp_tools import McpHttpServer
from .fakes.openai_api import Scripted
from .fakes.slack_api import TEAM_ID
from .harness import SlackSender, eventually, mention, new_ts
from .test_e2e_management import manage


@pytest.fixture
def orders():
    server = McpHttpServer("orders").start()
    yield server
    server.stop()


def write_config(tmp_path: Path, servers: dict) -> str:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return str(path)


@pytest.fixture
def tool_app(orders, start_app, tmp_path, monkeypatch):  # the app stops before its MCP server
    monkeypatch.setenv("ORDERS_TOKEN", "secret-orders-token")

    def start(**overrides):
        config = write_config(tmp_path, {"orders": {"url": orders.url,
                                                    "headers": {"Authorization": "Bearer ${ORDERS_TOKEN}"}}})
        values = {"MCP_CONFIG": config, "DEFAULT_TOOLS": "orders:*,current_time", **overrides}
        return start_app(**values)

    return start


def ask(app, text: str, thread_ts: str | None = None) -> dict:
    sender = SlackSender(app.url)
    try:
        event = mention(text, thread_ts=thread_ts)
        assert sender.send_event(event).status_code == 200
        return event
    finally:
        sender.close()


def test_a_tool_call_runs_on_the_mcp_server_and_the_model_answers_with_its_result(tool_app, orders, slack, model):
    app = tool_app()
    model.enqueue(Scripted(tool_calls=[("orders__lookup_order", '{"order_id": "A-1"}')]),
                  Scripted(text="Order A-1 shipped on 20 November."))
    event = ask(app, "where is order A-1?")
    answers = slack.wait_for_answers(1, final=lambda t: "shipped" in t)
    assert answers[0].text == "Order A-1 shipped on 20 November."
    first, second = model.wait_for_requests(2)
    assert "orders__lookup_order" in first.tool_names and "current_time" in first.tool_names
    assert "tool_choice" not in first.body
    call = second.messages[-2]
    assert call["role"] == "assistant" and call["tool_calls"][0]["function"] == {
        "name": "orders__lookup_order", "arguments": '{"order_id": "A-1"}'}
    result = second.messages[-1]
    assert result == {"role": "tool", "tool_call_id": call["tool_calls"][0]["id"],
                      "content": "Order A-1: shipped on 2026-11-20.\n[order A-1](https://orders.example.com/A-1)"}
    assert orders.calls == ["lookup_order:A-1"]
    assert any(h.get("authorization") == "Bearer secret-orders-token" for h in orders.headers_seen)

    # The call and its result are part of the conversation: a follow-up sees them.
    cid = ConversationId(TEAM_ID, "C100", event["ts"])
    turns = app.wait_stored(cid, 4)
    assert [t.role for t in turns] == ["user", "assistant", "tool", "assistant"]
    assert turns[1].tool_calls[0].name == "orders__lookup_order" and turns[1].tokens > 4
    ask(app, "and when will it arrive?", thread_ts=event["ts"])
    follow_up = model.wait_for_requests(3)[2]
    assert [m["role"] for m in follow_up.dialogue] == ["user", "assistant", "tool", "assistant", "user"]
    assert follow_up.dialogue[2]["content"].startswith("Order A-1: shipped")


def test_parallel_calls_several_rounds_and_bad_calls_get_error_results(tool_app, orders, slack, model):
    app = tool_app()
    model.enqueue(
        Scripted(tool_calls=[("orders__lookup_order", '{"order_id": "A-1"}'),
                             ("orders__lookup_order", '{"order_id": "A-2"}')]),
        Scripted(tool_calls=[("orders__nope", "{}"), ("orders__lookup_order", '{"order_id": ')]),
        Scripted(tool_calls=[("orders__broken", "{}")]),
        Scripted(text="Done."),
    )
    ask(app, "status of my orders?")
    slack.wait_for_answers(1, final=lambda t: t == "Done.")
    requests = model.wait_for_requests(4)
    second, third, fourth = requests[1], requests[2], requests[3]
    assert sorted(orders.calls[:2]) == ["lookup_order:A-1", "lookup_order:A-2"]
    assert [r["content"].split(".")[0] for r in second.tool_results] == ["Order A-1: shipped on 2026-11-20",
                                                                       "Order A-2: waiting for payment"]
    bad = third.tool_results[-2:]
    assert bad[0]["content"] == "Error: there is no tool named 'orders__nope'."
    assert bad[1]["content"].startswith("Error: the arguments are not valid JSON")
    failed = fourth.tool_results[-1]["content"]
    assert failed.startswith("Error:") and "hunter2" not in failed
    shown = " ".join(t for m in slack.messages.values() for t in m.history)
    assert "hunter2" not in shown


def test_parallel_calls_run_at_the_same_time(tool_app, orders, slack, model):
    app = tool_app()
    model.enqueue(Scripted(tool_calls=[("orders__meet", '{"who": "a"}'), ("orders__meet", '{"who": "b"}')]),
                  Scripted(text="Met."))
    ask(app, "meet")
    slack.wait_for_answers(1, final=lambda t: t == "Met.")
    results = sorted(r["content"] for r in model.wait_for_requests(2)[1].tool_results)
    assert results == ["a met someone", "b met someone"]  # each waited for the other: both ran at once


def test_rounds_timeout_and_result_size_are_limited(tool_app, orders, slack, model):
    app = tool_app(MAX_TOOL_ROUNDS=2, TOOL_TIMEOUT_SECONDS=0.5, MAX_TOOL_RESULT_TOKENS=100)
    model.enqueue(Scripted(tool_calls=[("orders__slow", '{"seconds": 5}')]),
                  Scripted(tool_calls=[("orders__long_report", "{}")]),
                  Scripted(tool_calls=[("orders__long_report", "{}")], text="Here is what I found."))
    ask(app, "go")
    answers = slack.wait_for_answers(1, final=lambda t: "found" in t)
    assert answers[0].text == "Here is what I found."
    first, second, third = model.wait_for_requests(3)
    assert second.tool_results[0]["content"] == "Error: the tool did not answer within 0.5 seconds."
    report = third.tool_results[-1]["content"]
    assert "[… tool result shortened …]" in report and report.startswith("line 0:") and len(report) < 1000
    assert third.body["tool_choice"] == "none"  # the last round allowed: it must answer in text
    assert orders.calls.count("long_report") == 1  # the calls asked for past the limit were not run


def test_a_server_that_is_down_is_left_out_and_the_bot_still_answers(start_app, slack, model, tmp_path):
    config = write_config(tmp_path, {"gone": {"url": "http://127.0.0.1:9/mcp"}})
    app = start_app(MCP_CONFIG=config, DEFAULT_TOOLS="gone:*")
    ask(app, "hello")
    slack.wait_for_answers(1, final=lambda t: t.startswith("Answer to"))
    request = model.wait_for_requests(1)[0]
    assert "tools" not in request.body
    server = app.runtime.core.mcp_servers[0]
    assert server.state == "down" and server.problem


def test_a_stdio_server_works_and_tools_are_listed_once(start_app, slack, model, tmp_path):
    root = Path(__file__).resolve().parent.parent
    config = write_config(tmp_path, {"local": {"command": sys.executable, "args": ["-m", "tests.fakes.mcp_tools", "local"],
                                               "env": {"PYTHONPATH": str(root)}, "tools": ["lookup_order"]}})
    app = start_app(MCP_CONFIG=config, DEFAULT_TOOLS="local:*")
    for n in range(3):
        model.enqueue(Scripted(tool_calls=[("local__lookup_order", '{"order_id": "A-2"}')]), Scripted(text=f"Answer {n}"))
        ask(app, f"question {n}")
        slack.wait_for_answers(n + 1, final=lambda t: t.startswith("Answer "))
    requests = model.wait_for_requests(6)
    assert requests[0].tool_names == ["local__lookup_order"]  # the allowlist
    assert requests[1].tool_results[0]["content"].startswith("Order A-2: waiting for payment")
    assert app.runtime.core.mcp_servers[0].list_calls == 1  # listed at start-up, never per answer


def test_tool_progress_is_shown_as_a_status_and_as_task_chunks(tool_app, orders, slack, model):
    app = tool_app(SLACK_STREAMING="native")
    model.enqueue(Scripted(tool_calls=[("orders__lookup_order", '{"order_id": "A-1"}'),
                                       ("orders__lookup_order", '{"order_id": "A-2"}')]),
                  Scripted(text="Both found."))
    root = new_ts()
    ask(app, "orders please", thread_ts=root)
    slack.wait_for(lambda s: any(not m.streaming and "Both found." in m.text for m in s.messages.values()))
    streamed = next(m for m in slack.messages.values() if "Both found." in m.text)
    tasks = [c for c in streamed.chunks if c["type"] == "task_update"]
    assert streamed.task_display_mode == "plan"
    assert {c["status"] for c in tasks} >= {"in_progress", "complete"}
    done = [c for c in tasks if c["status"] == "complete"]
    assert {c["title"] for c in done} == {"Looking up an order"}
    assert {s["url"] for c in done for s in c.get("sources", [])} == {"https://orders.example.com/A-1",
                                                                      "https://orders.example.com/A-2"}
    statuses = [c.params.get("status") for c in slack.calls_to("assistant.threads.setStatus")]
    assert statuses[0] == "is thinking…"


def test_the_thinking_status_names_the_running_tool(tool_app, orders, slack, model):
    app = tool_app(SLACK_STREAMING="off")
    model.enqueue(Scripted(tool_calls=[("orders__lookup_order", '{"order_id": "A-1"}')]), Scripted(text="Found."))
    ask(app, "order A-1", thread_ts=new_ts())
    slack.wait_for_answers(1, final=lambda t: t == "Found.")
    statuses = [c.params.get("status") for c in slack.calls_to("assistant.threads.setStatus")]
    assert statuses[:2] == ["is thinking…", "is looking up an order…"]


def test_a_status_line_shows_under_text_already_written(tool_app, orders, slack, model):
    app = tool_app(SLACK_STREAMING="off")
    model.enqueue(Scripted(text="Let me check that order.", tool_calls=[("orders__slow", '{"seconds": 0.3}')]),
                  Scripted(text="It is on its way."))
    ask(app, "order?")
    answer = slack.wait_for_answers(1, final=lambda t: "on its way" in t)[0]
    assert answer.text == "Let me check that order.\n\nIt is on its way."
    assert any(h.endswith("_Slow…_") for h in answer.history)


def approval_prompt(slack, count: int = 1):
    """The private approval prompt (chat.postEphemeral) as a message a button can be pressed on."""
    from .fakes.slack_api import PostedMessage

    slack.wait_for(lambda s: len([e for e in s.ephemeral if "tool_approve" in json.dumps(e.get("blocks"))]) >= count)
    prompt = [e for e in slack.ephemeral if "tool_approve" in json.dumps(e.get("blocks"))][count - 1]
    blocks = prompt["blocks"] if isinstance(prompt["blocks"], list) else json.loads(prompt["blocks"])
    return prompt, PostedMessage(prompt["channel"], "1.000001", prompt.get("thread_ts"), prompt["text"], blocks=blocks)


def test_a_destructive_tool_runs_only_after_the_asker_approves(tool_app, orders, slack, model):
    app = tool_app()
    model.enqueue(Scripted(tool_calls=[("orders__delete_order", '{"order_id": "A-9"}')]), Scripted(text="Deleted."))
    ask(app, "delete order A-9")
    prompt, message = approval_prompt(slack)
    assert prompt["user"] == "U1" and "delete_order" in json.dumps(prompt["blocks"]) and "A-9" in json.dumps(prompt["blocks"])
    assert orders.calls == []  # nothing runs before the approval
    sender = SlackSender(app.url)
    try:
        sender.send_action("tool_approve", message, response_url=slack.response_url("approve"), user="U1")
    finally:
        sender.close()
    slack.wait_for_answers(1, final=lambda t: t == "Deleted.")
    assert orders.calls == ["delete_order:A-9"]
    assert slack.wait_for_response("approve")[0]["text"].startswith("Approved")
    assert model.wait_for_requests(2)[1].tool_results[0]["content"] == "Order A-9 deleted."
    audit = app.runtime.core.audit
    entries = eventually(lambda: [e for e in app.call(lambda: audit.read(action="tool.")) if e.action == "tool.call"] and
                         app.call(lambda: audit.read(action="tool.")), "the call to be audited")
    approval, call = entries
    assert (approval.action, approval.user, approval.details["tool"], approval.details["decision"]) == \
        ("tool.approval", "U1", "orders:delete_order", "approved")
    assert (call.action, call.details["server"], call.details["outcome"]) == ("tool.call", "orders", "ok")
    assert call.details["arguments"] == approval.details["arguments"] and "A-9" not in str(call), "a hash, not the arguments"


def test_nobody_else_can_approve_and_deny_tells_the_model(tool_app, orders, slack, model):
    app = tool_app()
    model.enqueue(Scripted(tool_calls=[("orders__delete_order", '{"order_id": "A-1"}')]), Scripted(text="Not deleted."))
    ask(app, "delete order A-1")
    _, message = approval_prompt(slack)
    sender = SlackSender(app.url)
    try:
        sender.send_action("tool_approve", message, response_url=slack.response_url("other"), user="U2")
        assert slack.wait_for_response("other")[0]["text"] == "Only the person who asked can approve or deny this."
        sender.send_action("tool_deny", message, response_url=slack.response_url("deny"), user="U1")
    finally:
        sender.close()
    slack.wait_for_answers(1, final=lambda t: t == "Not deleted.")
    assert model.wait_for_requests(2)[1].tool_results[0]["content"] == "Error: denied by the user."
    assert orders.calls == []


def test_no_answer_to_an_approval_in_time_says_it_timed_out(start_app, orders, slack, model, tmp_path):
    config = write_config(tmp_path, {"orders": {"url": orders.url, "confirm": ["lookup_order"]}})
    app = start_app(MCP_CONFIG=config, DEFAULT_TOOLS="orders:lookup_order", TOOL_APPROVAL_SECONDS=0.5)
    model.enqueue(Scripted(tool_calls=[("orders__lookup_order", '{"order_id": "A-1"}')]), Scripted(text="No answer."))
    ask(app, "order A-1?")
    approval_prompt(slack)
    slack.wait_for_answers(1, final=lambda t: t == "No answer.")
    assert model.wait_for_requests(2)[1].tool_results[0]["content"] == \
        "Error: the user did not answer the approval request in time, so it did not run."
    assert orders.calls == []


def test_the_approval_prompt_shows_every_argument_in_full_and_literally(tool_app, orders, slack, model):
    app = tool_app(TOOL_APPROVAL_SECONDS=1)
    sneaky = {"order_id": "A-7" + " " * 3000 + "```\n*Approve me* <!channel> &amp;", "to_account": "attacker"}
    model.enqueue(Scripted(tool_calls=[("orders__delete_order", json.dumps(sneaky))]), Scripted(text="Asked."),
                  Scripted(tool_calls=[("orders__delete_order", json.dumps({"order_id": "x" * 20_000}))]),
                  Scripted(text="Too long."))
    ask(app, "delete order A-7")
    prompt, _ = approval_prompt(slack)
    literal = [element["text"] for block in prompt["blocks"] if block["type"] == "rich_text"
               for part in block["elements"] for element in part["elements"]]
    shown = "".join(literal)
    assert json.dumps(sneaky["order_id"]) in shown and 'to_account: "attacker"' in shown  # nothing cut, nothing hidden
    assert "2 arguments" in json.dumps(prompt["blocks"])
    slack.wait_for_answers(1, final=lambda t: t == "Asked.")  # not approved in time
    # Arguments too long for one message are never cut: the call is refused and the model told why.
    ask(app, "delete a huge order")
    slack.wait_for_answers(2, final=lambda t: t in ("Asked.", "Too long."))
    assert model.wait_for_requests(4)[3].tool_results[0]["content"].startswith("Error: the arguments are too long to show")
    assert len([e for e in slack.ephemeral if "tool_approve" in json.dumps(e.get("blocks"))]) == 1
    assert orders.calls == []


def test_regenerating_a_tool_answer_replaces_its_tool_rounds_too(tool_app, orders, slack, model):
    app = tool_app()
    model.enqueue(Scripted(tool_calls=[("orders__lookup_order", '{"order_id": "A-1"}')]), Scripted(text="First."),
                  Scripted(tool_calls=[("orders__lookup_order", '{"order_id": "A-2"}')]), Scripted(text="Second."))
    event = ask(app, "which order?")
    [answer] = slack.wait_for_answers(1, final=lambda t: t == "First.")
    sender = SlackSender(app.url)
    try:
        sender.send_action("regenerate_answer", answer, response_url=slack.response_url("g"))
    finally:
        sender.close()
    slack.wait_for(lambda s: s.messages[(answer.channel, answer.ts)].text == "Second.")
    requests = model.wait_for_requests(4)
    assert requests[2].dialogue == requests[0].dialogue  # the question again, without the first answer's rounds
    cid = ConversationId(TEAM_ID, "C100", event["ts"])
    deadline = time.monotonic() + 10
    while (turns := app.stored(cid)) and turns[-1].content != "Second.":  # the commit follows the final update
        assert time.monotonic() < deadline, "the regenerated answer was not stored"
        time.sleep(0.02)
    assert [t.role for t in turns] == ["user", "assistant", "tool", "assistant"]
    assert turns[2].content.startswith("Order A-2") and turns[3].content == "Second."


def test_a_channel_narrows_the_tools_offered_and_a_call_to_another_is_refused(tool_app, orders, slack, model):
    slack.creators["C100"] = "U1"
    app = tool_app()
    sender = SlackSender(app.url)
    try:
        unknown = manage(sender, slack, "config set tools orders:lookup_order, payroll:*")
        assert unknown.startswith("`payroll:*`: not among the tools offered here") and "`orders:lookup_order`" in unknown
        assert manage(sender, slack, "config set tools orders:lookup_order").startswith("`tools` set")
        model.enqueue(Scripted(tool_calls=[("orders__delete_order", '{"order_id": "A-1"}')]), Scripted(text="Done."))
        sender.send_event(mention("delete A-1"))
        slack.wait_for_answers(1)
        assert model.requests[0].tool_names == ["orders__lookup_order"], "only the channel's tools are offered"
        [result] = model.requests[1].tool_results
        assert result["content"] == "Error: there is no tool named 'orders__delete_order'.", "never run"
        assert manage(sender, slack, "config set tools none").startswith("`tools` set")
        sender.send_event(mention("anything?", channel="C100"))
        slack.wait_for_answers(2)
        assert model.requests[-1].tool_names == []
        sender.send_event(mention("elsewhere", channel="C200"))
        slack.wait_for_answers(3)
        assert "orders__delete_order" in model.requests[-1].tool_names, "other channels keep the deployment's"
    finally:
        sender.close()

"""Canvases end to end (TOOL_WRITE_CANVAS): the write_canvas tool, with the asker's approval,
writes a new canvas for the conversation's audience, the channel's own canvas, or a section
of a canvas named by link (only where everyone who can read it could read the conversation);
/summarize … to canvas writes the summary there too."""

from __future__ import annotations

import json

from .fakes.openai_api import Scripted
from .harness import SlackSender, mention
from .test_e2e_tools import approval_prompt


def start(start_app, slack, **overrides):
    slack.granted_scopes.append("canvases:write")
    return start_app(TOOL_WRITE_CANVAS="true", DEFAULT_TOOLS="write_canvas", **overrides)


def approve(app, slack, name: str = "approve") -> None:
    _, message = approval_prompt(slack)
    sender = SlackSender(app.url)
    try:
        sender.send_action("tool_approve", message, response_url=slack.response_url(name), user="U1")
    finally:
        sender.close()


def call(arguments: dict) -> Scripted:
    return Scripted(tool_calls=[("write_canvas", json.dumps(arguments))])


def test_a_new_canvas_is_written_after_approval_for_the_channel_and_the_answer_links_it(start_app, slack, model):
    app = start(start_app, slack)
    model.enqueue(call({"title": "Launch plan", "markdown": "# Launch\n- ship on Friday"}), Scripted(text="Done."))
    sender = SlackSender(app.url)
    try:
        sender.send_event(mention("write our plan to a canvas"))
        prompt, _ = approval_prompt(slack)
        assert "Launch plan" in json.dumps(prompt["blocks"]) and slack.canvases.canvases == {}, "nothing before approval"
        approve(app, slack)
        slack.wait_for_answers(1, final=lambda t: t == "Done.")
    finally:
        sender.close()
    [canvas] = slack.canvases.canvases.values()
    assert (canvas.title, canvas.markdown) == ("Launch plan", "# Launch\n- ship on Friday")
    assert canvas.readers == {"U1": "write", "C100": "read"}, "the asker writes, the channel reads, nobody else"
    result = model.wait_for_requests(2)[1].tool_results[0]["content"]
    assert result == f"Written to the canvas “Launch plan”: {slack.canvases.link(canvas.id)}"


def test_the_channels_own_canvas_is_created_then_added_to(start_app, slack, model):
    app = start(start_app, slack)
    slack.channels["C100"] = "general"
    model.enqueue(call({"title": "Week 1", "markdown": "first", "target": "channel"}), Scripted(text="One."),
                  call({"title": "Week 2", "markdown": "second", "target": "channel"}), Scripted(text="Two."))
    sender = SlackSender(app.url)
    try:
        sender.send_event(mention("note week 1"))
        approve(app, slack, "a1")
        slack.wait_for_answers(1, final=lambda t: t == "One.")
        sender.send_event(mention("note week 2"))
        _, message = approval_prompt(slack, count=2)
        sender.send_action("tool_approve", message, response_url=slack.response_url("a2"), user="U1")
        slack.wait_for_answers(2, final=lambda t: t in ("One.", "Two."))
    finally:
        sender.close()
    canvas = slack.canvases.of_channel("C100")
    assert canvas is not None and canvas.markdown == "first\n\n## Week 2\n\nsecond"
    assert len(slack.canvases.canvases) == 1


def test_a_named_canvas_is_written_only_where_its_readers_could_read_this_conversation(start_app, slack, model):
    app = start(start_app, slack)
    slack.channels.update({"C100": "general", "G500": "secret-project", "C300": "random"})
    slack.private.add("G500")
    slack.members["G500"] = {"U1", "UBOT"}
    public = slack.canvases.add("Team notes", "old", owner="U2", shared_in=("C300",))
    model.enqueue(call({"title": "From secret", "markdown": "the secret plan", "target": "link",
                        "link": slack.canvases.link(public)}), Scripted(text="Refused."),
                  call({"title": "From general", "markdown": "public news", "target": "link",
                        "link": slack.canvases.link(public)}), Scripted(text="Added."))
    sender = SlackSender(app.url)
    try:
        sender.send_event(mention("copy this to the team notes", channel="G500"))
        approve(app, slack, "a1")
        slack.wait_for_answers(1, final=lambda t: t == "Refused.")
        assert "shared where people could not read this conversation" in model.requests[1].tool_results[0]["content"]
        assert slack.canvases.canvases[public].markdown == "old", "a private channel's words never reach #random's canvas"
        sender.send_event(mention("copy this to the team notes", channel="C100"))
        _, message = approval_prompt(slack, count=2)
        sender.send_action("tool_approve", message, response_url=slack.response_url("a2"), user="U1")
        slack.wait_for_answers(2, final=lambda t: t in ("Refused.", "Added."))
    finally:
        sender.close()
    assert slack.canvases.canvases[public].markdown == "old\n\n## From general\n\npublic news"


def test_summarize_to_canvas_writes_the_summary_for_the_asker_alone(start_app, slack, model):
    app = start(start_app, slack)
    slack.history["C100"] = [{"type": "message", "user": "U2", "text": "we ship on Friday", "ts": "1600000000.000100"}]
    sender = SlackSender(app.url)
    try:
        sender.send_command("/summarize", "20 to canvas", response_url=slack.response_url("s"))
        reply = slack.wait_for(lambda s: next((b for b in s.responses.get("s", []) if "canvas" in b.get("text", "")), None))
    finally:
        sender.close()
    [canvas] = slack.canvases.canvases.values()
    assert canvas.title.startswith("/summarize 20 (") and canvas.markdown.startswith("Answer to")
    assert canvas.readers == {"U1": "write"}, "a private command's summary: the asker's canvas"
    assert slack.canvases.link(canvas.id) in reply["text"]
    assert "we ship on Friday" in model.requests[0].last_user_text


def test_without_the_setting_there_is_no_canvas_tool_and_to_canvas_says_so(app, sender, slack, model):
    reply = sender.send_command("/summarize", "to canvas", response_url=slack.response_url("s")).json()
    assert reply["text"] == "Writing to a canvas is not switched on here (the operator's TOOL_WRITE_CANVAS)."
    assert model.requests == []

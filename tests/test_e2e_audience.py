"""Nothing read for one audience is shown to another: content read from Slack reaches the
model only when everyone who will see the answer can already see its source.  Each
surface (a channel thread, the asker's DM, the source itself, a shared channel, a guest,
a slash command) × each kind of source (public channel, private channel, group DM)."""

from __future__ import annotations

import json

import pytest

from .fakes.openai_api import Scripted
from .harness import SlackSender, mention, message

CANNOT_READ = "Error: the person asking cannot read that conversation, so it is not shown."
PUBLIC, PRIVATE, GROUP = "C200", "C300", "G400"
THREAD = "1700000000.000100"


@pytest.fixture
def sources(slack):
    slack.channels.update({PRIVATE: "secret-plans", GROUP: "mpdm-alice--bob-1", "C500": "partners", "D100": "U1"})
    slack.private.update({PRIVATE, GROUP})
    slack.members.update({PRIVATE: {"U1", "U2"}, GROUP: {"U1", "U2"}, "D100": {"U1"}, PUBLIC: {"U2", "U3"}})
    slack.shared_out.add("C500")
    for channel in (PUBLIC, PRIVATE, GROUP):
        slack.threads[(channel, THREAD)] = [
            {"type": "message", "ts": THREAD, "user": "U2", "text": f"the secret of {channel} is 42"}]
    return slack


def link(channel: str) -> str:
    return f"https://example.slack.com/archives/{channel}/p{THREAD.replace('.', '')}"


def tool_result(app, slack, model, event: dict, channel: str) -> str:
    model.enqueue(Scripted(tool_calls=[("read_slack_link", json.dumps({"url": link(channel)}))]), Scripted(text="Done."))
    sender = SlackSender(app.url)
    try:
        assert sender.send_event(event).status_code == 200
    finally:
        sender.close()
    slack.wait_for_answers(1, final=lambda t: t == "Done.")
    return model.wait_for_requests(2)[1].tool_results[0]["content"]


def not_here(name: str) -> str:
    return f"I can't bring content from {name} into this conversation: ask me in a DM."


@pytest.mark.parametrize("source, where, expected", [
    (PUBLIC, mention("what was said?", channel="C100"), "the secret of C200"),  # a full member, an internal channel
    (PRIVATE, mention("what was said?", channel="C100"), not_here("#secret-plans")),  # a private one into a public thread
    (GROUP, mention("what was said?", channel="C100"), not_here("a group DM")),
    (PRIVATE, mention("what was said?", channel=PRIVATE), "the secret of C300"),  # into the same conversation
    (PRIVATE, message("what was said?", channel="D100", channel_type="im"), "the secret of C300"),  # the asker's DM
    (GROUP, message("what was said?", channel="D100", channel_type="im"), "the secret of G400"),
    (PUBLIC, mention("what was said?", channel="C500"), not_here("#random")),  # into a Slack Connect channel
])
def test_each_source_kind_on_each_surface(start_app, sources, model, source, where, expected):
    app = start_app(DEFAULT_TOOLS="read_slack_link")
    result = tool_result(app, sources, model, where, source)
    assert expected in result
    if "secret" not in expected:
        assert not any(c.params.get("channel") == source for c in sources.calls_to("conversations.replies"))


@pytest.mark.parametrize("flags", [{"is_restricted": True}, {"is_ultra_restricted": True},
                                   {"is_stranger": True, "team_id": "TOTHER"}])
def test_guests_and_other_organisations_read_public_channels_only_as_members(start_app, sources, model, flags):
    sources.user_flags["U1"] = flags
    app = start_app(DEFAULT_TOOLS="read_slack_link")
    assert tool_result(app, sources, model, message("and there?", channel="D100", channel_type="im"), PUBLIC) \
        == CANNOT_READ  # not a member of #random
    sources.members[PUBLIC].add("U1")
    model.requests.clear()
    sources.messages.clear()
    # A member of it, but a guest: not into a channel where others would read it.
    assert tool_result(app, sources, model, mention("and here?", channel="C100"), PUBLIC) == not_here("#random")


def test_search_results_from_conversations_the_audience_cannot_see_are_left_out(start_app, sources, model):
    sources.search_results = [
        {"author_name": "bob", "channel_id": "C100", "channel_name": "general", "content": "budget is 10k"},
        {"author_name": "bob", "channel_id": PRIVATE, "channel_name": "secret-plans", "content": "budget is secret"},
    ]
    app = start_app(DEFAULT_TOOLS="search_workspace", TOOL_SEARCH_WORKSPACE="true")
    model.enqueue(Scripted(tool_calls=[("search_workspace", '{"query": "budget"}')]), Scripted(text="Done."))
    sender = SlackSender(app.url)
    try:
        sender.send_event({**mention("budget?", channel="C100"), "action_token": "at-1"})
    finally:
        sender.close()
    sources.wait_for_answers(1, final=lambda t: t == "Done.")
    result = model.wait_for_requests(2)[1].tool_results[0]["content"]
    assert "budget is 10k" in result and "secret" not in result.replace("secret-plans", "")
    assert "(1 result from conversations that can't be shown in this conversation were left out" in result


def test_summarize_of_a_public_channel_is_refused_to_a_guest_who_is_not_in_it(start_app, sources, model):
    sources.user_flags["U1"] = {"is_restricted": True}
    app = start_app()
    sender = SlackSender(app.url)
    try:
        sender.send_command("/summarize", link(PUBLIC), response_url=sources.response_url("g"))
    finally:
        sender.close()
    sources.wait_for(lambda s: any("private" in r.get("text", "") or "member" in r.get("text", "")
                                   for r in s.responses.get("g", [])))
    assert not model.requests

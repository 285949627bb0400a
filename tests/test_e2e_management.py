"""The management command: help, reset, persona, usage, model."""

from __future__ import annotations

import time

from bot.memory.conversation import ConversationId

from .fakes.slack_api import TEAM_ID
from .harness import SlackSender, mention, message, said


def manage(sender: SlackSender, slack, text: str, user: str = "U1", channel: str = "C100") -> str:
    response = sender.send_command("/assistant", text, user=user, channel=channel, response_url=slack.response_url("m"))
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return body["text"]


def test_help_lists_every_command_from_the_prompt_files(app, sender, slack):
    text = manage(sender, slack, "help")
    for command in ("/ask", "/summarize", "/translate", "/rewrite", "/assistant reset", "/assistant persona"):
        assert command in text
    assert manage(sender, slack, "") == text
    assert manage(sender, slack, "dance").startswith("I don't know `dance`.")


def test_persona_needs_the_channel_creator_or_an_admin(start_app, slack, model):
    slack.creators["C100"] = "U2"
    app = start_app(ADMIN_USER_IDS="U3, U9")
    sender = SlackSender(app.url)
    try:
        assert manage(sender, slack, "persona show") == "No persona here: the default system prompt applies."
        refused = manage(sender, slack, "persona set You are a pirate.", user="U1")
        assert refused == "Only the channel's creator or a bot admin can change its persona."
        assert manage(sender, slack, "persona show") == "No persona here: the default system prompt applies."

        assert manage(sender, slack, "persona set You are a pirate. Answer like one.", user="U2").startswith("Persona set")
        assert "You are a pirate." in manage(sender, slack, "persona show", user="U1")

        sender.send_event(mention("where is the treasure?"))
        slack.wait_for_answers(1)
        system = model.requests[0].messages[0]["content"]
        assert system.startswith("You are Assistant") and "<from name=" in system, "the operator's rules stay"
        assert system.endswith("You are a pirate. Answer like one."), "the persona is added after them"

        sender.send_command("/ask", "and the ship?", response_url=slack.response_url("a"))
        slack.wait_for_response("a")
        assert model.requests[1].messages[0]["content"] == system

        assert manage(sender, slack, "persona clear", user="U3").startswith("Persona cleared"), "admins may change it"
        sender.send_event(mention("back to normal?"))
        slack.wait_for_answers(2)
        assert "You are Assistant" in model.requests[2].messages[0]["content"]
    finally:
        sender.close()


def test_persona_is_per_channel_and_set_freely_in_a_dm(app, sender, slack, model):
    assert manage(sender, slack, "persona set Be terse.", user="U1", channel="D100").startswith("Persona set")
    assert manage(sender, slack, "persona show", channel="C100") == "No persona here: the default system prompt applies."
    sender.send_event(message("hi", channel="D100", channel_type="im"))
    slack.wait_for_answers(1)
    assert model.requests[0].messages[0]["content"].endswith("\n\nBe terse.")


def test_reset_really_empties_the_conversation(app, sender, slack, model):
    slack.creators["C100"] = "U1"
    first = mention("remember: the password is swordfish")
    sender.send_event(first)
    slack.wait_for_answers(1)
    cid = ConversationId(TEAM_ID, "C100", first["ts"])
    app.wait_stored(cid, 2)

    assert manage(sender, slack, "reset") == (
        "Done: I forgot 1 conversation in this channel, with their answers, ratings, settings and persona. "
        "Threads I'm mentioned in again are read afresh."
    )
    assert app.stored(cid) == []
    assert manage(sender, slack, "reset") == "I had nothing to forget in this channel."

    slack.threads[("C100", first["ts"])] = []  # Slack has nothing more to say about it either
    sender.send_event(mention("what is the password?", thread_ts=first["ts"]))
    slack.wait_for_answers(2)
    assert [m["content"] for m in model.requests[1].dialogue] == [said("what is the password?")]


def test_model_says_which_model_answers(app, sender, slack):
    assert manage(sender, slack, "model") == "Mentions, threads and DMs here are answered by `gpt-4o-mini`."


def test_a_slow_slack_still_gets_an_ack_within_three_seconds(app, sender, slack):
    slack.delays["conversations.info"] = 5  # the persona permission check asks Slack who created the channel
    started = time.monotonic()
    text = manage(sender, slack, "persona set Be brief.")
    assert time.monotonic() - started < 3
    assert text == "Sorry, that took too long; please try again."
    slack.delays.clear()

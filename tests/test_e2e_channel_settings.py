"""A channel's own settings (/assistant config) as a hard boundary: the model its requests go
to, whether threads are followed without a mention, a daily token limit of its own (the tools
offered and allowed to run: tests/test_e2e_tools.py); changed by its creator or an admin,
anyone in their own DM."""

from __future__ import annotations

from .harness import SlackSender, mention, message, said, settled
from .test_e2e_management import manage


def test_a_channel_chooses_its_model_among_those_allowed_and_every_request_there_goes_to_it(start_app, slack, model):
    slack.creators["C100"] = "U2"
    app = start_app(ALLOWED_MODELS="gpt-4.1, llama3", ADMIN_USER_IDS="U9")
    sender = SlackSender(app.url)
    try:
        assert manage(sender, slack, "config set model llama3", user="U1") == \
            "Only the channel's creator or a bot admin can change its settings."
        refused = manage(sender, slack, "config set model gpt-5-super", user="U2")
        assert refused.startswith("`gpt-5-super` is not a model I may use here") and "`llama3`" in refused
        assert manage(sender, slack, "config set model llama3", user="U2") == \
            "`model` set for this channel. It applies from the next message."
        assert "• `model`: `llama3`" in manage(sender, slack, "config show", user="U1"), "anyone may look"
        assert manage(sender, slack, "model").startswith("Mentions, threads and DMs here are answered by `llama3`")

        sender.send_event(mention("hello"))
        sender.send_event(mention("and elsewhere?", channel="C200"))
        slack.wait_for_answers(2)
        sender.send_command("/ask", "a command here", response_url=slack.response_url("a"))
        slack.wait_for_response("a")
        by_text = {r.last_user_text.rsplit("\n", 1)[-1]: r.body["model"] for r in model.requests}
        assert by_text["hello"] == "llama3" and by_text["and elsewhere?"] == "gpt-4o-mini"
        assert [m for t, m in by_text.items() if "a command here" in t] == ["llama3"], "commands here too"

        assert manage(sender, slack, "config unset model", user="U9").startswith("`model` unset"), "admins may"
        sender.send_event(mention("back?"))
        slack.wait_for_answers(3)
        assert model.requests[-1].body["model"] == "gpt-4o-mini"
    finally:
        sender.close()


def test_a_channel_limit_below_the_deployments_refuses_once_spent(start_app, slack, model):
    app = start_app(CHANNEL_DAILY_TOKEN_LIMIT=100_000)
    sender = SlackSender(app.url)
    try:
        too_high = manage(sender, slack, "config set daily_tokens 200000", channel="D100")
        assert too_high == "`daily_tokens` must be at least 1 and at most 100,000 (the deployment's CHANNEL_DAILY_TOKEN_LIMIT)."
        assert manage(sender, slack, "config set daily_tokens 1", channel="D100").startswith("`daily_tokens` set"), \
            "anyone may in their own DM"
        sender.send_event(message("first", channel="D100", channel_type="im"))
        slack.wait_for_answers(1)
        settled(app)  # its tokens are recorded with the answer
        assert "This channel: 0 of 1 tokens left today" in manage(sender, slack, "usage", channel="D100")
        sender.send_event(message("second", channel="D100", channel_type="im"))
        [note] = slack.wait_for(lambda s: s.ephemeral or None)
        assert note["text"].startswith("This channel has used its 1 tokens for today")
        sender.send_event(mention("another channel is unaffected", channel="C200"))
        slack.wait_for_answers(2)
        settled(app)
        assert len(model.requests) == 2
    finally:
        sender.close()


def test_with_auto_reply_off_only_mentions_are_answered_and_the_rest_is_still_known(app, sender, slack, model):
    slack.creators["C100"] = "U1"
    assert manage(sender, slack, "config set auto_reply maybe").startswith("`auto_reply` is `on`")
    assert manage(sender, slack, "config set auto_reply off").startswith("`auto_reply` set")
    first = mention("start")
    sender.send_event(first)
    slack.wait_for_answers(1)
    sender.send_event(message("the build number is 4521", user="U2", thread_ts=first["ts"]))
    sender.send_event(message("nice", user="U3", thread_ts=first["ts"], channel_type="channel"))
    settled(app)  # no work left: nothing more can happen
    assert len(model.requests) == 1, "unmentioned thread messages are not answered"
    sender.send_event(mention("which build was it?", thread_ts=first["ts"]))
    slack.wait_for_answers(2)
    texts = "\n\n".join(m["content"] for m in model.requests[1].dialogue)
    assert said("the build number is 4521", "bob", "U2") in texts and said("which build was it?") in texts
    sender.send_event(message("a DM is always answered", channel="D100", channel_type="im"))
    slack.wait_for_answers(3)

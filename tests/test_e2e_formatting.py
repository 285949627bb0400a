"""The model's Markdown renders in Slack: Markdown surfaces first, mrkdwn where they are refused."""

from __future__ import annotations

from .fakes.openai_api import Scripted
from .harness import DONE_BUTTONS, mention

ANSWER = "**Paris** is the capital. See [the map](https://maps.example/?a=1&b=2) and run `x <y>`."


def test_answer_goes_out_as_markdown_with_a_mrkdwn_notification_text(app, sender, slack, model):
    model.enqueue(Scripted(text=ANSWER))
    sender.send_event(mention("capital?"))
    [answer] = slack.wait_for_answers(1)
    assert answer.blocks[0] == {"type": "markdown", "text": ANSWER}
    final = slack.calls_to("chat.update")[-1].params
    assert final["text"] == "*Paris* is the capital. See <https://maps.example/?a=1&amp;b=2|the map> and run `x &lt;y&gt;`."


def test_where_markdown_is_refused_the_answer_is_resent_as_mrkdwn(app, sender, slack, model):
    slack.markdown_refused = True
    model.enqueue(Scripted(text=ANSWER))
    sender.send_event(mention("capital?"))
    [answer] = slack.wait_for_answers(1, final=lambda text: text.startswith("*Paris*"))
    assert [b["type"] for b in answer.blocks] == ["section", "actions"]
    assert answer.blocks[0]["text"] == {"type": "mrkdwn", "text": slack.calls_to("chat.update")[-1].params["text"]}
    assert answer.action_ids() == DONE_BUTTONS


def test_answers_are_posted_without_link_or_media_previews(app, sender, slack, model):
    """A link the model wrote (maybe steered by injected text) shows no preview and fetches nothing."""
    model.enqueue(Scripted(text="See https://attacker.example/track?leak=1"))
    sender.send_event(mention("links?"))
    slack.wait_for_answers(1)
    for call in slack.calls_to("chat.postMessage"):
        assert call.params.get("unfurl_links") is False and call.params.get("unfurl_media") is False

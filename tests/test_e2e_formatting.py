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


TABLE = "Latency by service:\n\n| Service | p99 (ms) |\n|---|---:|\n| billing | **120** |\n| search | 85 |\n\nBilling is the slowest."


def test_a_markdown_table_in_an_answer_becomes_a_table_block(app, sender, slack, model):
    model.enqueue(Scripted(text=TABLE))
    sender.send_event(mention("latency?"))
    slack.wait_for(lambda s: s.calls_to("chat.update") and any(
        b.get("type") == "table" for b in _blocks_of(s.calls_to("chat.update")[-1])))
    blocks = _blocks_of(slack.calls_to("chat.update")[-1])
    assert [b["type"] for b in blocks] == ["markdown", "table", "markdown", "actions"]
    assert blocks[0]["text"] == "Latency by service:" and blocks[2]["text"] == "Billing is the slowest."
    table = blocks[1]
    assert [c["text"] for c in table["rows"][0]] == ["Service", "p99 (ms)"]
    assert table["rows"][1][1]["type"] == "rich_text" and table["column_settings"][1] == {"align": "right"}
    streaming = [c for c in slack.calls_to("chat.update")[:-1] if _blocks_of(c)]
    assert all(b["type"] != "table" for c in streaming for b in _blocks_of(c)), "drawn once the answer is complete"
    assert not [e for e in slack.errors if e[0].startswith("chat.")], "Slack took the table as it was sent"


def test_where_a_table_block_is_refused_the_table_stays_markdown(app, sender, slack, model):
    slack.tables_refused = True
    model.enqueue(Scripted(text=TABLE))
    sender.send_event(mention("latency?"))
    [answer] = slack.wait_for_answers(1, final=lambda text: "slowest" in text)
    slack.wait_for(lambda s: s.messages[(answer.channel, answer.ts)].action_ids() == DONE_BUTTONS)
    final = slack.messages[(answer.channel, answer.ts)]
    assert [b["type"] for b in final.blocks] == ["markdown", "actions"] and final.blocks[0]["text"] == TABLE
    assert ("chat.update", "invalid_blocks") in slack.errors, "refused once, then sent without the table"


def _blocks_of(call) -> list[dict]:
    import json

    blocks = call.params.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)

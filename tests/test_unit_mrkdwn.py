"""Markdown → Slack mrkdwn on tricky inputs."""

from __future__ import annotations

import pytest

from bot.slack.mrkdwn import to_mrkdwn


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and __also bold__", "*bold* and *also bold*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        ("***both***", "*_both_*"),
        ("~~gone~~", "~gone~"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("a * b * c", "a * b * c"),
        ("[the docs](https://example.com/a_b?x=1&y=2)", "<https://example.com/a_b?x=1&amp;y=2|the docs>"),
        ("[**bold** link](https://e.com)", "<https://e.com|*bold* link>"),
        ("![chart](https://e.com/c.png)", "<https://e.com/c.png|chart>"),
        ("[wiki](https://en.wikipedia.org/wiki/Foo_(bar))", "<https://en.wikipedia.org/wiki/Foo_(bar)|wiki>"),
        ("# Title", "*Title*"),
        ("### Sub **title** ###", "*Sub *title**"),
        ("- one\n- two\n  - nested\n* star", "• one\n• two\n    • nested\n• star"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted **text**\n>", "> quoted *text*\n>"),
        ("if a < b && c > d", "if a &lt; b &amp;&amp; c &gt; d"),
        ("hi <@U123> see <#C42|general> <!here> <https://x.io|x>", "hi <@U123> see <#C42|general> <!here> <https://x.io|x>"),
        ("use `**not bold**` and `a<b`", "use `**not bold**` and `a&lt;b`"),
        ("---", "──────────"),
        ("", ""),
    ],
)
def test_inline_and_line_conversions(markdown, mrkdwn):
    assert to_mrkdwn(markdown) == mrkdwn


def test_code_fences_are_untouched_inside_and_lose_their_language():
    markdown = "Run:\n```python\nx = a**2 * b_c  # **not bold**\n- not a list\n# not a heading\nif a < b: pass\n```\nDone **now**"
    assert to_mrkdwn(markdown) == (
        "Run:\n```\nx = a**2 * b_c  # **not bold**\n- not a list\n# not a heading\nif a &lt; b: pass\n```\nDone *now*"
    )


def test_a_fence_left_open_is_closed():
    assert to_mrkdwn("```\ncode **x**") == "```\ncode **x**\n```"


def test_tilde_fences_and_longer_fences():
    assert to_mrkdwn("~~~\n~~x~~\n~~~") == "```\n~~x~~\n```"
    assert to_mrkdwn("````\n```\ninner\n```\n````") == "```\n```\ninner\n```\n```"


def test_tables_become_aligned_code_blocks():
    markdown = "| Name | Score |\n|:-----|------:|\n| Alice | 10 |\n| Bob & co | 7 |\nAfter"
    assert to_mrkdwn(markdown) == "```\nName      Score\nAlice     10\nBob &amp; co  7\n```\nAfter"


def test_a_pipe_line_without_a_rule_is_not_a_table():
    assert to_mrkdwn("| just | pipes |") == "| just | pipes |"


def test_home_view_lists_every_command_and_escapes_prompt_text():
    from pathlib import Path

    from bot.slack.home import home_view
    from bot.prompts import load_catalog
    from bot.usage.ledger import Totals

    catalog = load_catalog(Path(__file__).resolve().parent.parent / "prompts")
    view = home_view(bot_name="Assistant", catalog=catalog, management_command="/assistant",
                     usage={"user_day": Totals(1200, 0, 34, 0.0021, 3), "user_month": Totals(5000, 0, 600, 0.01, 9)})
    text = "\n".join(b["text"]["text"] for b in view["blocks"] if b["type"] == "section")
    assert all(command in text for command in catalog.commands)
    assert "*1,234* tokens (1,200 in, 34 out), $0.0021" in text and "*5,600* tokens" in text
    assert "&lt;language&gt; &lt;text&gt;" in text, "usage hints are escaped for mrkdwn"
    assert all(len(b["text"]["text"]) <= 3000 for b in view["blocks"] if b["type"] == "section")

"""Markdown tables as Slack table blocks (bot/slack/tables.py), within Slack's limits."""

from __future__ import annotations

from bot.slack.answer_blocks import content_blocks
from bot.slack.tables import MAX_COLUMNS, MAX_ROWS, split_table

ANSWER = """Here are the services:

| Service | Owner | p99 (ms) |
|:--------|:-----:|---------:|
| billing | **Ana** | 120 |
| search | [Bo](https://example.com/bo) | 85 |
| auth | `team-id` |

Ask me for more."""


def test_a_table_becomes_a_table_block_between_the_text_around_it():
    split = split_table(ANSWER)
    assert split is not None
    assert split.before == "Here are the services:" and split.after == "Ask me for more."
    rows = split.block["rows"]
    assert [c["text"] for c in rows[0]] == ["Service", "Owner", "p99 (ms)"] and all(c["type"] == "raw_text" for c in rows[0])
    assert rows[1][1] == {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
        {"type": "text", "text": "Ana", "style": {"bold": True}}]}]}
    assert rows[2][1]["elements"][0]["elements"] == [{"type": "link", "url": "https://example.com/bo", "text": "Bo"}]
    assert rows[3][1]["elements"][0]["elements"][0]["style"] == {"code": True}
    assert rows[3][2] == {"type": "raw_text", "text": " "}, "a short row is padded: every row has every column"
    assert split.block["column_settings"] == [{"align": "left"}, {"align": "center"}, {"align": "right"}]


def test_content_blocks_put_the_table_between_markdown_blocks():
    blocks = content_blocks(ANSWER)
    assert [b["type"] for b in blocks] == ["markdown", "table", "markdown"]
    assert content_blocks(ANSWER, tables=False) == [{"type": "markdown", "text": ANSWER}]
    only = content_blocks("| a | b |\n|---|---|\n| 1 | 2 |")
    assert [b["type"] for b in only] == ["table"] and "column_settings" not in only[0]


def test_tables_past_slacks_limits_or_inside_code_stay_markdown():
    wide = "| " + " | ".join(f"c{n}" for n in range(MAX_COLUMNS + 1)) + " |\n|" + "---|" * (MAX_COLUMNS + 1) + "\n"
    assert split_table(wide + "| x |") is None
    tall = "| a |\n|---|\n" + "\n".join(f"| {n} |" for n in range(MAX_ROWS))  # the header makes it 101 rows
    assert split_table(tall) is None
    fitting = "| a |\n|---|\n" + "\n".join(f"| {n} |" for n in range(MAX_ROWS - 1))
    assert split_table(fitting) is not None
    fenced = "```\n| a | b |\n|---|---|\n| 1 | 2 |\n```"
    assert split_table(fenced) is None and content_blocks(fenced) == [{"type": "markdown", "text": fenced}]
    assert split_table("a | b\nno table here") is None
    huge_cell = "| a |\n|---|\n| " + "x" * 2_001 + " |"
    assert split_table(huge_cell) is None


def test_only_the_first_table_that_fits_becomes_a_block():
    two = "| a |\n|---|\n| 1 |\n\nand\n\n| b |\n|---|\n| 2 |"
    split = split_table(two)
    assert split is not None and split.before == "" and "| b |" in split.after
    after_a_big_one = "| " + " | ".join("c" for _ in range(MAX_COLUMNS + 1)) + " |\n|" + "---|" * (MAX_COLUMNS + 1) \
        + "\n\n| small |\n|---|\n| 1 |"
    found = split_table(after_a_big_one)
    assert found is not None and found.block["rows"][0][0]["text"] == "small" and "| c |" in found.before


def test_pipes_escaped_inside_a_cell_stay_in_the_cell():
    split = split_table("| expr | means |\n|---|---|\n| a \\| b | either |")
    assert split is not None and split.block["rows"][1][0] == {"type": "raw_text", "text": "a | b"}

"""The App Home tab: what the bot can do (from the prompt files) and the viewer's usage.  Pure."""

from __future__ import annotations

from typing import Any, Mapping

from bot.slack.mrkdwn import escape
from bot.prompts import PromptCatalog
from bot.slack.splitting import split_message
from bot.usage.ledger import Totals

SECTION_BYTES = 3000  # a section block holds 3,000 characters
MAX_HOME_BLOCKS = 100  # a Home tab view holds 100 blocks


def _section(text: str) -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": part}} for part in split_message(text, SECTION_BYTES)]


def _usage_line(label: str, usage: Totals) -> str:
    cost = f", ${usage.cost_usd:,.4f}" if usage.calls else ""
    return f"• {label}: *{usage.tokens:,}* tokens ({usage.input_tokens:,} in, {usage.output_tokens:,} out){cost}"


def home_view(
    *, bot_name: str, catalog: PromptCatalog, management_command: str, usage: Mapping[str, Totals],
    tools: str = "", settings: str = "",
) -> dict[str, Any]:
    commands = [
        f"• `{escape(command)}{(' ' + escape(prompt.header.usage)) if prompt.header.usage else ''}`: {escape(prompt.header.description)}"
        for command, prompt in sorted(catalog.commands.items())
    ]
    commands.append(f"• `{management_command} help | reset | config | persona | usage | model | tools`: "
                    "manage how I work in a channel")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{bot_name}"[:150], "emoji": True}},
        *_section(
            "Mention me in a channel and I answer in the thread; keep talking in that thread without mentioning me. "
            "Write to me here in *Messages*, or open me from the top bar to chat beside any channel."
        ),
        {"type": "divider"},
        *_section("*Commands*\n" + "\n".join(commands)),
        *([{"type": "divider"}, *_section(escape(tools))] if tools else []),
        *([{"type": "divider"}, *_section(settings)] if settings else []),
        {"type": "divider"},
        *_section(
            "*Your usage*\n"
            + _usage_line("Today", usage.get("user_day", Totals()))
            + "\n"
            + _usage_line("This month", usage.get("user_month", Totals()))
        ),
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
            "On each answer: *Stop* while it is being written, 👍 / 👎 to rate it, ↻ *Regenerate* for another try. "
            "Edit your question right after the answer and I answer the new text."}]},
    ]
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}

"""Slash commands: every command a prompt file declares, and the management command.

The ack (the HTTP response Slack shows privately) goes out at once: the usage
hint for bad arguments, the answer for instant management subcommands, or
"Working on it…"; a model answer follows through the response_url (private)
or as a channel message (public).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.commands import CommandRequest, CommandRunner
from bot.management import Management
from bot.slack.rate_budget import RateBudget
from bot.slack.command_reply import PublicCommandReply, ResponseUrlReply
from bot.llm.writer import ReplyWriter
from bot.slack.reply import SlackReply
from bot.tasks import BackgroundTasks
from bot.slack.response_urls import response_url_allowed
from bot.wording import UNTRUSTED_RESPONSE_URL, WORKING

log = logging.getLogger(__name__)

MANAGEMENT_TIMEOUT_SECONDS = 2.5
TOO_SLOW = "Sorry, that took too long; please try again."


def command_writer(
    client: AsyncWebClient, payload: dict[str, Any], visibility: str, interval: float, budget: RateBudget | None
) -> ReplyWriter:
    """Where a command's answer goes: the response_url (private), or the channel (public)."""
    webhook = AsyncWebhookClient(str(payload.get("response_url") or ""), timeout=10, retry_handlers=client.retry_handlers)
    if visibility == "public":
        channel_post = SlackReply(
            client, str(payload.get("channel_id") or ""), None, interval=interval, budget=budget,
            team=str(payload.get("team_id") or ""),
        )
        return PublicCommandReply(channel_post, webhook)
    return ResponseUrlReply(webhook)


def register(
    app: AsyncApp,
    *,
    runner: CommandRunner,
    management: Management,
    tasks: BackgroundTasks,
    client: AsyncWebClient,
    update_interval: float,
    budget: RateBudget | None = None,
    response_hosts: frozenset[str] = frozenset({"hooks.slack.com"}),
) -> None:
    async def on_prompt_command(ack: Any, body: dict[str, Any]) -> None:
        prepared = runner.prepare(CommandRequest.from_slack(body))
        if isinstance(prepared, str):
            await ack(text=prepared, response_type="ephemeral")
            return
        if not response_url_allowed(str(body.get("response_url") or ""), response_hosts):
            log.warning("%s came with a response_url outside RESPONSE_URL_HOSTS: not answered", body.get("command"))
            await ack(text=UNTRUSTED_RESPONSE_URL, response_type="ephemeral")
            return
        await ack(text=WORKING, response_type="ephemeral")
        writer = command_writer(client, body, prepared.prompt.header.visibility, update_interval, budget)
        tasks.spawn(runner.run(prepared, writer))

    async def on_management_command(ack: Any, body: dict[str, Any]) -> None:
        try:
            text = await asyncio.wait_for(management.handle(CommandRequest.from_slack(body)), MANAGEMENT_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            text = TOO_SLOW
        await ack(text=text, response_type="ephemeral")

    for command in runner.catalog.commands:
        app.command(command)(on_prompt_command)
    app.command(management.command)(on_management_command)

"""The App Home tab, published when a user opens it."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.assistant_threads import AssistantThreads
from bot.management import Management
from bot.slack.calls import call_quietly
from bot.slack.home import home_view

from .assistant import messages_tab_opened


SUBSCRIBED_EVENTS = ("app_home_opened",)


def register(app: AsyncApp, *, management: Management, threads: AssistantThreads, bot_name: str) -> None:
    async def on_home_opened(event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        team = str(body.get("team_id") or "")
        if event.get("tab") == "messages":  # agent view: the conversation with the bot
            await messages_tab_opened(client, threads, team, event)
            return
        if event.get("tab") != "home" or not event.get("user"):
            return
        usage = await management.usage_of(team, event["user"])
        view = home_view(bot_name=bot_name, catalog=management.catalog, management_command=management.command, usage=usage,
                         tools=management.tools(team), settings=management.settings_overview())
        await call_quietly("views.publish", client.views_publish(user_id=event["user"], view=view))

    app.event("app_home_opened")(on_home_opened)

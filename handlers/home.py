"""The App Home tab, published when a user opens it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.home import home_view
from bot.prompts import PromptCatalog
from bot.slack.calls import call_quietly
from bot.memory.store import ConversationStore


SUBSCRIBED_EVENTS = ("app_home_opened",)


def register(
    app: AsyncApp, *, store: ConversationStore, catalog: PromptCatalog, bot_name: str, management_command: str,
    now: Callable[[], datetime],
) -> None:
    async def on_home_opened(event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab") != "home" or not event.get("user"):
            return  # the Messages tab needs nothing
        team = str(body.get("team_id") or "")
        usage = await store.usage_report(team, "", event["user"], now())
        view = home_view(bot_name=bot_name, catalog=catalog, management_command=management_command, usage=usage)
        await call_quietly("views.publish", client.views_publish(user_id=event["user"], view=view))

    app.event("app_home_opened")(on_home_opened)

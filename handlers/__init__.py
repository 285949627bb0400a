"""Slack listeners: thin functions that turn events and commands into calls on the bot's core."""

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from typing import TYPE_CHECKING

from bot.slack.rate_budget import RateBudget
from bot.responder import BotIdentity
from bot.tasks import BackgroundTasks

if TYPE_CHECKING:
    from bot.services import Services
    from bot.workspaces.tokens import Workspaces

from . import actions, assistant, channels, commands, home, messages, workspaces as workspace_events

# Every event type the manifest subscribes to has a listener here (Bolt answers 404 otherwise).
SUBSCRIBED_EVENTS = (*messages.SUBSCRIBED_EVENTS, *assistant.SUBSCRIBED_EVENTS, *home.SUBSCRIBED_EVENTS,
                     *channels.SUBSCRIBED_EVENTS)


def register_all(
    app: AsyncApp,
    *,
    services: "Services",
    identity: BotIdentity,
    tasks: BackgroundTasks,
    client: AsyncWebClient,
    update_interval: float,
    bot_name: str,
    budget: RateBudget | None = None,
    response_hosts: frozenset[str] = frozenset({"hooks.slack.com"}),
    workspaces: "Workspaces | None" = None,
    allow_bots: frozenset[str] = frozenset(),
) -> None:
    threads = services.assistant_threads
    messages.register(app, dispatcher=services.dispatcher, threads=threads, identity=identity, tasks=tasks,
                      dm_threads=threads.agent_view, allow_bots=allow_bots)
    actions.register(app, actions=services.answer_actions, response_hosts=response_hosts, approvals=services.approvals)
    assistant.register(app, threads=threads, actions=services.answer_actions)
    home.register(app, management=services.management, threads=threads, bot_name=bot_name)
    channels.register(app, store=services.management.store, schedules=services.schedules)
    commands.register(
        app, runner=services.commands, management=services.management, tasks=tasks, client=client,
        update_interval=update_interval, budget=budget, response_hosts=response_hosts,
    )
    if workspaces is not None:
        workspace_events.register(app, workspaces=workspaces)

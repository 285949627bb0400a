"""Slack listeners: thin functions that turn events and commands into calls on the bot's core."""

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import CommandRunner
from bot.dispatcher import Dispatcher
from bot.management import Management
from bot.slack.rate_budget import RateBudget
from bot.responder import BotIdentity
from bot.tasks import BackgroundTasks

from . import actions, assistant, commands, home, messages

# Every event type the manifest subscribes to has a listener here (Bolt answers 404 otherwise).
SUBSCRIBED_EVENTS = (*messages.SUBSCRIBED_EVENTS, *assistant.SUBSCRIBED_EVENTS, *home.SUBSCRIBED_EVENTS)


def register_all(
    app: AsyncApp,
    *,
    dispatcher: Dispatcher,
    identity: BotIdentity,
    runner: CommandRunner,
    management: Management,
    tasks: BackgroundTasks,
    client: AsyncWebClient,
    update_interval: float,
    bot_name: str,
    budget: RateBudget | None = None,
) -> None:
    store, catalog = dispatcher.store, management.catalog
    messages.register(app, dispatcher=dispatcher, identity=identity, tasks=tasks)
    actions.register(app, store=store, dispatcher=dispatcher)
    assistant.register(app, store=store, catalog=catalog, bot_name=bot_name)
    home.register(app, store=store, catalog=catalog, bot_name=bot_name, management_command=management.command,
                  now=management.now)
    commands.register(
        app, runner=runner, management=management, tasks=tasks, client=client, update_interval=update_interval,
        budget=budget,
    )

"""Slack listeners: thin functions that turn events and commands into calls on the bot's core."""

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import CommandRunner
from bot.dispatcher import Dispatcher
from bot.management import Management
from bot.rate_budget import RateBudget
from bot.responder import BotIdentity
from bot.tasks import BackgroundTasks

from . import actions, commands, messages


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
    budget: RateBudget | None = None,
) -> None:
    messages.register(app, dispatcher=dispatcher, identity=identity)
    actions.register(app, store=dispatcher.store, dispatcher=dispatcher)
    commands.register(
        app, runner=runner, management=management, tasks=tasks, client=client, update_interval=update_interval,
        budget=budget,
    )

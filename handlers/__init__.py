"""Slack listeners: thin functions that turn events into calls on the bot's core."""

from slack_bolt.async_app import AsyncApp

from bot.dispatcher import Dispatcher
from bot.responder import BotIdentity

from . import messages


def register_all(app: AsyncApp, *, dispatcher: Dispatcher, identity: BotIdentity) -> None:
    messages.register(app, dispatcher=dispatcher, identity=identity)

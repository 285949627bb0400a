"""Slack's AI-app surfaces: agent view (the Messages tab) and the assistant split view.

Agent view: opening the Messages tab greets the user once and sets suggested prompts from
the prompt files; ``app_context_changed`` says what they look at (kept for their DM).  Split
view: a new assistant thread is greeted and gets the suggested prompts; its context is kept
per thread.  Either way the first message names its thread, and messages are answered by
the ordinary pipeline (handlers/messages.py).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.answer_actions import AnswerActions
from bot.assistant_threads import AssistantThreads
from bot.slack.calls import call_quietly
from bot.slack.events import IncomingMessage


SUBSCRIBED_EVENTS = ("assistant_thread_started", "assistant_thread_context_changed", "agent_session_stopped",
                     "app_context_changed")
TITLE_CHARS = 60
SUGGESTIONS_TITLE = "Try one of these:"


def thread_title(text: str, limit: int = TITLE_CHARS) -> str:
    """A thread's title from its first message: one line, cut at a word."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1].rsplit(" ", 1)[0] or line[: limit - 1]
    return cut + "…"


async def name_thread(client: AsyncWebClient, threads: AssistantThreads, message: IncomingMessage, text: str) -> None:
    """Title a DM thread after its first message (only assistant threads show it)."""
    if not await threads.needs_title(message):
        return
    # A thread in an ordinary DM is not an assistant thread: Slack refuses the title there, which is expected.
    await call_quietly("assistant.threads.setTitle",
                client.assistant_threads_setTitle(channel_id=message.channel, thread_ts=message.reply_thread_ts,
                                                  title=thread_title(text)),
                level=logging.DEBUG)


async def messages_tab_opened(client: AsyncWebClient, threads: AssistantThreads, team: str, event: dict[str, Any]) -> None:
    """Agent view: the user opened the bot's Messages tab (``app_home_opened``, tab "messages")."""
    channel, user = str(event.get("channel") or ""), str(event.get("user") or "")
    if not threads.agent_view or not channel or not user:
        return
    found = await threads.messages_tab_opened(team, channel, user)
    if found.text:
        await call_quietly("chat.postMessage", client.chat_postMessage(channel=channel, markdown_text=found.text))
    if found.suggestions:
        await call_quietly("assistant.threads.setSuggestedPrompts", client.assistant_threads_setSuggestedPrompts(
            channel_id=channel, title=SUGGESTIONS_TITLE, prompts=found.suggestions))


def register(app: AsyncApp, *, threads: AssistantThreads, actions: AnswerActions) -> None:
    async def on_thread_started(event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        thread = event.get("assistant_thread") or {}
        channel, thread_ts, user = thread.get("channel_id"), thread.get("thread_ts"), thread.get("user_id") or ""
        if not channel or not thread_ts:
            return
        found = await threads.started(str(body.get("team_id") or ""), channel, thread_ts, user, thread.get("context") or {})
        if found is None:
            return  # a retried delivery: greeted already
        await call_quietly("chat.postMessage",
                    client.chat_postMessage(channel=channel, thread_ts=thread_ts, markdown_text=found.text))
        if found.suggestions:
            await call_quietly("assistant.threads.setSuggestedPrompts", client.assistant_threads_setSuggestedPrompts(
                channel_id=channel, thread_ts=thread_ts, title=SUGGESTIONS_TITLE, prompts=found.suggestions))

    async def on_context_changed(event: dict[str, Any]) -> None:
        thread = event.get("assistant_thread") or {}
        if thread.get("channel_id") and thread.get("thread_ts"):
            await threads.context_changed(thread["channel_id"], thread["thread_ts"], thread.get("context") or {})

    async def on_app_context_changed(event: dict[str, Any], body: dict[str, Any]) -> None:
        user, context = str(event.get("user") or ""), event.get("context")
        if user and isinstance(context, dict):
            await threads.viewing_changed(str(body.get("team_id") or ""), user, str(event.get("channel") or "") or None,
                                          context)

    async def on_session_stopped(event: dict[str, Any], body: dict[str, Any]) -> None:
        """Slack's own Stop button on an agent session (its streams are already stopped in Slack)."""
        channel = str(event.get("channel") or "")
        streams = [str(ts) for ts in event.get("streaming_message_ts") or [] if ts]
        if channel:
            await actions.session_stopped(str(body.get("team_id") or ""), channel, str(event.get("thread_ts") or ""), streams)

    app.event("agent_session_stopped")(on_session_stopped)
    app.event("assistant_thread_started")(on_thread_started)
    app.event("assistant_thread_context_changed")(on_context_changed)
    app.event("app_context_changed")(on_app_context_changed)

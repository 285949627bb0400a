"""Buttons on answers: Stop while streaming; 👍/👎 and Regenerate once done.

Thin listeners: the payload becomes a ButtonPress, the use case decides
(bot/answer_actions.py), and any note goes privately through response_url.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.answer_actions import AnswerActions, ButtonPress
from bot.slack.answer_blocks import FEEDBACK_ACTIONS, REGENERATE_ACTION, STOP_ACTION
from bot.slack.response_urls import response_url_allowed
from bot.tools.approval import APPROVE_ACTION, DENY_ACTION, SlackApprovals

log = logging.getLogger(__name__)


def button_press(body: dict[str, Any], action: dict[str, Any]) -> ButtonPress:
    """Who pressed which answer's button, from a block_actions payload."""
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
    ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts") or ""
    thread_ts = (body.get("container") or {}).get("thread_ts") or (body.get("message") or {}).get("thread_ts") or ""
    return ButtonPress(
        team=str(team), channel=str(channel), message_ts=str(ts), user=str((body.get("user") or {}).get("id") or ""),
        value=str(action.get("value") or ""), action_ts=str(action.get("action_ts") or f"{time.time():.6f}"),
        thread_ts=str(thread_ts),
    )


def register(app: AsyncApp, *, actions: AnswerActions, response_hosts: frozenset[str],
             approvals: SlackApprovals | None = None) -> None:
    async def tell_privately(body: dict[str, Any], text: str | None) -> None:
        response_url = str(body.get("response_url") or "")
        if not text or not response_url:
            return
        if not response_url_allowed(response_url, response_hosts):
            log.warning("not using a response_url outside RESPONSE_URL_HOSTS")
            return
        try:
            await AsyncWebhookClient(response_url, timeout=10).send(response_type="ephemeral", replace_original=False, text=text)
        except Exception as exc:
            log.warning("responding to a button failed: %s", type(exc).__name__)

    async def on_stop(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        press = button_press(body, action)
        if press.channel and press.message_ts:
            await tell_privately(body, await actions.stop(press))

    async def on_feedback(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await tell_privately(body, await actions.rate(button_press(body, action), FEEDBACK_ACTIONS[action["action_id"]]))

    async def on_regenerate(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await tell_privately(body, await actions.regenerate(button_press(body, action)))

    async def on_approval(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        if approvals is None:
            return
        user = str((body.get("user") or {}).get("id") or "")
        sentence = await approvals.decide(str(action.get("value") or ""), user, action["action_id"] == APPROVE_ACTION)
        response_url = str(body.get("response_url") or "")
        if response_url and response_url_allowed(response_url, response_hosts):
            try:  # the prompt is replaced by the decision
                await AsyncWebhookClient(response_url, timeout=10).send(
                    response_type="ephemeral", replace_original=True, text=sentence)
            except Exception as exc:
                log.warning("answering an approval failed: %s", type(exc).__name__)

    app.action(APPROVE_ACTION)(on_approval)
    app.action(DENY_ACTION)(on_approval)
    app.action(STOP_ACTION)(on_stop)
    app.action(REGENERATE_ACTION)(on_regenerate)
    for action_id in FEEDBACK_ACTIONS:
        app.action(action_id)(on_feedback)

"""Approval before a tool that changes things runs: the asker, and only the asker, sees a
private prompt naming the tool and its arguments and presses Approve or Deny.  No answer
within the approval time counts as Deny.  The decision travels through Redis, so the
process that shows the prompt need not be the one that receives the press."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from redis.asyncio import Redis
from slack_sdk.web.async_client import AsyncWebClient

from bot.memory.conversation import Keys
from bot.tools.base import ToolContext, ToolSpec

log = logging.getLogger(__name__)

APPROVE_ACTION, DENY_ACTION = "tool_approve", "tool_deny"
WAIT_SLICE_SECONDS = 3.0  # each wait for the decision stays inside Redis's socket timeout
ARGUMENTS_CHARS = 1500
ONLY_THE_ASKER = "Only the person who asked can approve or deny this."
EXPIRED = "This request has already been decided or has expired."


def approval_blocks(approval_id: str, spec: ToolSpec, arguments: dict[str, Any]) -> list[dict[str, Any]]:
    shown = json.dumps(arguments, ensure_ascii=False, indent=1)
    if len(shown) > ARGUMENTS_CHARS:
        shown = shown[: ARGUMENTS_CHARS - 1] + "…"
    where = f" on *{spec.source}*" if spec.source else ""
    return [
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"I'd like to run *{spec.original or spec.name}*{where} with:\n```{shown}```"}},
        {"type": "actions", "block_id": "tool_approval", "elements": [
            {"type": "button", "action_id": APPROVE_ACTION, "style": "primary", "value": approval_id,
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": DENY_ACTION, "style": "danger", "value": approval_id,
             "text": {"type": "plain_text", "text": "Deny"}},
        ]},
    ]


class SlackApprovals:
    def __init__(self, client: AsyncWebClient, redis: Redis, keys: Keys, *, timeout_seconds: float = 300.0) -> None:
        self.client = client
        self.redis = redis
        self.keys = keys
        self.timeout_seconds = timeout_seconds

    async def approve(self, spec: ToolSpec, arguments: dict[str, Any], context: ToolContext) -> bool:
        """Ask the asker privately; True only if they press Approve in time."""
        approval_id = uuid.uuid4().hex
        ttl = int(self.timeout_seconds) + 60
        await self.redis.set(self.keys.approval(approval_id, "owner"), context.user, ex=ttl)
        text = f"Approve running {spec.original or spec.name}?"
        try:
            await self.client.chat_postEphemeral(
                channel=context.channel, user=context.user, text=text, thread_ts=context.thread_ts,
                blocks=approval_blocks(approval_id, spec, arguments))
        except Exception as exc:  # the prompt cannot be shown: nobody can approve, so it is denied
            log.warning("could not ask for approval of %s: %s", spec.name, type(exc).__name__)
            return False
        decision = await self._wait(approval_id)
        log.info("tool %s %s by the asker", spec.name, "approved" if decision else "not approved")
        return decision

    async def _wait(self, approval_id: str) -> bool:
        key = self.keys.approval(approval_id, "decision")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds
        try:
            while (left := deadline - loop.time()) > 0:
                popped = await self.redis.blpop([key], timeout=max(0.01, min(WAIT_SLICE_SECONDS, left)))
                if popped is not None:
                    value = popped[1]
                    return (value.decode() if isinstance(value, bytes) else value) == "approve"
            return False
        finally:
            await self.redis.delete(self.keys.approval(approval_id, "owner"))

    async def decide(self, approval_id: str, user: str, approved: bool) -> str:
        """A press on the prompt: the sentence that replaces it."""
        owner = await self.redis.get(self.keys.approval(approval_id, "owner"))
        if owner is None:
            return EXPIRED
        if (owner.decode() if isinstance(owner, bytes) else owner) != user:
            return ONLY_THE_ASKER
        key = self.keys.approval(approval_id, "decision")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, "approve" if approved else "deny")
            pipe.expire(key, int(self.timeout_seconds) + 60)
            await pipe.execute()
        return "Approved: running it now." if approved else "Denied: it will not run."

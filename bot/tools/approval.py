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
BLOCK_CHARS = 2900  # one preformatted block's text
MAX_SHOWN_CHARS = 12_000  # every argument, in full, in at most a few blocks; past it the call is refused
ONLY_THE_ASKER = "Only the person who asked can approve or deny this."
EXPIRED = "This request has already been decided or has expired."
APPROVED, DENIED, TIMED_OUT, TOO_LONG, NOT_SHOWN = "approved", "denied", "timed out", "too long", "not shown"


def shown_arguments(arguments: dict[str, Any]) -> str:
    """Every argument, in full: one ``name: value`` per argument, values as JSON."""
    if not arguments:
        return "(no arguments)"
    return "\n".join(f"{name}: {json.dumps(value, ensure_ascii=False, indent=1)}" for name, value in arguments.items())


def approval_blocks(approval_id: str, spec: ToolSpec, arguments: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The prompt: the tool, where it runs, and every argument in full, as literal text
    (rich text: nothing in a value is read as formatting or can close the block).  None
    when the arguments are too long for one message: never cut, the call is refused."""
    shown = shown_arguments(arguments)
    if len(shown) > MAX_SHOWN_CHARS:
        return None
    where = f" on *{spec.source}*" if spec.source else ""
    count = f"{len(arguments)} argument{'s' if len(arguments) != 1 else ''}, {len(shown):,} characters, all shown"
    pieces = [shown[n:n + BLOCK_CHARS] for n in range(0, len(shown), BLOCK_CHARS)]
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"I'd like to run *{_plain(spec.original or spec.name)}*"
                                                                f"{where} with ({count}):"}},
        *({"type": "rich_text", "elements": [{"type": "rich_text_preformatted",
                                              "elements": [{"type": "text", "text": piece}]}]} for piece in pieces),
        {"type": "actions", "block_id": "tool_approval", "elements": [
            {"type": "button", "action_id": APPROVE_ACTION, "style": "primary", "value": approval_id,
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": DENY_ACTION, "style": "danger", "value": approval_id,
             "text": {"type": "plain_text", "text": "Deny"}},
        ]},
    ]


def _plain(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("*", "")


def approval_key(keys: Keys, approval_id: str, part: str) -> str:
    """A pending tool approval: who may decide it ("owner"), and the decision once made ("decision")."""
    return f"{keys.base}:approval:{{{approval_id}}}:{part}"


class SlackApprovals:
    def __init__(self, client: AsyncWebClient, redis: Redis, keys: Keys, *, timeout_seconds: float = 300.0) -> None:
        self.client = client
        self.redis = redis
        self.keys = keys
        self.timeout_seconds = timeout_seconds

    async def approve(self, spec: ToolSpec, arguments: dict[str, Any], context: ToolContext) -> str:
        """Ask the asker privately; APPROVED only if they press Approve in time, else why not
        (DENIED, TIMED_OUT, TOO_LONG to show in full, NOT_SHOWN)."""
        approval_id = uuid.uuid4().hex
        blocks = approval_blocks(approval_id, spec, arguments)
        if blocks is None:
            log.info("tool %s not run: its arguments are too long to show for approval", spec.name)
            return TOO_LONG
        ttl = int(self.timeout_seconds) + 60
        await self.redis.set(approval_key(self.keys, approval_id, "owner"), context.user, ex=ttl)
        text = f"Approve running {spec.original or spec.name}?"
        try:
            await self.client.chat_postEphemeral(
                channel=context.channel, user=context.user, text=text, thread_ts=context.thread_ts, blocks=blocks)
        except Exception as exc:  # the prompt cannot be shown: nobody can approve, so it does not run
            log.warning("could not ask for approval of %s: %s", spec.name, type(exc).__name__)
            return NOT_SHOWN
        decision = await self._wait(approval_id)
        log.info("tool %s %s", spec.name, decision)
        return decision

    async def _wait(self, approval_id: str) -> str:
        key = approval_key(self.keys, approval_id, "decision")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds
        try:
            while (left := deadline - loop.time()) > 0:
                popped = await self.redis.blpop([key], timeout=max(0.01, min(WAIT_SLICE_SECONDS, left)))
                if popped is not None:
                    value = popped[1]
                    return APPROVED if (value.decode() if isinstance(value, bytes) else value) == "approve" else DENIED
            return TIMED_OUT
        finally:
            await self.redis.delete(approval_key(self.keys, approval_id, "owner"))

    async def decide(self, approval_id: str, user: str, approved: bool) -> str:
        """A press on the prompt: the sentence that replaces it."""
        owner = await self.redis.get(approval_key(self.keys, approval_id, "owner"))
        if owner is None:
            return EXPIRED
        if (owner.decode() if isinstance(owner, bytes) else owner) != user:
            return ONLY_THE_ASKER
        key = approval_key(self.keys, approval_id, "decision")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, "approve" if approved else "deny")
            pipe.expire(key, int(self.timeout_seconds) + 60)
            await pipe.execute()
        return "Approved: running it now." if approved else "Denied: it will not run."

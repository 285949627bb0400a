"""Slack calls whose failure must not stop an answer: logged (the error code,
never the exception text), and answered with None."""

from __future__ import annotations

import logging
from typing import Any, Awaitable

from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


async def call_quietly(method: str, call: Awaitable[Any], level: int = logging.WARNING) -> dict[str, Any] | None:
    """Await one Web API call; its response data, or None when it failed."""
    try:
        response = await call
    except SlackApiError as exc:
        log.log(level, "%s failed: %s", method, exc.response.get("error"))
        return None
    except Exception as exc:  # connection problems: the SDK already retried
        log.log(level, "%s failed: %s", method, type(exc).__name__)
        return None
    data = getattr(response, "data", None)
    return data if isinstance(data, dict) else {}

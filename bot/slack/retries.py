"""Retrying Slack Web API calls through faults: connection errors, timeouts and 5xx.

slack-sdk retries connection errors (and, with a handler, 429s); these
handlers add Slack's 500/502/503/504 answers and client-side timeouts, with
exponential backoff and jitter, a bounded number of times.  A call that still
fails is reported to its caller, which decides what the user sees.
"""

from __future__ import annotations

import asyncio
from typing import Optional

from aiohttp import ClientConnectorError, ClientOSError, ServerConnectionError, ServerDisconnectedError, ServerTimeoutError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import RandomJitter
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

SERVER_ERRORS = frozenset({500, 502, 503, 504})
BACKOFF = BackoffRetryIntervalCalculator(backoff_factor=0.3, jitter=RandomJitter())


class ServerErrorRetryHandler(AsyncRetryHandler):
    """Retries Slack's 5xx answers."""

    async def _can_retry_async(
        self, *, state: RetryState, request: HttpRequest, response: Optional[HttpResponse] = None,
        error: Optional[Exception] = None,
    ) -> bool:
        return response is not None and response.status_code in SERVER_ERRORS


def fault_retry_handlers(max_retries: int = 3) -> list[AsyncRetryHandler]:
    """Connection errors, timeouts (a request that got no answer in time) and 5xx, with backoff."""
    return [
        AsyncConnectionErrorRetryHandler(
            max_retry_count=max_retries,
            interval_calculator=BACKOFF,
            error_types=[ServerConnectionError, ServerDisconnectedError, ClientOSError, ClientConnectorError,
                         ServerTimeoutError, asyncio.TimeoutError],
        ),
        ServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=BACKOFF),
    ]

"""The inbox's writes on a blocking Redis client of their own, made in the request that
acknowledges the event.  Under load the event loop is busy with the answers in flight,
and every ``await`` waits a turn behind them (hundreds of milliseconds in a burst); a
blocking ``RPUSH`` on a short timeout costs a round trip and waits for nothing else.
When it fails (Redis away, a Sentinel failover), the write is left to the bot's pooled
client and its retries (bot/delivery/inbox.py), and for a second after a failure the
blocking client is not tried, so the loop never blocks on a Redis that does not answer."""

from __future__ import annotations

import time
from typing import Any

import redis
from redis.exceptions import RedisError

from bot.memory.connection import sentinel_address

TIMEOUT_SECONDS = 1.0
QUIET_AFTER_FAILURE_SECONDS = 1.0


class BlockingWriter:
    def __init__(self, client: Any, ttl_seconds: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self._quiet_until = 0.0

    def push(self, key: str, entry: str) -> bool:
        """Whether the entry was written (False: it was not, or the client is resting after a failure)."""
        if time.monotonic() < self._quiet_until:
            return False
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.rpush(key, entry)
            pipe.expire(key, self.ttl_seconds)
            pipe.execute()
        except (RedisError, OSError):
            self._quiet_until = time.monotonic() + QUIET_AFTER_FAILURE_SECONDS
            return False
        return True

    def close(self) -> None:
        self.client.close()


def blocking_client(redis_url: str, *, cluster: bool) -> Any:
    """A blocking client for the same Redis as the bot's (a cluster, a Sentinel service or one server)."""
    options: dict[str, Any] = {"socket_timeout": TIMEOUT_SECONDS, "socket_connect_timeout": TIMEOUT_SECONDS,
                               "decode_responses": True}
    if redis_url.startswith(("redis+sentinel://", "rediss+sentinel://")):
        from redis.sentinel import Sentinel

        address = sentinel_address(redis_url)
        sentinel = Sentinel(address.hosts, password=address.password, ssl=address.ssl, **options)
        return sentinel.master_for(address.service, db=address.db)
    if cluster:
        from redis.cluster import RedisCluster

        return RedisCluster.from_url(redis_url, **options)
    return redis.Redis.from_url(redis_url, **options)

"""The connection to Redis: one server, a Redis Cluster (redis-py's cluster client, its
connection pool bounded) or the primary a set of Sentinels names; without a URL, the
embedded in-process store (fakeredis) running the very same commands and scripts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline
from redis.driver_info import DriverInfo
from redis.utils import get_lib_version

# How long a command waits for a free pooled connection.  Only a burst makes it wait (Redis
# being down fails at once, on connecting): a thousand messages at once on one process held
# connections for over 5 s, and the wait is better than a "memory unavailable" sentence.
POOL_WAIT_SECONDS = 30


async def open_redis(redis_url: str | None, *, cluster: str = "auto", max_connections: int = 100) -> Any:
    """The client for ``redis_url``: redis-py's cluster client when it names a node of a
    Redis Cluster (``cluster``, REDIS_CLUSTER: "auto" asks the node; "true"/"false" force it), the primary of
    a Sentinel set-up for ``redis+sentinel://``, else a plain client (the embedded store
    without a URL)."""
    if redis_url is None:
        return connect(None)
    if redis_url.startswith(("redis+sentinel://", "rediss+sentinel://")):
        return sentinel_primary(redis_url, max_connections=max_connections)
    if cluster == "false":
        return connect(redis_url, max_connections=max_connections)
    if cluster == "auto":
        probe = connect(redis_url, max_connections=2)
        try:
            info = await probe.info("cluster")
        finally:
            await probe.aclose()
        if not int(info.get("cluster_enabled", 0)):
            return connect(redis_url, max_connections=max_connections)
    return BoundedRedisCluster.from_url(
        redis_url, max_connections=max_connections, decode_responses=True, socket_connect_timeout=5, socket_timeout=5,
        driver_info=DriverInfo(name="redis-py", lib_version=get_lib_version()),
    )


class BoundedRedisCluster(aioredis.RedisCluster):
    """redis-py's cluster client, never asked for more connections to a node than it may open.

    Unlike the single-server client's blocking pool, the cluster client fails a command at
    once when a node's ``max_connections`` are all in use, and then rebuilds its view of the
    cluster, closing connections other commands are still using (a burst of a thousand
    answers on one process lost a few dozen that way).  Here commands and pipelines wait
    for a turn instead: at most ``max_connections - 2`` at once (a pipeline holds at most
    one connection per node; the two spare are for the Stop listener's subscription)."""

    def __init__(self, *args: Any, max_connections: int = 100, **kwargs: Any) -> None:
        super().__init__(*args, max_connections=max_connections, **kwargs)
        self.turns = asyncio.Semaphore(max(1, max_connections - 2))

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turns:
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> "BoundedClusterPipeline":
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # type: ignore[return-value]  # (it refuses)
        return BoundedClusterPipeline(self, transaction)


class BoundedClusterPipeline(ClusterPipeline):
    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        async with self.cluster_client.turns:  # type: ignore[attr-defined]
            return await super().execute(*args, **kwargs)


@dataclass(frozen=True)
class SentinelAddress:
    hosts: list[tuple[str, int]]
    service: str
    db: int
    password: str | None
    ssl: bool


def sentinel_address(url: str) -> SentinelAddress:
    """``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]``, read."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url.replace("+sentinel", "", 1))
    hosts = []
    for item in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host or item, int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("a redis+sentinel:// URL names its service: redis+sentinel://host:26379/mymaster")
    return SentinelAddress(hosts, path[0], int(path[1]) if len(path) > 1 else 0,
                           unquote(parts.password) if parts.password else None, parts.scheme == "rediss")


def sentinel_primary(url: str, *, max_connections: int = 100) -> aioredis.Redis:
    """A ``redis+sentinel://`` service's primary, found through its Sentinels (and found again after a failover)."""
    from redis.asyncio.retry import Retry
    from redis.asyncio.sentinel import Sentinel
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError

    address = sentinel_address(url)
    # A command whose connection broke (the primary died) is sent again on a new connection,
    # which asks the Sentinels where the primary is now.
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.1), retries=5,
                  supported_errors=(RedisConnectionError, RedisTimeoutError, OSError))
    sentinel = Sentinel(address.hosts, socket_timeout=5, socket_connect_timeout=5, decode_responses=True,
                        password=address.password, ssl=address.ssl, max_connections=max_connections, retry=retry)
    return sentinel.master_for(address.service, db=address.db)


def is_cluster(redis: Any) -> bool:
    return isinstance(redis, aioredis.RedisCluster)


def connect(redis_url: str | None, *, max_connections: int = 100) -> aioredis.Redis:
    """A client for ``redis_url``, or an embedded in-process Redis when it is None.

    The pool is bounded and blocking: under a burst, a command waits (up to POOL_WAIT_SECONDS)
    for a free connection instead of failing with "too many connections"."""
    if redis_url is None:
        from fakeredis import FakeAsyncRedis

        return FakeAsyncRedis(decode_responses=True)
    pool = aioredis.BlockingConnectionPool.from_url(
        redis_url,
        # Named once: left to itself, redis-py looks its own version up in the package
        # metadata for every new connection (2/3 of the CPU a connection costs).
        driver_info=DriverInfo(name="redis-py", lib_version=get_lib_version()),
        max_connections=max_connections,
        timeout=POOL_WAIT_SECONDS,
        decode_responses=True,
        socket_connect_timeout=5,
        socket_timeout=5,
        health_check_interval=30,
        retry_on_timeout=True,
    )
    return aioredis.Redis(connection_pool=pool)


def binary_twin(redis: Any, *, max_connections: int = 16) -> Any:
    """A client of the same Redis (server, Sentinel set or Cluster; the embedded store too) that
    gives bytes back instead of text: for binary values such as team knowledge's vectors."""
    if is_cluster(redis):
        manager = redis.nodes_manager
        node = next(iter(manager.startup_nodes.values()))
        kwargs = manager.connection_kwargs
        return BoundedRedisCluster(host=node.host, port=node.port, max_connections=max_connections,
                                   password=kwargs.get("password"), username=kwargs.get("username"),
                                   decode_responses=False, socket_connect_timeout=5, socket_timeout=5)
    pool = redis.connection_pool
    manager = getattr(pool, "sentinel_manager", None)
    if manager is not None:
        return manager.master_for(pool.service_name, decode_responses=False, db=pool.connection_kwargs.get("db", 0))
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    if isinstance(pool, aioredis.BlockingConnectionPool):
        return aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool(
            connection_class=pool.connection_class, max_connections=max_connections, timeout=POOL_WAIT_SECONDS, **kwargs))
    return aioredis.Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs))

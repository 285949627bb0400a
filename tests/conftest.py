"""Shared fixtures: a real Redis server, the fake Slack and model servers, and the app over HTTP.

If no Redis answers on 127.0.0.1:6379 (or at TEST_REDIS_URL), a private
redis-server is started for the session and stopped afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Any, Iterator

import pytest
import redis

from .fakes.openai_api import FakeModel
from .fakes.slack_api import FakeSlack
from .harness import SIGNING_SECRET, AppInstance, SlackSender, delete_prefix, make_settings
from .fakes.slack_api import BOT_TOKEN
from .processes import BotProcess, bot_env


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules marked ``on_cluster`` run each test on the single Redis and on the Redis Cluster."""
    if "redis_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("on_cluster"):
        metafunc.parametrize("redis_backend", ["redis", "cluster"], indirect=True)


@pytest.fixture
def redis_backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "redis")


@pytest.fixture
def redis_url(redis_backend: str, request: pytest.FixtureRequest) -> str:
    """The Redis a test runs on: the single server, or (``on_cluster`` modules, second run) any
    node of the 3-primary cluster."""
    if redis_backend == "cluster":
        return request.getfixturevalue("redis_cluster_url")
    return request.getfixturevalue("single_redis_url")


@pytest.fixture(scope="session")
def cluster_ports() -> Iterator[list[int]]:
    """A real 3-primary Redis Cluster from redis-server, started once for the session: its nodes' ports."""
    from .redis_servers import start_cluster

    try:
        servers, ports = start_cluster()
    except RuntimeError as exc:
        pytest.fail(f"could not start a Redis Cluster for the tests: {exc}")
    try:
        yield ports
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def search_redis_url() -> Iterator[str]:
    """A Redis with the search module (FT.*), started once for the session (scripts/test provides it)."""
    from .redis_servers import start_search_server

    try:
        servers, port = start_search_server()
    except (RuntimeError, ImportError) as exc:
        pytest.fail(f"could not start a Redis with the search module (run the tests through scripts/test): {exc}")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def redis_cluster_url(cluster_ports: list[int]) -> str:
    return f"redis://127.0.0.1:{cluster_ports[0]}/0"


@pytest.fixture(scope="session")
def single_redis_url() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if _answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("no Redis answers at %s and redis-server is not installed (apt-get install redis-server)" % url)
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="test-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _answers(url):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("could not start redis-server for the tests")
        time.sleep(0.05)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of the test's own, removed afterwards (the Redis may be shared)."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    delete_prefix(redis_url, prefix)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    fake.users.update({"U1": "alice", "U2": "bob", "U3": "carol"})
    fake.channels.update({"C100": "general", "C200": "random"})
    yield fake
    fake.stop()


@pytest.fixture
def model() -> Iterator[FakeModel]:
    fake = FakeModel().start()
    yield fake
    fake.stop()
    assert not fake.template_errors, f"requests a strict chat template refused: {fake.template_errors}"


@pytest.fixture(scope="session")
def tiktoken_cache() -> str:
    return os.path.join(tempfile.gettempdir(), "slack-assistant-test-tiktoken")


@pytest.fixture
def settings_for(slack: FakeSlack, model: FakeModel, redis_url: str, key_prefix: str, tiktoken_cache: str):
    def build(**overrides):
        values = {
            "SLACK_API_URL": slack.base_url,
            "OPENAI_BASE_URL": model.base_url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": key_prefix,
            "TIKTOKEN_CACHE_DIR": tiktoken_cache,
        }
        values.update(overrides)
        return make_settings(**values)

    return build


@pytest.fixture
def start_app(settings_for):
    started: list[AppInstance] = []

    def start(**overrides) -> AppInstance:
        instance = AppInstance(settings_for(**overrides)).start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture
def app(start_app) -> AppInstance:
    return start_app()


@pytest.fixture
def sender(app: AppInstance) -> Iterator[SlackSender]:
    client = SlackSender(app.url)
    yield client
    client.close()


@pytest.fixture
def start_process(slack: FakeSlack, model: FakeModel, redis_url: str, key_prefix: str, tiktoken_cache: str):
    """Start the bot as real processes (``python -m bot serve``) against the fakes and Redis."""
    started: list[BotProcess] = []

    def start(**overrides) -> BotProcess:
        values = {
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPENAI_API_KEY": "sk-test",
            "SLACK_API_URL": slack.base_url, "OPENAI_BASE_URL": model.base_url, "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": key_prefix, "TIKTOKEN_CACHE_DIR": tiktoken_cache, "MODEL_MAX_RETRIES": 0,
            "STREAM_UPDATE_INTERVAL_SECONDS": 0.05, "RESPONSE_URL_HOSTS": "127.0.0.1", "USER_MESSAGES_PER_MINUTE": 10_000,
            "LOG_LEVEL": "INFO",
        }
        values.update(overrides)
        process = BotProcess(bot_env(values))
        started.append(process)
        return process.wait_ready()

    yield start
    for process in started:
        process.close()


@pytest.fixture
def sender_for() -> Iterator[Any]:
    """A signed-event sender for any app instance the test started."""
    senders: list[SlackSender] = []

    def make(instance: AppInstance) -> SlackSender:
        senders.append(SlackSender(instance.url))
        return senders[-1]

    yield make
    for sender in senders:
        sender.close()

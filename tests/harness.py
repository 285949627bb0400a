"""Running the real app over real HTTP, and talking to it as Slack does."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
import uuid
from typing import Any, Mapping
from urllib.parse import urlencode

import httpx
import uvicorn

from bot.runtime import Runtime, build_runtime
from bot.settings import Settings, load_settings
from bot.web import create_web_app

from .fakes.slack_api import BOT_TOKEN, BOT_USER_ID, TEAM_ID

SIGNING_SECRET = "test-signing-secret"
TRIGGERS = itertools.count(1)


# The buttons on a finished answer.
DONE_BUTTONS = ["feedback_up", "feedback_down", "regenerate_answer"]


def sync_client(redis_url: str) -> Any:
    """A blocking client for ``redis_url``: redis-py's cluster client when it names a cluster node."""
    import redis

    plain = redis.Redis.from_url(redis_url)
    try:
        if int(plain.info("cluster").get("cluster_enabled", 0)):
            plain.close()
            return redis.RedisCluster.from_url(redis_url)
    except redis.RedisError:
        pass
    return plain


def delete_prefix(redis_url: str, prefix: str) -> None:
    """Remove every key under ``prefix`` (tests and benchmarks may share a Redis with others)."""
    client = sync_client(redis_url)
    try:
        for key in list(client.scan_iter(match=f"{prefix}:*", count=1000)):
            client.delete(key)  # one key a command: they live in many cluster slots
    finally:
        client.close()


def make_settings(**overrides: Any) -> Settings:
    values = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_MODEL": "gpt-4o-mini",
        "MODEL_MAX_RETRIES": 0,
        "STREAM_UPDATE_INTERVAL_SECONDS": 0.05,
        "LOG_LEVEL": "INFO",
        "RESPONSE_URL_HOSTS": "127.0.0.1",  # the fake Slack's response_url host
        "USER_MESSAGES_PER_MINUTE": 10_000,  # scenario tests send bursts as one user; the flood test sets its own
    }
    values.update({k: v for k, v in overrides.items()})
    return load_settings(values, env_file=None)


class AppInstance:
    """One bot process: the runtime and uvicorn on a free port, in a thread with its own loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime: Runtime | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "AppInstance":
        self._thread.start()
        if not self._ready.wait(30):
            raise AssertionError("the app did not start")
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        try:
            self.runtime = await build_runtime(self.settings)
        except BaseException as exc:  # surfaced to the test by start()
            self._error = exc
            self._ready.set()
            return
        config = uvicorn.Config(create_web_app(self.runtime), lifespan="off", log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        serving = asyncio.ensure_future(self._server.serve(sockets=[self._sock]))
        while not self._server.started and not serving.done():
            await asyncio.sleep(0.01)
        self._ready.set()
        try:
            await serving
        finally:
            await self.runtime.aclose()

    def call(self, coro_factory: Any, timeout: float = 10) -> Any:
        """Run a coroutine on the app's own loop (for inspecting its store)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro_factory(), self.loop).result(timeout)

    def stored(self, cid: Any) -> list[Any]:
        """The turns this instance's store holds for conversation ``cid``."""
        assert self.runtime is not None
        store = self.runtime.store
        return self.call(lambda: store.load(cid)).messages

    def wait_stored(self, cid: Any, count: int, timeout: float = 10) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            turns = self.stored(cid)
            if len(turns) >= count:
                return turns
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} stored turns, found {len(turns)}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=40)


def eventually(condition: Any, what: str = "the condition", timeout: float = 10.0) -> Any:
    """Wait (polling) until ``condition()`` gives something true; return it.  For state the bot
    writes after the Slack call a test can wait on (the commit, a record, a log line)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def settled(app: Any, timeout: float = 30.0, quiet: float = 0.3) -> None:
    """Wait until the app has no background work left (answers, retries, clean-ups, delayed
    deletes) and none starts for ``quiet`` seconds: the event that proves nothing more will
    happen, however long the retry it guards.  For "nothing more happened" checks."""
    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    while True:
        now = time.monotonic()
        if len(app.runtime.core.tasks) == 0 and app.runtime.dispatcher._active == 0:
            idle_since = idle_since or now
            if now - idle_since >= quiet:
                return
        else:
            idle_since = None
        assert now < deadline, f"the app still had work in progress after {timeout:.0f} s"
        time.sleep(0.02)


def said(text: str, name: str = "alice", user: str = "U1") -> str:
    """A channel message as the model receives it (attributed to its author)."""
    return f'<from name="{name}" id="{user}"/>\n{text}'


def button_value(message: Any, action_id: str) -> str:
    """The value Slack sends back: the one the bot put on that button."""
    for block in message.blocks or []:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return element.get("value", "")
    return action_id


class SlackSender:
    """Signs and sends Events API deliveries exactly as Slack does."""

    _ids = itertools.count(1)

    def __init__(self, base_url: str, signing_secret: str = SIGNING_SECRET) -> None:
        self.base_url = base_url
        self.secret = signing_secret.encode()
        self.client = httpx.Client(timeout=10)

    def close(self) -> None:
        self.client.close()

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new(self.secret, f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    def post(self, body: bytes, *, content_type: str = "application/json", headers: Mapping[str, str] | None = None,
             timestamp: int | None = None, base_url: str | None = None) -> httpx.Response:
        all_headers = {"Content-Type": content_type, **self.sign(body, timestamp), **(headers or {})}
        return self.client.post(f"{base_url or self.base_url}/slack/events", content=body, headers=all_headers)

    @staticmethod
    def envelope(event: Mapping[str, Any], event_id: str | None = None, *, team: str = TEAM_ID,
                 bot_user: str = BOT_USER_ID, enterprise: str | None = None, org_install: bool = False) -> dict[str, Any]:
        return {
            "token": "legacy-verification-token",
            "team_id": team,
            **({"enterprise_id": enterprise} if enterprise else {}),
            "api_app_id": "A0001",
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(SlackSender._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": enterprise, "team_id": team, "user_id": bot_user, "is_bot": True,
                                "is_enterprise_install": org_install}],
            "is_ext_shared_channel": False,
        }

    def send_command(self, command: str, text: str = "", *, response_url: str, channel: str = "C100",
                     user: str = "U1", base_url: str | None = None, team: str = TEAM_ID) -> httpx.Response:
        """A slash command, form-encoded and signed as Slack sends it."""
        form = {
            "token": "legacy-verification-token", "team_id": team, "team_domain": "example",
            "channel_id": channel, "channel_name": "directmessage" if channel.startswith("D") else "general",
            "user_id": user, "user_name": user.lower(), "command": command, "text": text, "api_app_id": "A0001",
            "is_enterprise_install": "false", "response_url": response_url,
            "trigger_id": f"{int(time.time())}.{next(TRIGGERS)}.{uuid.uuid4().hex}",  # Slack's: one per invocation
        }
        body = urlencode(form).encode()
        return self.post(body, content_type="application/x-www-form-urlencoded", base_url=base_url)

    def send_action(self, action_id: str, message: Any, *, response_url: str, user: str = "U1",
                    base_url: str | None = None) -> httpx.Response:
        """A block_actions payload for a button on ``message`` (a fake-Slack PostedMessage)."""
        payload = {
            "type": "block_actions", "team": {"id": TEAM_ID, "domain": "example"},
            "user": {"id": user, "team_id": TEAM_ID}, "api_app_id": "A0001", "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel, "is_ephemeral": False},
            "trigger_id": "1.2.3", "channel": {"id": message.channel, "name": "general"},
            "message": {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks or []},
            "response_url": response_url,
            "actions": [{"action_id": action_id, "block_id": "answer_controls", "type": "button",
                         "value": button_value(message, action_id), "action_ts": f"{time.time():.6f}"}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, content_type="application/x-www-form-urlencoded", base_url=base_url)

    def send_event(self, event: Mapping[str, Any], *, event_id: str | None = None, retry_num: int | None = None,
                   base_url: str | None = None, **workspace: Any) -> httpx.Response:
        """``workspace``: team, bot_user, enterprise, org_install of the envelope (another workspace's event)."""
        body = json.dumps(self.envelope(event, event_id, **workspace)).encode()
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        return self.post(body, headers=headers, base_url=base_url)


_ts = itertools.count(1)


def new_ts() -> str:
    """A fresh Slack-style message ts (fixed width, increasing)."""
    return f"{1_600_000_000 + next(_ts)}.{next(_ts) % 1_000_000:06d}"


def mention(text: str, *, channel: str = "C100", user: str = "U1", ts: str | None = None, thread_ts: str | None = None) -> dict[str, Any]:
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER_ID}> {text}", "ts": ts or new_ts(),
             "channel": channel, "team": TEAM_ID}
    event["event_ts"] = event["ts"]
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message(text: str, *, channel: str = "C100", user: str = "U1", ts: str | None = None, thread_ts: str | None = None,
            channel_type: str = "channel", **extra: Any) -> dict[str, Any]:
    event = {"type": "message", "user": user, "text": text, "ts": ts or new_ts(), "channel": channel,
             "channel_type": channel_type, "team": TEAM_ID, **extra}
    event["event_ts"] = event["ts"]
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def twin_message(app_mention_event: Mapping[str, Any]) -> dict[str, Any]:
    """The ``message`` event Slack sends alongside an ``app_mention`` for the same channel message."""
    twin = {k: v for k, v in app_mention_event.items() if k != "type"}
    return {"type": "message", "channel_type": "channel", **twin}


def edited(original: Mapping[str, Any], new_text: str, *, after_seconds: float = 10.0) -> dict[str, Any]:
    """The ``message_changed`` event Slack sends when ``original``'s author edits it."""
    when = f"{float(original['ts']) + after_seconds:.6f}"
    inner = {"type": "message", "user": original["user"], "text": new_text, "ts": original["ts"], "team": TEAM_ID,
             "edited": {"user": original["user"], "ts": when}}
    if original.get("thread_ts"):
        inner["thread_ts"] = original["thread_ts"]
    previous = {"type": "message", "user": original["user"], "text": original["text"], "ts": original["ts"]}
    return {"type": "message", "subtype": "message_changed", "hidden": True, "channel": original["channel"],
            "channel_type": original.get("channel_type", "channel"), "ts": when, "event_ts": when,
            "message": inner, "previous_message": previous}


def command_reply(app: Any, slack: Any, command: str, text: str, *, name: str = "cmd") -> dict[str, Any]:
    """Send a slash command to ``app`` and wait for its one reply through its response_url."""
    sender = SlackSender(app.url)
    try:
        sender.send_command(command, text, response_url=slack.response_url(name))
        [reply] = slack.wait_for_response(name)
    finally:
        sender.close()
    return reply


def mention_answered(app: Any, slack: Any, text: str, answers: int) -> dict[str, Any]:
    """Mention the bot in a new thread, wait until ``answers`` answers are shown and the app is
    idle (its background work done too); the event sent."""
    sender = SlackSender(app.url)
    try:
        event = mention(text)
        sender.send_event(event)
        slack.wait_for_answers(answers)
        settled(app)
        return event
    finally:
        sender.close()

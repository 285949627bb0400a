"""A fake Slack Web API speaking Slack's wire format (JSON or form bodies,
``{"ok": ...}`` answers, 429 with Retry-After), recording every call.

The real slack-sdk ``AsyncWebClient`` talks to it through ``base_url``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from .canvases import METHODS as CANVAS_METHODS, FakeCanvases
from .http import BackgroundServer, QuietHandler

BOT_TOKEN = "xoxb-test-token"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0001"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    token: str | None = None


@dataclass
class Installed:
    """A workspace's bot as Slack knows it after an installation (tokens rotate when ``expires_in`` is set)."""

    team_id: str
    team_name: str
    bot_user_id: str
    bot_id: str
    enterprise_id: str | None = None
    is_enterprise_install: bool = False
    expires_in: int | None = None


@dataclass
class PostedMessage:
    channel: str
    ts: str
    thread_ts: str | None
    text: str
    history: list[str] = field(default_factory=list)  # every text it showed, oldest first
    blocks: list[dict[str, Any]] | None = None
    streaming: bool = False  # started with chat.startStream and not stopped yet
    chunks: list[dict[str, Any]] = field(default_factory=list)  # every chunk streamed into it (task updates, text)
    task_display_mode: str | None = None

    def action_ids(self) -> list[str]:
        return [e["action_id"] for b in self.blocks or [] if b.get("type") == "actions" for e in b["elements"]]


# Slack's rate tiers (calls per minute per workspace) for the methods answers use.
SLACK_TIERS = {
    "chat.update": 50,  # Tier 3
    "chat.delete": 50,  # Tier 3
    "chat.startStream": 20,  # Tier 2
    "chat.stopStream": 20,  # Tier 2
    "chat.appendStream": 100,  # Tier 4
    "assistant.threads.setStatus": 100,
}

# Slack's size limits for one message.
MARKDOWN_CHARS = 12_000  # markdown_text, and all markdown blocks of a payload together
TEXT_CHARS = 40_000
SECTION_CHARS = 3_000
MAX_BLOCKS = 50
UPDATE_BYTES = 4_000  # chat.update has been seen to fail with msg_too_long near this size


def _blocks(params: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = params.get("blocks")
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks or [])


def _chunks(params: dict[str, Any]) -> list[dict[str, Any]]:
    chunks = params.get("chunks") or []
    return json.loads(chunks) if isinstance(chunks, str) else list(chunks)


def table_error(blocks: list[dict[str, Any]], refused: bool) -> str | None:
    """Slack's table block: one per message, at most 100 rows of at most 20 cells, every
    cell raw_text (with text) or rich_text (with elements)."""
    tables = [b for b in blocks if b.get("type") == "table"]
    if not tables:
        return None
    if refused or len(tables) > 1:
        return "invalid_blocks"
    rows = tables[0].get("rows")
    if not isinstance(rows, list) or not 1 <= len(rows) <= 100 or len({len(r) for r in rows}) != 1:
        return "invalid_blocks"
    for row in rows:
        if not 1 <= len(row) <= 20:
            return "invalid_blocks"
        for cell in row:
            if not (cell.get("type") == "raw_text" and cell.get("text")) and \
                    not (cell.get("type") == "rich_text" and cell.get("elements")):
                return "invalid_blocks"
    return None


def size_error(method: str, params: dict[str, Any], markdown_refused: bool = False, tables_refused: bool = False) -> str | None:
    """The error Slack answers for a message over its limits (or using Markdown or a table
    where it is refused), or None."""
    blocks = _blocks(params)
    if table_error(blocks, tables_refused):
        return "invalid_blocks"
    markdown_text = params.get("markdown_text") or ""
    if markdown_refused and (markdown_text or any(b.get("type") == "markdown" for b in blocks)):
        return "invalid_blocks"
    if markdown_text and (params.get("text") or blocks):
        return "invalid_arguments"  # markdown_text cannot go with text or blocks
    if len(markdown_text) > MARKDOWN_CHARS or len(params.get("text") or "") > TEXT_CHARS:
        return "msg_too_long"
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    if sum(len(b.get("text", "")) for b in blocks if b.get("type") == "markdown") > MARKDOWN_CHARS:
        return "invalid_blocks"
    if any(len((b.get("text") or {}).get("text", "")) > SECTION_CHARS for b in blocks if b.get("type") == "section"):
        return "invalid_blocks"
    content = markdown_text + "".join(b.get("text", "") for b in blocks if b.get("type") == "markdown")
    if method == "chat.update" and len(content.encode()) > UPDATE_BYTES:
        return "msg_too_long"
    return None


def shown_text(params: dict[str, Any]) -> str:
    """What a message shows: its markdown_text, its markdown blocks, or its text."""
    blocks = _blocks(params)
    markdown = "".join(b.get("text", "") for b in blocks if b.get("type") == "markdown")
    sections = "".join((b.get("text") or {}).get("text", "") for b in blocks if b.get("type") == "section")
    return params.get("markdown_text") or markdown or sections or params.get("text") or ""


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], PostedMessage] = {}
        self.users: dict[str, str] = {}
        self.channels: dict[str, str] = {}
        self.threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}  # channel -> messages, any order
        self.creators: dict[str, str] = {}
        self.private: set[str] = set()  # private channels (C/G), besides DMs (D) and group DMs (mpdm)
        self.members: dict[str, set[str]] = {}  # channel -> members, for private channels and DMs
        self.ephemeral: list[dict[str, Any]] = []  # chat.postEphemeral payloads
        self.app_token = "xapp-1-test"
        self.not_in_channel: set[str] = set()
        self.responses: dict[str, list[dict[str, Any]]] = {}  # response_url id -> posted payloads
        self.refused_responses: list[tuple[str, dict[str, Any]]] = []  # (response_url id, payload) answered with an error
        self.failures: dict[str, list[dict[str, Any]]] = {}  # method -> queued error answers
        self.delays: dict[str, float] = {}
        self.slow: dict[str, list[float]] = {}  # method -> delays for its next calls only (a timeout)
        self.deleted: list[PostedMessage] = []
        self.files: dict[str, bytes] = {}  # "<id>/<name>" -> bytes, served at /files/<id>/<name>
        self.file_downloads: list[tuple[str, str]] = []  # (file, Authorization header) of every download
        self.file_download_times: list[float] = []  # when each download began (time.monotonic())
        from bot.slack.manifest import BOT_SCOPES

        self.granted_scopes: list[str] = list(BOT_SCOPES)  # what auth.test says the token holds
        self.canvases = FakeCanvases(BOT_USER_ID, TEAM_ID)  # canvases (tests/fakes/canvases.py)
        self.agent_sessions = False  # whether this workspace offers agents.sessions.setStatus
        self.sessions: dict[tuple[str, str], str] = {}  # (channel, thread_ts) -> session status
        self.timezones: dict[str, str] = {}  # user -> IANA time zone (users.info "tz")
        self.user_flags: dict[str, dict[str, Any]] = {}  # user -> users.info flags (is_restricted, is_stranger, team_id…)
        self.shared_out: set[str] = set()  # channels shared with another organisation (Slack Connect)
        self.search_results: list[dict[str, Any]] = []  # what assistant.search.context finds
        self.home_views: dict[str, dict[str, Any]] = {}  # user -> the Home tab view published for them
        self.markdown_refused = False  # answer invalid_blocks to markdown_text and markdown blocks
        self.tables_refused = False  # answer invalid_blocks to table blocks (a surface without them)
        self.errors: list[tuple[str, str]] = []  # (method, error) of every ok:false answer
        # Slack's per-method, per-workspace limits (calls per minute), enforced with 429 + Retry-After.
        self.rate_limits: dict[str, int] = dict(SLACK_TIERS)
        self.rate_limited: dict[str, int] = {}  # method -> 429s answered
        self._recent: dict[str, list[float]] = {}  # method -> seconds to wait before answering
        # OAuth (distributed apps): the app's credentials, codes handed out by the consent page,
        # every live bot token (with its workspace and expiry) and refresh token (each spent once).
        self.client_id, self.client_secret = "1111.2222", "client-secret"
        self.codes: dict[str, Installed] = {}
        self.tokens: dict[str, tuple[Installed, float | None]] = {
            BOT_TOKEN: (Installed(TEAM_ID, "Example", BOT_USER_ID, BOT_ID), None)}
        self.refresh_tokens: dict[str, Installed] = {}
        self.refreshes = 0  # refresh_token grants answered
        self._issued = 0
        self._condition = threading.Condition()
        self._ts_counter = 0
        self.server = BackgroundServer(self._handler_class())

    # --- set-up ---------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/api/"

    def start(self) -> "FakeSlack":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def share_file(self, file_id: str, name: str, data: bytes, *, mimetype: str = "application/octet-stream",
                   filetype: str = "binary", size: int | None = None) -> dict[str, Any]:
        """Put a file where Slack keeps it; returns the file object an event carries."""
        self.files[f"{file_id}/{name}"] = data
        url = f"http://127.0.0.1:{self.server.port}/files/{file_id}/{name}"
        return {"id": file_id, "name": name, "title": name, "mimetype": mimetype, "filetype": filetype,
                "size": len(data) if size is None else size, "mode": "hosted",
                "url_private": url, "url_private_download": url}

    def response_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.port}/response/{name}"

    def wait_for_response(self, name: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        return self.wait_for(lambda s: s.responses.get(name) if len(s.responses.get(name, [])) >= count else None, timeout)

    def record_response(self, name: str, payload: dict[str, Any]) -> None:
        with self._condition:
            self.responses.setdefault(name, []).append(payload)
            self._condition.notify_all()

    def fail_next(self, method: str, error: str = "internal_error", *, status: int = 200, retry_after: int | None = None,
                  after: int = 0) -> None:
        """Answer the next call of ``method`` with ``error``; for "response/<name>" (a response_url),
        the next post once ``after`` posts to it were taken."""
        self.failures.setdefault(method, []).append({"error": error, "status": status, "retry_after": retry_after,
                                                     "after": after})

    # --- inspection -------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        with self._condition:
            return [c for c in self.calls if c.method == method]

    def posts(self, channel: str | None = None) -> list[PostedMessage]:
        """Messages the bot posted (each chat.postMessage), oldest first."""
        with self._condition:
            found = [m for m in self.messages.values() if channel is None or m.channel == channel]
        return sorted(found, key=lambda m: float(m.ts))

    def wait_for(self, predicate: Callable[["FakeSlack"], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timed out waiting for the fake Slack to see the expected calls")
                self._condition.wait(remaining)

    def wait_for_answers(self, count: int, timeout: float = 10.0, final: Callable[[str], bool] | None = None) -> list[PostedMessage]:
        """Wait until ``count`` posted messages exist and none still shows a placeholder."""
        done = final or (lambda text: not text.startswith("_Thinking") and not text.endswith(" …"))

        def ready(slack: "FakeSlack") -> list[PostedMessage] | None:
            posts = [m for m in slack.messages.values()]
            if len(posts) >= count and all(done(m.text) and not m.streaming for m in posts):
                return sorted(posts, key=lambda m: float(m.ts))
            return None

        return self.wait_for(ready, timeout)

    # --- the API ----------------------------------------------------------------
    def _next_ts(self) -> str:
        self._ts_counter += 1
        return f"{1_700_000_000 + self._ts_counter}.{self._ts_counter:06d}"

    def authorize_code(self, installed: Installed) -> str:
        """What Slack's consent page does when someone approves: a code for oauth.v2.access."""
        with self._condition:
            self._issued += 1
            code = f"code-{self._issued}"
            self.codes[code] = installed
            return code

    def _grant(self, installed: Installed, refreshed: bool = False) -> dict[str, Any]:
        """New tokens: a refreshed one lives Slack's 12 hours, the first one ``installed.expires_in``."""
        self._issued += 1
        token = f"xoxe.xoxb-{installed.team_id or installed.enterprise_id}-{self._issued}"
        lifetime = 12 * 3600 if refreshed else installed.expires_in
        expires = time.time() + lifetime if lifetime is not None else None
        self.tokens[token] = (installed, expires)
        grant: dict[str, Any] = {"access_token": token, "token_type": "bot", "bot_user_id": installed.bot_user_id}
        if installed.expires_in is not None:
            refresh = f"xoxe-1-refresh-{self._issued}"
            self.refresh_tokens[refresh] = installed
            grant.update(refresh_token=refresh, expires_in=lifetime)
        return grant

    def _oauth_access(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("client_id") != self.client_id or p.get("client_secret") != self.client_secret:
            return {"ok": False, "error": "invalid_client_id" if p.get("client_id") != self.client_id else "bad_client_secret"}
        if p.get("grant_type") == "refresh_token":
            installed = self.refresh_tokens.pop(str(p.get("refresh_token")), None)  # a refresh token is spent once
            if installed is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            self.refreshes += 1
            return {"ok": True, **self._grant(installed, refreshed=True), "team": {"id": installed.team_id}}
        installed = self.codes.pop(str(p.get("code")), None)
        if installed is None:
            return {"ok": False, "error": "invalid_code"}
        return {
            "ok": True, "app_id": "A0001", "scope": ",".join(self.granted_scopes), **self._grant(installed),
            "team": {"id": installed.team_id, "name": installed.team_name} if not installed.is_enterprise_install else None,
            "enterprise": {"id": installed.enterprise_id, "name": "Org"} if installed.enterprise_id else None,
            "is_enterprise_install": installed.is_enterprise_install,
            "authed_user": {"id": "U1"},
        }

    def token_team(self, token: str | None) -> Installed | None:
        """The workspace a live token belongs to (None: unknown, revoked or expired)."""
        found = self.tokens.get(token or "")
        if found is None or (found[1] is not None and found[1] < time.time()):
            return None
        return found[0]

    def revoke_workspace(self, team_id: str) -> None:
        """The workspace removed the app: its tokens stop working."""
        with self._condition:
            for token, (installed, _) in list(self.tokens.items()):
                if installed.team_id == team_id:
                    del self.tokens[token]

    def slow_next(self, method: str, seconds: float) -> None:
        """The next call of ``method`` answers only after ``seconds`` (past the client's timeout)."""
        with self._condition:
            self.slow.setdefault(method, []).append(seconds)

    def handle(self, method: str, params: dict[str, Any], token: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self.delays.get(method):
            time.sleep(self.delays[method])
        with self._condition:
            slow = self.slow.get(method, [])
            delay = slow.pop(0) if slow else 0.0
        if delay:
            with self._condition:
                self.calls.append(Call(method, {**params, "_timed_out": True}))
                self._condition.notify_all()
            time.sleep(delay)
            return 200, {"ok": False, "error": "too_late"}, {}
        with self._condition:
            self.calls.append(Call(method, params, token=token))
            self._condition.notify_all()
            limit = self.rate_limits.get(method)
            if limit is not None:
                now = time.monotonic()
                recent = [t for t in self._recent.get(method, []) if now - t < 60]
                if len(recent) >= limit:
                    self._recent[method] = recent
                    self.rate_limited[method] = self.rate_limited.get(method, 0) + 1
                    retry_after = max(1, int(60 - (now - recent[0])) + 1)
                    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}
                self._recent[method] = recent + [now]
            queued = self.failures.get(method)
            if queued:
                failure = queued.pop(0)
                headers = {"Retry-After": str(failure["retry_after"])} if failure["retry_after"] is not None else {}
                return failure["status"], {"ok": False, "error": failure["error"]}, headers
            if method == "apps.connections.open":
                ok = token == self.app_token
                return 200, ({"ok": True, "url": "ws://127.0.0.1:9/link"} if ok else {"ok": False, "error": "invalid_auth"}), {}
            if method == "oauth.v2.access":
                return 200, self._oauth_access(params), {}
            installed = self.token_team(token)
            if installed is None:
                expired = token in self.tokens
                return 200, {"ok": False, "error": "token_expired" if expired else "invalid_auth"}, {}
            error = size_error(method, params, self.markdown_refused, self.tables_refused) if method in ("chat.postMessage", "chat.update") else None
            result = {"ok": False, "error": error} if error else self._dispatch(method, params)
            if method == "users.info" and result.get("ok") and installed.team_id and \
                    "team_id" not in self.user_flags.get(str(params.get("user")), {}):
                result["user"]["team_id"] = installed.team_id  # a member of the workspace asking, unless flagged
            if method == "auth.test" and result.get("ok"):
                result.update(team_id=installed.team_id, user_id=installed.bot_user_id, bot_id=installed.bot_id,
                              team=installed.team_name, is_enterprise_install=installed.is_enterprise_install,
                              enterprise_id=installed.enterprise_id)
            if not result.get("ok"):
                self.errors.append((method, str(result.get("error"))))
            self._condition.notify_all()
            if method == "auth.test" and result.get("ok"):  # Slack names the token's scopes in a header
                return 200, result, {"X-OAuth-Scopes": ",".join(self.granted_scopes)}
            return 200, result, {}

    def _dispatch(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        if method in CANVAS_METHODS:
            return self.canvases.answer(method, p, self.granted_scopes)
        if method == "auth.test":
            return {"ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "assistant",
                    "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}
        if method == "chat.postMessage":
            text = shown_text(p)
            if not p.get("channel"):
                return {"ok": False, "error": "channel_not_found"}
            ts = self._next_ts()
            message = PostedMessage(p["channel"], ts, p.get("thread_ts") or None, text, [text], p.get("blocks"))
            self.messages[(p["channel"], ts)] = message
            return {"ok": True, "channel": p["channel"], "ts": ts, "message": {"text": text, "ts": ts}}
        if method == "chat.update":
            found = self.messages.get((p.get("channel", ""), p.get("ts", "")))
            if found is None:
                return {"ok": False, "error": "message_not_found"}
            text = shown_text(p)
            found.text = text
            found.blocks = p.get("blocks")
            found.history.append(text)
            return {"ok": True, "channel": found.channel, "ts": found.ts, "text": text}
        if method == "chat.delete":
            found = self.messages.pop((p.get("channel", ""), p.get("ts", "")), None)
            if found is None:
                return {"ok": False, "error": "message_not_found"}
            self.deleted.append(found)
            return {"ok": True, "channel": found.channel, "ts": found.ts}
        if method == "users.info":
            user = p.get("user", "")
            if user not in self.users:
                return {"ok": False, "error": "user_not_found"}
            info = {"id": user, "name": user.lower(), "profile": {"display_name": self.users[user]},
                    "team_id": TEAM_ID, "is_restricted": False, "is_ultra_restricted": False,
                    **self.user_flags.get(user, {})}
            if user in self.timezones:
                info["tz"] = self.timezones[user]
            return {"ok": True, "user": info}
        if method == "agents.sessions.setStatus":
            if not self.agent_sessions:
                return {"ok": False, "error": "not_allowed"}
            if not p.get("channel_id") or p.get("status") not in ("active", "processing", "suspended", "closed"):
                return {"ok": False, "error": "invalid_arguments"}
            self.sessions[(p["channel_id"], p.get("thread_ts") or "")] = p["status"]
            return {"ok": True}
        if method == "assistant.search.context":
            if not p.get("action_token"):
                return {"ok": False, "error": "missing_action_token"}
            if not p.get("query"):
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True, "results": {"messages": list(self.search_results)}}
        if method == "conversations.info":
            channel = p.get("channel", "")
            if channel not in self.channels:
                return {"ok": False, "error": "channel_not_found"}
            info = {"id": channel, "name": self.channels[channel], "is_channel": not channel.startswith("D"),
                    "is_private": channel in self.private, "is_im": channel.startswith("D"),
                    "is_mpim": self.channels[channel].startswith("mpdm-"), "is_ext_shared": channel in self.shared_out}
            if channel.startswith("D") and self.members.get(channel):
                info["user"] = sorted(self.members[channel])[0]  # the person the bot's DM is with
            if channel in self.creators:
                info["creator"] = self.creators[channel]
            own_canvas = self.canvases.of_channel(channel)
            if own_canvas is not None:
                info["properties"] = {"canvas": {"file_id": own_canvas.id, "is_empty": False}}
            return {"ok": True, "channel": info}
        if method == "conversations.members":
            channel = p.get("channel", "")
            if channel not in self.channels:
                return {"ok": False, "error": "channel_not_found"}
            members = sorted(self.members.get(channel, set()))
            start, limit = int(p.get("cursor") or 0), int(p.get("limit") or 100)
            more = start + limit < len(members)
            return {"ok": True, "members": members[start : start + limit],
                    "response_metadata": {"next_cursor": str(start + limit) if more else ""}}
        if method == "chat.postEphemeral":
            if not p.get("channel") or not p.get("user"):
                return {"ok": False, "error": "invalid_arguments"}
            self.ephemeral.append(dict(p))
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "conversations.history":
            channel = p.get("channel", "")
            if channel in self.not_in_channel:
                return {"ok": False, "error": "not_in_channel"}
            posted = self._posted_as_slack_returns(channel, None)
            if channel not in self.history and not posted:
                return {"ok": False, "error": "channel_not_found"}
            found = [*self.history.get(channel, []), *posted]
            if p.get("oldest"):
                found = [m for m in found if float(m["ts"]) > float(p["oldest"])]
            newest_first = sorted(found, key=lambda m: float(m["ts"]), reverse=True)
            limit = int(p.get("limit") or 100)
            return {"ok": True, "messages": newest_first[:limit], "has_more": len(newest_first) > limit}
        if method == "conversations.replies":
            return self._replies(p)
        if method == "chat.startStream":
            channel, thread_ts = p.get("channel", ""), p.get("thread_ts")
            if not channel or not thread_ts:
                return {"ok": False, "error": "invalid_arguments"}  # streams are thread replies
            if not channel.startswith("D") and not (p.get("recipient_team_id") and p.get("recipient_user_id")):
                return {"ok": False, "error": "missing_recipient_team_id"}
            ts = self._next_ts()
            chunks = _chunks(p)
            text = (p.get("markdown_text") or "") + "".join(c.get("text", "") for c in chunks if c.get("type") == "markdown_text")
            message = PostedMessage(channel, ts, thread_ts, text, [text], streaming=True, chunks=chunks,
                                    task_display_mode=p.get("task_display_mode"))
            self.messages[(channel, ts)] = message
            return {"ok": True, "channel": channel, "ts": ts}
        if method in ("chat.appendStream", "chat.stopStream"):
            found = self.messages.get((p.get("channel", ""), p.get("ts", "")))
            if found is None:
                return {"ok": False, "error": "message_not_found"}
            if not found.streaming:
                return {"ok": False, "error": "message_not_in_streaming_state"}
            chunks = _chunks(p)
            text = found.text + (p.get("markdown_text") or "") + "".join(
                c.get("text", "") for c in chunks if c.get("type") == "markdown_text")
            if len(text) > MARKDOWN_CHARS:
                return {"ok": False, "error": "msg_too_long"}
            if method == "chat.appendStream" and not p.get("markdown_text") and not chunks:
                return {"ok": False, "error": "invalid_arguments"}
            if any(c.get("type") not in ("markdown_text", "task_update", "plan_update", "blocks") for c in chunks):
                return {"ok": False, "error": "invalid_chunks"}
            found.chunks += chunks
            found.text = text
            found.history.append(text)
            if method == "chat.stopStream":
                found.streaming = False
                found.blocks = [{"type": "markdown", "text": text}, *_blocks(p)]
            return {"ok": True, "channel": found.channel, "ts": found.ts}
        if method in ("assistant.threads.setStatus", "assistant.threads.setTitle", "assistant.threads.setSuggestedPrompts"):
            # Suggested prompts may also be set for the whole agent DM (agent view), with no thread.
            dm_wide = method == "assistant.threads.setSuggestedPrompts" and str(p.get("channel_id", "")).startswith("D")
            if not p.get("channel_id") or not (p.get("thread_ts") or dm_wide):
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True}
        if method == "views.publish":
            view = p.get("view")
            view = json.loads(view) if isinstance(view, str) else view
            if not p.get("user_id") or not isinstance(view, dict) or len(view.get("blocks", [])) > 100:
                return {"ok": False, "error": "invalid_arguments"}
            self.home_views[p["user_id"]] = view
            return {"ok": True, "view": {"id": "V1", **view}}
        return {"ok": False, "error": "unknown_method"}

    def _posted_as_slack_returns(self, channel: str, thread_ts: str | None) -> list[dict[str, Any]]:
        """The bot's own posts in a thread (or at the top level), as Slack lists them."""
        return [{"type": "message", "ts": m.ts, "text": m.text, "user": BOT_USER_ID, "bot_id": BOT_ID,
                 **({"thread_ts": m.thread_ts} if m.thread_ts else {})}
                for m in self.messages.values() if m.channel == channel and m.thread_ts == thread_ts]

    def _replies(self, p: dict[str, Any]) -> dict[str, Any]:
        channel, ts = p.get("channel", ""), p.get("ts", "")
        thread = self.threads.get((channel, ts))
        posted = self._posted_as_slack_returns(channel, ts)
        if thread is None and not posted:
            return {"ok": False, "error": "thread_not_found"}
        messages = sorted([*(thread or []), *posted], key=lambda m: float(m["ts"]))
        if p.get("oldest"):
            messages = [m for m in messages if float(m["ts"]) > float(p["oldest"])]
        if p.get("latest"):
            inclusive = str(p.get("inclusive", "")).lower() in ("1", "true")
            latest = float(p["latest"])
            messages = [m for m in messages if float(m["ts"]) < latest or (inclusive and float(m["ts"]) == latest)]
        start = int(p.get("cursor") or 0)
        limit = int(p.get("limit") or 1000)
        page = messages[start : start + limit]
        more = start + limit < len(messages)
        return {"ok": True, "messages": page, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _handler_class(self) -> type:
        fake = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/files/"):
                    self._file()
                    return
                self._serve(dict(parse_qsl(urlsplit(self.path).query)))

            def _file(self) -> None:
                """A file's url_private_download: only with the bot's token (Slack sends anyone else
                to its sign-in page, an HTML 200 after a redirect: here a plain 302)."""
                name = urlsplit(self.path).path.removeprefix("/files/")
                fake.file_downloads.append((name, self.headers.get("Authorization", "")))
                fake.file_download_times.append(time.monotonic())
                time.sleep(fake.delays.get("files", 0.0))  # a slow download
                data = fake.files.get(name)
                auth = self.headers.get("Authorization", "")
                if fake.token_team(auth.removeprefix("Bearer ")) is None or data is None:
                    self.send_response(302)
                    self.send_header("Location", "/signin")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                if self.path.startswith("/response/"):
                    name, body = self.path.rsplit("/", 1)[-1], json.loads(self.read_body() or b"{}")
                    queued = fake.failures.get(f"response/{name}")  # fail_next("response/<name>", status=…)
                    if queued and len(fake.responses.get(name, [])) >= queued[0]["after"]:
                        failure = queued.pop(0)
                        fake.refused_responses.append((name, body))
                        self.send_json({"ok": False, "error": failure["error"]}, failure["status"], {})
                        return
                    fake.record_response(name, body)
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    return
                body = self.read_body().decode()
                params = dict(parse_qsl(urlsplit(self.path).query))
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    params.update(json.loads(body or "{}"))
                else:
                    params.update(dict(parse_qsl(body, keep_blank_values=True)))
                self._serve(params)

            def _serve(self, params: dict[str, Any]) -> None:
                method = urlsplit(self.path).path.rsplit("/", 1)[-1]
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else params.get("token")
                if auth.startswith("Basic "):  # oauth.v2.access: the app's credentials as HTTP Basic auth
                    client_id, _, secret = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
                    params = {**params, "client_id": client_id, "client_secret": secret}
                status, payload, headers = fake.handle(method, params, token)
                self.send_json(payload, status, headers)

        return Handler

"""Settings, read once at start-up into one typed object and passed down.

Nothing else in the code base reads the environment.  A missing or invalid
setting becomes a :class:`ConfigError` whose message is one line that names the
setting and says how to fix it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.usage.quotas import Access, QuotaLimits
from bot.workspaces.sealing import parse_keys

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROMPTS_DIR = PROJECT_ROOT / "prompts"
DEFAULT_PRICES_FILE = PROJECT_ROOT / "prices.yaml"
DEFAULT_EVALS_DIR = PROJECT_ROOT / "evals"
DEFAULT_TIKTOKEN_CACHE_DIR = Path.home() / ".cache" / "slack-assistant" / "tiktoken"

# How to fix each setting, shown when it is missing or invalid.
HINTS: dict[str, str] = {
    "SLACK_BOT_TOKEN": "set it to the Bot User OAuth Token (xoxb-...) from your Slack app's 'OAuth & Permissions' page "
                       "(or set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to install the app in many workspaces)",
    "SLACK_CLIENT_ID": "set it to the Client ID from your Slack app's 'Basic Information' page",
    "SLACK_CLIENT_SECRET": "set it to the Client Secret from your Slack app's 'Basic Information' page",
    "TOKEN_ENCRYPTION_KEY": "installations (bot and refresh tokens) are encrypted at rest: make a key with "
                            "`python -m bot keygen` (several comma-separated keys rotate: the first encrypts)",
    "SLACK_REDIRECT_URI": "set it to https://<your host>/slack/oauth_redirect, as listed under 'OAuth & Permissions' > 'Redirect URLs'",
    "SLACK_SIGNING_SECRET": "set it to the Signing Secret from your Slack app's 'Basic Information' page",
    "SLACK_APP_TOKEN": "set it to an app-level token (xapp-...) with the connections:write scope, from 'Basic Information' > 'App-Level Tokens'",
    "SLACK_API_URL": "set it to the Slack Web API base URL, e.g. https://slack.com/api/",
    "OPENAI_API_KEY": "set it to your model provider's API key (any value for a local server that needs none, together with OPENAI_BASE_URL)",
    "OPENAI_BASE_URL": "set it to your OpenAI-compatible server's URL, e.g. http://localhost:11434/v1",
    "OPENAI_MODEL": "set it to a model name your server serves, e.g. gpt-4o-mini",
    "REDIS_URL": "set it to a redis://, rediss:// or redis+sentinel:// URL (any node of a Redis Cluster), or leave it unset to use the embedded in-process store",
}


# Model names that take image input (MODEL_VISION=auto).
VISION_MODELS = re.compile(
    r"^(gpt-4o|gpt-4\.1|gpt-4-turbo|gpt-4\.5|gpt-5|o1(?!-mini)|o3|o4|chatgpt-4o|claude-3|claude-(sonnet|opus|haiku)|"
    r"gemini|llava|llama-?3\.2-vision|llama-?4|qwen2?(\.5)?-vl|pixtral|gemma-?3|mistral-(small|medium)-3)",
    re.IGNORECASE,
)


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one human line."""


class Settings(BaseSettings):
    """Every setting of the bot, with its default.  See docs/settings.md."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        use_attribute_docstrings=True,  # each setting's docstring is its meaning (docs/settings.md: bot/settings_doc.py)
    )

    # Slack
    # Many workspaces (OAuth): with these and no SLACK_BOT_TOKEN the app installs itself per workspace.
    slack_client_id: str | None = Field(default=None, alias="SLACK_CLIENT_ID")
    """*Basic Information* → Client ID: with `SLACK_CLIENT_SECRET` and no `SLACK_BOT_TOKEN`, the app installs itself
    per workspace through `/slack/install` (see Running at scale)"""
    slack_client_secret: SecretStr | None = Field(default=None, alias="SLACK_CLIENT_SECRET")
    """*Basic Information* → Client Secret"""
    token_encryption_key: SecretStr | None = Field(default=None, alias="TOKEN_ENCRYPTION_KEY",
        json_schema_extra={"doc_default": "none; required for many workspaces"})
    """Fernet key(s) that encrypt installations (bot and refresh tokens) at rest: `python -m bot keygen` makes one;
    comma-separated keys rotate, the first encrypts (see Running at scale)"""
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN", validate_default=True,
        json_schema_extra={"doc_default": "required for one workspace"})
    """Bot User OAuth Token (`xoxb-…`), from *OAuth & Permissions*; leave unset (with the two below) for many
    workspaces"""
    slack_signing_secret: SecretStr = Field(alias="SLACK_SIGNING_SECRET")
    """from *Basic Information*; checks every HTTP delivery"""
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    """app-level token (`xapp-…`, `connections:write`), for Socket Mode only"""
    slack_redirect_uri: str | None = Field(default=None, alias="SLACK_REDIRECT_URI",
        json_schema_extra={"doc_default": "none: the app's configured one"})
    """`https://<host>/slack/oauth_redirect`, as listed in *OAuth & Permissions* → *Redirect URLs* (needed when the app
    lists several)"""
    slack_token_refresh_minutes: int = Field(default=120, ge=1, le=660, alias="SLACK_TOKEN_REFRESH_MINUTES")
    """many workspaces, token rotation on: a workspace's token is refreshed this long before it expires (once across
    every process)"""
    slack_marketplace_app: bool = Field(default=False, alias="SLACK_MARKETPLACE_APP")
    """many workspaces: `true` for a Slack Marketplace app, which is exempt from the 2025 history limits (otherwise
    thread import and `/summarize` read at most 15 messages, once a minute per workspace)"""
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    """Slack Web API base URL"""
    slack_timeout_seconds: float = Field(default=15.0, gt=0, le=120, alias="SLACK_TIMEOUT_SECONDS")
    """how long one Slack Web API call may take before it is retried (5xx, timeouts and connection errors are retried 3
    times with backoff)"""

    # Model
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY",
        json_schema_extra={"doc_default": "required unless `OPENAI_BASE_URL` is set"})
    """the model provider's key"""
    openai_base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL", validate_default=True,
        json_schema_extra={"doc_default": "OpenAI"})
    """any OpenAI-compatible server, e.g. `http://localhost:11434/v1`"""
    openai_model: str = Field(default="gpt-4o-mini", alias="OPENAI_MODEL")
    """model name"""
    model_temperature: float = Field(default=0.3, ge=0.0, le=2.0, alias="MODEL_TEMPERATURE")
    """sampling temperature (not sent to o-series / gpt-5 models)"""
    model_timeout_seconds: float = Field(default=120.0, gt=0, alias="MODEL_TIMEOUT_SECONDS")
    """total time allowed for one answer"""
    model_idle_timeout_seconds: float = Field(default=30.0, gt=0, alias="MODEL_IDLE_TIMEOUT_SECONDS")
    """longest silence allowed inside a streaming answer"""
    model_max_retries: int = Field(default=2, ge=0, le=10, alias="MODEL_MAX_RETRIES")
    """the SDK's retries of 408/409/429/5xx and connection errors"""
    prompt_cache_key: Literal["auto", "on", "off"] = Field(default="auto", alias="PROMPT_CACHE_KEY")
    """send `prompt_cache_key` (a hash of the conversation) so a conversation's requests reach the server that caches
    their prefix: `auto` sends it to OpenAI's API only (other servers may refuse unknown fields), `on`, `off`"""

    # Token budgets
    max_context_tokens: int = Field(default=16000, ge=512, alias="MAX_CONTEXT_TOKENS")
    """upper bound on one request's input: system prompt, history and new message"""
    max_output_tokens: int = Field(default=1024, ge=16, alias="MAX_OUTPUT_TOKENS")
    """upper bound on one answer (sent as `max_tokens`, or `max_completion_tokens` for o-series / gpt-5)"""
    trim_target_ratio: float = Field(default=0.7, gt=0.1, le=1.0, alias="TRIM_TARGET_RATIO")
    """when over budget, drop old turns down to this share of it"""

    # Memory
    redis_url: str | None = Field(default=None, alias="REDIS_URL",
        json_schema_extra={"doc_default": "unset: embedded store"})
    """`redis://`, `rediss://` or `unix://` URL (any node of a Redis Cluster will do), or
    `redis+sentinel://host:26379[,host:26379…]/service[/db]` for a primary watched by Sentinels; unset = in-process
    store, per process and lost on restart"""
    redis_key_prefix: str = Field(default="slackbot", min_length=1, alias="REDIS_KEY_PREFIX")
    """first part of every key"""
    redis_cluster: Literal["auto", "true", "false"] = Field(default="auto", alias="REDIS_CLUSTER")
    """`auto`: ask the node `REDIS_URL` names whether it is in a cluster (redis-py's cluster client then);
    `true`/`false` force it"""
    conversation_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60, alias="CONVERSATION_TTL_SECONDS",
        json_schema_extra={"doc_default": "`604800` (7 days)"})
    """how long an idle conversation is kept"""
    dm_idle_reset_minutes: int = Field(default=60, ge=1, alias="DM_IDLE_RESET_MINUTES")
    """a DM's top-level conversation starts afresh after this long without messages"""
    thread_import_limit: int = Field(default=400, ge=0, le=5000, alias="THREAD_IMPORT_LIMIT")
    """most earlier messages read from Slack when joining a thread"""
    redis_max_connections: int = Field(default=100, ge=4, le=10_000, alias="REDIS_MAX_CONNECTIONS")
    """size of the Redis connection pool; under a burst, commands wait (up to 5 s) for a free connection instead of
    failing"""

    # Delivery and load
    lease_seconds: float = Field(default=15.0, ge=1.0, le=300.0, alias="LEASE_SECONDS")
    """how long a process's lease on a conversation lasts without renewal; a dead process's work is taken over within
    about this time"""
    shutdown_grace_seconds: float = Field(default=20.0, ge=0.0, le=25.0, alias="SHUTDOWN_GRACE_SECONDS")
    """on SIGTERM, how long answers in progress may take to finish before they are handed to another process (at most
    25, inside a platform's 30 s)"""
    max_concurrent_answers: int = Field(default=200, ge=1, le=10_000, alias="MAX_CONCURRENT_ANSWERS")
    """conversations one process answers at once; more wait in Redis for any process with room"""
    user_messages_per_minute: int = Field(default=20, ge=1, le=10_000, alias="USER_MESSAGES_PER_MINUTE")
    """messages one person gets answered in any minute; the first one over gets one private note, the rest are skipped"""
    model_breaker_failures: int = Field(default=5, ge=1, le=1000, alias="MODEL_BREAKER_FAILURES")
    """model failures in a row (429, 5xx, timeouts, connection errors) after which the bot says at once that the model
    is unavailable"""
    model_breaker_cooldown_seconds: float = Field(default=30.0, gt=0, le=3600, alias="MODEL_BREAKER_COOLDOWN_SECONDS")
    """how long it says so before it tries the model again with one request"""

    # Evaluation and cost
    evals_dir: Path = Field(default=DEFAULT_EVALS_DIR, alias="EVALS_DIR")
    """the evaluation case files `python -m bot eval` runs by default"""
    judge_model: str | None = Field(default=None, alias="JUDGE_MODEL",
        json_schema_extra={"doc_default": "`OPENAI_MODEL`"})
    """the model that grades `judge` checks"""
    prices_file: Path = Field(default=DEFAULT_PRICES_FILE, alias="PRICES_FILE")
    """USD per million tokens per model (input, cached input, output): the ledger's and the evals' costs"""

    # Quotas and allowlists (0 or empty: no limit)
    user_daily_token_limit: int = Field(default=0, ge=0, alias="USER_DAILY_TOKEN_LIMIT",
        json_schema_extra={"doc_default": "`0` (none)"})
    """tokens (input + output) one person may use per UTC day; admins are exempt"""
    channel_daily_token_limit: int = Field(default=0, ge=0, alias="CHANNEL_DAILY_TOKEN_LIMIT",
        json_schema_extra={"doc_default": "`0` (none)"})
    """tokens one channel (or DM) may use per UTC day"""
    team_monthly_cost_limit_usd: float = Field(default=0.0, ge=0, alias="TEAM_MONTHLY_COST_LIMIT_USD",
        json_schema_extra={"doc_default": "`0` (none)"})
    """what the workspace may spend per UTC month, by `PRICES_FILE`"""
    allowed_channel_ids: str = Field(default="", alias="ALLOWED_CHANNEL_IDS",
        json_schema_extra={"doc_default": "empty (all)"})
    """comma-separated channels the bot answers in (DMs always)"""
    allowed_user_ids: str = Field(default="", alias="ALLOWED_USER_IDS",
        json_schema_extra={"doc_default": "empty (all)"})
    """comma-separated users the bot answers"""
    blocked_user_ids: str = Field(default="", alias="BLOCKED_USER_IDS")
    """comma-separated users the bot never answers"""

    # Tools
    mcp_config: Path | None = Field(default=None, alias="MCP_CONFIG",
        json_schema_extra={"doc_default": "`mcp.json` when present"})
    """the MCP servers file (see *Tools*)"""
    default_tools: str = Field(default="", alias="DEFAULT_TOOLS")
    """tools for mentions, threads and DMs: names, `server:tool`, `server:*` or `*`, comma-separated"""
    max_tool_rounds: int = Field(default=6, ge=1, le=50, alias="MAX_TOOL_ROUNDS")
    """most rounds of tool calls in one answer"""
    tool_timeout_seconds: float = Field(default=30.0, gt=0, le=600, alias="TOOL_TIMEOUT_SECONDS")
    """most time one tool call may take"""
    max_tool_result_tokens: int = Field(default=2000, ge=50, alias="MAX_TOOL_RESULT_TOKENS")
    """a longer tool result is shortened, head and tail kept"""
    mcp_tools_ttl_seconds: float = Field(default=300.0, ge=5, alias="MCP_TOOLS_TTL_SECONDS")
    """an MCP server's tool list is listed again after this long (and whenever it says it changed)"""
    tool_approval_seconds: float = Field(default=300.0, gt=0, le=3600, alias="TOOL_APPROVAL_SECONDS")
    """how long an approval prompt waits before it counts as Deny"""
    tool_current_time: bool = Field(default=True, alias="TOOL_CURRENT_TIME")
    """offer the built-in `current_time` tool"""
    tool_read_slack_link: bool = Field(default=True, alias="TOOL_READ_SLACK_LINK")
    """offer the built-in `read_slack_link` tool"""
    tool_search_workspace: bool = Field(default=False, alias="TOOL_SEARCH_WORKSPACE")
    """offer the built-in `search_workspace` tool (adds the search scopes to the manifest)"""
    tools_workspaces: str = Field(default="", alias="TOOLS_WORKSPACES")  # many workspaces: which may use tools
    """many workspaces: the team or enterprise ids whose people may use tools (MCP servers with their credentials,
    `DEFAULT_TOOLS`, prompt-file tools); empty: no workspace. One workspace: it always may"""

    # Files
    file_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, alias="FILE_MAX_BYTES",
        json_schema_extra={"doc_default": "`20971520` (20 MB)"})
    """largest shared file read"""
    files_per_message: int = Field(default=5, ge=0, le=20, alias="FILES_PER_MESSAGE")
    """most files read per message"""
    max_file_tokens: int = Field(default=8000, ge=100, alias="MAX_FILE_TOKENS")
    """a file's text past this keeps its head and tail"""
    file_worker_memory_mb: int = Field(default=512, ge=128, alias="FILE_WORKER_MEMORY_MB")
    """address space of each file worker"""
    file_extract_seconds: float = Field(default=20.0, gt=0, alias="FILE_EXTRACT_SECONDS")
    """wall time to read one file"""
    file_workers: int = Field(default=2, ge=1, le=16, alias="FILE_WORKERS")
    """file worker processes (files read at once)"""
    file_max_pages: int = Field(default=300, ge=1, alias="FILE_MAX_PAGES")
    """PDF pages read at most (first ones, then last ones)"""
    file_max_expanded_bytes: int = Field(default=100 * 1024 * 1024, ge=1024, alias="FILE_MAX_EXPANDED_BYTES",
        json_schema_extra={"doc_default": "`104857600` (100 MB)"})
    """a Word file unpacked"""
    file_max_image_pixels: int = Field(default=40_000_000, ge=10_000, alias="FILE_MAX_IMAGE_PIXELS")
    """an image's width × height, checked before decoding"""
    model_vision: Literal["auto", "on", "off"] = Field(default="auto", alias="MODEL_VISION")
    """send images to the model: `auto` (models known to see), `on`, `off`"""

    # Replies
    stream_update_interval_seconds: float = Field(default=1.2, ge=0.05, alias="STREAM_UPDATE_INTERVAL_SECONDS")
    """least time between two updates of a streaming answer"""
    slack_updates_per_minute: int = Field(default=50, ge=1, alias="SLACK_UPDATES_PER_MINUTE")
    """`chat.update` calls per minute the whole workspace may make (Slack's Tier 3), shared by every process"""
    edit_window_seconds: int = Field(default=300, ge=0, alias="EDIT_WINDOW_SECONDS")
    """an edit of the message just answered within this time is answered again"""
    slack_streaming: Literal["auto", "native", "off"] = Field(default="auto", alias="SLACK_STREAMING")
    """Slack's streaming methods: `auto` in DM/assistant threads, `native` in every thread, `off` never"""
    agent_sessions: bool = Field(default=True, alias="AGENT_SESSIONS")
    """use Slack's agent sessions where offered (its loading indicator and Stop button); a workspace that refuses is
    asked again after an hour"""
    bot_name: str = Field(default="Assistant", min_length=1, alias="BOT_NAME")
    """the bot's name in the system prompt and the manifest"""
    management_command: str = Field(default="/assistant", pattern=r"^/[a-z0-9][a-z0-9_\-]{0,31}$", alias="MANAGEMENT_COMMAND")
    """the management command"""
    admin_user_ids: str = Field(default="", alias="ADMIN_USER_IDS")
    """comma-separated user ids that may change any channel's persona or reset it, and stop or regenerate anyone's
    answer"""
    response_url_hosts: str = Field(default="hooks.slack.com", alias="RESPONSE_URL_HOSTS")
    """comma-separated hosts (or `host:port`) the bot posts `response_url` replies to; add a proxy's host here"""
    prompts_dir: Path = Field(default=DEFAULT_PROMPTS_DIR, alias="PROMPTS_DIR")
    """folder of prompt files"""
    tiktoken_cache_dir: Path = Field(default=DEFAULT_TIKTOKEN_CACHE_DIR, alias="TIKTOKEN_CACHE_DIR")
    """tokenizer file cache"""
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    """`DEBUG`, `INFO`, `WARNING` or `ERROR`"""
    metrics_port: int = Field(default=9090, ge=0, le=65535, alias="METRICS_PORT")
    """Socket Mode only: the port of `/metrics` (`0`: none); over HTTP it is served beside `/slack/events`"""
    metrics_token: SecretStr | None = Field(default=None, alias="METRICS_TOKEN")  # /metrics asks for it as a bearer token
    """when set, `/metrics` answers only a request with `Authorization: Bearer <token>` (401 otherwise), over HTTP and
    on `METRICS_PORT`"""
    install_starts_per_minute: int = Field(default=5, ge=1, alias="INSTALL_STARTS_PER_MINUTE")
    """many workspaces: `GET /slack/install` answers each client address at most this often a minute (per process; the
    rest get 429), since each writes an OAuth state"""
    web_concurrency: int = Field(default=1, ge=1, le=64, alias="WEB_CONCURRENCY")
    """worker processes of `python -m bot serve` (as `--workers`); above 1 needs `REDIS_URL`"""
    log_format: Literal["text", "json"] = Field(default="text", alias="LOG_FORMAT")
    """`json`: one JSON object per log line, and per answer one line with its conversation, prompt and version, model,
    tokens, cost, latency and outcome (never message text)"""
    otel_exporter_otlp_endpoint: str | None = Field(default=None, alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        json_schema_extra={"doc_default": "unset: no traces"})
    """OTLP/HTTP collector for the model calls' GenAI spans"""
    otel_service_name: str = Field(default="slack-assistant", alias="OTEL_SERVICE_NAME")
    """the spans' service name"""
    otel_capture_content: bool = Field(default=False, alias="OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
    """`true`: spans carry the messages and the answer"""

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            value = None
        if value is None:
            client_id, secret = info.data.get("slack_client_id"), info.data.get("slack_client_secret")
            if client_id and secret is not None:
                return None  # a distributable app: each workspace's token comes from its installation
            if client_id or secret is not None:
                missing = "SLACK_CLIENT_SECRET" if client_id else "SLACK_CLIENT_ID"
                raise PydanticCustomError("missing_oauth", "Missing setting {name}: {hint} (a distributable app needs "
                                          "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET)", {"name": missing, "hint": HINTS[missing]})
            raise PydanticCustomError("missing", "Field required")
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must start with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must start with xapp-")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_shape(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("redis_url")
    @classmethod
    def _redis_url_shape(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://", "redis+sentinel://", "rediss+sentinel://")):
            raise ValueError("must start with redis://, rediss://, redis+sentinel:// or unix://")
        return value

    @field_validator("prompts_dir", "tiktoken_cache_dir", "mcp_config", "evals_dir", "prices_file")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("log_level")
    @classmethod
    def _log_level_shape(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper

    @field_validator("openai_base_url", mode="after")
    @classmethod
    def _key_or_local_server(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value in (None, "") and info.data.get("openai_api_key") is None and "openai_api_key" not in _failed(info):
            raise PydanticCustomError("missing_api_key", "OPENAI_API_KEY is required when OPENAI_BASE_URL is not set")
        return value or None

    @field_validator("slack_redirect_uri")
    @classmethod
    def _redirect_shape(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("token_encryption_key")
    @classmethod
    def _token_keys_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_keys(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        if self.max_output_tokens >= self.max_context_tokens:
            raise ValueError("MAX_OUTPUT_TOKENS must be smaller than MAX_CONTEXT_TOKENS")
        if self.distributed and self.token_encryption_key is None:
            raise ValueError(f"Missing setting TOKEN_ENCRYPTION_KEY: {HINTS['TOKEN_ENCRYPTION_KEY']}")
        return self

    def token_keys(self) -> list[str]:
        """TOKEN_ENCRYPTION_KEY's keys, the first encrypting."""
        return parse_keys(self.token_encryption_key.get_secret_value()) if self.token_encryption_key else []

    @property
    def admins(self) -> frozenset[str]:
        """User ids allowed to change any channel's persona (ADMIN_USER_IDS, comma-separated)."""
        return _ids(self.admin_user_ids)

    @property
    def allowed_response_hosts(self) -> frozenset[str]:
        """Hosts a response_url may point at (RESPONSE_URL_HOSTS, comma-separated; host or host:port)."""
        return frozenset(part.strip().lower() for part in self.response_url_hosts.split(",") if part.strip())

    @property
    def sends_prompt_cache_key(self) -> bool:
        """Whether requests carry ``prompt_cache_key`` (auto: only to OpenAI's own API, since
        other servers may refuse a field they do not know)."""
        if self.prompt_cache_key != "auto":
            return self.prompt_cache_key == "on"
        return self.openai_base_url is None or "api.openai.com" in self.openai_base_url

    @property
    def quota_limits(self) -> QuotaLimits:
        return QuotaLimits(self.user_daily_token_limit, self.channel_daily_token_limit,
                           self.team_monthly_cost_limit_usd, self.admins)

    @property
    def access(self) -> Access:
        return Access(_ids(self.allowed_channel_ids), _ids(self.allowed_user_ids), _ids(self.blocked_user_ids))

    @property
    def tools_workspace_ids(self) -> frozenset[str]:
        """TOOLS_WORKSPACES: team or enterprise ids, comma-separated."""
        return frozenset(part.strip() for part in self.tools_workspaces.split(",") if part.strip())

    @property
    def default_tool_patterns(self) -> tuple[str, ...]:
        """DEFAULT_TOOLS: tool names, ``server:*`` or ``*``, comma-separated."""
        return tuple(part.strip() for part in self.default_tools.split(",") if part.strip())

    def mcp_config_path(self, cwd: Path | None = None) -> Path | None:
        """MCP_CONFIG, else ``mcp.json`` in the working folder when there is one."""
        if self.mcp_config is not None:
            return self.mcp_config
        default = (cwd or Path.cwd()) / "mcp.json"
        return default if default.is_file() else None

    @property
    def sees_images(self) -> bool:
        """MODEL_VISION: whether images go to the model (auto: models known to take image input)."""
        if self.model_vision != "auto":
            return self.model_vision == "on"
        return bool(VISION_MODELS.match(self.openai_model.rsplit("/", 1)[-1]))

    @property
    def distributed(self) -> bool:
        """Many workspaces: OAuth credentials and no single bot token (SLACK_BOT_TOKEN wins when set)."""
        return self.slack_bot_token is None and bool(self.slack_client_id) and self.slack_client_secret is not None

    def bot_token(self) -> str:
        """The single workspace's bot token ("" in distributed mode, where each workspace has its own)."""
        return "" if self.slack_bot_token is None else self.slack_bot_token.get_secret_value()

    @property
    def embedded_store(self) -> bool:
        return self.redis_url is None

    def model_api_key(self) -> str:
        """The key sent to the model server; local servers often need none."""
        if self.openai_api_key is None:
            return "not-needed"
        return self.openai_api_key.get_secret_value()


class ConsoleSettings(Settings):
    """The local console talks to the model but never to Slack."""

    slack_bot_token: SecretStr = Field(default=SecretStr("xoxb-unused-by-the-console"), alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr = Field(default=SecretStr("unused-by-the-console"), alias="SLACK_SIGNING_SECRET")


class ManifestSettings(ConsoleSettings):
    """Printing the manifest needs only the prompts and names."""

    openai_api_key: SecretStr | None = Field(default=SecretStr("unused-by-the-manifest"), alias="OPENAI_API_KEY")


def load_settings(
    overrides: Mapping[str, Any] | None = None, *, env_file: str | None = ".env", kind: type[Settings] = Settings
) -> Settings:
    """Read the settings once.  ``overrides`` (by env name) win over the environment."""
    try:
        return kind(_env_file=env_file, **dict(overrides or {}))  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def require_app_token(settings: Settings) -> str:
    if settings.slack_app_token is None:
        raise ConfigError(f"Missing setting SLACK_APP_TOKEN: {HINTS['SLACK_APP_TOKEN']} (needed for Socket Mode).")
    return settings.slack_app_token.get_secret_value()


def _ids(text: str) -> frozenset[str]:
    """A comma-separated list of Slack ids."""
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def _failed(info: ValidationInfo) -> set[str]:
    """Fields validated before this one that failed (they are absent from info.data)."""
    return set(Settings.model_fields) - set(info.data) - {info.field_name or ""}


def _describe(exc: ValidationError) -> str:
    """One line naming every bad setting and how to fix each."""
    fields = Settings.model_fields
    parts: list[str] = []
    for error in exc.errors():
        loc = error.get("loc") or ()
        if not loc:  # model-level check; the message names the settings itself
            parts.append(str(error.get("msg", "")).removeprefix("Value error, "))
            continue
        field = fields.get(str(loc[0]))
        name = (field.alias if field and field.alias else str(loc[0])).upper()
        hint = HINTS.get(name, "")
        if error.get("type") == "missing_oauth":
            parts.append(str(error.get("msg", "")))
        elif error.get("type") == "missing_api_key":
            parts.append(f"Missing setting OPENAI_API_KEY: {HINTS['OPENAI_API_KEY']}")
        elif error.get("type") == "missing":
            parts.append(f"Missing setting {name}: {hint or 'set it in the environment or in .env'}")
        else:
            reason = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
            parts.append(f"Invalid setting {name} ({reason}): {hint or 'fix it in the environment or in .env'}")
    return "; ".join(parts) + "."

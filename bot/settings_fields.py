"""Every setting of the bot: its name, type, default and bounds, and (its docstring) what it
means.  Declarations only: how settings are checked, combined and read is bot/settings.py;
docs/settings.md is generated from here (bot/settings_doc.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROMPTS_DIR = PROJECT_ROOT / "prompts"
DEFAULT_PRICES_FILE = PROJECT_ROOT / "prices.yaml"
DEFAULT_EVALS_DIR = PROJECT_ROOT / "evals"
DEFAULT_TIKTOKEN_CACHE_DIR = Path.home() / ".cache" / "slack-assistant" / "tiktoken"


class SettingsFields(BaseSettings):
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
    allowed_models: str = Field(default="", alias="ALLOWED_MODELS", json_schema_extra={"doc_default": "empty (`OPENAI_MODEL` only)"})
    """comma-separated models a channel may choose with `/assistant config set model` (`OPENAI_MODEL` always)"""
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
    """a DM's top-level conversation starts afresh after this long without messages (split view; under agent view
    each top-level message starts its own)"""
    thread_import_limit: int = Field(default=400, ge=0, le=5000, alias="THREAD_IMPORT_LIMIT")
    """most earlier messages read from Slack when joining a thread"""
    redis_max_connections: int = Field(default=100, ge=4, le=10_000, alias="REDIS_MAX_CONNECTIONS")
    """size of the Redis connection pool; under a burst, commands wait (up to 5 s) for a free connection instead of
    failing"""

    summary_max_tokens: int = Field(default=400, ge=0, le=4000, alias="SUMMARY_MAX_TOKENS")
    """when trimming drops turns, they are merged into a running summary of at most this many tokens, kept with the
    conversation and given to the model after the system prompt (`0`: no summary; dropped turns are forgotten)"""
    summary_model: str | None = Field(default=None, alias="SUMMARY_MODEL",
        json_schema_extra={"doc_default": "the answering model"})
    """the model that writes the summary of dropped turns"""
    knowledge: bool = Field(default=True, alias="KNOWLEDGE")
    """team knowledge: passages of the sources added with `bot knowledge add` or `/assistant learn` go into the
    request and the answer cites them (`false`: never searched)"""
    knowledge_search: Literal["auto", "redis", "local"] = Field(default="auto", alias="KNOWLEDGE_SEARCH")
    """where knowledge is searched: `redis` in Redis's query engine (FT.*: Redis 8, Redis Stack, managed Redis), `local`
    in each process from the same Redis data, `auto` the query engine when the server has it"""
    knowledge_top_k: int = Field(default=5, ge=1, le=20, alias="KNOWLEDGE_TOP_K")
    """passages placed in a request at most"""
    knowledge_max_tokens: int = Field(default=1500, ge=100, le=20000, alias="KNOWLEDGE_MAX_TOKENS")
    """tokens of the request's budget the passages may take"""
    knowledge_min_similarity: float = Field(default=0.3, ge=0.0, lt=1.0, alias="KNOWLEDGE_MIN_SIMILARITY")
    """a passage found by its embedding alone is used only this close to the question (cosine similarity; one that
    shares the question's words is always a candidate): the nearest passages of unrelated sources stay out"""
    embedding_model: str = Field(default="text-embedding-3-small", alias="EMBEDDING_MODEL")
    """the embeddings model (OpenAI-compatible `/v1/embeddings`, at `OPENAI_BASE_URL`); changing it needs
    `bot knowledge reindex`"""
    embedding_dimensions: int | None = Field(default=None, ge=16, le=8192, alias="EMBEDDING_DIMENSIONS",
        json_schema_extra={"doc_default": "the model's own"})
    """the length of the embeddings (text-embedding-3 models shorten theirs on request)"""

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
    """messages (edits answered again, regenerations and prompt-file commands included) one person gets answered in any
    minute; the first message over gets one private note, the rest are skipped; a command over it is told so"""
    model_breaker_failures: int = Field(default=5, ge=1, le=1000, alias="MODEL_BREAKER_FAILURES")
    """model failures in a row (429, 5xx, timeouts, connection errors) after which the bot says at once that the model
    is unavailable"""
    model_routes: Path | None = Field(default=None, alias="MODEL_ROUTES", json_schema_extra={"doc_default": "none"})
    """a YAML file of routes: which model (and server) answers a request, by its prompt, channel, surface, tools,
    images and size; the first route that matches wins (see Fallback and routing)"""
    fallback_models: str = Field(default="", alias="FALLBACK_MODELS", json_schema_extra={"doc_default": "empty (none)"})
    """comma-separated models, in order, that answer instead when the asked model's circuit breaker is open or it
    refuses a request (429, 5xx, no connection) before writing anything; people see nothing of it, the ledger and
    metrics name the model that answered"""
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
    allow_bot_ids: str = Field(default="", alias="ALLOW_BOT_IDS", json_schema_extra={"doc_default": "empty (none)"})
    """comma-separated bot ids (`B…`) of other bots whose messages are answered like a person's; every other bot's
    messages are ignored"""
    audit_retention_days: int = Field(default=90, ge=1, le=3650, alias="AUDIT_RETENTION_DAYS")
    """how long the audit log (settings and admin actions, tool approvals and calls, exports, installs) keeps entries"""
    schedule_grace_minutes: float = Field(default=10.0, ge=0, le=1440, alias="SCHEDULE_GRACE_MINUTES")
    """a scheduled prompt's run this late (after downtime, say) is skipped, logged and counted, not run"""
    bot_turns_per_thread: int = Field(default=5, ge=1, le=1000, alias="BOT_TURNS_PER_THREAD")
    """answers to other bots' messages per thread (or DM conversation) per hour, so two bots never talk forever"""

    # Guardrails and monitoring
    redact: str = Field(default="secrets", alias="REDACT", json_schema_extra={"doc_default": "`secrets`"})
    """comma-separated: `secrets` (API keys, tokens, private keys, passwords in URLs, JWTs) and `pii` (email
    addresses, phone numbers, payment cards, IBANs) are replaced by placeholders before the model and Redis see
    them; empty: nothing is redacted"""
    redaction_key: SecretStr | None = Field(default=None, alias="REDACTION_KEY",
        json_schema_extra={"doc_default": "none: placeholders stay in answers"})
    """Fernet key(s) (`python -m bot keygen`): placeholders are mapped back to their values, for that conversation
    only, when an answer is shown; the map is kept encrypted with the conversation"""
    redact_phone_region: str = Field(default="US", pattern=r"^[A-Z]{2}$", alias="REDACT_PHONE_REGION")
    """the country of phone numbers written without a country code"""
    moderation: Literal["off", "input", "output", "both"] = Field(default="off", alias="MODERATION")
    """checks messages (`input`), answers (`output`, each update before it is shown) or both with the moderations
    endpoint; flagged input gets one private sentence and no model call, a flagged answer is replaced by a sentence"""
    moderation_model: str = Field(default="omni-moderation-latest", min_length=1, alias="MODERATION_MODEL")
    """the moderations endpoint's model"""
    online_eval_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0, alias="ONLINE_EVAL_SAMPLE_RATE")
    """the share of live answers judged after delivery by `JUDGE_MODEL` against the prompt's rubric
    (`prompts/rubrics/`)"""

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
    tool_write_canvas: bool = Field(default=False, alias="TOOL_WRITE_CANVAS")
    """offer the built-in `write_canvas` tool (with the asker's approval) and `/summarize … to canvas` (adds
    `canvases:write` to the manifest)"""
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
    slack_agent_surface: Literal["agent_view", "assistant_view"] = Field(default="agent_view", alias="SLACK_AGENT_SURFACE")
    """Slack's AI surface: `agent_view` (the Messages tab; each top-level DM message starts its own thread; required
    for new Slack apps) or `assistant_view` (the split view, for apps created with it)"""
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

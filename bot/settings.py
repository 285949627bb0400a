"""Settings, read once at start-up into one typed object and passed down.

Nothing else in the code base reads the environment.  A missing or invalid
setting becomes a :class:`ConfigError` whose message is one line that names the
setting and says how to fix it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from bot.settings_fields import SettingsFields
from bot.usage.quotas import Access, QuotaLimits
from bot.guardrails import REDACT_KINDS
from bot.workspaces.sealing import parse_keys


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


class Settings(SettingsFields):
    """Every setting, checked (one line per bad setting) and read through the derived values below."""

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

    @field_validator("slack_signing_secret")
    @classmethod
    def _signing_secret_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise PydanticCustomError("missing", "Field required")  # empty is as good as unset: every request would fail
        return value

    @field_validator("openai_api_key")
    @classmethod
    def _api_key_or_none(cls, value: SecretStr | None) -> SecretStr | None:
        """An empty key is no key (then OPENAI_BASE_URL must name a server that needs none)."""
        return value if value is not None and value.get_secret_value().strip() else None

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

    @field_validator("redact")
    @classmethod
    def _redact_kinds(cls, value: str) -> str:
        unknown = [part for part in _listed(value) if part not in REDACT_KINDS]
        if unknown:
            raise ValueError(f"unknown kind {unknown[0]!r}: use {', '.join(REDACT_KINDS)}")
        return value

    @field_validator("token_encryption_key", "redaction_key")
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

    @property
    def fallback_model_names(self) -> tuple[str, ...]:
        return tuple(_listed(self.fallback_models))

    @property
    def redact_kinds(self) -> tuple[str, ...]:
        return tuple(_listed(self.redact))

    def redaction_keys(self) -> list[str]:
        return parse_keys(self.redaction_key.get_secret_value()) if self.redaction_key else []

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
    def allowed_model_names(self) -> frozenset[str]:
        """ALLOWED_MODELS with OPENAI_MODEL: what a channel may choose."""
        return frozenset(part.strip() for part in self.allowed_models.split(",") if part.strip()) | {self.openai_model}

    @property
    def allowed_bots(self) -> frozenset[str]:
        """ALLOW_BOT_IDS: other bots answered like people, comma-separated."""
        return _ids(self.allow_bot_ids)

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


def _listed(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]

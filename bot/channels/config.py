"""A channel's own settings (``/assistant config``), as a hard boundary inside the deployment's:
which model answers there, which of the deployment's tools it may use, its persona, whether
the bot follows its threads without a mention, and a daily token limit below the deployment's.
Pure: parsing what people type, and what applies to a request."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from bot.memory.conversation import as_text
from bot.tools.base import ToolSpec
from bot.tools.toolbox import matches
from bot.usage.quotas import QuotaLimits

MAX_PERSONA_CHARS = 4000
KEYS = ("model", "tools", "persona", "auto_reply", "daily_tokens")
NO_TOOLS = "none"  # stored for "no tools at all here"
ON, OFF = ("on", "true", "yes", "1"), ("off", "false", "no", "0")


class ConfigError(ValueError):
    """A value a channel may not have: the sentence says why, and what it may have."""


@dataclass(frozen=True)
class ChannelConfig:
    model: str = ""  # "" the deployment's model
    tools: tuple[str, ...] | None = None  # tool names or patterns; None: what the deployment offers; (): none
    persona: str | None = None
    auto_reply: bool = True  # follow threads the bot is in without a mention
    daily_tokens: int = 0  # 0: only the deployment's limit

    @classmethod
    def from_replies(cls, fields: Mapping[Any, Any] | None, persona: Any = None) -> "ChannelConfig":
        """From the channel's settings hash and its persona (Redis's replies; missing or odd values: defaults)."""
        pairs = fields.items() if isinstance(fields, Mapping) else zip((fields or [])[::2], (fields or [])[1::2])
        found = {as_text(k): as_text(v) for k, v in pairs}
        tools = found.get("tools")
        try:
            daily = max(0, int(found.get("daily_tokens") or 0))
        except ValueError:
            daily = 0
        return cls(
            model=found.get("model", ""),
            tools=None if tools is None else () if tools == NO_TOOLS else tuple(t for t in tools.split(",") if t),
            persona=None if persona is None else as_text(persona),
            auto_reply=found.get("auto_reply", "on") != "off",
            daily_tokens=daily,
        )

    def quotas(self, limits: QuotaLimits) -> QuotaLimits:
        """The deployment's limits with this channel's daily limit where it is lower."""
        if not self.daily_tokens:
            return limits
        deployment = limits.channel_daily_tokens
        return dataclasses.replace(limits, channel_daily_tokens=min(self.daily_tokens, deployment or self.daily_tokens))


@dataclass(frozen=True)
class ConfigPolicy:
    """What the deployment lets a channel choose from."""

    default_model: str
    allowed_models: frozenset[str] = frozenset()  # ALLOWED_MODELS (the default model always)
    channel_daily_tokens: int = 0  # CHANNEL_DAILY_TOKEN_LIMIT (0: none)
    tools_offered: Callable[[str], Sequence[ToolSpec]] = lambda team: ()  # the tools a workspace may use

    @property
    def models(self) -> list[str]:
        return sorted(self.allowed_models | {self.default_model})

    def model_for(self, config: ChannelConfig) -> str | None:
        """The model a channel's requests go to (None: the deployment's); a model no longer allowed is not used."""
        return config.model if config.model and config.model in self.models else None


def stored_value(key: str, text: str, policy: ConfigPolicy, team: str) -> str:
    """What ``/assistant config set <key> <text>`` stores; raises ConfigError with the reason."""
    text = text.strip()
    if key not in KEYS:
        raise ConfigError(f"I don't have a setting `{key}`; the settings are {', '.join(f'`{k}`' for k in KEYS)}.")
    if not text:
        raise ConfigError(f"Which value? (`{key}` {HINTS[key]})")
    if key == "model":
        if text not in policy.models:
            raise ConfigError(f"`{text}` is not a model I may use here; choose one of "
                              f"{', '.join(f'`{m}`' for m in policy.models)} (the operator's ALLOWED_MODELS).")
        return text
    if key == "tools":
        return _tools(text, policy, team)
    if key == "persona":
        if len(text) > MAX_PERSONA_CHARS:
            raise ConfigError(f"That persona is too long ({len(text)} characters); keep it under {MAX_PERSONA_CHARS}.")
        return text
    if key == "auto_reply":
        if text.lower() not in ON + OFF:
            raise ConfigError("`auto_reply` is `on` (I follow threads I'm in without a mention) or `off` (only when mentioned).")
        return "on" if text.lower() in ON else "off"
    return _daily_tokens(text, policy)


def _tools(text: str, policy: ConfigPolicy, team: str) -> str:
    wanted = [part for part in text.replace(",", " ").split() if part]
    if [part.lower() for part in wanted] == [NO_TOOLS]:
        return NO_TOOLS
    offered = list(policy.tools_offered(team))
    unknown = [pattern for pattern in wanted if not any(matches(spec, pattern) for spec in offered)]
    if unknown:
        listed = ", ".join(f"`{spec.pattern_name}`" for spec in offered) if offered else "none"
        raise ConfigError(f"{', '.join(f'`{u}`' for u in unknown)}: not among the tools offered here ({listed}); "
                          "`none` for no tools.")
    return ",".join(dict.fromkeys(wanted))


def _daily_tokens(text: str, policy: ConfigPolicy) -> str:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise ConfigError("`daily_tokens` is a whole number of tokens a day, such as `200000`.") from None
    ceiling = policy.channel_daily_tokens
    if value < 1 or (ceiling and value > ceiling):
        bound = f" and at most {ceiling:,} (the deployment's CHANNEL_DAILY_TOKEN_LIMIT)" if ceiling else ""
        raise ConfigError(f"`daily_tokens` must be at least 1{bound}.")
    return str(value)


HINTS = {
    "model": "the model that answers here",
    "tools": "the tools I may use here: names from `/assistant tools`, or `none`",
    "persona": "the persona I take on here",
    "auto_reply": "`on` or `off`: follow threads I'm in without a mention",
    "daily_tokens": "tokens this channel may use per UTC day",
}


def describe(config: ChannelConfig, policy: ConfigPolicy, limits: QuotaLimits) -> list[str]:
    """``/assistant config show``: each setting with its value here, or what applies without one."""
    model = policy.model_for(config)
    ignored = f" (`{config.model}` is set but no longer allowed)" if config.model and model is None else ""
    tools = ("none" if config.tools == () else ", ".join(f"`{t}`" for t in config.tools)) if config.tools is not None \
        else "all the deployment offers (default)"
    ceiling = limits.channel_daily_tokens
    daily = f"{config.quotas(limits).channel_daily_tokens:,} tokens" if config.daily_tokens else \
        (f"{ceiling:,} tokens (the deployment's)" if ceiling else "no limit (default)")
    persona = f"set ({len(config.persona)} characters: `persona show` shows it)" if config.persona else "none (default)"
    return [
        f"• `model`: `{model or policy.default_model}`" + ("" if model else " (default)") + ignored,
        f"• `tools`: {tools}",
        f"• `persona`: {persona}",
        f"• `auto_reply`: {'on (default)' if config.auto_reply else 'off: only when mentioned'}",
        f"• `daily_tokens`: {daily}",
    ]

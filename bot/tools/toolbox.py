"""Every tool the bot knows, and which of them an answer may use."""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

from bot.tools.base import ToolProvider, ToolSpec

log = logging.getLogger(__name__)


def matches(spec: ToolSpec, pattern: str) -> bool:
    """``*`` every tool; ``server:*`` a server's tools; ``server:tool`` or a built-in's name one tool."""
    pattern = pattern.strip()
    if pattern == "*":
        return True
    if pattern.endswith(":*"):
        return spec.source == pattern[:-2]
    return pattern in (spec.pattern_name, spec.name)


class Toolbox:
    """The tools of every provider, as each last listed them (never listed per answer)."""

    def __init__(self, providers: Iterable[ToolProvider] = ()) -> None:
        self.providers = list(providers)

    def all(self) -> list[ToolSpec]:
        seen: dict[str, ToolSpec] = {}
        for provider in self.providers:
            for spec in provider.tools():
                seen.setdefault(spec.name, spec)
        return list(seen.values())

    def select(self, patterns: Sequence[str]) -> list[ToolSpec]:
        """The tools ``patterns`` name, in the order the providers list them."""
        if not patterns:
            return []
        return [spec for spec in self.all() if any(matches(spec, p) for p in patterns)]

    def provider_of(self, spec: ToolSpec) -> ToolProvider | None:
        for provider in self.providers:
            if any(own.name == spec.name for own in provider.tools()):
                return provider
        return None

"""Model routes (MODEL_ROUTES, a YAML file): which model answers a request, by rules on its
prompt, channel, surface, whether tools or images are involved, and its size; a route may name
its own OpenAI-compatible server and key (``${VAR}`` from the environment), so a cheap local
model and a strong hosted one serve one bot.  The first route whose rules all hold wins; a
request that names its model (a prompt file's, a channel's, an experiment variant's) keeps it.

    routes:
      - name: local-summaries
        when: {prompt: [summarize]}
        model: llama3.3
        base_url: http://ollama:11434/v1
        api_key: ${OLLAMA_KEY}
      - name: long-requests
        when: {min_tokens: 30000}
        model: gpt-4.1
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SURFACES = ("mention", "thread", "dm", "command")


class RoutesError(Exception):
    """The routes file is invalid: one line naming the file and the problem."""


class When(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: list[str] | None = None  # prompt names (the system prompt is "system")
    channel: list[str] | None = None  # channel ids
    surface: list[str] | None = None  # mention, thread, dm, command
    tools: bool | None = None  # tools are offered to the request
    images: bool | None = None  # the request carries images
    min_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, ge=0)

    @field_validator("prompt", "channel", "surface", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("surface")
    @classmethod
    def _surfaces(cls, value: list[str] | None) -> list[str] | None:
        unknown = [s for s in value or () if s not in SURFACES]
        if unknown:
            raise ValueError(f"unknown surface {unknown[0]!r}: use {', '.join(SURFACES)}")
        return value


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    model: str = Field(min_length=1)
    when: When = Field(default_factory=When)
    base_url: str | None = None
    api_key: str | None = None


@dataclass(frozen=True)
class Facts:
    """What a route's rules look at."""

    prompt: str
    channel: str
    surface: str
    tools: bool
    images: bool
    tokens: int


def matches(when: When, facts: Facts) -> bool:
    return all((
        when.prompt is None or facts.prompt in when.prompt,
        when.channel is None or facts.channel in when.channel,
        when.surface is None or facts.surface in when.surface,
        when.tools is None or facts.tools == when.tools,
        when.images is None or facts.images == when.images,
        when.min_tokens is None or facts.tokens >= when.min_tokens,
        when.max_tokens is None or facts.tokens <= when.max_tokens,
    ))


class Routes:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def pick(self, facts: Facts) -> Route | None:
        return next((route for route in self.routes if matches(route.when, facts)), None)

    def endpoints(self) -> dict[str, tuple[str | None, str | None]]:
        """model -> (base URL, API key) for the routes that name their own server."""
        return {r.model: (r.base_url, r.api_key) for r in self.routes if r.base_url or r.api_key}


def load_routes(path: Path, environ: Mapping[str, str]) -> Routes:
    where = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        raise RoutesError(f"{where}: cannot be read (MODEL_ROUTES)") from None
    except yaml.YAMLError:
        raise RoutesError(f"{where}: not valid YAML") from None
    if not isinstance(data, dict) or not isinstance(data.get("routes"), list) or set(data) - {"routes"}:
        raise RoutesError(f"{where}: must hold one field, routes: a list of routes")
    routes = []
    for n, raw in enumerate(data["routes"], start=1):
        try:
            route = Route.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise RoutesError(f"{where}: route {n}: {field + ': ' if field else ''}"
                              f"{str(first['msg']).removeprefix('Value error, ')}") from None
        routes.append(route.model_copy(update={
            "base_url": _expand(route.base_url, environ, f"{where}: route {route.name}"),
            "api_key": _expand(route.api_key, environ, f"{where}: route {route.name}")}))
    names = [r.name for r in routes]
    if len(names) != len(set(names)):
        raise RoutesError(f"{where}: two routes share a name")
    return Routes(routes)


def _expand(value: str | None, environ: Mapping[str, str], where: str) -> str | None:
    if value is None:
        return None

    def replace(match: re.Match[str]) -> str:
        if match.group(1) not in environ:
            raise RoutesError(f"{where}: the environment has no {match.group(1)} (set it, or remove ${{{match.group(1)}}})")
        return environ[match.group(1)]

    return VARIABLE.sub(replace, value)

"""The model client every surface uses, from the settings: the OpenAI-compatible client, the
circuit breakers, FALLBACK_MODELS, MODEL_ROUTES (with each route's own server) and tracing."""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from openai import AsyncOpenAI

from bot.errors import StartupError
from bot.llm.breaker import CircuitBreaker
from bot.llm.model import ModelClient, build_openai_client
from bot.llm.routes import Routes, RoutesError, load_routes
from bot.observability.tracing import build_tracing


def build_model_client(settings: Any, openai_client: AsyncOpenAI | None = None, *, breaker: bool = True) -> ModelClient:
    """The evaluation runner's has no circuit breakers and no fallbacks: it measures the model it names."""
    new_breaker = partial(CircuitBreaker, failures=settings.model_breaker_failures,
                          cooldown=settings.model_breaker_cooldown_seconds)
    routes, clients = model_routes(settings)
    return ModelClient(
        openai_client or client_for(settings, settings.openai_base_url, settings.model_api_key()),
        model=settings.openai_model,
        max_output_tokens=settings.max_output_tokens,
        temperature=settings.model_temperature,
        total_timeout=settings.model_timeout_seconds,
        idle_timeout=settings.model_idle_timeout_seconds,
        breaker=new_breaker() if breaker else None,
        new_breaker=new_breaker if breaker else None,
        fallbacks=settings.fallback_model_names if breaker else (),
        routes=routes,
        clients=clients,
        tracing=build_tracing(settings.otel_exporter_otlp_endpoint, service_name=settings.otel_service_name,
                              capture_content=settings.otel_capture_content),
    )


def client_for(settings: Any, base_url: str | None, api_key: str) -> AsyncOpenAI:
    return build_openai_client(api_key=api_key, base_url=base_url, max_retries=settings.model_max_retries,
                               timeout=settings.model_timeout_seconds)


def model_routes(settings: Any) -> tuple[Routes | None, dict[str, AsyncOpenAI]]:
    """MODEL_ROUTES, and a client for each route that names its own server.  Raises StartupError."""
    if settings.model_routes is None:
        return None, {}
    try:
        routes = load_routes(settings.model_routes, os.environ)
    except RoutesError as exc:
        raise StartupError(f"Invalid MODEL_ROUTES {exc}.") from None
    clients = {model: client_for(settings, base_url or settings.openai_base_url, api_key or settings.model_api_key())
               for model, (base_url, api_key) in routes.endpoints().items()}
    return routes, clients

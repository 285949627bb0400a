"""Prometheus metrics (prometheus-client), in a registry of the process's own (made by the
runtime, never at import).  A single process serves its own figures at ``GET /metrics``, with
the process's CPU, memory and garbage collector; the workers of ``serve --workers N``
(``PROMETHEUS_MULTIPROC_DIR``, set by the supervisor) write theirs to files, and any worker a
scrape reaches answers the sum of all of them (prometheus-client's multiprocess mode), so
every scrape tells the same truth and a restarted worker resets nothing."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry, Counter, Gauge,
                               Histogram, generate_latest)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def multiprocess_dir() -> str:
    """Where the workers of ``serve --workers N`` keep their figures ("" for a single process)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


SCORE_BUCKETS = (0.2, 0.4, 0.6, 0.8, 0.9, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.answers = Counter("assistant_answers", "Messages and commands handled, by surface and outcome",
                               ["surface", "outcome"], registry=r)
        self.tokens = Counter("assistant_model_tokens", "Model tokens, by model and kind (input, cached_input, output)",
                              ["model", "kind"], registry=r)
        self.cost = Counter("assistant_model_cost_usd", "Model cost in USD (PRICES_FILE), by model", ["model"], registry=r)
        self.first_token = Histogram("assistant_time_to_first_token_seconds", "Model request sent to its first chunk",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.answer_time = Histogram("assistant_answer_seconds", "An answer from its model request to its last message",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.slack_calls = Counter("assistant_slack_calls", "Slack Web API calls, by method and outcome",
                                   ["method", "outcome"], registry=r)
        self.slack_rate_limited = Counter("assistant_slack_rate_limited", "Slack 429 answers, by method", ["method"],
                                          registry=r)
        self.in_flight = Gauge("assistant_answers_in_flight", "Answers being written now (all workers)", registry=r,
                               multiprocess_mode="livesum")
        self.quota_refusals = Counter("assistant_quota_refusals", "Messages refused by a quota, by limit", ["limit"],
                                      registry=r)
        self.feedback = Counter("assistant_feedback", "Ratings given, by rating", ["rating"], registry=r)
        self.breaker_open = Gauge("assistant_model_breaker_open", "1 while a model circuit breaker refuses requests "
                                  "(any worker)", registry=r, multiprocess_mode="livemax")
        if not multiprocess_dir():  # the process's own figures: one process is the whole bot
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                r.register(collector)
        self.redactions = Counter("assistant_redactions", "Values replaced by placeholders, by kind (secret, email, "
                                  "phone, card, iban)", ["kind"], registry=r)
        self.moderation_flags = Counter("assistant_moderation_flags", "Messages and answers the moderations endpoint "
                                        "flagged, by direction (input, output) and category", ["direction", "category"],
                                        registry=r)
        self.online_eval_score = Histogram("assistant_online_eval_score", "Judge scores (0 to 1) of sampled live answers, "
                                           "by prompt, version, variant and model", ["prompt", "version", "variant", "model"],
                                           buckets=SCORE_BUCKETS, registry=r)
        self.fallbacks = Counter("assistant_model_fallbacks", "Requests another model answered (FALLBACK_MODELS), by the "
                                 "model that could not, the one that did, and why", ["from_model", "to_model", "reason"],
                                 registry=r)
        self.knowledge_searches = Counter("assistant_knowledge_searches", "Team knowledge searched before an answer, by "
                                          "outcome (found, none, failed)", ["outcome"], registry=r)
        self.schedule_runs = Counter("assistant_schedule_runs", "Scheduled prompt occurrences, by outcome (run, skipped_late, "
                                     "failed)", ["outcome"], registry=r)

    def fallback(self, from_model: str, to_model: str, reason: str) -> None:
        self.fallbacks.labels(from_model, to_model, reason).inc()

    def watch_breaker(self, breaker: Any) -> None:
        """Keep the gauge at ``breaker``'s state (1: open or probing, 0: closed)."""
        def show(state: str) -> None:
            self.breaker_open.set(0.0 if state == "closed" else 1.0)
        breaker.on_change = show
        show(breaker.state)

    def exposition(self) -> bytes:
        """What a scrape reads: this process's registry, or every worker's figures added up."""
        directory = multiprocess_dir()
        if not directory:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        return generate_latest(registry)


    def answered(self, surface: str, outcome: str) -> None:
        self.answers.labels(surface, outcome).inc()

    def model_call(self, model: str, *, input_tokens: int, cached_tokens: int, output_tokens: int,
                   cost: float | None) -> None:
        self.tokens.labels(model, "input").inc(input_tokens)
        self.tokens.labels(model, "cached_input").inc(cached_tokens)
        self.tokens.labels(model, "output").inc(output_tokens)
        if cost:
            self.cost.labels(model).inc(cost)


def surface_of(message: Any) -> str:
    """mention, thread, dm or command: where a message came from, for the answers counter."""
    if getattr(message, "kind", None) == "command":
        return "command"
    if getattr(message, "is_direct", False):
        return "dm"
    return "thread" if getattr(message, "thread_ts", None) else "mention"


class MeteredWebClient(AsyncWebClient):
    """slack-sdk's client, counting every call's outcome (and 429s) in the metrics."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    async def api_call(self, api_method: str, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            response = await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                self.metrics.slack_rate_limited.labels(api_method).inc()
            self.metrics.slack_calls.labels(api_method, "error").inc()
            raise
        except Exception:
            self.metrics.slack_calls.labels(api_method, "failed").inc()
            raise
        self.metrics.slack_calls.labels(api_method, "ok").inc()
        return response

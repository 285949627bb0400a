"""OpenTelemetry GenAI spans for model calls, exported over OTLP/HTTP when
``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

The bot sends chat requests through the SDK's own ``post`` (see bot.llm.model), which the
``opentelemetry-instrumentation-openai-v2`` wrappers of ``chat.completions.create`` do not
see; so the spans are made here, with the attributes of OpenTelemetry's GenAI semantic
conventions.  Message content is recorded only when the operator opts in
(``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``).  The tracer provider is the
bot's own (never the process-global one) and is flushed at shutdown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

SYSTEM = "openai"


@dataclass
class Tracing:
    tracer: Tracer
    provider: Any  # opentelemetry.sdk.trace.TracerProvider
    capture_content: bool = False

    def start(self, model: str, messages: Sequence[dict[str, Any]], body: dict[str, Any]) -> Any:
        """A span for one chat request (ended by ``finish``)."""
        span = self.tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.system": SYSTEM,
            "gen_ai.provider.name": SYSTEM,
            "gen_ai.request.model": model,
            **{f"gen_ai.request.{name}": body[key] for name, key in (
                ("max_tokens", "max_tokens"), ("max_tokens", "max_completion_tokens"), ("temperature", "temperature"))
               if key in body},
        })
        if self.capture_content:
            span.set_attribute("gen_ai.input.messages", json.dumps(list(messages), ensure_ascii=False, default=str))
        return span

    def finish(self, span: Any, reply: Any, error: str | None = None) -> None:
        usage = reply.usage
        span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
        span.set_attribute("gen_ai.usage.cache_read.input_tokens", usage.cached_tokens)
        if reply.finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [reply.finish_reason])
        if self.capture_content:
            span.set_attribute("gen_ai.output.messages", json.dumps(
                [{"role": "assistant", "content": reply.text,
                  "tool_calls": [call.__dict__ for call in reply.tool_calls]}], ensure_ascii=False))
        if error is not None:
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR, error))
        span.end()

    def shutdown(self) -> None:
        self.provider.shutdown()


def build_tracing(endpoint: str | None, *, service_name: str, capture_content: bool) -> Tracing | None:
    """The OTLP/HTTP exporter to ``endpoint`` (None: no tracing).  The SDK's own ``OTEL_BSP_*``
    variables tune its batching (default: spans leave every 5 seconds)."""
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return Tracing(provider.get_tracer("bot.llm"), provider, capture_content)

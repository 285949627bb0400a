"""A fake OpenTelemetry collector: OTLP/HTTP ``POST /v1/traces`` (protobuf), decoded with
opentelemetry-proto, so the real OTLP exporter runs unmodified."""

from __future__ import annotations

import threading
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .http import BackgroundServer, QuietHandler


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


class FakeCollector:
    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        collector = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.read_body())
                with collector._lock:
                    for resource in request.resource_spans:
                        service = {a.key: _value(a.value) for a in resource.resource.attributes}.get("service.name")
                        for scope in resource.scope_spans:
                            for span in scope.spans:
                                collector.spans.append({
                                    "name": span.name, "service": service, "kind": span.kind,
                                    "status": span.status.code,
                                    "attributes": {a.key: _value(a.value) for a in span.attributes}})
                    collector._lock.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = BackgroundServer(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def start(self) -> "FakeCollector":
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.spans) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} spans, got {len(self.spans)}")
                self._lock.wait(left)
            return list(self.spans)

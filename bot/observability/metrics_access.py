"""Who may read ``/metrics``: with METRICS_TOKEN set, only a scraper that sends it as a
bearer token (Prometheus: ``authorization: {credentials: …}``).  Used by the HTTP app's
route and by Socket Mode's own metrics server (prometheus-client's WSGI app, guarded)."""

from __future__ import annotations

import hmac
import threading
from typing import Any, Callable, Iterable
from wsgiref.simple_server import make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

UNAUTHORIZED = b"Unauthorized: send METRICS_TOKEN as a bearer token\n"


def authorized(token: str | None, header: str | None) -> bool:
    """Whether a request with this Authorization header may read the metrics.  Pure."""
    if not token:
        return True
    return hmac.compare_digest((header or "").encode(), f"Bearer {token}".encode())


def guarded_wsgi_app(registry: CollectorRegistry, token: str | None) -> Callable[..., Iterable[bytes]]:
    app = make_wsgi_app(registry)

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not authorized(token, environ.get("HTTP_AUTHORIZATION")):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [UNAUTHORIZED]
        return app(environ, start_response)

    return guarded


def start_metrics_server(port: int, registry: CollectorRegistry, token: str | None, addr: str = "0.0.0.0") -> Any:
    """Serve the metrics on ``port`` in a daemon thread.  Raises OSError when the port is taken."""
    server = make_server(addr, port, guarded_wsgi_app(registry, token), ThreadingWSGIServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

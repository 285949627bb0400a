"""Which ``response_url`` hosts the bot will post to (``RESPONSE_URL_HOSTS``).

A response_url comes inside a signed Slack payload, but it is still a URL the
bot is asked to send content to: only Slack's own host (and the hosts an
operator adds for a proxy or for tests) is used.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def response_url_allowed(url: str, hosts: frozenset[str]) -> bool:
    """Whether ``url`` is http(s) and its host (or host:port) is one of ``hosts``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    if parts.scheme == "http" and host not in hosts and f"{host}:{port}" not in hosts:
        return False
    return host in hosts or (port is not None and f"{host}:{port}" in hosts)

"""Who may reach the service: the API key, the ``Host`` header (DNS rebinding) and the ``Origin`` of browsers
(cross-site requests and WebSockets).

- Every path needs the key when one is set, except the page (``/``, ``/static/…``; for its on-device mode
  ``/page-model.json``, the model file ``/page/…`` and ONNX Runtime Web ``/ort/…``) and ``/healthz``: the API,
  ``/metrics``, ``/docs``, ``/redoc`` and ``/openapi.json`` included (default deny: a new route is protected).
- ``Host`` must be one of the allowed hosts. A server bound to a loopback address allows ``localhost``,
  ``127.0.0.1`` and ``::1`` by default (a page on another site whose name resolves to 127.0.0.1 is refused); one
  bound to another address allows any host unless told (``--allowed-hosts``).
- A request or WebSocket that carries an ``Origin`` (browsers do) must come from the server's own origin or an
  allowed one (``--allowed-origins``); clients without ``Origin`` (curl, ``tfswa stream``) are not concerned.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

OPEN_PATHS = ("/", "/healthz", "/page-model.json")
OPEN_PREFIXES = ("/static/", "/ort/", "/page/")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def is_open(path: str) -> bool:
    """Paths that answer without the API key: the page, its static files, its on-device model and runtime, and
    ``/healthz``."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def key_matches(headers: Mapping[str, str], query: Mapping[str, str], key: str) -> bool:
    """``X-API-Key`` / ``Authorization: Bearer`` header, or ``?key=`` (for audio, images and WebSockets)."""
    given = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ") \
        or query.get("key", "")
    return secrets.compare_digest(given.encode(), key.encode())


def is_loopback(host: str) -> bool:
    """Whether a listening address is loopback only (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_allowed_hosts(bind: str) -> tuple[str, ...]:
    """The allowed ``Host`` names of a server listening on ``bind``: loopback names on loopback, else any."""
    return LOOPBACK_HOSTS if is_loopback(bind) else ("*",)


def parse_list(text: str | None) -> tuple[str, ...] | None:
    """A comma-separated option (``None`` stays ``None``: the default)."""
    if text is None:
        return None
    return tuple(part.strip().lower() for part in text.split(",") if part.strip())


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without the port (``[::1]:8000`` → ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(header: str, allowed: Iterable[str]) -> bool:
    """``*`` allows any host, ``*.example.org`` its subdomains, any other entry that exact name."""
    name = host_name(header)
    for pattern in allowed:
        if pattern == "*" or name == pattern.strip("[]") or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def origin_allowed(origin: str, host: str, allowed: Iterable[str]) -> bool:
    """Same origin as the request's ``Host`` (any scheme: a TLS proxy may sit in front), or an allowed origin."""
    origin = origin.strip().lower().rstrip("/")
    allowed = list(allowed)
    if "*" in allowed or origin in allowed:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and parts.netloc == host.strip().lower()


class HostOriginGuard:
    """ASGI middleware: refuse a disallowed ``Host`` (HTTP 400) or ``Origin`` (HTTP 403); WebSockets are accepted
    and closed at once with 4400 / 4403 and the reason (a browser sees close codes, not the handshake's status)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], hosts: Iterable[str],
                 origins: Iterable[str]) -> None:
        self.app = app
        self.hosts = tuple(hosts)
        self.origins = tuple(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        problem = None
        if not host_allowed(host, self.hosts):
            problem = 400, f"Host {host_name(host)!r} is not allowed here (the server's --allowed-hosts)"
        elif "origin" in headers and not origin_allowed(headers["origin"], host, self.origins):
            problem = 403, f"cross-site requests from {headers['origin']!r} are refused (--allowed-origins)"
        if problem is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            body = json.dumps({"detail": problem[1]}).encode()
            await send({"type": "http.response.start", "status": problem[0], "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        else:
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 4000 + problem[0], "reason": problem[1][:120]})


__all__ = ["HostOriginGuard", "default_allowed_hosts", "is_loopback", "is_open", "key_matches", "parse_list"]

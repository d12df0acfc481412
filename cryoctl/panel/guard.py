"""ASGI middleware that refuses requests the panel must not answer, before any route runs.

- the ``Host`` header must name an allowed host (``api.allowed_hosts``: a name or
  address, ``*.DOMAIN`` for any name below DOMAIN, ``*`` for any); otherwise 403.
  This keeps a page from another site, reaching the panel through a rebound DNS
  name, from talking to it;
- an ``Origin`` header, when present, must be ``http(s)://ALLOWED_HOST[:PORT]``;
  otherwise 403 (a page of another origin may not send commands, nor open the
  event stream);
- a request body over ``api.max_body_bytes`` is 413, declared (``Content-Length``)
  or found while reading.

Every refusal is a JSON body ``{"detail": "..."}``; a refused WebSocket is denied
with that response where the server supports it, or closed with 1008.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HostRules", "RequestGuard", "split_host"]


def split_host(header: str) -> str | None:
    """The host of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``), or None."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1:]
    else:
        host, sep, port = value.rpartition(":")
        if not sep:
            host, rest = value, ""
        else:
            rest = ":" + port
            if ":" in host:  # an IPv6 address without brackets is not a Host header
                return None
    if rest and not (rest.startswith(":") and rest[1:].isdigit()):
        return None
    return host or None


class HostRules:
    def __init__(self, patterns: Iterable[str]) -> None:
        self._any = False
        self._exact: set[str] = set()
        self._suffixes: list[str] = []
        for pattern in patterns:
            pattern = pattern.lower()
            if pattern == "*":
                self._any = True
            elif pattern.startswith("*."):
                self._suffixes.append(pattern[1:])
            else:
                self._exact.add(pattern)

    def allows(self, host: str | None) -> bool:
        if not host:
            return False
        host = host.lower()
        return (self._any or host in self._exact
                or any(host.endswith(suffix) for suffix in self._suffixes))

    def allows_origin(self, origin: str) -> bool:
        try:
            parts = urlsplit(origin)
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or parts.path not in ("", "/"):
            return False
        if parts.query or parts.fragment or parts.username or parts.password:
            return False
        return self.allows(parts.hostname)


class RequestGuard:
    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str], max_body_bytes: int) -> None:
        self.app = app
        self.rules = HostRules(allowed_hosts)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(headers)
        if refusal is not None:
            await _refuse(scope, receive, send, *refusal)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _refuse(scope, receive, send, 413, self._too_large())
            return
        await self.app(scope, self._limited(receive), send)

    def _refusal(self, headers: Headers) -> tuple[int, str] | None:
        if not self.rules.allows(split_host(headers.get("host", ""))):
            return 403, "this host name is not served here (api.allowed_hosts)"
        origin = headers.get("origin")
        if origin is not None and not self.rules.allows_origin(origin):
            return 403, "requests from this origin are not accepted"
        return None

    def _too_large(self) -> str:
        return f"the request body exceeds {self.max_body_bytes} bytes"

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # Raised inside the route's body read: FastAPI passes HTTPException
                    # on, and the exception handlers answer it as JSON.
                    raise HTTPException(status_code=413, detail=self._too_large())
            return message

        return limited_receive


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    response = JSONResponse({"detail": detail}, status_code=status)
    if scope["type"] == "websocket":
        if "websocket.http.response" in scope.get("extensions", {}):
            await response(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
        return
    await response(scope, receive, send)

"""The upstream HTTP client: the one file that decides how bytes reach providers.

Measured on a bare Starlette + Hypercorn passthrough (gateway CPU-ms per request, see
docs/architecture.md): httpx's default transport costs 2-4x aiohttp's in ordinary scenarios
and ~60x with 256 concurrent slow upstream calls (its pool does work that grows with the
square of the pool). aiohttp in turn costs ~3x a bare asyncio exchange, so the provider hot
path has two clients behind this interface, chosen by `[server] upstream_client`: ``h1``
(`upstream_h1`: asyncio Protocols + httptools, written for this path) and ``aiohttp``.
Adapters import neither; they get an `UpstreamClient` on their deployment and catch the
errors below.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from typing import Protocol

import aiohttp

__all__ = [
    "CLIENTS",
    "MAX_RESPONSE_SIZE",
    "UPSTREAM_HEADERS",
    "TransportPool",
    "UpstreamClient",
    "UpstreamConnectionError",
    "UpstreamInvalidResponse",
    "UpstreamResponse",
    "UpstreamTimeout",
]

#: Largest whole upstream answer read into memory. Big enough for a batch of 2048 embeddings
#: of 3072 floats as JSON; an upstream sending more is broken or hostile.
MAX_RESPONSE_SIZE = 256 * 1024 * 1024


#: Extra headers for the upstream requests made from the current context: a plugin's
#: ``call_scope`` sets them for one call (the `tracing` plugin's W3C ``traceparent``). They
#: are added to every adapter's own headers without overriding them. Never client secrets.
UPSTREAM_HEADERS: ContextVar[Mapping[str, str] | None] = ContextVar(
    "litegate_upstream_headers", default=None
)


class UpstreamTimeout(Exception):
    """The upstream did not answer (or went quiet mid-stream) within the deployment's timeout."""


class UpstreamConnectionError(Exception):
    """The upstream could not be reached, or dropped the connection."""


class UpstreamInvalidResponse(Exception):
    """The upstream answered with something its API never sends: a body that isn't what the
    content type says, a malformed stream, a body past `MAX_RESPONSE_SIZE`. The message says
    what, without quoting the body."""


class UpstreamResponse(Protocol):
    """An upstream answer whose body is read once, whole or in pieces. Always `close()` it:
    closing one not read to its end drops its connection (telling the upstream to stop)."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Looked up without regard to case."""
        ...

    async def read(self, limit: int = MAX_RESPONSE_SIZE) -> bytes:
        """The whole body; `UpstreamInvalidResponse` when it is larger than `limit`."""
        ...

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body in the pieces it arrives in."""
        ...

    def close(self) -> None: ...


class UpstreamClient(Protocol):
    """A pooled client for one upstream base URL, shared by every deployment that uses it."""

    base_url: str

    async def post(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        total_timeout: float | None,
        connect_timeout: float,
        read_timeout: float | None = None,
    ) -> UpstreamResponse:
        """POST `body` to base_url + path; return once the status and headers arrived.
        `total_timeout` bounds the whole call (body included), `read_timeout` each wait for
        bytes; both raise `UpstreamTimeout`."""
        ...

    async def aclose(self) -> None:
        """Close this event loop's connections."""
        ...


class AiohttpResponse:
    """`UpstreamResponse` over an aiohttp response."""

    __slots__ = ("_resp",)

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp

    @property
    def status(self) -> int:
        return self._resp.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._resp.headers

    async def read(self, limit: int = MAX_RESPONSE_SIZE) -> bytes:
        declared = self._resp.content_length
        if declared is not None and declared > limit:
            self.close()
            raise UpstreamInvalidResponse(f"its answer is larger than {limit} bytes")
        try:
            if declared is None:
                return await self._read_capped(limit)
            return await self._resp.read()
        except TimeoutError as exc:
            raise UpstreamTimeout(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(str(exc)) from exc
        finally:
            self._resp.release()

    async def _read_capped(self, limit: int) -> bytes:
        # No content-length (chunked): count while reading instead of trusting the upstream.
        parts, size = [], 0
        async for block in self._resp.content.iter_any():
            size += len(block)
            if size > limit:
                self.close()
                raise UpstreamInvalidResponse(f"its answer is larger than {limit} bytes")
            parts.append(block)
        return b"".join(parts)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for block in self._resp.content.iter_any():
                yield block
        except TimeoutError as exc:
            raise UpstreamTimeout(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(str(exc)) from exc

    def close(self) -> None:
        # Closing (not releasing) a half-read response drops the connection, which is what
        # tells the upstream to stop generating when our client has gone away.
        if not self._resp.closed:
            self._resp.close()


class AiohttpClient:
    """`UpstreamClient` over an aiohttp session per event loop."""

    def __init__(self, base_url: str, *, max_connections: int = 1000) -> None:
        self.base_url = base_url.rstrip("/")
        self._max_connections = max_connections
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._timeouts: dict[tuple[float | None, float, float | None], aiohttp.ClientTimeout] = {}

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300
            )
            session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # never route provider credentials through an env proxy
                skip_auto_headers=("User-Agent",),
                timeout=aiohttp.ClientTimeout(total=None),
            )
            self._sessions[loop] = session
        return session

    def _timeout(
        self, total: float | None, connect: float, read: float | None
    ) -> aiohttp.ClientTimeout:
        key = (total, connect, read)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)
            self._timeouts[key] = timeout
        return timeout

    async def post(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        total_timeout: float | None,
        connect_timeout: float,
        read_timeout: float | None = None,
    ) -> AiohttpResponse:
        """POST `body` to base_url + path; return once the status and headers arrived."""
        timeout = self._timeout(total_timeout, connect_timeout, read_timeout)
        extra = UPSTREAM_HEADERS.get()
        if extra:
            headers = {**extra, **headers}
        try:
            resp = await self._session().post(
                self.base_url + path, data=body, headers=headers, timeout=timeout
            )
        except TimeoutError as exc:
            raise UpstreamTimeout(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(_describe(exc)) from exc
        return AiohttpResponse(resp)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        session = self._sessions.pop(loop, None)
        if session is not None:
            await session.close()


def _describe(exc: aiohttp.ClientError) -> str:
    # aiohttp's messages can include the full URL; the host is enough and never a secret.
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}"
    return type(exc).__name__


#: The values of `[server] upstream_client`.
CLIENTS = ("h1", "aiohttp")


class TransportPool:
    """One `UpstreamClient` per distinct base URL, owned by a Gateway. `kind` picks the
    implementation (one of `CLIENTS`)."""

    def __init__(self, kind: str = "h1") -> None:
        if kind not in CLIENTS:
            raise ValueError(f"expected one of {', '.join(CLIENTS)}, got {kind!r}")
        self.kind = kind
        self._clients: dict[str, UpstreamClient] = {}

    def client(self, base_url: str, max_connections: int) -> UpstreamClient:
        key = base_url.rstrip("/")
        client = self._clients.get(key)
        if client is None:
            if self.kind == "h1":
                from .upstream_h1 import H1Client  # it imports this module's errors

                client = H1Client(key, max_connections=max_connections)
            else:
                client = AiohttpClient(key, max_connections=max_connections)
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

"""A lean HTTP/1.1 client for the provider hot path: asyncio Protocols + httptools.

aiohttp's client costs 300-440 us of CPU a request here, most of what litegate spends per
call; a bare asyncio exchange costs about 110 us. This client does what the provider path
needs and nothing else: POST a body, keep-alive pools per event loop with a connection
limit, TLS, timeouts, size caps. The wire work is in `upstream_h1_conn`, the answer in
`upstream_h1_response`; this module holds the origin, the pool and the client
(`[server] upstream_client = "h1"`).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import functools
import ipaddress
import re
import socket
import ssl
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

import aiohappyeyeballs

from .transport import UPSTREAM_HEADERS, UpstreamConnectionError, UpstreamTimeout
from .upstream_h1_conn import H1Connection, StaleConnection
from .upstream_h1_response import H1Response

__all__ = ["KEEP_ALIVE_TIMEOUT", "H1Client", "H1Pool", "Origin", "tls_context"]

#: Seconds an idle keep-alive connection is kept (aiohttp's default). A server that closes
#: sooner is noticed when its FIN arrives; the connection is dropped then.
KEEP_ALIVE_TIMEOUT = 15.0

#: Most 307/308 redirects followed for one call (aiohttp's default).
_MAX_REDIRECTS = 10

#: Seconds a resolved host name's addresses are reused for new connections.
_DNS_TTL = 300.0

# Bytes that can't appear raw in a request target: percent-encoded (as aiohttp's URL library
# would), everything else is sent exactly as the adapter built it (bedrock signs its path).
_UNSAFE_TARGET = re.compile(r"[^!$%&'()*+,\-./0-9:;=?@A-Z_a-z~\[\]]")
_TARGET_SAFE = "!$%&'()*+,-./:;=?@_~[]"
# Headers that frame the request: ours to write.
_FRAMING = frozenset(("content-length", "transfer-encoding"))


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Verify on, SNI, ALPN http/1.1; the system's CAs plus certifi's when it is installed
    (aiohttp uses the system's, httpx certifi's: a provider either trusts works)."""
    context = ssl.create_default_context()
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx
        pass
    else:
        context.load_verify_locations(certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context


class Origin:
    """Where a base URL points: scheme, host, port, path prefix and the fixed request headers.
    `where` (host:port) is what error messages name: never the path, query or credentials."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL with a host")
        self.tls = parts.scheme == "https"
        host = parts.hostname
        try:
            self.ip: bool = bool(ipaddress.ip_address(host))
        except ValueError:
            self.ip = False
            host = host.encode("idna").decode("ascii")
        self.host = host
        default_port = 443 if self.tls else 80
        self.port = parts.port or default_port
        shown = f"[{host}]" if ":" in host else host
        self.where = f"{shown}:{self.port}"
        host_header = shown if self.port == default_port else self.where
        self.prefix = parts.path + (f"?{parts.query}" if parts.query else "")
        auto = {"host": host_header, "accept": "*/*", "accept-encoding": "gzip, deflate"}
        if parts.username is not None:
            userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auto["authorization"] = "Basic " + base64.b64encode(userinfo.encode()).decode()
        #: Headers added to every request unless the caller sends its own.
        self.auto = auto
        self._auto_lines = "".join(f"{name}: {value}\r\n" for name, value in auto.items())

    def redirect_target(self, current: str, location: str | None) -> str | None:
        """Where a 307/308 from `current` (a request target) points, when that is this same
        origin; None otherwise. Elsewhere is never followed: adapters' credentials (API key
        headers included) are for this upstream only."""
        if not location:
            return None
        scheme = "https" if self.tls else "http"
        try:
            parts = urlsplit(urljoin(f"{scheme}://{self.where}{current}", location))
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None
        if parts.scheme != scheme or parts.hostname != self.host or port != self.port:
            return None
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def request_head(self, target: str, headers: Mapping[str, str], length: int) -> bytes:
        """The request line and headers for POSTing `length` bytes to `target` (prefix
        included)."""
        if _UNSAFE_TARGET.search(target):
            target = quote(target, safe=_TARGET_SAFE)
        lines = [f"POST {target} HTTP/1.1\r\n"]
        auto = self.auto
        overridden: set[str] | None = None
        for name, value in headers.items():
            lower = name.lower()
            if lower in auto:
                overridden = overridden or set()
                overridden.add(lower)
            elif lower in _FRAMING:
                continue
            lines.append(f"{name}: {value}\r\n")
        # One CRLF per line so far, the automatic headers', and two to end with.
        crlfs = len(lines) + 2
        if overridden is None:
            lines.append(self._auto_lines)
            crlfs += len(auto)
        else:
            extra = [f"{k}: {v}\r\n" for k, v in auto.items() if k not in overridden]
            lines.extend(extra)
            crlfs += len(extra)
        lines.append(f"content-length: {length}\r\n\r\n")
        text = "".join(lines)
        # A CR or LF inside a name or value would let it forge headers (or a second
        # request): such a request is refused.
        if text.count("\n") != crlfs or text.count("\r") != crlfs:
            raise ValueError(f"a header of the request to {self.where} holds a line break")
        return text.encode()


class H1Pool:
    """Keep-alive connections to one origin on one event loop. At most `limit` connections
    are open (or opening); callers beyond it wait their turn, first come first served."""

    def __init__(
        self,
        origin: Origin,
        loop: asyncio.AbstractEventLoop,
        limit: int,
        keep_alive: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.origin = origin
        self.tls = (tls or tls_context()) if origin.tls else None
        self.loop = loop
        self.limit = limit
        self.keep_alive = keep_alive
        self.idle: collections.deque[H1Connection] = collections.deque()
        self.count = 0
        self.connections: set[H1Connection] = set()
        self.waiters: collections.deque[asyncio.Future[H1Connection | None]] = collections.deque()
        self.closed = False
        self._sweeper: asyncio.TimerHandle | None = None
        self._addresses: list[Any] = []
        self._addresses_until = 0.0

    async def acquire(
        self, deadline: float | None, connect_timeout: float, fresh: bool = False
    ) -> H1Connection:
        """A connection ready for one exchange: the newest idle one, or a new one."""
        while True:
            if self.closed:
                raise UpstreamConnectionError(f"the client for {self.origin.where} is closed")
            idle = self.idle
            if fresh:
                if self.count >= self.limit and idle:
                    idle[0].drop()  # room for the fresh connection a retry needs
            else:
                now = self.loop.time()
                while idle:
                    conn = idle.pop()
                    conn.idle = False
                    if conn.closed or now - conn.idle_since >= self.keep_alive:
                        conn.drop()
                        continue
                    conn.reused = True
                    return conn
            if self.count < self.limit:
                self.count += 1
                return await self._open(deadline, connect_timeout)
            given = await self._wait_turn(deadline)
            if given is None:  # a place came free: open a connection in it
                return await self._open(deadline, connect_timeout)
            if not given.closed:
                given.reused = True
                return given
            given.drop()  # closed on its way to us; try again

    async def _wait_turn(self, deadline: float | None) -> H1Connection | None:
        waiter: asyncio.Future[H1Connection | None] = self.loop.create_future()
        self.waiters.append(waiter)
        try:
            if deadline is None:
                return await waiter
            async with asyncio.timeout_at(deadline):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._pass_on(waiter.result())  # given to us as we gave up: to the next
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):  # already passed over as done
                    self.waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout(f"no connection to {self.origin.where} came free") from None
            raise

    def _pass_on(self, given: H1Connection | None) -> None:
        if given is None:
            self.count -= 1
            self._grant()
        else:
            self.release(given)

    def _grant(self) -> None:
        """A place came free: the first waiter may open a connection in it."""
        waiters = self.waiters
        while waiters and self.count < self.limit and not self.closed:
            waiter = waiters.popleft()
            if not waiter.done():
                self.count += 1
                waiter.set_result(None)
                return

    async def _open(self, deadline: float | None, connect_timeout: float) -> H1Connection:
        # `count` already holds this connection's place; give it back if the connect fails.
        loop = self.loop
        limit = loop.time() + connect_timeout
        if deadline is not None and deadline < limit:
            limit = deadline
        origin = self.origin
        try:
            async with asyncio.timeout_at(limit):
                conn = await self._connect()
        except BaseException as exc:
            self.count -= 1
            self._grant()
            self._addresses_until = 0.0  # the name may have moved: look it up again next time
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout(f"cannot connect to {origin.where} (timed out)") from None
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise UpstreamConnectionError(
                    f"cannot connect to {origin.where}: its TLS certificate is not trusted"
                ) from None
            if isinstance(exc, OSError):
                reason = exc.strerror or type(exc).__name__
                raise UpstreamConnectionError(
                    f"cannot connect to {origin.where}: {reason}"
                ) from None
            raise
        if self.closed or conn.closed:
            self.count -= 1
            self._grant()
            conn.drop()
            raise UpstreamConnectionError(f"{origin.where} closed the connection at once")
        conn.counted = True  # from here its place in `count` is the connection's to give up
        self.connections.add(conn)
        return conn

    async def _connect(self) -> H1Connection:
        origin, loop, tls = self.origin, self.loop, self.tls
        server_hostname = origin.host if tls is not None else None
        if origin.ip:
            _transport, conn = await loop.create_connection(
                lambda: H1Connection(self), origin.host, origin.port, ssl=tls,
                server_hostname=server_hostname,
            )  # fmt: skip
            return conn
        # A name with IPv6 and IPv4 addresses: Happy Eyeballs (RFC 8305), as aiohttp does, so
        # a host whose IPv6 route is broken still connects over IPv4 within a quarter second.
        sock = await aiohappyeyeballs.start_connection(
            await self._resolve(), happy_eyeballs_delay=0.25, interleave=1, loop=loop
        )
        try:
            _transport, conn = await loop.create_connection(
                lambda: H1Connection(self), sock=sock, ssl=tls, server_hostname=server_hostname
            )
        except BaseException:
            sock.close()
            raise
        return conn

    async def _resolve(self) -> list[Any]:
        now = self.loop.time()
        if self._addresses and now < self._addresses_until:
            return self._addresses
        infos = await self.loop.getaddrinfo(
            self.origin.host, self.origin.port, type=socket.SOCK_STREAM
        )
        if not infos:
            raise OSError(f"no address for {self.origin.host}")
        self._addresses, self._addresses_until = list(infos), now + _DNS_TTL
        return self._addresses

    def release(self, conn: H1Connection) -> None:
        """`conn` finished an exchange and can carry another: to a waiter, or idle."""
        if self.closed or conn.closed:
            conn.drop()
            return
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle = True
        conn.idle_since = self.loop.time()
        self.idle.append(conn)
        if self._sweeper is None:
            self._sweeper = self.loop.call_at(conn.idle_since + self.keep_alive, self._sweep)

    def discard(self, conn: H1Connection) -> None:
        """`conn` is closed: forget it and give its place to whoever waits."""
        if conn.idle:
            conn.idle = False
            self.idle.remove(conn)
        if conn.counted:
            conn.counted = False
            self.connections.discard(conn)
            self.count -= 1
            self._grant()

    def _sweep(self) -> None:
        self._sweeper = None
        idle, now = self.idle, self.loop.time()
        while idle and now - idle[0].idle_since >= self.keep_alive:
            idle[0].drop()
        if idle:
            self._sweeper = self.loop.call_at(idle[0].idle_since + self.keep_alive, self._sweep)

    def close(self) -> None:
        self.closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self.connections):
            conn.drop()
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(
                    UpstreamConnectionError(f"the client for {self.origin.where} is closed")
                )


class H1Client:
    """A pooled client for one upstream base URL, shared by every deployment that uses it."""

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int = 1000,
        keep_alive_timeout: float = KEEP_ALIVE_TIMEOUT,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._tls = tls
        try:
            self._origin: Origin | None = Origin(self.base_url)
        except ValueError:  # reported by each call, as aiohttp does
            self._origin = None
        if tls is None and self._origin is not None and self._origin.tls:
            tls_context()  # loading the CA files blocks: now, at start-up, not in a call
        # 0 means no limit, as for aiohttp's connector.
        self._max_connections = max_connections if max_connections > 0 else sys.maxsize
        self._keep_alive = keep_alive_timeout
        self._pools: dict[asyncio.AbstractEventLoop, H1Pool] = {}

    def _pool(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> H1Pool:
        pool = self._pools.get(loop)
        if pool is None or pool.closed:
            pool = H1Pool(origin, loop, self._max_connections, self._keep_alive, self._tls)
            self._pools[loop] = pool
        return pool

    async def post(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        total_timeout: float | None,
        connect_timeout: float,
        read_timeout: float | None = None,
    ) -> H1Response:
        """POST `body` to base_url + path; return once the status and headers arrived."""
        origin = self._origin
        if origin is None:
            raise UpstreamConnectionError("its base URL is not a valid http(s) URL with a host")
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop) or self._pool(loop, origin)
        extra = UPSTREAM_HEADERS.get()
        if extra:
            headers = {**extra, **headers}
        target = origin.prefix + path
        head = origin.request_head(target, headers, len(body))
        deadline = None if total_timeout is None else loop.time() + total_timeout
        timeouts = (deadline, total_timeout, connect_timeout, read_timeout)
        response = await self._exchange(pool, head, body, *timeouts)
        for _ in range(_MAX_REDIRECTS):
            # 307/308 keep the method and body (aiohttp follows them too); only within this
            # origin, see `Origin.redirect_target`.
            if response.status not in (307, 308):
                break
            moved = origin.redirect_target(target, response.headers.get("location"))
            if moved is None:
                break
            response.close()
            target = moved
            head = origin.request_head(target, headers, len(body))
            response = await self._exchange(pool, head, body, *timeouts)
        return response

    async def _exchange(
        self,
        pool: H1Pool,
        head: bytes,
        body: bytes,
        deadline: float | None,
        total_timeout: float | None,
        connect_timeout: float,
        read_timeout: float | None,
    ) -> H1Response:
        conn = await pool.acquire(deadline, connect_timeout)
        response = H1Response(pool.loop)
        conn.send(head, body, response, deadline, total_timeout, read_timeout)
        try:
            await response._head()
        except StaleConnection:
            # The server closed this idle connection as we reused it; nothing of the answer
            # came back, so the request goes once more, on a new connection.
            conn = await pool.acquire(deadline, connect_timeout, fresh=True)
            response = H1Response(pool.loop)
            conn.send(head, body, response, deadline, total_timeout, read_timeout)
            await response._head()
        return response

    async def aclose(self) -> None:
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            pool.close()

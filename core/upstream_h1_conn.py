"""One HTTP/1.1 connection to an upstream: an asyncio Protocol fed by httptools.

`H1Connection` writes one request at a time and parses the answer as bytes arrive (llhttp,
the parser uvicorn uses), handing the pieces to the `H1Response` its caller holds. The caller
never touches the socket. When the answer is complete the connection goes straight back to
its pool (the body stays buffered in the response); anything else -- a timeout, an error, a
half-read answer closed -- drops the connection, which is how the upstream learns that nobody
wants the rest.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httptools

from .transport import UpstreamConnectionError, UpstreamInvalidResponse, UpstreamTimeout
from .upstream_h1_response import WANT_DATA, WANT_HEAD, H1Response

if TYPE_CHECKING:
    from .upstream_h1 import H1Pool

__all__ = ["MAX_HEAD_SIZE", "H1Connection", "StaleConnection"]

#: Stream bytes buffered before the socket stops being read: a slow client slows the
#: upstream down instead of filling our memory.
_HIGH_WATER = 256 * 1024
#: Most bytes an answer may take to finish its status line and headers (aiohttp allows 8 KiB
#: per line); llhttp itself sets no limit, so a hostile upstream could grow them forever.
MAX_HEAD_SIZE = 256 * 1024


class StaleConnection(UpstreamConnectionError):
    """A reused keep-alive connection failed before any byte of the answer: the server had
    closed it as we sent. The request may go again, once, on a fresh connection."""


class H1Connection(asyncio.Protocol):
    """One keep-alive connection; carries at most one exchange at a time."""

    def __init__(self, pool: H1Pool) -> None:
        self.pool = pool
        self._loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.paused = False
        #: Taken from the idle list (so the server may have closed it as we sent).
        self.reused = False
        #: In the pool's idle list, since `idle_since` (loop time).
        self.idle = False
        self.idle_since = 0.0
        #: Holds a place in the pool's count (from the moment the pool hands it out).
        self.counted = False
        self._response: H1Response | None = None
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        self._informational = False
        self._keep_alive = False
        self._stray = False
        self._total_timer: asyncio.TimerHandle | None = None
        self._total_timeout = 0.0
        self._read_timer: asyncio.TimerHandle | None = None
        self._read_timeout: float | None = None
        self._last_read = 0.0

    # -- one exchange --------------------------------------------------------------------

    def send(
        self,
        data: bytes,
        body: bytes,
        response: H1Response,
        deadline: float | None,
        total_timeout: float | None,
        read_timeout: float | None,
    ) -> None:
        if self.closed:
            response._fail(self._lost_error(response))
            return
        self._response = response
        response._conn = self
        self._raw_headers = []
        self._head_size = 0
        self._stray = False
        loop = self._loop
        if deadline is not None and total_timeout is not None:
            self._total_timeout = total_timeout
            self._total_timer = loop.call_at(deadline, self._on_total_timeout)
        if read_timeout is not None:
            self._read_timeout = read_timeout
            self._last_read = now = loop.time()
            self._read_timer = loop.call_at(now + read_timeout, self._on_read_timer)
        transport = self.transport
        assert transport is not None
        try:
            if len(body) <= 65536:
                transport.write(data + body)
            else:
                transport.write(data)
                transport.write(body)
        except (OSError, RuntimeError):  # the transport closed under us
            self._fail(self._lost_error(response))

    def _on_total_timeout(self) -> None:
        self._total_timer = None
        self._fail(UpstreamTimeout(f"no whole answer within {self._total_timeout:g}s"))

    def _on_read_timer(self) -> None:
        self._read_timer = None
        timeout = self._read_timeout
        if timeout is None or self._response is None:
            return
        now = self._loop.time()
        if self.paused:  # our reader is the slow one, not the upstream
            due = now + timeout
        else:
            due = self._last_read + timeout
            if due <= now:
                self._fail(UpstreamTimeout(f"nothing received for {timeout:g}s"))
                return
        self._read_timer = self._loop.call_at(due, self._on_read_timer)

    def _stop_timers(self) -> None:
        if self._total_timer is not None:
            self._total_timer.cancel()
            self._total_timer = None
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        self._read_timeout = None

    def _finish(self, response: H1Response) -> None:
        """The answer is complete: back to the pool, or closed if it can't carry another."""
        self._response = None
        response._conn = None
        self._stop_timers()
        response._wake()
        if self._keep_alive and not self._stray and not self.closed:
            if self.paused:
                self.resume()
            self.pool.release(self)
        else:
            self.drop()

    def _fail(self, exc: BaseException) -> None:
        response = self._response
        self._response = None
        self._stop_timers()
        if response is not None:
            response._fail(exc)
        self.drop()

    def drop(self) -> None:
        """Close the connection now (unread bytes and all) and give its place in the pool up."""
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
        response = self._response
        if response is not None:
            self._response = None
            self._stop_timers()
            response._fail(UpstreamConnectionError("the answer was closed before its end"))
        self.pool.discard(self)

    def pause(self) -> None:
        if not self.paused and not self.closed and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            if not self.closed and self.transport is not None:
                self.transport.resume_reading()

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport

    def data_received(self, data: bytes) -> None:
        response = self._response
        if response is None:
            # Bytes nobody asked for (on an idle connection): the server is out of step with
            # us, so nothing more it sends on this connection can be trusted.
            self.drop()
            return
        if self._read_timeout is not None:
            self._last_read = self._loop.time()
        if not response.status:
            self._head_size += len(data)
            if self._head_size > MAX_HEAD_SIZE:
                self._fail(UpstreamInvalidResponse(f"its headers exceed {MAX_HEAD_SIZE} bytes"))
                return
        response._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamInvalidResponse("it switched to another protocol"))
            return
        except httptools.HttpParserError as exc:
            if not response._complete:
                self._fail(UpstreamInvalidResponse(f"its HTTP answer is malformed ({exc})"))
                return
            self._stray = True  # junk after a whole answer: keep the answer, not the connection
        if response._complete:
            self._finish(response)
        elif response._size > response._limit:
            self._fail(
                UpstreamInvalidResponse(f"its answer is larger than {response._limit} bytes")
            )
        else:
            waiter = response._waiter
            if waiter is not None:
                want = response._want
                if (want == WANT_DATA and response._chunks) or (
                    want == WANT_HEAD and response.status
                ):
                    response._wake()
            if response._buffered > _HIGH_WATER and not response._reading_all:
                self.pause()

    def eof_received(self) -> bool | None:
        self.closed = True  # never reused from here on, even before connection_lost runs
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self._response
        if response is not None:
            self._response = None
            self._stop_timers()
            if response.status and response._eof_body:
                response._complete = True  # the body ran to the end of the connection
                response._conn = None
                response._wake()
            else:
                response._fail(self._lost_error(response))
        self.pool.discard(self)

    def _lost_error(self, response: H1Response) -> UpstreamConnectionError:
        where = self.pool.origin.where
        if not response._got_bytes:
            if self.reused:
                return StaleConnection(f"{where} closed the connection as the request was sent")
            return UpstreamConnectionError(f"{where} closed the connection without answering")
        return UpstreamConnectionError(f"{where} closed the connection before its answer ended")

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        response = self._response
        if response is None or response._complete:
            self._stray = True

    def on_header(self, name: bytes, value: bytes) -> None:
        response = self._response
        if response is not None and not response.status:  # trailers are not kept
            self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        raw, self._raw_headers = self._raw_headers, []
        status = self._parser.get_status_code()
        if status < 200:  # 100 Continue, 103 Early Hints: the real answer follows
            self._informational = True
            return
        response = self._response
        if response is not None and not response._complete and not response.status:
            response._set_head(status, raw)

    def on_body(self, body: bytes) -> None:
        response = self._response
        if response is not None and not response._complete:
            response._chunks.append(body)
            size = len(body)
            response._buffered += size
            response._size += size

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        response = self._response
        if response is not None and response.status and not response._complete:
            response._complete = True
            self._keep_alive = self._parser.should_keep_alive()

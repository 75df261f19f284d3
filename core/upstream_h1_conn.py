"""One HTTP/1.1 connection to an upstream, and the answer it carries.

`H1Connection` is an asyncio Protocol fed by httptools (llhttp, the parser uvicorn uses): it
writes one request, parses the answer as bytes arrive and hands the parsed pieces to the
`H1Response` the caller holds. The caller never touches the socket, so a read costs no more
than a wait on one future, and a whole small answer usually arrives in one `data_received`
with nothing to wait for at all. When the answer is complete the connection goes straight
back to its pool (the body stays buffered in the response); anything else -- a timeout, an
error, a half-read answer closed -- drops the connection, which is how the upstream learns
that nobody wants the rest.
"""

from __future__ import annotations

import asyncio
import sys
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httptools

from .transport import (
    MAX_RESPONSE_SIZE,
    UpstreamConnectionError,
    UpstreamInvalidResponse,
    UpstreamTimeout,
)

if TYPE_CHECKING:
    from .upstream_h1 import H1Pool

__all__ = ["H1Connection", "H1Headers", "H1Response", "StaleConnection"]

#: Stream bytes buffered before the socket stops being read: a slow client slows the
#: upstream down instead of filling our memory.
_HIGH_WATER = 256 * 1024
#: Most bytes an answer may take to finish its status line and headers (aiohttp allows 8 KiB
#: per line); llhttp itself sets no limit, so a hostile upstream could grow them forever.
MAX_HEAD_SIZE = 256 * 1024

# What a waiting reader needs before it is woken.
_WANT_HEAD, _WANT_DATA, _WANT_ALL = 1, 2, 3


class StaleConnection(UpstreamConnectionError):
    """A reused keep-alive connection failed before any byte of the answer: the server had
    closed it as we sent. The request may go again, once, on a fresh connection."""


class H1Headers(Mapping[str, str]):
    """Answer headers, looked up without regard to case. A name sent more than once maps to
    its first value here (as aiohttp's `get` does); `getall` gives every value."""

    __slots__ = ("_first", "_raw")

    def __init__(self, raw: list[tuple[str, str]]) -> None:
        self._raw = raw
        first: dict[str, str] = {}
        for name, value in raw:
            first.setdefault(name, value)
        self._first = first

    def __getitem__(self, key: str) -> str:
        return self._first[key.lower()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._first.get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._first

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def getall(self, key: str) -> list[str]:
        key = key.lower()
        return [value for name, value in self._raw if name == key]

    def __repr__(self) -> str:
        return f"H1Headers({self._raw!r})"


class H1Response:
    """An upstream answer whose body is read once, whole or in pieces. Always `close()` it
    (closing one read to the end costs nothing: its connection is already back in the pool)."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_complete",
        "_conn",
        "_decoder",
        "_eof_body",
        "_error",
        "_got_bytes",
        "_length",
        "_limit",
        "_loop",
        "_reading_all",
        "_size",
        "_waiter",
        "_want",
        "headers",
        "status",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._conn: H1Connection | None = None
        self.status = 0
        self.headers: Mapping[str, str] = _NO_HEADERS
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._size = 0
        self._limit = sys.maxsize
        self._length: int | None = None
        self._eof_body = False
        self._complete = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._want = 0
        self._reading_all = False
        self._got_bytes = False
        self._decoder: Any = None

    # -- filled in by the connection ------------------------------------------------------

    def _set_head(self, status: int, raw: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        pairs = [
            (name.decode("latin-1").lower(), value.decode("utf-8", "surrogateescape"))
            for name, value in raw
        ]
        headers = self.headers = H1Headers(pairs)
        length = headers.get("content-length")
        chunked = headers.get("transfer-encoding", "").lower().rstrip().endswith("chunked")
        if length is not None and not chunked:
            try:
                self._length = int(length)
            except ValueError:
                self._length = None  # llhttp refuses it before we get here
        bodiless = status in (204, 304)
        self._eof_body = not bodiless and not chunked and self._length is None
        coding = headers.get("content-encoding")
        if coding is not None and not bodiless:
            self._decoder = _decoder(coding)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self._conn = None
        if self._error is None and not self._complete:
            self._error = exc
        self._wake()

    async def _wait(self, want: int) -> None:
        self._want = want
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        except BaseException:
            # Cancelled mid-answer (the client went away, a timeout around us): nobody will
            # read the rest, so the connection can't be reused.
            self.close()
            raise

    async def _head(self) -> None:
        """Wait for the status line and headers (the connection's `send` came first)."""
        while not self.status:
            if self._error is not None:
                raise self._error
            await self._wait(_WANT_HEAD)

    # -- the interface -------------------------------------------------------------------

    async def read(self, limit: int = MAX_RESPONSE_SIZE) -> bytes:
        if self._length is not None and self._length > limit:
            self.close()
            raise UpstreamInvalidResponse(f"its answer is larger than {limit} bytes")
        self._limit = limit
        self._reading_all = True
        conn = self._conn
        if conn is not None and conn.paused:
            conn.resume()
        while not self._complete:
            if self._error is not None:
                raise self._error
            if self._size > limit:
                self.close()
                raise UpstreamInvalidResponse(f"its answer is larger than {limit} bytes")
            await self._wait(_WANT_ALL)
        if self._size > limit:
            raise UpstreamInvalidResponse(f"its answer is larger than {limit} bytes")
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        self._buffered = 0
        if self._decoder is not None:
            body = self._decode(body, limit) + self._flush(limit)
        return body

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            while True:
                if self._chunks:
                    chunks = self._chunks
                    block = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    self._chunks = []
                    self._buffered = 0
                    conn = self._conn
                    if conn is not None and conn.paused:
                        conn.resume()
                    if self._decoder is not None:
                        block = self._decode(block, MAX_RESPONSE_SIZE)
                        if not block:
                            continue
                    yield block
                elif self._complete:
                    if self._decoder is not None:
                        tail = self._flush(MAX_RESPONSE_SIZE)
                        if tail:
                            yield tail
                    return
                elif self._error is not None:
                    raise self._error
                else:
                    await self._wait(_WANT_DATA)
        finally:
            if not self._complete:
                self.close()

    def close(self) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            conn.drop()
        if not self._complete and self._error is None:
            self._error = UpstreamConnectionError("the answer was closed before its end")

    # -- content-encoding ----------------------------------------------------------------

    def _decode(self, data: bytes, limit: int) -> bytes:
        try:
            out: bytes = self._decoder.decompress(data, limit + 1)
        except zlib.error as exc:
            raise UpstreamInvalidResponse("its compressed answer is corrupt") from exc
        if len(out) > limit or self._decoder.unconsumed_tail:
            raise UpstreamInvalidResponse(f"its answer is larger than {limit} bytes")
        return out

    def _flush(self, limit: int) -> bytes:
        try:
            out: bytes = self._decoder.flush()
        except zlib.error as exc:
            raise UpstreamInvalidResponse("its compressed answer is corrupt") from exc
        if len(out) > limit:
            raise UpstreamInvalidResponse(f"its answer is larger than {limit} bytes")
        return out


_NO_HEADERS = H1Headers([])


class _Deflate:
    """`deflate` as servers send it: zlib-wrapped as the RFC says, or raw as some do."""

    def __init__(self) -> None:
        self._inner: Any = None
        self.unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._inner is None:
            wrapped = (
                len(data) >= 2 and (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
            )
            self._inner = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        out: bytes = self._inner.decompress(data, max_length)
        self.unconsumed_tail = self._inner.unconsumed_tail
        return out

    def flush(self) -> bytes:
        return self._inner.flush() if self._inner is not None else b""


def _decoder(coding: str) -> Any:
    coding = coding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _Deflate()
    return None  # identity, or one we never ask for: passed on as it came (as aiohttp does)


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
        if len(body) <= 65536:
            transport.write(data + body)
        else:
            transport.write(data)
            transport.write(body)

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
                if (want == _WANT_DATA and response._chunks) or (
                    want == _WANT_HEAD and response.status
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

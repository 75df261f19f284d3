"""The answer an `H1Connection` fills in, as its caller reads it.

The connection parses; the answer holds what was parsed (status, headers, body pieces) and
makes its reader wait on one future until the piece it needs is there. A whole answer is
usually complete before anyone reads it, so `read()` often returns without waiting at all.
"""

from __future__ import annotations

import asyncio
import sys
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .transport import MAX_RESPONSE_SIZE, UpstreamConnectionError, UpstreamInvalidResponse

if TYPE_CHECKING:
    from .upstream_h1_conn import H1Connection

__all__ = ["WANT_ALL", "WANT_DATA", "WANT_HEAD", "H1Headers", "H1Response"]

# What a waiting reader needs before it is woken.
WANT_HEAD, WANT_DATA, WANT_ALL = 1, 2, 3


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
            await self._wait(WANT_HEAD)

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
            await self._wait(WANT_ALL)
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
                    await self._wait(WANT_DATA)
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
    """`deflate` as servers send it: zlib-wrapped as the RFC says, or raw as some do. The
    first two bytes tell which."""

    def __init__(self) -> None:
        self._inner: Any = None
        self._start = b""
        self.unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._inner is None:
            data = self._start + data
            if len(data) < 2:
                self._start = data
                return b""
            wrapped = (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._inner = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        out: bytes = self._inner.decompress(data, max_length)
        self.unconsumed_tail = self._inner.unconsumed_tail
        return out

    def flush(self) -> bytes:
        if self._inner is None:  # fewer than two bytes in all: not a deflate stream
            if self._start:
                raise zlib.error("truncated deflate stream")
            return b""
        out: bytes = self._inner.flush()
        return out


def _decoder(coding: str) -> Any:
    coding = coding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _Deflate()
    return None  # identity, or one we never ask for: passed on as it came (as aiohttp does)

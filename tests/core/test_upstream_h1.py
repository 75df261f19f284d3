"""The h1 upstream client over real sockets, against small raw asyncio servers that misbehave
on purpose: chunked bodies with extensions, answers fed byte by byte, bad chunk sizes,
oversize bodies, idle keep-alive connections closed by the server, slow heads, bodies cut
short, TLS with a certificate made here, the connection limit, and cancellation. The contract
tests run against the aiohttp client too: what one does, the other must."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from litegate.transport import (
    UPSTREAM_HEADERS,
    TransportPool,
    UpstreamConnectionError,
    UpstreamInvalidResponse,
    UpstreamTimeout,
)
from litegate.upstream_h1 import H1Client, Origin

Handler = Callable[["Request", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[Any]]


class Request:
    def __init__(self, line: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.line = line
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name]
        return values[0] if values else None


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    line, *rest = head.decode().split("\r\n")
    headers = [tuple(h.split(": ", 1)) for h in rest if h]
    request = Request(line, headers, b"")  # type: ignore[arg-type]
    length = int(request.header("content-length") or 0)
    request.body = await reader.readexactly(length)
    return request


def answer(body: bytes = b'{"ok":true}', status: str = "200 OK", *extra: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", *extra]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Upstream:
    """A raw HTTP/1.1 server on 127.0.0.1: `handler` answers each request (returning False
    closes the connection); it counts connections and records requests."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.requests: list[Request] = []
        self.connections = 0
        self.open = 0
        self.peak = 0
        self.closed = asyncio.Event()  # set whenever a connection ends
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Upstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        self.connections += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    break
                self.requests.append(request)
                if await self.handler(request, reader, writer) is False:
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self.open -= 1
            self.closed.set()
            writer.transport.abort()
            self._tasks.discard(task)


async def ok(request: Request, reader: Any, writer: asyncio.StreamWriter) -> None:
    writer.write(answer(b'{"echo":' + str(len(request.body)).encode() + b"}"))


async def wait_until(condition: Callable[[], bool], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture(params=["h1", "aiohttp"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.asynccontextmanager
async def client_for(url: str, kind: str = "h1", max_connections: int = 10) -> Any:
    pool = TransportPool(kind)
    try:
        yield pool.client(url, max_connections)
    finally:
        await pool.aclose()


async def post(client: Any, path: str = "/x", body: bytes = b"{}", **kw: Any) -> Any:
    timeouts = {"total_timeout": 5.0, "connect_timeout": 2.0} | kw.pop("timeouts", {})
    return await client.post(path, body, {"content-type": "application/json", **kw}, **timeouts)


# -- the contract, on both clients ----------------------------------------------------------


async def test_a_post_goes_out_as_http_1_1_and_its_answer_comes_back(kind):
    async with Upstream(ok) as up, client_for(up.url + "/v1/", kind) as client:
        response = await post(client, "/chat?x=1", b'{"a":1}', authorization="Bearer k")
        assert response.status == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers.get("CONTENT-TYPE") == "application/json"
        assert await response.read() == b'{"echo":7}'
        response.close()
    request = up.requests[0]
    assert request.line == "POST /v1/chat?x=1 HTTP/1.1"
    assert request.header("host") == f"127.0.0.1:{up.port}"
    assert request.header("content-length") == "7"
    assert request.header("authorization") == "Bearer k"
    assert request.header("user-agent") is None
    assert request.body == b'{"a":1}'


async def test_keep_alive_reuses_one_connection(kind):
    async with Upstream(ok) as up, client_for(up.url, kind) as client:
        for _ in range(5):
            response = await post(client)
            await response.read()
            response.close()
    assert up.connections == 1 and len(up.requests) == 5


async def test_chunked_with_extensions_fed_byte_by_byte(kind):
    async def dribble(request, reader, writer):
        raw = (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
            b"5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"
        )
        for i in range(len(raw)):
            writer.write(raw[i : i + 1])
            await writer.drain()
            await asyncio.sleep(0)

    async with Upstream(dribble) as up, client_for(up.url, kind) as client:
        response = await post(client)
        assert await response.read() == b"hello world"
        response = await post(client)
        assert b"".join([b async for b in response.iter_bytes()]) == b"hello world"
        response.close()
    assert up.connections == 1


async def test_a_body_to_the_end_of_the_connection(kind):
    async def until_close(request, reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")
        return False

    async with Upstream(until_close) as up, client_for(up.url, kind) as client:
        for _ in range(2):
            response = await post(client)
            assert await response.read() == b"all of it"
    assert up.connections == 2


async def test_informational_answers_are_skipped_and_bodiless_ones_have_no_body(kind):
    async def statuses(request, reader, writer):
        if request.body == b"204":
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        elif request.body == b"304":
            writer.write(b"HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n")
        else:
            writer.write(
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
            )
            writer.write(answer(b"real"))

    async with Upstream(statuses) as up, client_for(up.url, kind) as client:
        response = await post(client, body=b"1xx")
        assert response.status == 200 and await response.read() == b"real"
        for code in (204, 304):
            response = await post(client, body=str(code).encode())
            assert response.status == code and await response.read() == b""
        response = await post(client, body=b"again")
        assert await response.read() == b"real"
    assert up.connections == 1


async def test_a_declared_oversize_body_is_refused_before_it_is_read(kind):
    async def huge(request, reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100000000\r\n\r\nxx")
        await writer.drain()
        await reader.read()  # until the client hangs up

    async with Upstream(huge) as up, client_for(up.url, kind) as client:
        response = await post(client)
        started = time.monotonic()
        with pytest.raises(UpstreamInvalidResponse, match="larger than 1000"):
            await response.read(1000)
        assert time.monotonic() - started < 0.5
        response.close()
        await asyncio.wait_for(up.closed.wait(), 1)


async def test_an_undeclared_oversize_body_stops_at_the_limit(kind):
    async def endless(request, reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            for _ in range(1000):
                writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
                await writer.drain()
        return False

    async with Upstream(endless) as up, client_for(up.url, kind) as client:
        response = await post(client)
        with pytest.raises(UpstreamInvalidResponse, match="larger than 100000"):
            await response.read(100_000)
        response.close()
        await asyncio.wait_for(up.closed.wait(), 1)


async def test_a_slow_head_times_out(kind):
    async def slow(request, reader, writer):
        await asyncio.sleep(5)

    async with Upstream(slow) as up, client_for(up.url, kind) as client:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await post(client, timeouts={"total_timeout": 0.3})
        with pytest.raises(UpstreamTimeout):
            await post(client, timeouts={"total_timeout": None, "read_timeout": 0.3})
        assert time.monotonic() - started < 2


async def test_a_stream_that_goes_quiet_times_out_per_read(kind):
    async def quiet(request, reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(4):  # data every 0.1 s: never quiet for 0.3 s, until it is
            writer.write(b"2\r\nhi\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)
        await asyncio.sleep(5)

    async with Upstream(quiet) as up, client_for(up.url, kind) as client:
        response = await post(client, timeouts={"total_timeout": None, "read_timeout": 0.3})
        received = []
        with pytest.raises(UpstreamTimeout):
            async for block in response.iter_bytes():
                received.append(block)
        response.close()
        assert b"".join(received) == b"hi" * 4


async def test_the_total_timeout_covers_the_body(kind):
    async def crawl(request, reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
        for _ in range(100):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with Upstream(crawl) as up, client_for(up.url, kind) as client:
        response = await post(client, timeouts={"total_timeout": 0.5})
        with pytest.raises(UpstreamTimeout):
            await response.read()
        response.close()


async def test_a_body_cut_short_is_a_connection_error(kind):
    async def cut(request, reader, writer):
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{"id":')
        return False

    async with Upstream(cut) as up, client_for(up.url, kind) as client:
        response = await post(client)
        with pytest.raises(UpstreamConnectionError):
            await response.read()
        response.close()
        response = await post(client)
        with pytest.raises(UpstreamConnectionError):
            async for _ in response.iter_bytes():
                pass
        response.close()


async def test_closing_a_half_read_answer_drops_the_connection(kind):
    async def stream(request, reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n")
        await writer.drain()
        await reader.read()  # the client's close ends this

    async with Upstream(stream) as up, client_for(up.url, kind) as client:
        response = await post(client, timeouts={"total_timeout": None, "read_timeout": 5})
        async for block in response.iter_bytes():
            assert block == b"hi"
            break
        response.close()
        await asyncio.wait_for(up.closed.wait(), 1)


async def test_cancelling_a_call_drops_its_connection(kind):
    async def silent(request, reader, writer):
        await reader.read()

    async with Upstream(silent) as up, client_for(up.url, kind) as client:
        task = asyncio.create_task(post(client, timeouts={"total_timeout": None}))
        await wait_until(lambda: len(up.requests) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(up.closed.wait(), 1)


async def test_callers_beyond_the_limit_wait_their_turn(kind):
    async def slow_ok(request, reader, writer):
        await asyncio.sleep(0.05)
        writer.write(answer(request.body))

    async with Upstream(slow_ok) as up, client_for(up.url, kind, max_connections=2) as client:

        async def one(i: int) -> bytes:
            response = await post(client, body=str(i).encode())
            try:
                return bytes(await response.read())
            finally:
                response.close()

        results = await asyncio.gather(*(one(i) for i in range(8)))
    assert results == [str(i).encode() for i in range(8)]
    assert up.peak <= 2 and up.connections == 2
    # First come, first served: the server saw them two by two, in the order they came.
    order = [int(r.body) for r in up.requests]
    assert [sorted(order[i : i + 2]) for i in range(0, 8, 2)] == [[0, 1], [2, 3], [4, 5], [6, 7]]


async def test_a_queued_caller_that_gives_up_leaves_its_turn_to_the_next(kind):
    release = asyncio.Event()

    async def held(request, reader, writer):
        if request.body == b"first":
            await release.wait()
        writer.write(answer(request.body))

    async with Upstream(held) as up, client_for(up.url, kind, max_connections=1) as client:
        first = asyncio.create_task(post(client, body=b"first"))
        await wait_until(lambda: len(up.requests) == 1)
        with pytest.raises(UpstreamTimeout):  # waited for a connection past its total timeout
            await post(client, body=b"late", timeouts={"total_timeout": 0.2})
        cancelled = asyncio.create_task(post(client, body=b"cancelled"))
        last = asyncio.create_task(post(client, body=b"last"))
        await asyncio.sleep(0.05)
        cancelled.cancel()
        release.set()
        assert await (await first).read() == b"first"
        assert await (await last).read() == b"last"
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    assert [r.body for r in up.requests] == [b"first", b"last"]


async def test_upstream_headers_are_added_without_overriding_the_adapters(kind):
    async with Upstream(ok) as up, client_for(up.url, kind) as client:
        token = UPSTREAM_HEADERS.set({"traceparent": "00-abc-01", "content-type": "text/plain"})
        try:
            response = await post(client)
            await response.read()
        finally:
            UPSTREAM_HEADERS.reset(token)
    request = up.requests[0]
    assert request.header("traceparent") == "00-abc-01"
    assert request.header("content-type") == "application/json"


async def test_a_refused_connection_names_only_host_and_port(kind):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://user:pa55word@127.0.0.1:{port}/v1?key=s3cret"
    async with client_for(url, kind) as client:
        with pytest.raises(UpstreamConnectionError) as raised:
            await post(client, "/chat?token=t0ken")
    message = str(raised.value)
    assert f"127.0.0.1:{port}" in message
    for secret in ("pa55word", "s3cret", "t0ken", "user"):
        assert secret not in message


async def test_a_gzip_answer_is_decoded(kind):
    async def zipped(request, reader, writer):
        writer.write(
            answer(
                gzip.compress(b'{"big":' + b"1" * 5000 + b"}"), "200 OK", "content-encoding: gzip"
            )
        )

    async with Upstream(zipped) as up, client_for(up.url, kind) as client:
        response = await post(client)
        assert await response.read() == b'{"big":' + b"1" * 5000 + b"}"
    assert "gzip" in (up.requests[0].header("accept-encoding") or "")


@pytest.mark.parametrize("wrapped", [True, False], ids=["zlib", "raw"])
async def test_a_deflate_answer_is_decoded_wrapped_or_raw(kind, wrapped):
    packer = zlib.compressobj(wbits=zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
    packed = packer.compress(b"x" * 3000) + packer.flush()

    async def deflated(request, reader, writer):
        writer.write(answer(packed, "200 OK", "content-encoding: deflate"))

    async with Upstream(deflated) as up, client_for(up.url, kind) as client:
        response = await post(client)
        assert await response.read() == b"x" * 3000


@pytest.mark.parametrize("wrapped", [True, False], ids=["zlib", "raw"])
async def test_a_deflate_stream_fed_byte_by_byte_is_decoded(wrapped):
    packer = zlib.compressobj(wbits=zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
    packed = packer.compress(b"data: hi\n\n" * 50) + packer.flush()

    async def dribble(request, reader, writer):
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-encoding: deflate\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for byte in packed:
            writer.write(b"1\r\n" + bytes([byte]) + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0)
        writer.write(b"0\r\n\r\n")

    async with Upstream(dribble) as up, client_for(up.url) as client:
        response = await post(client, timeouts={"total_timeout": None, "read_timeout": 5})
        assert b"".join([b async for b in response.iter_bytes()]) == b"data: hi\n\n" * 50


async def test_connection_close_in_the_answer_closes_the_connection_after_it(kind):
    async def closing(request, reader, writer):
        writer.write(answer(b"bye", "200 OK", "connection: close"))
        await writer.drain()
        await reader.read()  # the client is the one to close

    async with Upstream(closing) as up, client_for(up.url, kind) as client:
        response = await post(client)
        assert await response.read() == b"bye"
        await asyncio.wait_for(up.closed.wait(), 1)


async def test_a_redirect_within_the_upstream_keeps_the_post(kind):
    async def moved(request, reader, writer):
        if request.line.startswith("POST /v1/old"):
            writer.write(answer(b"", "308 Permanent Redirect", "location: /v1/new?x=1"))
        else:
            writer.write(answer(request.line.encode() + b" " + request.body))

    async with Upstream(moved) as up, client_for(up.url + "/v1", kind) as client:
        response = await post(client, "/old", b'{"a":1}')
        assert await response.read() == b'POST /v1/new?x=1 HTTP/1.1 {"a":1}'


async def test_a_redirect_elsewhere_is_not_followed():
    async def away(request, reader, writer):
        writer.write(answer(b"", "307 Temporary Redirect", "location: http://127.0.0.1:9/steal"))

    async with Upstream(away) as up, client_for(up.url) as client:
        response = await post(client, authorization="Bearer secret")
        assert response.status == 307
    assert len(up.requests) == 1


# -- the h1 client's own behaviour ----------------------------------------------------------


async def test_a_bad_chunk_size_is_an_invalid_answer():
    async def bad(request, reader, writer):
        writer.write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
        )
        await reader.read()

    async with Upstream(bad) as up, client_for(up.url) as client:
        response = await post(client)
        with pytest.raises(UpstreamInvalidResponse, match="malformed"):
            await response.read()
        await asyncio.wait_for(up.closed.wait(), 1)


async def test_a_malformed_status_line_is_an_invalid_answer():
    async def garbage(request, reader, writer):
        writer.write(b"HTTP/1.1 OK 200\r\n\r\n")
        await reader.read()

    async with Upstream(garbage) as up, client_for(up.url) as client:
        with pytest.raises(UpstreamInvalidResponse):
            await post(client)


async def test_an_idle_connection_the_server_closed_is_never_used():
    async def once(request, reader, writer):
        writer.write(answer())
        await writer.drain()
        return False  # keep-alive in the headers, but closed right after

    async with Upstream(once) as up, client_for(up.url) as client:
        for _ in range(3):
            response = await post(client)
            await response.read()
            await wait_until(lambda: up.open == 0)
            await asyncio.sleep(0.05)  # the FIN reaches the client's loop
        pool = next(iter(client._pools.values()))
        assert not pool.idle and pool.count == 0
    assert up.connections == 3 and len(up.requests) == 3


async def test_a_reused_connection_closed_as_the_request_went_is_retried_once():
    async def drop_second(request, reader, writer):
        if len(up.requests) == 2:
            return False  # read the request, answer nothing: a server closing as it came
        writer.write(answer(request.body))

    async with Upstream(drop_second) as up, client_for(up.url) as client:
        response = await post(client, body=b"1")
        assert await response.read() == b"1"
        response = await post(client, body=b"2")
        assert await response.read() == b"2"
    assert [r.body for r in up.requests] == [b"1", b"2", b"2"]
    assert up.connections == 2


async def test_a_fresh_connection_that_fails_is_not_retried():
    async def hang_up(request, reader, writer):
        return False

    async with Upstream(hang_up) as up, client_for(up.url) as client:
        with pytest.raises(UpstreamConnectionError, match="without answering"):
            await post(client)
    assert len(up.requests) == 1


async def test_idle_connections_close_after_the_keep_alive_timeout():
    async with Upstream(ok) as up:
        client = H1Client(up.url, keep_alive_timeout=0.2)
        try:
            response = await post(client)
            await response.read()
            assert up.open == 1
            await asyncio.wait_for(up.closed.wait(), 1)
            response = await post(client)
            await response.read()
        finally:
            await client.aclose()
    assert up.connections == 2


async def test_bytes_on_an_idle_connection_drop_it():
    async def extra(request, reader, writer):
        writer.write(answer())
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"HTTP/1.1 200 OK\r\n")  # an answer nobody asked for

    async with Upstream(extra) as up, client_for(up.url) as client:
        response = await post(client)
        assert await response.read() == b'{"ok":true}'
        await asyncio.wait_for(up.closed.wait(), 1)
        response = await post(client)
        await response.read()
    assert up.connections == 2


async def test_a_whole_answer_returns_its_connection_at_once():
    async with Upstream(ok) as up, client_for(up.url) as client:
        response = await post(client)
        pool = next(iter(client._pools.values()))
        assert len(pool.idle) == 1  # body buffered in the response, connection free
        assert await response.read() == b'{"echo":2}'


async def test_a_slow_reader_pauses_the_upstream_instead_of_buffering():
    sent = 0

    async def firehose(request, reader, writer):
        nonlocal sent
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        block = b"10000\r\n" + b"x" * 65536 + b"\r\n"
        with contextlib.suppress(ConnectionError):
            for _ in range(400):  # 25 MiB, far more than the socket buffers hold
                writer.write(block)
                await writer.drain()
                sent += 65536
        return False

    async with Upstream(firehose) as up, client_for(up.url) as client:
        response = await post(client, timeouts={"total_timeout": None, "read_timeout": 5})
        blocks = response.iter_bytes()
        await anext(blocks)
        await asyncio.sleep(0.5)
        assert sent < 16 * 1024 * 1024
        await blocks.aclose()
        await asyncio.wait_for(up.closed.wait(), 1)


async def test_a_header_with_a_line_break_is_refused():
    async with Upstream(ok) as up, client_for(up.url) as client:
        with pytest.raises(ValueError, match="line break"):
            await client.post("/x", b"", {"x-a": "1\r\nx-b: 2"}, total_timeout=1, connect_timeout=1)
    assert not up.requests


async def test_credentials_in_the_url_become_basic_auth_and_no_user_agent_is_sent():
    async with Upstream(ok) as up, client_for(up.url.replace("//", "//u%40x:p%3Aw@")) as client:
        response = await post(client)
        await response.read()
    request = up.requests[0]
    assert request.header("authorization") == "Basic dUB4OnA6dw=="  # u@x:p:w
    assert request.header("host") == f"127.0.0.1:{up.port}"


def test_origins_with_ipv6_literals_ports_and_prefixes():
    origin = Origin("http://[::1]:8080/openai/v1")
    assert (origin.host, origin.port, origin.prefix) == ("::1", 8080, "/openai/v1")
    assert origin.auto["host"] == "[::1]:8080" and origin.where == "[::1]:8080"
    origin = Origin("https://api.example.com")
    assert (origin.port, origin.tls, origin.auto["host"]) == (443, True, "api.example.com")
    head = origin.request_head("/a b/ü", {"Host": "other"}, 3).decode("latin-1")
    assert origin.redirect_target("/v1/x", "/v1/y?q") == "/v1/y?q"
    assert origin.redirect_target("/v1/x", "y") == "/v1/y"
    for elsewhere in (
        "http://api.example.com/y",
        "https://evil.example/y",
        "https://api.example.com:8443/",
    ):
        assert origin.redirect_target("/v1/x", elsewhere) is None
    assert head.startswith("POST /a%20b/%C3%BC HTTP/1.1\r\n")
    assert "Host: other\r\n" in head and "host: api" not in head


async def test_a_bad_base_url_fails_each_call_not_the_config():
    client = H1Client("http://")
    with pytest.raises(UpstreamConnectionError, match="base URL"):
        await post(client)


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates() -> Any:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "upstream.test").configure_cert(server)
    client = ssl.create_default_context()
    authority.configure_trust(client)
    return server, client


async def test_tls_with_a_trusted_certificate(certificates):
    server_tls, client_tls = certificates
    async with Upstream(ok, tls=server_tls) as up:
        client = H1Client(up.url, tls=client_tls)
        try:
            for _ in range(2):
                response = await post(client)
                assert await response.read() == b'{"echo":2}'
        finally:
            await client.aclose()
    assert up.connections == 1


async def test_tls_sends_the_host_name_and_checks_it(certificates):
    server_tls, client_tls = certificates
    seen: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, ctx: seen.append(name)
    try:
        async with Upstream(ok, tls=server_tls) as up:
            client = H1Client(f"https://upstream.test:{up.port}", tls=client_tls)
            loop = asyncio.get_running_loop()
            pool = client._pool(loop, client._origin)
            # The test name resolves to 127.0.0.1 without asking any DNS server.
            address = (
                socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                ("127.0.0.1", up.port),
            )
            pool._addresses, pool._addresses_until = [address], 1e12
            try:
                response = await post(client)
                assert await response.read() == b'{"echo":2}'
            finally:
                await client.aclose()
    finally:
        server_tls.sni_callback = None
    assert seen == ["upstream.test"]
    assert up.requests[0].header("host") == f"upstream.test:{up.port}"


async def test_a_name_whose_first_address_refuses_connects_to_the_next():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    async with Upstream(ok) as up:
        client = H1Client(f"http://upstream.test:{up.port}")
        pool = client._pool(asyncio.get_running_loop(), client._origin)
        pool._addresses = [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))
            for port in (closed, up.port)
        ]
        pool._addresses_until = 1e12
        try:
            response = await post(client)
            assert await response.read() == b'{"echo":2}'
        finally:
            await client.aclose()
    assert up.requests[0].header("host") == f"upstream.test:{up.port}"


async def test_tls_refuses_an_untrusted_certificate(certificates):
    server_tls, _client_tls = certificates
    async with Upstream(ok, tls=server_tls) as up:
        client = H1Client(up.url)  # the default context: system CAs and certifi's
        try:
            with pytest.raises(UpstreamConnectionError, match="not trusted"):
                await post(client)
        finally:
            await client.aclose()
    assert not up.requests


async def test_no_connection_limit_when_it_is_zero():
    async def slow_ok(request, reader, writer):
        await asyncio.sleep(0.05)
        writer.write(answer())

    async with Upstream(slow_ok) as up, client_for(up.url, max_connections=0) as client:

        async def one() -> bytes:
            response = await post(client)
            return bytes(await response.read())

        await asyncio.gather(*(one() for _ in range(5)))
    assert up.peak == 5


# -- the same on uvloop (what `litegate serve` runs) ----------------------------------------

ON_UVLOOP = [
    test_a_post_goes_out_as_http_1_1_and_its_answer_comes_back,
    test_chunked_with_extensions_fed_byte_by_byte,
    test_a_body_to_the_end_of_the_connection,
    test_a_stream_that_goes_quiet_times_out_per_read,
    test_closing_a_half_read_answer_drops_the_connection,
    test_cancelling_a_call_drops_its_connection,
    test_callers_beyond_the_limit_wait_their_turn,
    test_a_reused_connection_closed_as_the_request_went_is_retried_once,
    test_an_idle_connection_the_server_closed_is_never_used,
    test_a_slow_reader_pauses_the_upstream_instead_of_buffering,
]


@pytest.mark.parametrize("scenario", ON_UVLOOP, ids=lambda f: f.__name__[5:])
def test_on_uvloop(scenario):
    uvloop = pytest.importorskip("uvloop")
    arguments = {"kind": "h1"} if "kind" in scenario.__code__.co_varnames else {}
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario(**arguments))


@pytest.mark.parametrize(
    "scenario", [test_tls_with_a_trusted_certificate, test_tls_sends_the_host_name_and_checks_it]
)
def test_tls_on_uvloop(scenario, certificates):
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario(certificates))


async def test_endless_headers_are_refused():
    async def endless(request, reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\n")
        with contextlib.suppress(ConnectionError):
            for i in range(10_000):
                writer.write(f"x-filler-{i}: {'y' * 1000}\r\n".encode())
                await writer.drain()
        await reader.read()

    async with Upstream(endless) as up, client_for(up.url) as client:
        with pytest.raises(UpstreamInvalidResponse, match="headers exceed"):
            await post(client)
        await asyncio.wait_for(up.closed.wait(), 1)

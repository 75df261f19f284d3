"""The load generator: one process, raw asyncio (uvloop) HTTP/1.1 keep-alive connections.

A hand-rolled client, because the load shares a core with the fake upstream and both must
stay far below saturation for the gateway's numbers to mean anything. Protocol with the
orchestrator (``benchmarks.run``): open the connections, run the warm-up requests, print
``ready``, wait for a line on stdin, run the measured requests, print one JSON line, exit.

Each connection loops: send a request, read the whole response (content-length or chunked),
check it, record its latency. New requests stop at ``--requests`` or ``--duration``,
whichever comes first; requests still in flight finish. Any non-200 answer, malformed body,
dropped connection or timeout counts as an error (and the connection is reopened).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

import attrs
import orjson

MASTER_KEY = "sk-bench-master-0123456789"  # 20+ characters: importable as a virtual key
#: ``data:`` events in a complete answer to `stream-16` from an OpenAI deployment: 20 chunks
#: (the last with the finish reason), the usage chunk, ``[DONE]``. Targets whose answers
#: differ say so with ``--stream-events``.
STREAM_EVENTS = 22


@attrs.frozen
class Scenario:
    name: str
    description: str
    path: str
    body: dict[str, Any]
    connections: int
    #: Measured requests (full run, --quick run).
    requests: tuple[int, int]
    stream: bool = False
    #: Spread the connections' first measured requests over this many seconds, so that
    #: slow calls arrive steadily instead of in lock-step waves of `connections`.
    stagger: float = 0.0
    #: Send a different body each request: `variants(count)` builds that many (all before
    #: the first request, so the load generator's cost per request stays that of `body`),
    #: sent in turn. For plugins that remember what they have seen (a verdict cache).
    variants: Callable[[int], list[dict[str, Any]]] | None = None

    def payloads(self, host: str, port: int, count: int) -> list[bytes]:
        """The request bytes to send in turn: `count` different ones with `variants`."""
        if self.variants is None:
            return [self.payload(host, port)]
        return [self.payload(host, port, body) for body in self.variants(count)]

    def payload(self, host: str, port: int, body_dict: dict[str, Any] | None = None) -> bytes:
        body = orjson.dumps(self.body if body_dict is None else body_dict)
        head = (
            f"POST {self.path} HTTP/1.1\r\nhost: {host}:{port}\r\n"
            f"authorization: Bearer {MASTER_KEY}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


_MESSAGES = [{"role": "user", "content": "Say hello, twenty times."}]

SCENARIOS = (
    Scenario(
        "chat-1",
        "chat, non-stream, 1 connection",
        "/v1/chat/completions",
        {"model": "bench", "messages": _MESSAGES, "max_tokens": 32},
        connections=1,
        requests=(3000, 600),
    ),
    Scenario(
        "chat-64",
        "chat, non-stream, 64 connections",
        "/v1/chat/completions",
        {"model": "bench", "messages": _MESSAGES, "max_tokens": 32},
        connections=64,
        requests=(20000, 4000),
    ),
    Scenario(
        "stream-16",
        "chat, 20-chunk SSE streams with usage, 16 connections",
        "/v1/chat/completions",
        {
            "model": "bench",
            "messages": _MESSAGES,
            "max_tokens": 32,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        connections=16,
        requests=(3000, 800),
        stream=True,
    ),
    Scenario(
        "slow-256",
        "chat, non-stream, 256 connections, upstream answers after 200 ms",
        "/v1/chat/completions",
        {"model": "slow", "messages": _MESSAGES, "max_tokens": 32},
        connections=256,
        requests=(2560, 768),
        stagger=0.2,
    ),
    Scenario(
        "embed-16",
        "embeddings (1 input, 1536 floats back), 16 connections",
        "/v1/embeddings",
        {"model": "bench-embed", "input": "The quick brown fox.", "encoding_format": "float"},
        connections=16,
        requests=(5000, 1200),
    ),
)


#: A prompt of about 2 KB of ordinary prose with a few contact details in it, for chains
#: whose plugins read every message (PII masking, guardrails).
_LONG_PROMPT = " ".join(
    [
        "Please summarise the following support ticket for the on-call engineer.",
        "The customer, Jane Doe, wrote in from jane.doe@example.com and asked us to call",
        "her back on +1 415 555 0100 about the invoices for the last quarter.",
    ]
    + [
        "Our billing export stopped including the usage lines for the staging project, "
        "and the totals no longer match what the dashboard shows for the same period."
    ]
    * 12
)
_LONG_MESSAGES = [{"role": "user", "content": _LONG_PROMPT}]
_LONG_PHONE = "+1 415 555 0100"
#: Real US area codes: with any exchange 200-999 and any line, a valid number to phonenumbers.
_AREA_CODES = (201, 202, 206, 212, 213, 305, 312, 404, 415, 503)
_AREA_CODES += (512, 602, 617, 646, 702, 713, 718, 720, 801, 919)
#: Bodies a scenario with `variants` cycles through: for `chat-2k-fresh`, far more than
#: the PII plugin's verdict cache holds (4096), so cycling never hits it.
VARIANTS = 20_000


def _fresh_phone_bodies(count: int) -> list[dict[str, Any]]:
    """`chat-2k`'s body, each with its own valid phone number. Each process takes a block
    of numbers by the clock's second, so a later run (a repeat, against a server that
    remembers the earlier one's numbers) sends numbers nobody sent before."""
    blocks = len(_AREA_CODES) * 800 * 10_000 // count
    first = int(time.time()) % blocks * count
    bodies = []
    for index in range(first, first + count):
        line, rest = index % 10_000, index // 10_000
        exchange, area = 200 + rest % 800, _AREA_CODES[rest // 800]
        prompt = _LONG_PROMPT.replace(_LONG_PHONE, f"+1 {area} {exchange} {line:04d}")
        bodies.append(
            {"model": "bench", "messages": [{"role": "user", "content": prompt}], "max_tokens": 32}
        )
    return bodies


#: Scenarios run only when named (``--scenario chat-2k``), for the plugin chains' criteria.
EXTRA_SCENARIOS = (
    Scenario(
        "chat-2k",
        "chat, non-stream, a 2 KB prompt, 64 connections",
        "/v1/chat/completions",
        {"model": "bench", "messages": _LONG_MESSAGES, "max_tokens": 32},
        connections=64,
        requests=(20000, 4000),
    ),
    Scenario(
        "chat-2k-fresh",
        "chat-2k with a never-seen phone number in every request",
        "/v1/chat/completions",
        {"model": "bench", "messages": _LONG_MESSAGES, "max_tokens": 32},
        connections=64,
        requests=(20000, 4000),
        variants=_fresh_phone_bodies,
    ),
)
ALL_SCENARIOS = SCENARIOS + EXTRA_SCENARIOS


class BadResponse(Exception):
    pass


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes, events: int
) -> bool:
    """One request/response, a stream of `events` ``data:`` events unless `events` is 0.
    Returns whether the server keeps the connection open."""
    writer.write(payload)
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = head[9:12]
    if b"\r\ntransfer-encoding: chunked" in head:
        parts = []
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are ever sent
                break
            parts.append((await reader.readexactly(size + 2))[:-2])
        body = b"".join(parts)
    else:
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            raise BadResponse("response without content-length or chunked encoding")
        length = int(head[at + 17 : head.find(b"\r\n", at + 2)])
        body = await reader.readexactly(length)
    if status != b"200":
        raise BadResponse(f"status {status.decode()}: {body[:200]!r}")
    if events:
        if not body.endswith(b"data: [DONE]\n\n") or body.count(b"data: ") != events:
            raise BadResponse(f"incomplete stream: {body[-200:]!r}")
    elif b'"usage"' not in body:
        raise BadResponse(f"unexpected body: {body[:200]!r}")
    return b"\r\nconnection: close" not in head


class Load:
    def __init__(
        self, host: str, port: int, scenario: Scenario, stream_events: int = STREAM_EVENTS
    ) -> None:
        self.host = host
        self.port = port
        self.scenario = scenario
        self.events = stream_events if scenario.stream else 0
        self.payloads = scenario.payloads(host, port, VARIANTS)
        #: Requests sent over every run, warm-up included: the next payload to send.
        self.sent = 0
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error: str | None = None
        self.issued = 0
        self.limit = 0
        self.deadline = 0.0
        self.connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = []

    async def open(self) -> None:
        self.connections = [await self._connect() for _ in range(self.scenario.connections)]

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    async def run(self, requests: int, duration: float) -> float:
        """Send `requests` (or stop issuing after `duration` s); return the wall time."""
        self.latencies = []
        self.errors = 0
        self.issued = 0
        self.limit = requests
        started = time.perf_counter()
        self.deadline = started + duration
        workers = [self._worker(i) for i in range(len(self.connections))]
        try:
            # Bounded whatever happens: a stuck request costs at most this long.
            async with asyncio.timeout(duration + 120):
                await asyncio.gather(*workers)
        except TimeoutError:
            self._error("timed out waiting for responses")
            self.errors = self.issued - len(self.latencies)
        return time.perf_counter() - started

    async def _worker(self, index: int) -> None:
        if self.scenario.stagger:
            await asyncio.sleep(self.scenario.stagger * index / len(self.connections))
        events = self.events
        payloads = self.payloads
        variants = len(payloads)
        latencies = self.latencies
        perf_counter = time.perf_counter
        while self.issued < self.limit and perf_counter() < self.deadline:
            self.issued += 1
            payload = payloads[self.sent % variants]
            self.sent += 1
            connection = self.connections[index]
            try:
                reused = connection is not None
                if connection is None:
                    connection = self.connections[index] = await self._connect()
                started = perf_counter()
                try:
                    keep = await _exchange(*connection, payload, events)
                except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                    if not reused or getattr(exc, "partial", b""):
                        raise
                    # The server closed this keep-alive connection while it sat idle (the
                    # warm-up of a slow target can outlast its keep-alive timeout): like
                    # any HTTP client, reconnect and send again, once.
                    connection[1].close()
                    connection = self.connections[index] = await self._connect()
                    started = perf_counter()
                    keep = await _exchange(*connection, payload, events)
                latencies.append(perf_counter() - started)
            except (OSError, asyncio.IncompleteReadError, ValueError, BadResponse) as exc:
                self._error(f"{type(exc).__name__}: {exc}")
                keep = False
                self.errors += 1
            if not keep and connection is not None:
                connection[1].close()
                self.connections[index] = None

    def _error(self, message: str) -> None:
        if self.first_error is None:
            self.first_error = message

    def result(self, wall: float) -> dict[str, Any]:
        latencies = sorted(self.latencies)
        return {
            "scenario": self.scenario.name,
            "ok": len(latencies),
            "errors": self.errors,
            "first_error": self.first_error,
            "wall": wall,
            "p50": _percentile(latencies, 0.50),
            "p99": _percentile(latencies, 0.99),
        }


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


async def main_async(args: argparse.Namespace) -> None:
    scenario = next(s for s in ALL_SCENARIOS if s.name == args.scenario)
    load = Load(args.host, args.port, scenario, args.stream_events)
    await load.open()
    await load.run(args.warmup, args.duration)
    warm = load.result(0.0)
    print(orjson.dumps({"ready": True, "warmup_errors": warm["errors"]}).decode(), flush=True)
    sys.stdin.readline()  # the orchestrator has taken its CPU snapshot: go
    load.first_error = None
    wall = await load.run(args.requests, args.duration)
    print(orjson.dumps(load.result(wall)).decode(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scenario", choices=[s.name for s in ALL_SCENARIOS], required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--duration", type=float, default=12.0, help="seconds, at most")
    parser.add_argument(
        "--stream-events",
        type=int,
        default=STREAM_EVENTS,
        help="data: events in a complete stream (default %(default)s)",
    )
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_async(args))
    else:
        uvloop.run(main_async(args))


if __name__ == "__main__":
    main()

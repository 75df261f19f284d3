"""A soak: steady load for a long time, with a share of failing upstreams and bad requests.

``python -m benchmarks.soak --minutes 30 --rate 40``

Starts the fast fake upstream and ``litegate serve`` with the router over an alias of two
deployments (the fake upstream, and a mock that fails `--failure-rate` of its calls, so
retries, fallbacks and cool-downs keep happening), then sends `--rate` requests a second:
non-stream chats, streams (some abandoned half-way by the client), embeddings, and malformed
bodies, in rounds of `--sample` seconds; after each round (and a quiet pause, see `drive`) it
records the gateway's RSS and open file descriptors, and the round's error rate and p99. At
the end it prints a Markdown report: flat means the last sample's RSS and fds grew at most
10 % over the first one's (taken after a warm-up round; for fds, or by at most 2).
Not part of the test suite; its results go in docs/security.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import attrs
import httpx

from .procfs import _tree

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
KEY = "sk-soak-master"

CONFIG = """\
[server]
host = "127.0.0.1"
port = {port}
workers = 1

[state]
kv = "memory:"
db = "sqlite:///{out}/soak.db"

[[pipeline]]
plugin = "auth"
master_key = "{key}"

[[pipeline]]
plugin = "logging"
path = "{out}/soak-access.log"

[[pipeline]]
plugin = "router"
strategy = "round-robin"
retries = 2
backoff_base = "10ms"
cooldown_failures = 5
cooldown = "2s"

[[models]]
name = "soak"
provider = "openai"
api_base = "{upstream}/v1"
api_key = "sk-upstream"

[[models]]
name = "soak"
provider = "mock"
failure_rate = {failure_rate}
failure_status = 503

[[models]]
name = "soak-embed"
provider = "openai"
api_base = "{upstream}/v1"
api_key = "sk-upstream"
"""

MESSAGES = [{"role": "user", "content": "Say hello, twenty times."}]


@attrs.define
class Sample:
    at: float
    rss_kib: int
    fds: int
    requests: int
    errors: int
    p99_ms: float | None


@attrs.define
class Interval:
    latencies: list[float] = attrs.field(factory=list)
    errors: int = 0
    requests: int = 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    total = 0
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def open_fds(pid: int) -> int:
    total = 0
    for member in _tree(pid):
        with contextlib.suppress(OSError):
            total += len(os.listdir(f"/proc/{member}/fd"))
    return total


async def one_request(client: httpx.AsyncClient, interval: Interval) -> None:
    kind = random.random()
    started = time.perf_counter()
    ok = True
    try:
        if kind < 0.55:
            answer = await client.post(
                "/v1/chat/completions", json={"model": "soak", "messages": MESSAGES}
            )
            ok = answer.status_code == 200
        elif kind < 0.80:
            body = {"model": "soak", "messages": MESSAGES, "stream": True}
            async with client.stream("POST", "/v1/chat/completions", json=body) as answer:
                ok = answer.status_code == 200
                abandon = random.random() < 0.2
                async for line in answer.aiter_lines():
                    if abandon and line.startswith("data:"):
                        break  # the client walks away mid-stream
        elif kind < 0.92:
            answer = await client.post(
                "/v1/embeddings", json={"model": "soak-embed", "input": "The quick brown fox."}
            )
            ok = answer.status_code == 200
        else:
            # Malformed on purpose: must be a 4xx, and counts as fine when it is.
            answer = await client.post(
                "/v1/chat/completions",
                content=random.choice([b"{", b'{"model":"soak","messages":"x"}', b"\xff"]),
            )
            ok = 400 <= answer.status_code < 500
    except httpx.HTTPError:
        ok = False
    interval.requests += 1
    interval.latencies.append(time.perf_counter() - started)
    if not ok:
        interval.errors += 1


async def drive(args: argparse.Namespace, port: int, pid: int) -> list[Sample]:
    """Load in rounds of `args.sample` seconds. Between rounds the load pauses: requests in
    flight finish, the client's connections are closed, and after `args.quiet` seconds RSS and
    fds are read from a quiet gateway: what is counted is what stays (leaks), not what the
    load has open."""
    headers = {"authorization": f"Bearer {KEY}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    samples: list[Sample] = []
    started = time.monotonic()
    deadline = started + args.minutes * 60
    first = True
    while time.monotonic() < deadline:
        length = args.warmup if first else args.sample
        interval = Interval()
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30, limits=limits
        ) as client:
            await _round(client, interval, args.rate, min(length, deadline - time.monotonic()))
        # Idle connections close: the client's at once, the gateway's pooled upstream ones
        # after aiohttp's keep-alive (15 s). What remains open after that is held.
        await asyncio.sleep(args.quiet)
        latencies = sorted(interval.latencies)
        p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else None
        sample = Sample(
            time.monotonic() - started,
            rss_kib(pid),
            open_fds(pid),
            interval.requests,
            interval.errors,
            p99,
        )
        print(sample, file=sys.stderr, flush=True)
        if not first or args.minutes * 60 <= args.warmup:  # the warm-up only warms up
            samples.append(sample)
        first = False
    return samples


async def _round(
    client: httpx.AsyncClient, interval: Interval, rate: float, seconds: float
) -> None:
    tasks: set[asyncio.Task[None]] = set()
    gap = 1.0 / rate
    tick = time.monotonic()
    end = tick + seconds
    while time.monotonic() < end:
        task = asyncio.create_task(one_request(client, interval))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        tick += gap
        await asyncio.sleep(max(0.0, tick - time.monotonic()))
    await asyncio.gather(*tasks, return_exceptions=True)


def report(args: argparse.Namespace, samples: list[Sample]) -> str:
    first, last = samples[0], samples[-1]
    requests = sum(s.requests for s in samples)
    errors = sum(s.errors for s in samples)
    p99s = [s.p99_ms for s in samples if s.p99_ms is not None]
    rss_drift = (last.rss_kib - first.rss_kib) / first.rss_kib
    fd_drift = (last.fds - first.fds) / max(first.fds, 1)
    # A leak grows; a few descriptors more or less is a socket in TIME_WAIT or a log rotation.
    flat = rss_drift <= 0.10 and (fd_drift <= 0.10 or last.fds - first.fds <= 2)
    return "\n".join(
        [
            f"Soak: {args.minutes:g} min at {args.rate:g} req/s "
            f"(mock deployment failing {args.failure_rate:.0%}; 8% malformed requests; "
            "20% of streams abandoned mid-way).",
            "",
            "| | first sample | last sample | drift |",
            "|---|---:|---:|---:|",
            f"| RSS MiB | {first.rss_kib / 1024:.1f} | {last.rss_kib / 1024:.1f} "
            f"| {rss_drift:+.1%} |",
            f"| open fds | {first.fds} | {last.fds} | {fd_drift:+.1%} |",
            "",
            f"Requests {requests}, client-visible errors {errors} "
            f"({errors / max(requests, 1):.2%}); p99 per round: median "
            f"{statistics.median(p99s):.0f} ms, max {max(p99s):.0f} ms."
            if p99s
            else "",
            "",
            f"Verdict: {'FLAT' if flat else 'NOT FLAT'} (growth within 10 %).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=40, help="requests per second")
    parser.add_argument("--failure-rate", type=float, default=0.2)
    parser.add_argument("--warmup", type=float, default=60, help="seconds before the first sample")
    parser.add_argument("--sample", type=float, default=60, help="seconds of load per round")
    parser.add_argument(
        "--quiet", type=float, default=20, help="seconds of no load before each sample"
    )
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    up_port, port = _free_port(), _free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.upstream", f"--port={up_port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    config = OUT / "soak.toml"
    config.write_text(
        CONFIG.format(
            port=port,
            out=OUT,
            key=KEY,
            upstream=f"http://127.0.0.1:{up_port}",
            failure_rate=args.failure_rate,
        )
    )
    log = (OUT / "soak-server.log").open("wb")
    gateway = subprocess.Popen(
        [sys.executable, "-m", "litegate.cli", "serve", f"--config={config}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        samples = asyncio.run(drive(args, port, gateway.pid))
    finally:
        for process in (gateway, upstream):
            process.terminate()
            process.wait(10)
        log.close()
    text = report(args, samples)
    (OUT / "soak-report.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

"""One limit, however many processes enforce it: a 60-requests-per-minute key limit holds
across 2 Hypercorn workers sharing the disk store, and across 2 gateway processes sharing
the real Redis. Real `litegate serve` processes, real sockets.

GCRA admits a burst of `limit` at once and refills one request per second after it, so a
burst of 90 requests that takes T seconds admits at most 60 + T (and, when counted right,
no fewer than 60). A store nobody shares would admit up to 60 per process instead.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from litegate.testing import free_port, litegate_serve

KEY = "sk-ratelimit-shared-0123456789"
LIMIT = 60
BURST = 90


def config(kv: str, prefix: str = "litegate:") -> str:
    return f"""
[state]
kv = "{kv}"
prefix = "{prefix}"

[[pipeline]]
plugin = "auth"
keys = [{{ name = "app", key = "{KEY}" }}]

[[pipeline]]
plugin = "ratelimit"
key_limits = {{ rpm = {LIMIT} }}

[[models]]
name = "m"
provider = "mock"
"""


def call(client: httpx.Client, url: str) -> tuple[int, str | None]:
    """One chat call: its status and, when admitted, ``x-ratelimit-remaining-requests``."""
    response = client.post(
        url + "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=20,
    )
    if response.status_code == 429:
        assert int(response.headers["retry-after"]) >= 1
    return response.status_code, response.headers.get("x-ratelimit-remaining-requests")


def burst(urls: list[str]) -> None:
    """`BURST` calls spread over `urls`, 8 at a time, of which one limit of `LIMIT` lets
    through `LIMIT` plus what refilled meanwhile (one a second)."""
    # No keep-alive: a new connection per call, so the calls spread over the workers.
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
        begun = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            targets = [urls[i % len(urls)] for i in range(BURST)]
            answers = list(pool.map(lambda url: call(client, url), targets))
        elapsed = time.monotonic() - begun
    statuses = [status for status, _ in answers]
    admitted = statuses.count(200)
    print(f"{admitted} of {BURST} admitted in {elapsed:.2f}s")
    assert set(statuses) <= {200, 429}, statuses
    assert LIMIT - 1 <= admitted <= LIMIT + math.ceil(elapsed), (admitted, elapsed)
    if elapsed < 3:  # the usual case: within 5% of the limit
        assert admitted <= LIMIT * 1.05
    # One counter hands out each "remaining" once (again only after a refill); counters
    # per process would each count down from 59, repeating most values.
    remaining = [value for status, value in answers if status == 200]
    repeated = len(remaining) - len(set(remaining))
    assert repeated <= math.ceil(elapsed) + 1, sorted(remaining)


def test_a_60_rpm_limit_holds_across_two_workers_on_the_disk_store(tmp_path: Path):
    path = tmp_path / "pipeline.toml"
    path.write_text(config(f"disk:{tmp_path / 'kv'}"))
    with litegate_serve(path, workers=2) as url:
        burst([url])


@pytest.mark.services
def test_a_60_rpm_limit_holds_across_two_gateways_sharing_redis(tmp_path: Path, redis_url):
    path = tmp_path / "pipeline.toml"
    prefix = f"test-{uuid.uuid4().hex}:"
    path.write_text(config(redis_url, prefix))
    try:
        with litegate_serve(path, workers=1) as one, litegate_serve(path, workers=1) as two:
            burst([one, two])
    finally:
        asyncio.run(forget(redis_url, prefix))


def test_with_redis_unreachable_each_gateway_limits_on_its_own(tmp_path: Path):
    path = tmp_path / "pipeline.toml"
    path.write_text(config(f"redis://127.0.0.1:{free_port()}/0"))
    with litegate_serve(path, workers=1) as url:
        begun = time.monotonic()
        burst([url])  # fail open: the same limit, counted in the process
        assert time.monotonic() - begun < 30  # no call waited for the missing store


async def forget(redis_url: str, prefix: str) -> None:
    """Delete the keys under `prefix` (this test's own), never anything else."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()

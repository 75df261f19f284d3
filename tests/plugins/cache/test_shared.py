"""The shared tier across processes: two workers of one `litegate serve` through the disk
store, and two gateway instances through Redis. Real processes, real sockets."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from litegate.testing import litegate_serve

BIN = Path(sys.executable).parent
KEY = "sk-test-master-123456"


def config(kv: str, prefix: str = "litegate:") -> str:
    return (
        f'[state]\nkv = "{kv}"\nprefix = "{prefix}"\n'
        f'[[pipeline]]\nplugin = "auth"\nmaster_key = "{KEY}"\n'
        '[[pipeline]]\nplugin = "cache"\n'
        '[[models]]\nname = "m"\nprovider = "mock"\n'
    )


def chat(url: str, content: str = "hello") -> httpx.Response:
    # A new connection each time, so the calls spread over the workers.
    response = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": content}]},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response


def test_two_workers_share_answers_through_the_disk_store(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text(config(f"disk:{tmp_path / 'kv'}"))
    with litegate_serve(path, workers=2) as url:
        first = chat(url)
        assert first.headers["x-litegate-cache"] == "miss"
        tiers = []
        while "shared" not in tiers and len(tiers) < 200:
            response = chat(url)
            assert response.headers["x-litegate-cache"] == "hit"
            assert response.json()["id"] == first.json()["id"]
            tiers.append(response.headers["x-litegate-cache-tier"])
        # The worker that did not answer first found the answer in the shared tier.
        assert "shared" in tiers, f"{len(tiers)} calls, all answered by one worker"


@pytest.mark.services
def test_two_instances_share_answers_and_purges_through_redis(tmp_path, redis_url):
    path = tmp_path / "pipeline.toml"
    path.write_text(config(redis_url, prefix=f"test-{uuid.uuid4().hex}:"))
    with litegate_serve(path, workers=1) as one, litegate_serve(path, workers=1) as two:
        first = chat(one)
        assert first.headers["x-litegate-cache"] == "miss"
        again = chat(two)
        assert again.headers["x-litegate-cache"] == "hit"
        assert again.headers["x-litegate-cache-tier"] == "shared"
        assert again.json()["id"] == first.json()["id"]
        assert chat(one).headers["x-litegate-cache-tier"] == "memory"
        # A purge on one instance reaches the other's memory.
        purged = httpx.post(
            two + "/admin/v1/cache/purge",
            json={"model": "m"},
            headers={"authorization": f"Bearer {KEY}"},
        )
        assert purged.status_code == 200, purged.text
        time.sleep(0.3)
        assert chat(one).headers["x-litegate-cache"] == "miss"
        # Each instance adds its counts to the shared ones every `stats_interval` (1 s).
        deadline = time.monotonic() + 10
        while True:
            stats = httpx.get(
                one + "/admin/v1/cache/stats", headers={"authorization": f"Bearer {KEY}"}
            ).json()
            if stats["counters"]["hits"] == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert stats["counters"]["hits"] == 2 and stats["counters"]["misses"] == 2

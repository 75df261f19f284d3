"""A revoked key is refused by every gateway process within a second: two `litegate serve`
instances sharing the database and Redis, and two Hypercorn workers sharing a disk store."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from litegate.testing import serve_processes

from .conftest import MESSAGES, MODELS, new_key, revoke_and_announce

BIN = Path(sys.executable).parent
MASTER_KEY = "sk-master-scaleout-7f3a"


def write_config(path: Path, db_url: str, kv: str, prefix: str) -> Path:
    path.write_text(
        # The test migrated the database already: the servers start faster without Alembic.
        f'[state]\nkv = "{kv}"\nprefix = "{prefix}"\ndb = "{db_url}"\nmigrate = false\n\n'
        f'[[pipeline]]\nplugin = "auth"\nmaster_key = "{MASTER_KEY}"\nvirtual_keys = true\n\n'
        '[[pipeline]]\nplugin = "logging"\n' + MODELS
    )
    return path


def status(url: str, secret: str) -> int:
    # A new connection each time, so calls spread over a server's workers.
    response = httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": "gpt-4o", "messages": MESSAGES},
        timeout=20,
    )
    assert secret not in response.text
    return response.status_code


def assert_refused_everywhere_within(urls: list[str], secret: str, seconds: float) -> None:
    """Every url refuses `secret` within `seconds` of now, and keeps refusing."""
    start = time.monotonic()
    for url in urls:
        while status(url, secret) != 401:
            elapsed = time.monotonic() - start
            assert elapsed < seconds, f"{url} still accepts the revoked key after {elapsed:.2f}s"
            time.sleep(0.02)
    for _ in range(5):
        assert all(status(url, secret) == 401 for url in urls)


@pytest.mark.services
async def test_two_instances_on_redis_refuse_a_revoked_key(
    tmp_path, records, records_url, redis_url
):
    prefix = f"auth-test-{uuid.uuid4().hex[:8]}:"
    config = write_config(tmp_path / "pipeline.toml", records_url, redis_url, prefix)
    key_id, secret = await new_key(records)
    output: list[str] = []
    with serve_processes(config, count=2, output=output) as urls:
        for url in urls:
            assert status(url, secret) == 200  # each instance has it cached now
            assert status(url, MASTER_KEY) == 200
        await revoke_and_announce(records, key_id, redis_url, prefix)
        assert_refused_everywhere_within(urls, secret, 1.0)
    logs = "\n".join(output)
    assert '"status":401' in logs  # the access log saw the refusals ...
    assert secret not in logs and MASTER_KEY not in logs  # ... and no secret


async def test_two_workers_on_disk_refuse_a_revoked_key(tmp_path, records, records_url):
    kv = f"disk:{tmp_path}/kv"
    config = write_config(tmp_path / "pipeline.toml", records_url, kv, "auth-test:")
    key_id, secret = await new_key(records)
    output: list[str] = []
    with serve_processes(config, workers=2, output=output) as (url,):
        for _ in range(8):  # new connections: both workers get to cache it
            assert status(url, secret) == 200
        await revoke_and_announce(records, key_id, kv, "auth-test:")
        # The same url reaches either worker: ten refusals in a row mean both heard it.
        start = time.monotonic()
        while status(url, secret) != 401:
            assert time.monotonic() - start < 1.0, "still accepted after 1 s"
            time.sleep(0.02)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
        assert all(status(url, secret) == 401 for _ in range(10))
    logs = "\n".join(output)
    assert secret not in logs and MASTER_KEY not in logs

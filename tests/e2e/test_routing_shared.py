"""Router stats shared over `[state] kv`: a deployment that one worker (or one gateway
process) put in cool-down is skipped by the others. Real processes, real sockets."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import httpx

from litegate.testing import litegate_serve

BIN = Path(sys.executable).parent
MESSAGES = [{"role": "user", "content": "hi"}]


def config(kv: str, base_url: str, prefix: str = "litegate:") -> str:
    models = "".join(
        f'[[models]]\nname = "m"\nprovider = "openai"\nmodel = "{upstream}"\n'
        f'api_base = "{base_url}"\napi_key = "sk-upstream-secret-abcdef"\n'
        for upstream in ("error-500", "ok")
    )
    return (
        f'[state]\nkv = "{kv}"\nprefix = "{prefix}"\n'
        '[[pipeline]]\nplugin = "router"\nshared = true\nstrategy = "round-robin"\n'
        'retries = 1\nbackoff_base = "1ms"\ncooldown_failures = 1\ncooldown = "1m"\n' + models
    )


def chat(url: str) -> httpx.Response:
    # A new connection each time, so the calls spread over the workers.
    response = httpx.post(
        url + "/v1/chat/completions", json={"model": "m", "messages": MESSAGES}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response


def failing_calls(fake_openai) -> int:
    return sum(
        isinstance(r["body"], dict) and r["body"].get("model") == "error-500"
        for r in fake_openai.requests
    )


def cool_down_through(url: str, fake_openai) -> int:
    """Call until the failing deployment has failed once (and so is cooling); its calls."""
    before = failing_calls(fake_openai)
    for _ in range(4):
        chat(url)
        if failing_calls(fake_openai) > before:
            time.sleep(0.6)  # the write lands, and every worker's refresh (0.2 s) reads it
            return failing_calls(fake_openai)
    raise AssertionError("the failing deployment was never tried")


def test_two_workers_share_a_cooldown_through_the_disk_store(tmp_path, fake_openai):
    path = tmp_path / "pipeline.toml"
    path.write_text(config(f"disk:{tmp_path / 'kv'}", fake_openai.base_url))
    with litegate_serve(path, workers=2) as url:
        failed = cool_down_through(url, fake_openai)
        attempts = set()
        for _ in range(30):
            headers = chat(url).headers
            attempts.add((headers["x-litegate-deployment"], headers["x-litegate-attempts"]))
        assert attempts == {("m#1", "1")}
        assert failing_calls(fake_openai) == failed


def test_two_gateways_share_a_cooldown_through_redis(tmp_path, fake_openai, redis_url):
    path = tmp_path / "pipeline.toml"
    prefix = f"test-{uuid.uuid4().hex}:"
    path.write_text(config(redis_url, fake_openai.base_url, prefix))
    with litegate_serve(path, workers=1) as one, litegate_serve(path, workers=1) as two:
        failed = cool_down_through(one, fake_openai)
        # Round-robin would send one of `two`'s first two calls to m#0 if it did not know.
        for url in (two, one, two, two, one):
            headers = chat(url).headers
            assert (headers["x-litegate-deployment"], headers["x-litegate-attempts"]) == (
                "m#1",
                "1",
            )
        assert failing_calls(fake_openai) == failed


def limited_config(kv: str, base_url: str, prefix: str = "litegate:") -> str:
    return (
        f'[state]\nkv = "{kv}"\nprefix = "{prefix}"\n'
        '[[pipeline]]\nplugin = "router"\nqueue_timeout = "0s"\n'
        f'[[models]]\nname = "m"\nprovider = "openai"\nmodel = "ok"\napi_base = "{base_url}"\n'
        'api_key = "sk-upstream-secret-abcdef"\nrouter = { rpm = 4 }\n'
    )


def spend_the_rpm(urls: list[str]) -> list[int]:
    """Calls spread over `urls` (and their workers), spaced so each refresh lands."""
    statuses = []
    for index in range(10):
        response = httpx.post(
            urls[index % len(urls)] + "/v1/chat/completions",
            json={"model": "m", "messages": MESSAGES},
            timeout=10,
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
        time.sleep(0.5)
    return statuses


def test_two_workers_share_one_rpm_limit_through_the_disk_store(tmp_path, fake_openai):
    path = tmp_path / "pipeline.toml"
    path.write_text(limited_config(f"disk:{tmp_path / 'kv'}", fake_openai.base_url))
    with litegate_serve(path, workers=2) as url:
        statuses = spend_the_rpm([url])
    # Each worker alone would let 4 through; together they let 4 through.
    assert statuses.count(200) == 4, statuses
    assert set(statuses) == {200, 429}


def test_two_gateways_share_one_rpm_limit_through_redis(tmp_path, fake_openai, redis_url):
    path = tmp_path / "pipeline.toml"
    prefix = f"test-{uuid.uuid4().hex}:"
    path.write_text(limited_config(redis_url, fake_openai.base_url, prefix))
    with litegate_serve(path, workers=1) as one, litegate_serve(path, workers=1) as two:
        statuses = spend_the_rpm([one, two])
    assert statuses.count(200) == 4, statuses

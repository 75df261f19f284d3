"""Rate limits as an OpenAI SDK client sees them, over real HTTP: the ``x-ratelimit-*``
headers, 429 with ``Retry-After``, tokens settled after streams, parallel slots freed when
a client gives up."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

KEY = "sk-ratelimit-test-0123456789"
MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def server(serve_gateway, fake_openai):
    models = "".join(
        f'[[models]]\nname = "{name}"\nprovider = "openai"\nmodel = "{name}"\n'
        f'api_base = "{fake_openai.base_url}"\napi_key = "sk-upstream-secret-abcdef"\n'
        for name in ("fast", "slow")
    )
    return serve_gateway(f"""
[state]
kv = "memory:"

[[pipeline]]
plugin = "auth"
keys = [{{ name = "app", key = "{KEY}" }}]

[[pipeline]]
plugin = "ratelimit"
key_limits = {{ rpm = 4, tpm = 1000, max_parallel = 1 }}
aliases = {{ fast = {{ rpm = 100 }} }}

{models}""")


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
        yield client


def test_headers_on_every_answer(client):
    raw = client.chat.completions.with_raw_response.create(
        model="fast", messages=MESSAGES, max_tokens=100
    )
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-ratelimit-limit-requests"] == "4"  # the key's: tighter than 100
    assert raw.headers["x-ratelimit-remaining-requests"] == "3"
    assert raw.headers["x-ratelimit-reset-requests"] == "15s"
    assert raw.headers["x-ratelimit-limit-tokens"] == "1000"
    assert 880 < int(raw.headers["x-ratelimit-remaining-tokens"]) < 900  # ~108 estimated
    assert raw.headers["x-ratelimit-reset-tokens"].endswith("s")


def test_429_with_retry_after_names_the_limit(client):
    for _ in range(4):
        client.chat.completions.create(model="fast", messages=MESSAGES, max_tokens=10)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="fast", messages=MESSAGES, max_tokens=10)
    error = raised.value
    assert error.code == "rate_limit_exceeded"
    assert "this API key: 4 requests per minute" in error.message
    assert KEY not in error.message and "app" not in error.message
    assert 1 <= int(error.response.headers["retry-after"]) <= 15
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_streams_settle_their_tokens_with_the_real_usage(client):
    # Each stream is estimated at ~408 tokens and uses ~7: unsettled, the third would fail.
    for remaining in ("3", "2", "1"):
        raw = client.chat.completions.with_raw_response.create(
            model="fast", messages=MESSAGES, max_tokens=400, stream=True
        )
        assert raw.headers["x-ratelimit-remaining-requests"] == remaining
        with raw.parse() as stream:
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    raw = client.chat.completions.with_raw_response.create(
        model="fast", messages=MESSAGES, max_tokens=1
    )
    # Three settled streams (~7 tokens each) and this call's estimate (~9).
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) > 950


def test_a_parallel_slot_is_freed_when_the_client_gives_up(server, client, fake_openai):
    seen = len(fake_openai.requests)
    gave_up = threading.Event()

    def hold() -> None:
        try:
            httpx.post(
                server.base_url + "/chat/completions",
                json={"model": "slow", "messages": MESSAGES, "max_tokens": 5},
                headers={"authorization": f"Bearer {KEY}"},
                timeout=1.5,
            )
        except httpx.TimeoutException:
            gave_up.set()

    holder = threading.Thread(target=hold)
    holder.start()
    deadline = time.monotonic() + 10
    while len(fake_openai.requests) == seen:  # the slow call reached the upstream
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="fast", messages=MESSAGES, max_tokens=5)
    assert "1 parallel requests" in raised.value.message
    holder.join()
    assert gave_up.is_set()
    deadline = time.monotonic() + 5
    while True:  # the gateway notices the disconnect and frees the slot
        try:
            client.chat.completions.create(model="fast", messages=MESSAGES, max_tokens=5)
            break
        except openai.RateLimitError:
            assert time.monotonic() < deadline, "the slot was never freed"
            time.sleep(0.05)


def test_the_anthropic_messages_api_is_limited_too(server):
    import anthropic

    with anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0) as claude:
        raw = claude.messages.with_raw_response.create(
            model="fast", max_tokens=50, messages=[{"role": "user", "content": "Say hello"}]
        )
        assert raw.parse().content
        assert raw.headers["x-ratelimit-limit-requests"] == "4"
        assert 930 < int(raw.headers["x-ratelimit-remaining-tokens"]) < 950  # ~58 estimated
        for _ in range(3):
            claude.messages.create(
                model="fast", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(anthropic.RateLimitError) as raised:
            claude.messages.create(
                model="fast", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
    assert int(raised.value.response.headers["retry-after"]) >= 1

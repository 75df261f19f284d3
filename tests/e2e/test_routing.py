"""The router over real HTTP, against fake upstreams that fail on cue: fallbacks, retries
after Retry-After, context-window fallbacks, no retry of a 400, weighted distribution."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import orjson
import pytest
from aiohttp import web

from litegate.testing.upstream import FakeUpstream

MESSAGES = [{"role": "user", "content": "hi"}]


class TooLong(FakeUpstream):
    """An OpenAI-shaped upstream whose every chat call exceeds the context window."""

    name = "fake too-long upstream"

    def __init__(self) -> None:
        super().__init__()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.calls = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)

    async def _chat(self, request: web.Request) -> web.Response:
        self.calls += 1
        error = {
            "error": {
                "message": "This model's maximum context length is 8 tokens.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        }
        return web.Response(status=400, body=orjson.dumps(error), content_type="application/json")


@pytest.fixture(scope="module")
def too_long() -> Iterator[TooLong]:
    with TooLong() as fake:
        yield fake


def model(alias: str, upstream: str, base_url: str) -> str:
    return (
        f'[[models]]\nname = "{alias}"\nprovider = "openai"\nmodel = "{upstream}"\n'
        f'api_base = "{base_url}"\napi_key = "sk-upstream-secret-abcdef"\n'
    )


def serve(serve_gateway, router: str, *models: str) -> httpx.Client:
    # Each test keeps its router stats to itself (the default store is shared on disk).
    server = serve_gateway(
        f'[state]\nkv = "memory:"\n[[pipeline]]\nplugin = "router"\n{router}\n' + "".join(models)
    )
    return httpx.Client(base_url=server.base_url, timeout=30)


def chat(client: httpx.Client, alias: str, **extra) -> httpx.Response:
    return client.post("/chat/completions", json={"model": alias, "messages": MESSAGES, **extra})


def test_a_500_falls_back_to_another_alias(serve_gateway, fake_openai):
    base = fake_openai.base_url
    router = 'retries = 0\nfallbacks = { m = ["backup"] }'
    with serve(
        serve_gateway, router, model("m", "error-500", base), model("backup", "ok", base)
    ) as client:
        response = chat(client, "m")
        assert response.status_code == 200, response.text
        assert response.headers["x-litegate-fallback"] == "backup"
        assert response.headers["x-litegate-deployment"] == "backup#0"
        assert response.headers["x-litegate-attempts"] == "2"


def test_a_stream_failing_before_its_first_byte_falls_back(serve_gateway, fake_openai):
    base = fake_openai.base_url
    router = 'retries = 0\ndefault_fallbacks = ["backup"]'
    with serve(
        serve_gateway, router, model("m", "error-503", base), model("backup", "ok", base)
    ) as client:
        with client.stream(
            "POST", "/chat/completions", json={"model": "m", "messages": MESSAGES, "stream": True}
        ) as response:
            body = b"".join(response.iter_bytes())
        assert response.status_code == 200
        assert response.headers["x-litegate-fallback"] == "backup"
        assert body.rstrip().endswith(b"data: [DONE]") and b'"error"' not in body


def test_a_429_with_retry_after_is_retried_after_it_on_another_deployment(
    serve_gateway, fake_openai
):
    base = fake_openai.base_url
    router = 'strategy = "round-robin"\nretries = 1\nbackoff_base = "10ms"'
    with serve(
        serve_gateway, router, model("m", "error-429", base), model("m", "ok", base)
    ) as client:
        started = time.monotonic()
        response = chat(client, "m")
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert response.headers["x-litegate-deployment"] == "m#1"
        assert response.headers["x-litegate-attempts"] == "2"
        assert 0.95 <= elapsed < 3, elapsed


def test_a_context_window_error_goes_to_the_context_window_fallback(
    serve_gateway, fake_openai, too_long
):
    base = fake_openai.base_url
    router = 'fallbacks = { m = ["other"] }\ncontext_window_fallbacks = { m = ["big"] }'
    with serve(
        serve_gateway,
        router,
        model("m", "small", too_long.base_url),
        model("other", "error-500", base),
        model("big", "ok", base),
    ) as client:
        before = too_long.calls
        response = chat(client, "m")
        assert response.status_code == 200, response.text
        assert response.headers["x-litegate-fallback"] == "big"
        assert too_long.calls == before + 1  # not retried: the prompt stays too long


def test_a_400_is_never_retried(serve_gateway, fake_openai):
    base = fake_openai.base_url
    router = 'strategy = "round-robin"\nretries = 3\ndefault_fallbacks = ["backup"]'
    with serve(
        serve_gateway,
        router,
        model("m", "error-400", base),
        model("m", "ok", base),
        model("backup", "ok", base),
    ) as client:
        before = len(fake_openai.requests)
        response = chat(client, "m")
        assert response.status_code == 400
        assert len(fake_openai.requests) == before + 1


def test_200_requests_spread_over_three_weighted_deployments(serve_gateway, fake_openai):
    base = fake_openai.base_url
    router = 'strategy = "shuffle"\nseed = 7'
    weighted = [
        model("m", name, base) + f"router = {{ weight = {weight} }}\n"
        for name, weight in (("a", 5), ("b", 3), ("c", 2))
    ]
    with serve(serve_gateway, router, *weighted) as client:
        counts = Counter(chat(client, "m").headers["x-litegate-deployment"] for _ in range(200))
    for deployment, expected in (("m#0", 100), ("m#1", 60), ("m#2", 40)):
        assert abs(counts[deployment] - expected) <= 20, counts


def test_a_timed_out_deployment_is_retried_elsewhere_then_skipped_in_cooldown(
    serve_gateway, fake_openai
):
    base = fake_openai.base_url
    router = 'strategy = "round-robin"\nretries = 1\ncooldown_failures = 1\ncooldown = "1m"'
    slow = model("m", "slow", base) + 'timeout = "300ms"\n'
    with serve(serve_gateway, router, slow, model("m", "ok", base)) as client:
        first = chat(client, "m")
        assert first.status_code == 200, first.text
        assert first.headers["x-litegate-deployment"] == "m#1"
        assert first.headers["x-litegate-attempts"] == "2"
        for _ in range(3):  # m#0 is cooling down: round-robin leaves it out
            again = chat(client, "m")
            assert again.headers["x-litegate-deployment"] == "m#1"
            assert again.headers["x-litegate-attempts"] == "1"


def test_the_access_log_lists_every_attempt(serve_gateway, fake_openai, tmp_path):
    base = fake_openai.base_url
    log = tmp_path / "access.log"
    server = serve_gateway(
        f'[state]\nkv = "memory:"\n[[pipeline]]\nplugin = "logging"\npath = "{log}"\n'
        '[[pipeline]]\nplugin = "router"\nretries = 0\ndefault_fallbacks = ["backup"]\n'
        + model("m", "error-500", base)
        + model("backup", "ok", base)
    )
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        assert chat(client, "m").status_code == 200
    deadline = time.monotonic() + 5  # the line is written after the response went out
    while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    line = orjson.loads(log.read_text().splitlines()[-1])
    assert line["deployment"] == "backup#0"
    assert [(a["deployment"], a["status"], a["error"]) for a in line["attempts"]] == [
        ("m#0", 502, "upstream_error"),
        ("backup#0", 200, None),
    ]
    assert all(a["ms"] >= 0 for a in line["attempts"])


def test_a_stream_failing_after_its_first_chunk_ends_with_an_error_event(
    serve_gateway, fake_openai
):
    base = fake_openai.base_url
    router = 'strategy = "round-robin"\nretries = 2\ndefault_fallbacks = ["backup"]'
    stalls = model("m", "slow-stream", base) + 'timeout = "300ms"\n'
    with serve(serve_gateway, router, stalls, model("backup", "ok", base)) as client:
        with client.stream(
            "POST", "/chat/completions", json={"model": "m", "messages": MESSAGES, "stream": True}
        ) as response:
            events = [line for line in response.iter_lines() if line.startswith("data: ")]
        assert response.status_code == 200
        assert response.headers["x-litegate-attempts"] == "1"
        assert "choices" in orjson.loads(events[0].removeprefix("data: "))
        error = orjson.loads(events[-1].removeprefix("data: "))["error"]
        assert error["code"] == "upstream_timeout"


def test_a_stream_whose_first_chunk_is_later_than_the_attempt_timeout_falls_back(
    serve_gateway, fake_openai
):
    base = fake_openai.base_url
    router = 'retries = 0\ndefault_fallbacks = ["backup"]'
    slow = model("m", "slow", base) + 'router = { timeout = "300ms" }\n'
    with serve(serve_gateway, router, slow, model("backup", "ok", base)) as client:
        started = time.monotonic()
        with client.stream(
            "POST", "/chat/completions", json={"model": "m", "messages": MESSAGES, "stream": True}
        ) as response:
            body = b"".join(response.iter_bytes())
        assert time.monotonic() - started < 5
        assert response.status_code == 200
        assert response.headers["x-litegate-fallback"] == "backup"
        assert response.headers["x-litegate-attempts"] == "2"
        assert body.rstrip().endswith(b"data: [DONE]") and b'"error"' not in body


def test_calls_over_the_limits_queue_by_priority_then_get_429(serve_gateway):
    import concurrent.futures

    router = 'queue_timeout = "3s"'
    mock = (
        '[[models]]\nname = "m"\nprovider = "mock"\nlatency = "300ms"\n'
        "router = { max_parallel = 1 }\n"
    )
    with serve(serve_gateway, router, mock) as client:
        finished: list[str] = []

        def call(name: str, priority: int) -> int:
            response = client.post(
                "/chat/completions",
                json={"model": "m", "messages": MESSAGES},
                headers={"x-litegate-priority": str(priority)},
            )
            finished.append(name)
            return response.status_code

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futures = []
            for name, priority in (("first", 0), ("low", 1), ("high", 7)):
                futures.append(pool.submit(call, name, priority))
                time.sleep(0.1)
            assert [f.result() for f in futures] == [200, 200, 200]
        assert finished == ["first", "high", "low"]

    slow = mock.replace('"300ms"', '"1500ms"')
    with serve(serve_gateway, 'queue_timeout = "200ms"', slow) as client:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            holder = pool.submit(chat, client, "m")
            time.sleep(0.1)
            refused = chat(client, "m")
            assert holder.result().status_code == 200
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"

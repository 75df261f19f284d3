"""Circuits over real HTTP: a deployment that times out opens its circuit, is skipped, is
probed once its cool-down is over, and closes again when the probe succeeds; active health
checks; the admin-only ``GET /health/deployments``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from aiohttp import web

from litegate.testing.upstream import FakeUpstream

MESSAGES = [{"role": "user", "content": "hi"}]
MASTER = "sk-master-test-key-0123456789"


class Switchable(FakeUpstream):
    """An OpenAI-shaped chat upstream that is slow (2 s) or fast, on cue."""

    name = "fake switchable upstream"

    def __init__(self) -> None:
        super().__init__()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.slow = True
        self.calls = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)

    async def _chat(self, request: web.Request) -> web.Response:
        self.calls += 1
        body = await request.json()
        if self.slow:
            await asyncio.sleep(2)
        answer = {
            "id": "chatcmpl-switch",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "hello"},
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return web.Response(body=orjson.dumps(answer), content_type="application/json")


@pytest.fixture
def switchable() -> Iterator[Switchable]:
    with Switchable() as fake:
        yield fake


def model(upstream: str, base_url: str, router: str = "") -> str:
    return (
        f'[[models]]\nname = "m"\nprovider = "openai"\nmodel = "{upstream}"\n'
        f'api_base = "{base_url}"\napi_key = "sk-upstream-secret-abcdef"\n'
        + (f"router = {{ {router} }}\n" if router else "")
    )


def serve(serve_gateway, router: str, *models: str) -> httpx.Client:
    server = serve_gateway(
        f'[state]\nkv = "memory:"\n[[pipeline]]\nplugin = "auth"\nmaster_key = "{MASTER}"\n'
        'keys = [{ name = "app", key = "sk-app-test-key-0123456789" }]\n'
        f'[[pipeline]]\nplugin = "router"\n{router}\n' + "".join(models)
    )
    return httpx.Client(
        base_url=server.url, timeout=30, headers={"authorization": f"Bearer {MASTER}"}
    )


def chat(client: httpx.Client) -> tuple[str, str]:
    response = client.post("/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert response.status_code == 200, response.text
    return response.headers["x-litegate-deployment"], response.headers["x-litegate-attempts"]


def circuits(client: httpx.Client) -> dict[str, str]:
    response = client.get("/health/deployments")
    assert response.status_code == 200, response.text
    return {d["id"]: d["circuit"] for d in response.json()["deployments"]}


def test_a_timed_out_deployment_opens_is_skipped_is_probed_and_closes(
    serve_gateway, switchable, fake_openai
):
    # m#0 is preferred (priority 0) whenever its circuit lets calls through.
    router = 'retries = 1\nbackoff_base = "1ms"\ncooldown_failures = 1\ncooldown = "1s"'
    with serve(
        serve_gateway,
        router,
        model("primary", switchable.base_url, 'timeout = "300ms"'),
        model("ok", fake_openai.base_url, "priority = 1"),
    ) as client:
        assert chat(client) == ("m#1", "2")  # m#0 timed out; the retry went to m#1
        assert circuits(client) == {"m#0": "open", "m#1": "closed"}
        calls = switchable.calls
        for _ in range(3):
            assert chat(client) == ("m#1", "1")  # skipped while open
        assert switchable.calls == calls

        time.sleep(1.1)  # the cool-down is over: half-open
        assert circuits(client)["m#0"] == "half-open"
        assert chat(client) == ("m#1", "2")  # the probe went to m#0, still slow: open again
        assert switchable.calls == calls + 1
        assert circuits(client)["m#0"] == "open"
        assert chat(client) == ("m#1", "1")

        switchable.slow = False
        time.sleep(1.1)
        assert chat(client) == ("m#0", "1")  # the probe succeeded: closed
        assert circuits(client) == {"m#0": "closed", "m#1": "closed"}
        assert [chat(client) for _ in range(3)] == [("m#0", "1")] * 3


def test_health_checks_open_the_circuit_of_a_failing_deployment(serve_gateway, fake_openai):
    router = 'health_check_interval = "100ms"\ncooldown_failures = 2\ncooldown = "1m"'
    base = fake_openai.base_url
    with serve(
        serve_gateway,
        router,
        model("error-503", base),
        model("ok", base),
        model("ok", base, "health_check = false"),
    ) as client:
        deadline = time.monotonic() + 10
        while circuits(client)["m#0"] != "open":
            assert time.monotonic() < deadline, "the health checks never opened the circuit"
            time.sleep(0.1)
        report = {d["id"]: d for d in client.get("/health/deployments").json()["deployments"]}
        assert report["m#0"]["state"] == "unhealthy"
        assert report["m#0"]["last_check"]["ok"] is False
        assert report["m#0"]["last_check"]["error"] == "upstream_error"
        assert report["m#1"]["circuit"] == "closed" and report["m#1"]["last_check"]["ok"]
        assert report["m#1"]["latency_ms"] is not None
        assert report["m#2"]["last_check"] is None  # exempt
        # No client call ever went to m#0: the checks alone found it out.
        assert {chat(client)[0] for _ in range(10)} <= {"m#1", "m#2"}


def test_health_deployments_is_for_admins_only_and_shows_usage(serve_gateway, fake_openai):
    with serve(
        serve_gateway,
        "",
        model(
            "ok", fake_openai.base_url, 'rpm = 100, tpm = 10000, max_parallel = 4, tags = ["eu"]'
        ),
    ) as client:
        chat(client)
        anonymous = httpx.get(str(client.base_url) + "/health/deployments")
        assert anonymous.status_code == 401
        member = httpx.get(
            str(client.base_url) + "/health/deployments",
            headers={"authorization": "Bearer sk-app-test-key-0123456789"},
        )
        assert member.status_code == 403
        assert member.json()["error"]["code"] == "insufficient_role"
        (only,) = client.get("/health/deployments").json()["deployments"]
        assert only["id"] == "m#0" and only["state"] == "healthy"
        assert only["requests_last_minute"] == 1 and only["tokens_last_minute"] > 0
        assert only["in_flight"] == 0
        assert only["limits"] == {"rpm": 100, "tpm": 10000, "max_parallel": 4}
        assert only["tags"] == ["eu"]
        assert "sk-upstream" not in client.get("/health/deployments").text

"""Upstream answers go out byte for byte unless a plugin changed them: a plugin that only
reads the body (`cost`) keeps the upstream's bytes; one that returns a changed body (PII
unmasking a placeholder) makes the gateway encode its own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web

from litegate.testing.upstream import FakeUpstream

#: An OpenAI chat answer as some upstreams lay it out: indented, keys in their own order.
PRETTY = b"""{
  "object": "chat.completion",
  "id": "chatcmpl-pretty",
  "created": 1700000000,
  "model": "gpt-4o-mini",
  "choices": [
    {"index": 0, "finish_reason": "stop",
     "message": {"role": "assistant", "content": "Mail %s, please."}}
  ],
  "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
}"""


class Pretty(FakeUpstream):
    """Answers every chat call with `PRETTY`, echoing the first masked email it was sent."""

    name = "fake pretty-printing upstream"

    def __init__(self) -> None:
        super().__init__()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)

    async def _chat(self, request: web.Request) -> web.Response:
        prompt = (await request.json())["messages"][0]["content"]
        echo = "<EMAIL_1>" if "<EMAIL_1>" in prompt else "the office"
        return web.Response(body=PRETTY % echo.encode(), content_type="application/json")


@pytest.fixture(scope="module")
def pretty() -> Iterator[Pretty]:
    with Pretty() as fake:
        yield fake


def _serve(serve_gateway, pretty: Pretty, plugins: str) -> str:
    toml = (
        f'{plugins}\n[[models]]\nname = "m"\nprovider = "openai"\nmodel = "gpt-4o-mini"\n'
        f'api_base = "{pretty.base_url}"\napi_key = "sk-upstream-passthrough-0123"\n'
    )
    return serve_gateway(toml).base_url


def _chat(base_url: str, content: str) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": content}]}
    return httpx.post(base_url + "/chat/completions", json=body, timeout=30)


def test_a_plugin_that_only_reads_the_answer_keeps_the_upstreams_bytes(serve_gateway, pretty):
    base_url = _serve(serve_gateway, pretty, '[[pipeline]]\nplugin = "cost"\n')
    answer = _chat(base_url, "hello")
    assert answer.status_code == 200
    assert answer.content == PRETTY % b"the office"  # not re-encoded
    assert float(answer.headers["x-litegate-cost"]) > 0  # ...and still read


def test_an_answer_a_plugin_changed_is_encoded_anew(serve_gateway, pretty):
    base_url = _serve(serve_gateway, pretty, '[[pipeline]]\nplugin = "pii"\nmode = "mask"\n')
    unchanged = _chat(base_url, "no personal data here")
    assert unchanged.content == PRETTY % b"the office"  # PII read it, changed nothing
    restored = _chat(base_url, "write to ann@example.test")
    assert restored.json()["choices"][0]["message"]["content"] == "Mail ann@example.test, please."
    assert restored.content != PRETTY % b"ann@example.test"  # the gateway's own encoding

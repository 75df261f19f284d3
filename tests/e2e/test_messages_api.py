"""/v1/messages and /v1/messages/count_tokens over raw HTTP: error shapes, the event
sequence, and the untranslated path to Anthropic upstreams (and when it is left)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from litegate import Call, hookimpl
from litegate.messages_api import estimate_input_tokens
from litegate.plugins.providers.anthropic import AnthropicProvider
from litegate.testing.fake_anthropic import SIGNATURE, THINKING, FakeAnthropic, ScriptedOpenAI

KEY = "sk-test-master-0123456789"
AUTH = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
HELLO = {"role": "user", "content": "Hello"}


class UpperCase:
    """Changes the request on its way: the adapter must translate, not send the original."""

    @hookimpl
    def pre_call(self, call: Call) -> None:
        call.request["messages"][-1]["content"] = call.request["messages"][-1]["content"].upper()


class SeesChunks:
    """Looks at stream chunks: upstream events can't go out as they came."""

    @hookimpl
    def on_stream_chunk(self, chunk: dict[str, Any]) -> dict[str, Any]:
        return chunk


@pytest.fixture(scope="module")
def upstreams():
    with FakeAnthropic() as claude, ScriptedOpenAI() as gpt:
        yield claude, gpt


def _serve(serve_gateway, upstreams, *plugins: str):
    claude, gpt = upstreams
    extra = "".join(f'[[pipeline]]\nplugin = "{name}"\n' for name in plugins)
    models = "".join(
        f"""
[[models]]
name = "{name}"
provider = "anthropic"
model = "{name}"
api_base = "{claude.base_url}"
api_key = "sk-ant-upstream-abcdef123"
"""
        for name in ("claude", "error-429", "error-529", "stream-error")
    )
    server = serve_gateway(
        f"""
[[pipeline]]
plugin = "auth"
master_key = "{KEY}"

{extra}
[[models]]
name = "gpt"
provider = "openai"
model = "reasoning"
api_base = "{gpt.base_url}"
api_key = "sk-upstream-openai-abcdef"
{models}""",
        plugins={"upper": UpperCase, "sees-chunks": SeesChunks},
        providers={"anthropic": AnthropicProvider},
    )
    return server.url


@pytest.fixture
def url(serve_gateway, upstreams):
    return _serve(serve_gateway, upstreams)


def _post(url: str, body: Any, headers: dict[str, str] | None = None, path: str = "/v1/messages"):
    with httpx.Client() as http:
        return http.post(url + path, json=body, headers=AUTH if headers is None else headers)


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for raw in text.split("\n\n"):
        if raw:
            name, data = raw.split("\n")
            events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    return response.status_code, body["error"]["type"]


def test_error_shapes(url):
    good = {"model": "claude", "max_tokens": 10, "messages": [HELLO]}
    assert _error(_post(url, good, headers={})) == (401, "authentication_error")
    # A malformed body from a stranger: 401, not hints about the API.
    assert _error(_post(url, {"model": "claude"}, headers={})) == (401, "authentication_error")
    response = _post(url, {"model": "claude", "messages": [HELLO]})
    assert _error(response) == (400, "invalid_request_error")
    assert "max_tokens" in response.json()["error"]["message"]
    with httpx.Client() as http:
        response = http.post(url + "/v1/messages", content=b"{nope", headers=AUTH)
    assert _error(response) == (400, "invalid_request_error")
    assert _error(_post(url, {**good, "model": "nope"})) == (404, "not_found_error")
    response = _post(url, {**good, "model": "error-429"})
    assert _error(response) == (429, "rate_limit_error")
    assert response.headers["retry-after"] == "7"
    assert _error(_post(url, {**good, "model": "error-529"})) == (503, "overloaded_error")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"max_tokens": 0}, "'max_tokens'"),
        ({"temperature": 1.5}, "'temperature'"),  # Anthropic's goes to 1 (OpenAI's to 2)
        ({"top_p": -0.1}, "'top_p'"),
        ({"top_k": -1}, "'top_k'"),
        ({"messages": [{"role": "user", "content": []}]}, "'messages[0].content'"),
    ],
)
def test_values_anthropic_refuses_are_400s_under_anthropics_names(url, change, named):
    good = {"model": "claude", "max_tokens": 10, "messages": [HELLO]}
    response = _post(url, {**good, **change})
    assert _error(response) == (400, "invalid_request_error")
    assert named in response.json()["error"]["message"]


def test_error_after_the_stream_started(url):
    body = {"model": "stream-error", "max_tokens": 10, "stream": True, "messages": [HELLO]}
    response = _post(url, body)
    assert response.status_code == 200
    events = _events(response.text)
    assert events[0][0] == "message_start"
    assert events[-1] == (
        "error",
        {
            "type": "error",
            "error": {"type": "overloaded_error", "message": events[-1][1]["error"]["message"]},
        },
    )
    assert "message_stop" not in [name for name, _ in events]


def test_event_sequence_from_an_openai_upstream(url):
    body = {
        "model": "gpt",
        "max_tokens": 100,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [
            {
                "name": "lookup",
                "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
            }
        ],
        "messages": [HELLO],
    }
    response = _post(url, body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert all(name == data["type"] for name, data in events)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    blocks: list[tuple[int, str]] = []
    open_index = None
    for name, data in events:
        if name == "content_block_start":
            assert open_index is None and data["index"] == len(blocks)
            open_index = data["index"]
            blocks.append((data["index"], data["content_block"]["type"]))
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
    assert blocks == [(0, "thinking"), (1, "text"), (2, "tool_use")]
    arguments = "".join(
        d["delta"]["partial_json"]
        for n, d in events
        if d.get("delta", {}).get("type") == "input_json_delta"
    )
    assert json.loads(arguments) == {"q": "fake"}
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"] == {
        "input_tokens": 16,
        "output_tokens": 10,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 4,
    }


def test_the_original_body_reaches_an_anthropic_upstream(url, upstreams):
    claude, _gpt = upstreams
    body = {
        "model": "claude",
        "max_tokens": 50,
        "top_k": 5,  # no OpenAI counterpart
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [HELLO],
    }
    response = _post(url, body)
    assert claude.requests[-1]["body"] == {**body, "model": "claude"}
    # The upstream's own Message, untranslated (a translated one has no service_tier).
    message = response.json()
    assert message["id"].startswith("msg_fake")
    assert message["usage"]["service_tier"] == "standard"
    assert message["usage"]["cache_creation_input_tokens"] == 2

    response = _post(url, {**body, "stream": True})
    assert claude.requests[-1]["body"] == {**body, "model": "claude", "stream": True}
    names = [name for name, _ in _events(response.text)]
    assert "ping" in names  # the upstream's events as it sent them
    assert names[-1] == "message_stop"


def test_a_plugin_that_changes_the_request_gets_it_translated(serve_gateway, upstreams):
    claude, _gpt = upstreams
    url = _serve(serve_gateway, upstreams, "upper")
    body = {"model": "claude", "max_tokens": 50, "top_k": 5, "messages": [HELLO]}
    message = _post(url, body).json()
    sent = claude.requests[-1]["body"]
    assert sent["messages"] == [{"role": "user", "content": "HELLO"}]
    assert "top_k" not in sent  # translated from the canonical request
    assert "service_tier" not in message["usage"]
    assert message["content"][0]["type"] == "text"


def test_a_plugin_that_sees_chunks_gets_translated_events(serve_gateway, upstreams):
    url = _serve(serve_gateway, upstreams, "sees-chunks")
    body = {
        "model": "claude",
        "max_tokens": 3000,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "tools": [
            {
                "name": "lookup",
                "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
            }
        ],
        "messages": [HELLO],
    }
    events = _events(_post(url, body).text)
    names = [name for name, _ in events]
    assert "ping" not in names  # rebuilt from OpenAI chunks, not the upstream's own events
    assert names[0] == "message_start" and names[-1] == "message_stop"
    starts = [d["content_block"]["type"] for n, d in events if n == "content_block_start"]
    assert starts == ["thinking", "tool_use"]
    deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
    assert "".join(d.get("thinking", "") for d in deltas) == THINKING
    assert [d["signature"] for d in deltas if d["type"] == "signature_delta"] == [SIGNATURE]
    assert json.loads("".join(d.get("partial_json", "") for d in deltas)) == {"q": "fake"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_count_tokens(url):
    body = {
        "model": "claude",
        "system": "Be brief.",
        "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
        "messages": [
            HELLO,
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "x"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "found it"},
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.png"},
                    },
                ],
            },
        ],
    }
    response = _post(url, body, path="/v1/messages/count_tokens")
    assert response.status_code == 200
    assert response.json() == {"input_tokens": estimate_input_tokens(body)}
    tool = len(json.dumps(body["tools"][0], separators=(",", ":")))
    chars = (
        len("Be brief.") + len("Hello") + len('{"q":"x"}') + len("lookup") + len("found it") + tool
    )
    assert estimate_input_tokens(body) == -(-chars // 4) + 1600 + 3 * 3
    assert _error(_post(url, body, headers={}, path="/v1/messages/count_tokens")) == (
        401,
        "authentication_error",
    )
    missing = _post(url, {**body, "model": "nope"}, path="/v1/messages/count_tokens")
    assert _error(missing) == (404, "not_found_error")

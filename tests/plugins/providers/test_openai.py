"""The openai adapter against the fake upstream: headers, body, byte passthrough."""

from __future__ import annotations

import json

import httpx
import pytest

from litegate import Gateway


def _toml(base_url: str) -> str:
    return f"""
[[models]]
name = "alias"
provider = "openai"
model = "real-model"
api_base = "{base_url}"
api_key = "sk-upstream-key"
organization = "org-1"
project = "proj-1"
"""


async def test_request_translation_and_headers(fake_openai):
    async with Gateway.from_toml(_toml(fake_openai.base_url), {}) as gw:
        await gw.chat(model="alias", messages=[{"role": "user", "content": "x"}], seed=7)
    sent = fake_openai.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"] == {
        "model": "real-model",
        "messages": [{"role": "user", "content": "x"}],
        "seed": 7,
    }
    assert sent["headers"]["Authorization"] == "Bearer sk-upstream-key"
    assert sent["headers"]["openai-organization"] == "org-1"
    assert sent["headers"]["openai-project"] == "proj-1"


def test_stream_bytes_pass_through_unchanged(serve_gateway, fake_openai):
    server = serve_gateway(_toml(fake_openai.base_url))
    body = {
        "model": "alias",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "x"}],
    }
    with httpx.Client() as http:
        text = http.post(server.base_url + "/chat/completions", json=body).text
    events = [e for e in text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    # Exactly what the fake sent: compact JSON with its own key order, "usage": null included.
    assert events[0].startswith('data: {"id":"chatcmpl-fake')
    assert '"usage":null' in events[0]
    assert '"usage":{"prompt_tokens"' in events[-2] and '"choices":[]' in events[-2]


# The OpenAI-compatible presets pass these through too (those whose quirks leave them alone).
@pytest.mark.parametrize(
    "provider", ["openai", "groq", "together", "openrouter", "fireworks", "xai", "cerebras", "mistral",
                 "vllm", "lmstudio"],
)  # fmt: skip
def test_tools_vision_and_json_schema_pass_through_with_the_sdk(serve_gateway, provider):
    import openai

    from litegate.testing.fake_anthropic import ScriptedOpenAI

    with ScriptedOpenAI() as upstream:
        server = serve_gateway(f"""
[[models]]
name = "alias"
provider = "{provider}"
model = "tool-call"
api_base = "{upstream.base_url}"
api_key = "sk-upstream-key"
""")
        tools = [{"type": "function", "function": {
            "name": "get_weather", "parameters": {"type": "object", "properties": {
                "city": {"type": "string"}}, "required": ["city"]}}}]  # fmt: skip
        image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
        schema = {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}}
        messages = [{"role": "user", "content": [{"type": "text", "text": "weather?"}, image]}]
        with openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as client:
            stream = client.chat.completions.create(
                model="alias", messages=messages, tools=tools, response_format=schema,
                tool_choice="required", stream=True,
            )  # fmt: skip
            arguments, name = "", None
            for chunk in stream:
                for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                    name = call.function.name or name
                    arguments += call.function.arguments or ""
        sent = upstream.requests[-1]["body"]
    assert name == "get_weather" and json.loads(arguments) == {"city": "fake"}
    assert sent["tools"] == tools and sent["response_format"] == schema
    assert sent["messages"] == messages and sent["tool_choice"] == "required"


async def test_extension_fields_are_not_sent_to_openai(fake_openai):
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello", "reasoning_content": "thought",
         "thinking_blocks": [{"type": "thinking", "thinking": "t", "signature": "s"}]},
        {"role": "user", "content": "again"},
    ]  # fmt: skip
    async with Gateway.from_toml(_toml(fake_openai.base_url), {}) as gw:
        await gw.chat(model="alias", messages=history)
    assert fake_openai.requests[-1]["body"]["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
    ]
    assert "reasoning_content" in history[1]  # the caller's list is left alone

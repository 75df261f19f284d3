"""The openai adapter against the fake upstream: headers, body, byte passthrough."""

from __future__ import annotations

import httpx

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

"""The official Anthropic SDK against the gateway's /v1/messages over real HTTP, once in
front of an OpenAI upstream and once in front of an Anthropic one (both fakes over HTTP)."""

from __future__ import annotations

import anthropic
import pytest

from litegate.plugins.providers.anthropic import AnthropicProvider
from litegate.testing.fake_anthropic import REPLY as ANTHROPIC_REPLY
from litegate.testing.fake_anthropic import SIGNATURE, FakeAnthropic, ScriptedOpenAI
from litegate.testing.fake_openai import REPLY as OPENAI_REPLY

KEY = "sk-test-master-0123456789"
REPLIES = {"via-openai": OPENAI_REPLY, "via-anthropic": ANTHROPIC_REPLY}
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def upstreams():
    with FakeAnthropic() as claude, ScriptedOpenAI() as gpt:
        yield claude, gpt


@pytest.fixture
def client(serve_gateway, upstreams):
    claude, gpt = upstreams
    server = serve_gateway(
        f"""
[[pipeline]]
plugin = "auth"
master_key = "{KEY}"

[[models]]
name = "via-openai"
provider = "openai"
model = "tool-call"
api_base = "{gpt.base_url}"
api_key = "sk-upstream-openai-abcdef"

[[models]]
name = "reasoning-openai"
provider = "openai"
model = "reasoning"
api_base = "{gpt.base_url}"
api_key = "sk-upstream-openai-abcdef"

[[models]]
name = "via-anthropic"
provider = "anthropic"
model = "claude-upstream"
api_base = "{claude.base_url}"
api_key = "sk-ant-upstream-abcdef123"
""",
        providers={"anthropic": AnthropicProvider},
    )
    with anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0) as client:
        yield client
    assert claude.problems == []


UPSTREAMS = pytest.mark.parametrize("model", ["via-openai", "via-anthropic"])


@UPSTREAMS
def test_create(client, model):
    message = client.messages.create(
        model=model,
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == REPLIES[model]
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@UPSTREAMS
def test_stream(client, model):
    with client.messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == REPLIES[model]
    assert final.content[0].text == REPLIES[model]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


@UPSTREAMS
def test_tools_and_tool_results(client, model):
    question = {"role": "user", "content": "Weather in Paris?"}
    message = client.messages.create(
        model=model, max_tokens=200, tools=[WEATHER], messages=[question]
    )
    assert message.stop_reason == "tool_use"
    [use] = [b for b in message.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input == {"city": "fake"}
    answer = client.messages.create(
        model=model,
        max_tokens=200,
        tools=[WEATHER],
        messages=[
            question,
            {"role": "assistant", "content": message.content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],
            },
        ],
    )
    assert answer.content[-1].text == REPLIES[model]


@UPSTREAMS
def test_tools_stream(client, model):
    with client.messages.stream(
        model=model,
        max_tokens=200,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    ) as stream:
        fragments = [
            e.delta.partial_json
            for e in stream
            if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
        ]
        final = stream.get_final_message()
    assert len([f for f in fragments if f]) >= 2  # the arguments came in pieces
    [use] = [b for b in final.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input == {"city": "fake"}
    assert final.stop_reason == "tool_use"


def test_thinking_from_anthropic(client):
    kwargs = {
        "model": "via-anthropic",
        "max_tokens": 4000,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "messages": [{"role": "user", "content": "Hello"}],
    }
    message = client.messages.create(**kwargs)
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].signature == SIGNATURE
    with client.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].signature == SIGNATURE


def test_thinking_and_blocks_from_openai(client, upstreams):
    _claude, gpt = upstreams
    with client.messages.stream(
        model="reasoning-openai",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        tools=[WEATHER],
        messages=[{"role": "user", "content": "Hello"}],
    ) as stream:
        starts = [
            (e.index, e.content_block.type) for e in stream if e.type == "content_block_start"
        ]
        final = stream.get_final_message()
    assert gpt.requests[-1]["body"]["reasoning_effort"] == "low"
    assert starts == [(0, "thinking"), (1, "text"), (2, "tool_use")]
    assert final.content[0].thinking == "Let me think."
    assert final.content[1].text == "Here goes."
    assert final.content[2].input == {"city": "fake"}
    assert final.usage.cache_read_input_tokens == 4 and final.usage.input_tokens == 16


def test_images_to_openai(client, upstreams):
    _claude, gpt = upstreams
    client.messages.create(
        model="via-openai",
        max_tokens=100,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.jpg"},
                    },
                ],
            }
        ],
    )
    assert gpt.requests[-1]["body"]["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
    ]


def test_errors_reach_the_sdk_typed(client):
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(
            model="nope", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.body["error"]["type"] == "not_found_error"
    stranger = anthropic.Anthropic(base_url=str(client.base_url), api_key="wrong", max_retries=0)
    with stranger, pytest.raises(anthropic.AuthenticationError):
        stranger.messages.create(
            model="via-openai", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )


def test_count_tokens(client):
    count = client.messages.count_tokens(
        model="via-anthropic",
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello there, how are you today?"}],
    )
    assert count.input_tokens == 13  # (9 + 31 characters) / 4 + 3 for the message

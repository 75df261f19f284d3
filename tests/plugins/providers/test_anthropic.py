"""The anthropic adapter against a fake Anthropic upstream that checks what arrives (path,
headers, body against the Messages schema) and answers in Anthropic's own format; then round
trips with the official openai SDK through an anthropic deployment."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from litegate import Gateway, GatewayError
from litegate.plugins.providers.anthropic import AnthropicProvider
from litegate.testing.fake_anthropic import REPLY, SIGNATURE, THINKING, FakeAnthropic

PROVIDERS = {"anthropic": AnthropicProvider}
UPSTREAM_KEY = "sk-ant-upstream-secret-0123456789"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def fake():
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _no_problems(fake):
    seen = len(fake.problems)
    yield
    assert fake.problems[seen:] == []  # every request the gateway sent was well-formed


def _toml(fake: FakeAnthropic, model: str = "claude-test", extra: str = "") -> str:
    return f"""
[[models]]
name = "claude"
provider = "anthropic"
model = "{model}"
api_base = "{fake.base_url}"
api_key = "{UPSTREAM_KEY}"
{extra}
"""


def _gateway(fake: FakeAnthropic, model: str = "claude-test", extra: str = "") -> Gateway:
    return Gateway.from_toml(_toml(fake, model, extra), {}, providers=PROVIDERS)


async def test_request_translation_and_headers(fake):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
        {"role": "user", "content": "What is the weather in Paris and Rome?"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Also, look:"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "rain"}]},
        {"role": "user", "content": "Thanks. Summarise."},
    ]
    async with _gateway(fake) as gw:
        reply = await gw.chat(
            model="claude",
            messages=messages,
            tools=[WEATHER],
            tool_choice="required",
            parallel_tool_calls=False,
            stop="END",
            max_completion_tokens=300,
            temperature=1.5,
            top_p=0.9,
            user="user-42",
        )
    sent = fake.requests[-1]
    assert sent["path"] == "/v1/messages" and sent["query"] == ""
    assert sent["headers"]["x-api-key"] == UPSTREAM_KEY
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert sent["headers"]["Content-Type"] == "application/json"
    assert "anthropic-beta" not in sent["headers"]
    assert sent["body"] == {
        "model": "claude-test",
        "max_tokens": 300,
        "system": [
            {"type": "text", "text": "Be brief."},
            {"type": "text", "text": "Answer in English."},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is the weather in Paris and Rome?"},
                    {"type": "text", "text": "Also, look:"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/cat.jpg"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "call_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                    {
                        "type": "tool_use",
                        "id": "call_2",
                        "name": "get_weather",
                        "input": {"city": "Rome"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_2",
                        "content": [{"type": "text", "text": "rain"}],
                    },
                    {"type": "text", "text": "Thanks. Summarise."},
                ],
            },
        ],
        "stop_sequences": ["END"],
        "temperature": 1,
        "top_p": 0.9,
        "metadata": {"user_id": "user-42"},
        "tools": [
            {
                "name": "get_weather",
                "description": "The weather in a city.",
                "input_schema": WEATHER["function"]["parameters"],
            }
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    }
    choice = reply["choices"][0]
    assert choice["message"]["content"] == REPLY
    assert choice["finish_reason"] == "stop"
    assert reply["id"].startswith("msg_fake")
    # Anthropic counts cache reads (3) and writes (2) apart from input_tokens.
    usage = reply["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 3
    assert (
        usage["prompt_tokens"]
        == len(json.dumps(sent["body"]["messages"], separators=(",", ":"))) // 4 + 1 + 5
    )
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_a_single_system_string_stays_a_string(fake):
    async with _gateway(fake) as gw:
        await gw.chat(
            model="claude",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ],
        )
    body = fake.requests[-1]["body"]
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["max_tokens"] == 4096  # default_max_tokens


async def test_tool_call_reply(fake):
    async with _gateway(fake) as gw:
        reply = await gw.chat(
            model="claude",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        )
    assert fake.requests[-1]["body"]["tool_choice"] == {"type": "tool", "name": "get_weather"}
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("toolu_fake") and call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"fake"}'}


async def test_stream_text_tools_and_usage(fake):
    async with _gateway(fake, model="claude-parallel") as gw:
        chunks = [
            chunk
            async for chunk in await gw.chat(
                model="claude",
                messages=[{"role": "user", "content": "Weather in Paris and Rome?"}],
                tools=[WEATHER],
                stream=True,
                stream_options={"include_usage": True},
            )
        ]
    assert fake.requests[-1]["body"]["stream"] is True
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant"
    starts = [
        d["tool_calls"][0] for d in deltas if "tool_calls" in d and "id" in d["tool_calls"][0]
    ]
    assert [s["index"] for s in starts] == [0, 1]
    assert all(s["function"]["name"] == "get_weather" for s in starts)
    for index in (0, 1):
        fragments = [
            d["tool_calls"][0]["function"]["arguments"]
            for d in deltas
            if "tool_calls" in d and d["tool_calls"][0]["index"] == index
        ]
        assert len([f for f in fragments if f]) == 3  # streamed in pieces
        assert json.loads("".join(fragments)) == {"city": "fake"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert (
        chunks[-1]["choices"] == []
        and chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 3
    )


async def test_reasoning_effort_thinking_and_signatures_round_trip(fake):
    async with _gateway(fake, extra="default_max_tokens = 1000") as gw:
        question = {"role": "user", "content": "Hello"}
        reply = await gw.chat(model="claude", messages=[question], reasoning_effort="low")
        body = fake.requests[-1]["body"]
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
        assert body["max_tokens"] == 3048  # default_max_tokens on top of the budget
        message = reply["choices"][0]["message"]
        assert message["reasoning_content"] == THINKING
        assert message["thinking_blocks"] == [
            {"type": "thinking", "thinking": THINKING, "signature": SIGNATURE}
        ]
        assert message["content"] == REPLY
        # The next turn sends the assistant message back as it came: the signed block goes back.
        await gw.chat(
            model="claude",
            messages=[question, message, {"role": "user", "content": "And again"}],
            reasoning_effort="high",
            max_completion_tokens=5000,
        )
        body = fake.requests[-1]["body"]
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 4999}
        assert body["messages"][1] == {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": THINKING, "signature": SIGNATURE},
                {"type": "text", "text": REPLY},
            ],
        }
        with pytest.raises(GatewayError) as caught:
            await gw.chat(
                model="claude", messages=[question], reasoning_effort="low", max_tokens=500
            )
        assert caught.value.status == 400 and caught.value.param == "max_completion_tokens"


async def test_streamed_thinking_surfaces_as_reasoning_and_a_signed_block(fake):
    async with _gateway(fake) as gw:
        stream = await gw.chat(
            model="claude",
            messages=[{"role": "user", "content": "Hi"}],
            reasoning_effort="medium",
            stream=True,
        )
        deltas = [c["choices"][0]["delta"] async for c in stream if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == THINKING
    blocks = [b for d in deltas for b in d.get("thinking_blocks", ())]
    assert blocks == [{"type": "thinking", "thinking": THINKING, "signature": SIGNATURE}]
    assert "".join(d.get("content") or "" for d in deltas) == REPLY


async def test_response_format(fake):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["answer", "score"],
        "additionalProperties": False,
    }
    async with _gateway(fake) as gw:
        reply = await gw.chat(
            model="claude",
            messages=[{"role": "user", "content": "Rate it"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "rating", "schema": schema},
            },
        )
        assert fake.requests[-1]["body"]["output_config"] == {
            "format": {"type": "json_schema", "schema": schema}
        }
        assert json.loads(reply["choices"][0]["message"]["content"]) == {
            "answer": "fake",
            "score": 1,
        }
        await gw.chat(
            model="claude",
            messages=[{"role": "user", "content": "Rate it"}],
            response_format={"type": "json_object"},
        )
        assert "JSON object" in fake.requests[-1]["body"]["system"]


async def test_unsupported_parameters_are_refused_or_dropped(fake):
    hi = [{"role": "user", "content": "hi"}]
    async with _gateway(fake) as gw:
        for params, name in (
            ({"seed": 7}, "seed"),
            ({"n": 2}, "n"),
            ({"logit_bias": {"1": 1}}, "logit_bias"),
        ):
            with pytest.raises(GatewayError) as caught:
                await gw.chat(model="claude", messages=hi, **params)
            assert caught.value.status == 400 and caught.value.param == name
            assert "'anthropic'" in caught.value.message
    async with _gateway(fake, extra="drop_unsupported = true") as gw:
        await gw.chat(model="claude", messages=hi, seed=7, n=2, presence_penalty=0.5)
    assert set(fake.requests[-1]["body"]) == {"model", "max_tokens", "messages"}


@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [
        (400, 400, "context_length_exceeded"),
        (429, 429, None),
        (529, 503, "upstream_overloaded"),
        (500, 502, "upstream_error"),
        (401, 401, "upstream_auth_failed"),
    ],
)
async def test_errors_are_normalized(fake, status, expected, code):
    async with _gateway(fake, model=f"error-{status}") as gw:
        with pytest.raises(GatewayError) as caught:
            await gw.chat(model="claude", messages=[{"role": "user", "content": "hi"}])
    error = caught.value
    assert (error.status, error.code) == (expected, code)
    assert UPSTREAM_KEY not in error.message
    if status == 400:
        assert "prompt is too long" in error.message
    if status == 429:
        assert error.headers["retry-after"] == "7"


def test_http_beta_header_and_mid_stream_error(serve_gateway, fake):
    server = serve_gateway(_toml(fake, model="stream-error"), providers=PROVIDERS)
    body = {"model": "claude", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client() as http:
        text = http.post(
            server.base_url + "/chat/completions",
            json=body,
            headers={"anthropic-beta": "output-128k-2025-02-19"},
        ).text
    assert fake.requests[-1]["headers"]["anthropic-beta"] == "output-128k-2025-02-19"
    events = [e for e in text.split("\n\n") if e]
    assert "[DONE]" not in text  # the stream failed: no sign of success
    error = json.loads(events[-1].removeprefix("data: "))["error"]
    assert error["code"] == "upstream_overloaded" and "Overloaded" in error["message"]


# -- the official openai SDK through an anthropic deployment -------------------------------


@pytest.fixture
def client(serve_gateway, fake):
    server = serve_gateway(_toml(fake), providers=PROVIDERS)
    with openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as client:
        yield client


def test_sdk_chat_and_stream(client):
    reply = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == REPLY
    assert reply.usage is not None and reply.usage.prompt_tokens_details.cached_tokens == 3
    stream = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_sdk_tools_with_streamed_arguments_and_tool_results(client, fake):
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    stream = client.chat.completions.create(
        model="claude", messages=messages, tools=[WEATHER], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for call in choice.delta.tool_calls or ():
            entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += call.id or ""
            entry["name"] += call.function.name or ""
            entry["arguments"] += call.function.arguments or ""
    assert finish == "tool_calls"
    assert calls[0]["name"] == "get_weather" and json.loads(calls[0]["arguments"]) == {
        "city": "fake"
    }
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": calls[0]["id"],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": calls[0]["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
    ]
    reply = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER])
    assert reply.choices[0].message.content == REPLY
    assert fake.requests[-1]["body"]["messages"][-1]["content"][0]["tool_use_id"] == calls[0]["id"]


def test_sdk_vision_data_url_and_url(client, fake):
    reply = client.chat.completions.create(
        model="claude",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare these"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/a.jpg", "detail": "low"},
                    },
                ],
            }
        ],
    )
    assert reply.choices[0].message.content == REPLY
    sources = [
        b["source"]
        for b in fake.requests[-1]["body"]["messages"][0]["content"]
        if b["type"] == "image"
    ]
    assert sources == [
        {"type": "base64", "media_type": "image/png", "data": PNG},
        {"type": "url", "url": "https://example.com/a.jpg"},
    ]


def test_sdk_json_schema(client):
    reply = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "Name a city"}],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "city",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "additionalProperties": False,
                },
            },
        },
    )
    assert json.loads(reply.choices[0].message.content or "") == {"city": "fake"}


def test_sdk_reasoning(client):
    reply = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "Hello"}], reasoning_effort="low"
    )
    message = reply.choices[0].message
    extra = message.model_extra or {}
    assert extra["reasoning_content"] == THINKING
    assert extra["thinking_blocks"][0]["signature"] == SIGNATURE
    # Sent back as the SDK hands it over, the signed thinking block reaches Anthropic again.
    client.chat.completions.create(
        model="claude",
        messages=[
            {"role": "user", "content": "Hello"},
            message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "user", "content": "Again"},
        ],
        reasoning_effort="low",
    )


@pytest.mark.parametrize(
    ("body", "headers", "problem"),
    [
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            {},
            "'max_tokens' is a required",
        ),
        (
            {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "a"}] * 2},
            {},
            "roles must alternate",
        ),
        (
            {"model": "m", "max_tokens": 9, "messages": [{"role": "system", "content": "a"}]},
            {},
            "system goes in 'system'",
        ),
        (
            {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "a"}]},
            {"anthropic-version": "2020-01-01"},
            "anthropic-version",
        ),
    ],
)
def test_the_fake_refuses_what_anthropic_refuses(fake, body, headers, problem):
    sent = {"x-api-key": "k", "anthropic-version": "2023-06-01", **headers}
    before = len(fake.problems)
    with httpx.Client() as http:
        response = http.post(fake.base_url + "/v1/messages", json=body, headers=sent)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert problem in response.json()["error"]["message"]
    del fake.problems[before:]  # expected here

"""The cohere adapter against a fake Cohere v2 API: what arrives (path, headers, body) and how
Cohere's answers, event streams and errors come back in OpenAI's terms."""

from __future__ import annotations

import base64
import struct

import pytest

from litegate import Gateway, GatewayError
from litegate.plugins.providers.cohere import CohereProvider
from litegate.testing import make_call
from litegate.testing.fake_cohere import REPLY, THOUGHT, FakeCohere

MESSAGES = [{"role": "user", "content": "hello there"}]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CLOCK = {
    "type": "function",
    "function": {"name": "clock", "parameters": {"type": "object", "properties": {}}},
}


@pytest.fixture(scope="module")
def fake_cohere():
    with FakeCohere() as fake:
        yield fake


def _toml(fake: FakeCohere, model: str = "command-a", extra: str = "") -> str:
    return f"""
[[models]]
name = "m"
provider = "cohere"
model = "{model}"
api_base = "{fake.base_url}"
api_key = "{fake.API_KEY}"
{extra}
"""


def _gateway(fake: FakeCohere, model: str = "command-a", extra: str = "") -> Gateway:
    return Gateway.from_toml(_toml(fake, model, extra), {}, providers={"cohere": CohereProvider})


def test_defaults():
    assert CohereProvider.default_api_base == "https://api.cohere.com"
    assert CohereProvider.api_key_env == "CO_API_KEY"


async def test_simple_chat(fake_cohere):
    async with _gateway(fake_cohere) as gw:
        reply = await gw.chat(model="m", messages=MESSAGES)
    sent = fake_cohere.requests[-1]
    assert sent["path"] == "/v2/chat"
    assert sent["headers"]["Authorization"] == f"Bearer {fake_cohere.API_KEY}"
    assert sent["body"] == {"model": "command-a", "messages": MESSAGES}
    assert reply["object"] == "chat.completion" and reply["model"] == "command-a"
    choice = reply["choices"][0]
    assert choice["message"]["content"] == REPLY and choice["finish_reason"] == "stop"
    # billed_units, not the raw token counts, are what usage reports
    assert reply["usage"]["prompt_tokens"] == 2 and reply["usage"]["completion_tokens"] == 5
    assert reply["usage"]["total_tokens"] == 7


async def test_full_request_translation(fake_cohere):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather where these are?"},
                {"type": "image_url", "image_url": {"url": "https://example.org/a.png"}},
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "I should look it up.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "12C and rain"},
        {"role": "assistant", "content": "It rains.", "reasoning_content": "Summarise."},
        {"role": "user", "content": "And tomorrow?"},
    ]
    async with _gateway(fake_cohere) as gw:
        await gw.chat(
            model="m",
            messages=messages,
            tools=[WEATHER, CLOCK],
            tool_choice={"type": "function", "function": {"name": "weather"}},
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "w",
                    "schema": {"type": "object", "properties": {"t": {"type": "number"}}},
                },
            },
            stop="END",
            temperature=0.3,
            top_p=1.0,
            max_completion_tokens=200,
            seed=11,
            frequency_penalty=0.1,
            presence_penalty=0.2,
            reasoning_effort="low",
            stream_options={"include_usage": True},
            parallel_tool_calls=True,
            n=1,
        )
    assert fake_cohere.requests[-1]["body"] == {
        "model": "command-a",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "Use metric units."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather where these are?"},
                    {"type": "image_url", "image_url": {"url": "https://example.org/a.png"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
                    },
                ],
            },
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
                "tool_plan": "I should look it up.",
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "12C and rain"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Summarise."},
                    {"type": "text", "text": "It rains."},
                ],
            },
            {"role": "user", "content": "And tomorrow?"},
        ],
        # a named tool_choice: only that tool is offered, and a call is required
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                    "description": "Weather in a city.",
                },
            }
        ],
        "tool_choice": "REQUIRED",
        "response_format": {
            "type": "json_object",
            "json_schema": {"type": "object", "properties": {"t": {"type": "number"}}},
        },
        "stop_sequences": ["END"],
        "temperature": 0.3,
        "p": 0.99,
        "max_tokens": 200,
        "seed": 11,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "thinking": {"type": "enabled", "token_budget": 2048},
    }


@pytest.mark.parametrize(
    ("choice", "expected"), [("none", "NONE"), ("required", "REQUIRED"), ("auto", None)]
)
async def test_tool_choice(fake_cohere, choice, expected):
    async with _gateway(fake_cohere) as gw:
        await gw.chat(model="m", messages=MESSAGES, tools=[WEATHER], tool_choice=choice)
    assert fake_cohere.requests[-1]["body"].get("tool_choice") == expected


async def test_tool_choice_without_tools(fake_cohere):
    async with _gateway(fake_cohere) as gw:
        await gw.chat(model="m", messages=MESSAGES, tool_choice="none")
        assert "tool_choice" not in fake_cohere.requests[-1]["body"]
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES, tool_choice="required")
    assert raised.value.status == 400 and raised.value.param == "tool_choice"


@pytest.mark.parametrize(
    ("effort", "thinking"),
    [
        ("none", {"type": "disabled"}),
        ("medium", {"type": "enabled", "token_budget": 8192}),
        ("max", {"type": "enabled", "token_budget": 65536}),
    ],
)
async def test_reasoning_effort_becomes_thinking(fake_cohere, effort, thinking):
    async with _gateway(fake_cohere) as gw:
        await gw.chat(model="m", messages=MESSAGES, reasoning_effort=effort)
        assert fake_cohere.requests[-1]["body"]["thinking"] == thinking
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES, reasoning_effort="extreme")
    assert raised.value.param == "reasoning_effort"


async def test_tool_calls_come_back(fake_cohere):
    async with _gateway(fake_cohere) as gw:
        reply = await gw.chat(model="m", messages=MESSAGES, tools=[WEATHER, CLOCK])
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] is None
    assert message["reasoning_content"] == "I will call weather and clock."  # the tool plan
    calls = message["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["weather", "clock"]  # parallel calls
    assert calls[0]["function"]["arguments"] == '{"city":"Paris"}'
    assert calls[0]["id"].startswith("weather_") and calls[0]["type"] == "function"


async def test_thinking_and_json_and_length(fake_cohere):
    async with _gateway(fake_cohere) as gw:
        thought = await gw.chat(model="m", messages=MESSAGES, reasoning_effort="high")
        disabled = await gw.chat(model="m", messages=MESSAGES, reasoning_effort="none")
        json_mode = await gw.chat(
            model="m", messages=MESSAGES, response_format={"type": "json_object"}
        )
        short = await gw.chat(model="m", messages=MESSAGES, max_tokens=2)
    assert thought["choices"][0]["message"]["reasoning_content"] == THOUGHT
    assert thought["choices"][0]["message"]["content"] == REPLY
    assert "reasoning_content" not in disabled["choices"][0]["message"]
    assert json_mode["choices"][0]["message"]["content"] == '{"answer":"Paris"}'
    assert short["choices"][0]["finish_reason"] == "length"


async def test_vision_reply(fake_cohere):
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    async with _gateway(fake_cohere) as gw:
        reply = await gw.chat(model="m", messages=[{"role": "user", "content": content}])
    assert reply["choices"][0]["message"]["content"] == "I see 1 image(s)."


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"user": "u1"}, "user"),
        ({"logit_bias": {"1": 2}}, "logit_bias"),
        ({"logprobs": True}, "logprobs"),
        ({"n": 2}, "n"),
        ({"parallel_tool_calls": False, "tools": [WEATHER]}, "parallel_tool_calls"),
    ],
)
async def test_unsupported_params_refused_or_dropped(fake_cohere, params, param):
    before = len(fake_cohere.requests)
    async with _gateway(fake_cohere) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES, **params)
    assert raised.value.status == 400 and raised.value.param == param
    assert "'cohere'" in raised.value.message and raised.value.code == "unsupported_parameter"
    assert len(fake_cohere.requests) == before
    async with _gateway(fake_cohere, extra="drop_unsupported = true") as gw:
        reply = await gw.chat(model="m", messages=MESSAGES, **params)
    assert reply["choices"][0]["message"]
    assert param not in fake_cohere.requests[-1]["body"]


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "function", "name": "f", "content": "x"}], "messages[0].role"),
        ([{"role": "tool", "content": "x"}], "messages[0].tool_call_id"),
        (
            [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}],
            "messages[0].content[0].type",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}],
            "messages[0].content[0].image_url.url",
        ),
    ],
)
async def test_untranslatable_messages_are_400(fake_cohere, messages, param):
    async with _gateway(fake_cohere) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=messages)
    assert raised.value.status == 400 and raised.value.param == param


async def test_stream_text(fake_cohere):
    async with _gateway(fake_cohere) as gw:
        chunks = [
            c
            async for c in await gw.chat(
                model="m",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
                reasoning_effort="medium",
            )
        ]
    assert fake_cohere.requests[-1]["body"]["stream"] is True
    assert fake_cohere.streams[-1].startswith(b"event: message-start\ndata: {")
    first = chunks[0]
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len({c["id"] for c in chunks}) == 1
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == THOUGHT
    assert "".join(d.get("content") or "" for d in deltas) == REPLY
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == [] and usage["prompt_tokens"] == 2
    assert usage["completion_tokens"] == 5


async def test_stream_tool_calls_with_streamed_arguments(fake_cohere):
    async with _gateway(fake_cohere) as gw:
        chunks = [
            c
            async for c in await gw.chat(
                model="m", messages=MESSAGES, stream=True, tools=[WEATHER, CLOCK]
            )
        ]
    calls: dict[int, dict] = {}
    fragments = 0
    for chunk in chunks:
        for call in chunk["choices"][0]["delta"].get("tool_calls", ()):
            entry = calls.setdefault(call["index"], {"name": "", "arguments": "", "id": None})
            entry["id"] = call.get("id") or entry["id"]
            entry["name"] += call["function"].get("name") or ""
            entry["arguments"] += call["function"].get("arguments") or ""
            fragments += 1
    assert calls[0]["name"] == "weather" and calls[0]["arguments"] == '{"city":"Paris"}'
    assert calls[1]["name"] == "clock" and calls[1]["arguments"] == "{}"
    assert fragments > 4  # arguments arrived in pieces
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks)
    assert reasoning == "I will call weather and clock."


async def test_stream_error_finish_raises(fake_cohere):
    async with _gateway(fake_cohere, model="broken") as gw:
        with pytest.raises(GatewayError) as raised:
            async for _chunk in await gw.chat(model="m", messages=MESSAGES, stream=True):
                pass
        assert raised.value.status == 502 and "internal server error" in raised.value.message
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
        assert raised.value.status == 502 and raised.value.code == "upstream_error"


@pytest.mark.parametrize(
    ("model", "status", "code"),
    [
        ("overflow", 400, "context_length_exceeded"),
        ("blocked", 400, "content_policy_violation"),
        ("error-401", 401, "upstream_auth_failed"),
        ("error-422", 422, None),
        ("error-429", 429, None),
        ("error-500", 502, "upstream_error"),
        ("error-499", 499, "upstream_cancelled"),
    ],
)
async def test_errors(fake_cohere, model, status, code):
    async with _gateway(fake_cohere, model=model) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
    error = raised.value
    assert (error.status, error.code) == (status, code)
    assert fake_cohere.API_KEY not in error.message
    if model == "overflow":
        assert error.message.startswith("too many tokens")
    if status == 429:
        assert error.headers == {"retry-after": "1"}


async def test_embeddings(fake_cohere):
    async with _gateway(fake_cohere, model="embed-v4.0") as gw:
        floats = await gw.embeddings(model="m", input=["a", "bb"], encoding_format="float")
        packed = await gw.embeddings(model="m", input="a", encoding_format="base64", dimensions=256)
    sent = fake_cohere.requests[-2]
    assert sent["path"] == "/v2/embed"
    assert sent["body"] == {
        "model": "embed-v4.0",
        "texts": ["a", "bb"],
        "input_type": "search_document",
        "embedding_types": ["float"],
    }
    assert fake_cohere.requests[-1]["body"]["output_dimension"] == 256
    assert floats["object"] == "list" and floats["model"] == "embed-v4.0"
    assert [d["index"] for d in floats["data"]] == [0, 1]
    assert len(floats["data"][0]["embedding"]) == 8
    assert floats["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    vector = struct.unpack("<256f", base64.b64decode(packed["data"][0]["embedding"]))
    assert vector[:3] == pytest.approx([1 / 7, 2 / 7, 3 / 7])


async def test_embedding_options_and_refusals(fake_cohere):
    extra = 'input_type = "search_query"\ntruncate = "START"'
    async with _gateway(fake_cohere, model="embed-v4.0", extra=extra) as gw:
        await gw.embeddings(model="m", input="q")
        with pytest.raises(GatewayError) as raised:
            await gw.embeddings(model="m", input=[1, 2, 3])
        assert raised.value.param == "input"
        with pytest.raises(GatewayError) as raised:
            await gw.embeddings(model="m", input="q", user="u1")
        assert raised.value.param == "user"
    body = fake_cohere.requests[-1]["body"]
    assert body["input_type"] == "search_query" and body["truncate"] == "START"


def _rerank_request(**extra):
    return {
        "model": "m",
        "query": "capital of france",
        "documents": ["Berlin is in Germany", {"text": "Paris is the capital of France"}, "x"],
        "top_n": 2,
        **extra,
    }


async def test_rerank_translation(fake_cohere):
    """The adapter's rerank on its own, documents given as strings and as {text} objects."""
    async with _gateway(fake_cohere, model="rerank-v3.5") as gw:
        deployment = gw.deployments["m"][0]
        call = make_call(_rerank_request(return_documents=True), endpoint="rerank")
        reply = await CohereProvider().provider_call(call=call, deployment=deployment)
    assert fake_cohere.requests[-1]["path"] == "/v2/rerank"
    assert fake_cohere.requests[-1]["body"] == {
        "model": "rerank-v3.5",
        "query": "capital of france",
        "documents": ["Berlin is in Germany", "Paris is the capital of France", "x"],
        "top_n": 2,
    }
    body = reply.data
    assert body["object"] == "list" and body["model"] == "rerank-v3.5"
    assert [r["index"] for r in body["results"]] == [1, 0]
    assert body["results"][0]["document"] == {"text": "Paris is the capital of France"}
    assert 0 < body["results"][1]["relevance_score"] < body["results"][0]["relevance_score"]
    assert body["usage"]["search_units"] == 1


async def test_rerank_through_the_pipeline(fake_cohere):
    async with _gateway(fake_cohere, model="rerank-v3.5") as gw:
        run = await gw.run(gw.new_call("rerank", _rerank_request()))
        await run.finish()
    assert run.reply is not None
    assert [r["index"] for r in run.reply.data["results"]] == [1, 0]
    assert "document" not in run.reply.data["results"][0]


async def test_completions_are_not_served(fake_cohere):
    async with _gateway(fake_cohere) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.completions(model="m", prompt="x")
    assert raised.value.status == 400 and raised.value.code == "unsupported_endpoint"

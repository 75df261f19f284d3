"""The gemini adapter against a fake Gemini API: what goes out (path, query, headers, body)
and how Google's answers, streams and errors come back in OpenAI's shapes."""

from __future__ import annotations

import base64
import struct

import httpx
import orjson
import pytest

from litegate import ConfigError, Gateway, GatewayError
from litegate.plugins.providers.gemini import GeminiProvider
from litegate.plugins.providers.gemini.response import chat_completion
from litegate.plugins.providers.gemini.schema import to_gemini_schema
from litegate.testing.fake_gemini import REPLY, SIGNATURE, THOUGHT, FakeGemini

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": ["string", "null"], "enum": ["c", "f"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}},
            "required": ["zone"],
        },
    },
}


@pytest.fixture(scope="module")
def fake():
    with FakeGemini() as fake:
        yield fake


def _toml(fake: FakeGemini, model: str = "gemini-2.5-flash", extra: str = "") -> str:
    return f"""
[[models]]
name = "g"
provider = "gemini"
model = "{model}"
api_base = "{fake.url}"
api_key = "{fake.api_key}"
{extra}
"""


def _gateway(fake: FakeGemini, model: str = "gemini-2.5-flash", extra: str = "") -> Gateway:
    return Gateway.from_toml(_toml(fake, model, extra), {}, providers={"gemini": GeminiProvider})


async def _chat(fake: FakeGemini, model: str = "gemini-2.5-flash", **params):
    async with _gateway(fake, model) as gw:
        return await gw.chat(model="g", **params)


async def _stream(fake: FakeGemini, model: str = "gemini-2.5-flash", **params):
    async with _gateway(fake, model) as gw:
        chunks = await gw.chat(
            model="g", stream=True, stream_options={"include_usage": True}, **params
        )
        return [chunk async for chunk in chunks]


def _hi(text: str = "hi") -> list[dict]:
    return [{"role": "user", "content": text}]


async def test_request_path_headers_body_and_answer(fake):
    reply = await _chat(
        fake,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": [{"type": "text", "text": "How are you?"}]},
        ],
        temperature=0.5,
        top_p=0.9,
        max_completion_tokens=100,
        stop="END",
        seed=7,
        presence_penalty=0.1,
        user="end-user-1",
    )
    sent = fake.requests[-1]
    assert sent["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent["query"] == {}
    assert sent["headers"]["x-goog-api-key"] == fake.api_key
    assert "Authorization" not in sent["headers"]
    assert sent["body"] == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hello there"}]},
            {"role": "model", "parts": [{"text": "Hi!"}]},
            {"role": "user", "parts": [{"text": "How are you?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "temperature": 0.5,
            "topP": 0.9,
            "seed": 7,
            "presencePenalty": 0.1,
            "maxOutputTokens": 100,
            "stopSequences": ["END"],
        },
    }
    assert reply["id"].startswith("chatcmpl-fakeResp")
    assert reply["object"] == "chat.completion"
    assert reply["model"] == "gemini-2.5-flash"
    choice = reply["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": REPLY, "refusal": None}
    assert choice["finish_reason"] == "stop"
    assert reply["usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 5,
        "total_tokens": 13,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


async def test_stream_path_query_and_chunks(fake):
    chunks = await _stream(fake, messages=_hi())
    sent = fake.requests[-1]
    assert sent["path"] == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert sent["query"] == {"alt": "sse"}
    assert "key" not in sent["query"]
    *deltas, usage = chunks
    assert deltas[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in deltas) == REPLY
    assert deltas[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-fakeResp")
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 6


async def test_tools_schema_choice_and_calls(fake):
    reply = await _chat(
        fake, messages=_hi("Weather in Paris?"), tools=[WEATHER, TIME], tool_choice="auto"
    )
    sent = fake.requests[-1]["body"]
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "The weather in a city.",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {
                            "city": {"type": "STRING", "description": "City name"},
                            "unit": {"type": "STRING", "enum": ["c", "f"], "nullable": True},
                        },
                        "required": ["city", "unit"],
                    },
                },
                {
                    "name": "get_time",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"zone": {"type": "STRING"}},
                        "required": ["zone"],
                    },
                },
            ]
        }
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"city-1","unit":"c"}'}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_time"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_time"]},
        ),
    ],
)
async def test_tool_choice(fake, choice, config):
    reply = await _chat(fake, messages=_hi(), tools=[WEATHER, TIME], tool_choice=choice)
    assert fake.requests[-1]["body"]["toolConfig"] == {"functionCallingConfig": config}
    calls = reply["choices"][0]["message"].get("tool_calls")
    if choice == "none":
        assert calls is None
    elif isinstance(choice, dict):
        assert calls[0]["function"]["name"] == "get_time"


async def test_tool_results_go_back_by_name(fake):
    messages = [
        {"role": "user", "content": "Weather and time?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "gem-id-1",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": '{"zone": "CET"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": "gem-id-1", "content": "12:00"},
    ]
    reply = await _chat(fake, messages=messages, tools=[WEATHER, TIME])
    contents = fake.requests[-1]["body"]["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                "thoughtSignature": "skip_thought_signature_validator",
            },
            {"functionCall": {"name": "get_time", "args": {"zone": "CET"}, "id": "gem-id-1"}},
        ],
    }
    # Parallel results travel together, in one user turn.
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
            {
                "functionResponse": {
                    "name": "get_time",
                    "response": {"output": "12:00"},
                    "id": "gem-id-1",
                }
            },
        ],
    }
    assert reply["choices"][0]["message"]["content"] == (
        'The tools said: get_weather={"temp": 21}, get_time={"output": "12:00"}'
    )


async def test_unknown_tool_call_id_is_400(fake):
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, messages=[*_hi(), {"role": "tool", "tool_call_id": "x", "content": "1"}])
    assert raised.value.status == 400
    assert "gemini" in raised.value.message and raised.value.param == "messages[1].tool_call_id"


async def test_parallel_calls_whole_and_streamed(fake):
    reply = await _chat(fake, "gemini-parallel", messages=_hi(), tools=[WEATHER, TIME])
    calls = reply["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert len({c["id"] for c in calls}) == 2
    chunks = await _stream(fake, "gemini-parallel", messages=_hi(), tools=[WEATHER, TIME])
    deltas = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
    ]
    # Each call arrives whole: one chunk with its id, name and all of its arguments.
    assert [(d["index"], d["function"]["name"]) for d in deltas] == [
        (0, "get_weather"),
        (1, "get_time"),
    ]
    assert deltas[1]["function"]["arguments"] == '{"zone":"zone-1"}'
    assert all(d["id"].startswith("call_") for d in deltas)
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_call_ids_are_stable():
    # Gemini gives calls no ids: they derive from the response id and the call's position.
    body = {
        "candidates": [
            {
                "content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]},
                "finishReason": "STOP",
            }
        ],
        "responseId": "abc",
    }
    one = chat_completion(body, model="m", provider="gemini", deployment="g#0")
    two = chat_completion(body, model="m", provider="gemini", deployment="g#0")
    assert (
        one["choices"][0]["message"]["tool_calls"][0]["id"]
        == two["choices"][0]["message"]["tool_calls"][0]["id"]
    )


async def test_images_and_audio(fake):
    reply = await _chat(
        fake,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/cat.webp?x=1", "detail": "low"},
                    },
                    {"type": "input_audio", "input_audio": {"data": PNG, "format": "wav"}},
                ],
            }
        ],
    )
    parts = fake.requests[-1]["body"]["contents"][0]["parts"]
    assert parts == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?x=1"}},
        {"inlineData": {"mimeType": "audio/wav", "data": PNG}},
    ]
    assert reply["choices"][0]["message"]["content"].startswith(
        "I see 3 image(s): image/png (24 bytes)"
    )


async def test_json_schema_and_json_object(fake):
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
            "score": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        },
        "required": ["name", "tags", "score"],
        "additionalProperties": False,
        "$defs": {
            "Tag": {
                "type": "object",
                "properties": {"label": {"type": "string"}},
                "required": ["label"],
                "additionalProperties": False,
            }
        },
    }
    reply = await _chat(
        fake,
        messages=_hi(),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "card", "schema": schema, "strict": True},
        },
    )
    config = fake.requests[-1]["body"]["generationConfig"]
    assert config == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {
                "name": {"type": "STRING"},
                "tags": {
                    "type": "ARRAY",
                    "items": {
                        "type": "OBJECT",
                        "properties": {"label": {"type": "STRING"}},
                        "required": ["label"],
                    },
                },
                "score": {"type": "INTEGER", "nullable": True},
            },
            "required": ["name", "tags", "score"],
            "propertyOrdering": ["name", "tags", "score"],
        },
    }
    assert orjson.loads(reply["choices"][0]["message"]["content"]) == {
        "name": "name-1",
        "tags": [{"label": "label-1"}],
        "score": 3,
    }
    await _chat(fake, messages=_hi(), response_format={"type": "json_object"})
    assert fake.requests[-1]["body"]["generationConfig"] == {"responseMimeType": "application/json"}


def test_schema_conversion_edges():
    def convert(schema):
        return to_gemini_schema(schema, where="x", provider="gemini")

    assert convert({"type": ["integer", "string"]}) == {
        "anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]
    }
    assert convert({"const": "a", "$schema": "x", "examples": [1]}) == {
        "enum": ["a"],
        "type": "STRING",
    }
    assert convert({"type": "integer", "enum": [1, 2], "format": "int64"}) == {
        "type": "INTEGER",
        "format": "int64",
    }
    assert convert({"type": "string", "format": "uri"}) == {"type": "STRING"}
    assert convert({"allOf": [{"properties": {"a": {"type": "string"}}}, {"required": ["a"]}]}) == {
        "type": "OBJECT",
        "properties": {"a": {"type": "STRING"}},
        "required": ["a"],
    }
    with pytest.raises(GatewayError) as raised:
        convert(
            {
                "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
                "$ref": "#/$defs/N",
            }
        )
    assert raised.value.status == 400 and "recursive" in raised.value.message


async def test_reasoning_both_ways(fake):
    reply = await _chat(fake, messages=_hi(), reasoning_effort="low")
    assert fake.requests[-1]["body"]["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}
    }
    message = reply["choices"][0]["message"]
    assert message["reasoning_content"] == THOUGHT
    assert message["content"] == REPLY
    assert message["extra_content"] == {"google": {"thought_signature": SIGNATURE}}
    assert reply["usage"]["completion_tokens_details"] == {"reasoning_tokens": 7}
    assert reply["usage"]["completion_tokens"] == 5 + 7
    chunks = await _stream(fake, messages=_hi(), reasoning_effort="high")
    reasoning = "".join(
        c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c["choices"]
    )
    assert reasoning == THOUGHT
    signed = [c for c in chunks if c["choices"] and "extra_content" in c["choices"][0]["delta"]]
    assert (
        signed[0]["choices"][0]["delta"]["extra_content"]["google"]["thought_signature"]
        == SIGNATURE
    )
    await _chat(fake, messages=_hi(), reasoning_effort="none")
    assert fake.requests[-1]["body"]["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 0}
    }


async def test_thought_signatures_go_back(fake):
    reply = await _chat(fake, messages=_hi(), tools=[WEATHER], reasoning_effort="medium")
    message = reply["choices"][0]["message"]
    assert message["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": SIGNATURE}}
    history = [
        *_hi(),
        {k: v for k, v in message.items() if k != "refusal"},
        {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "sunny"},
    ]
    await _chat(fake, messages=history, tools=[WEATHER])
    model_turn = fake.requests[-1]["body"]["contents"][1]
    assert model_turn["parts"][0]["thoughtSignature"] == SIGNATURE
    assert "id" not in model_turn["parts"][0]["functionCall"]  # our own ids are not Gemini's
    assert all("thought" not in part for part in model_turn["parts"])  # reasoning is not sent back


async def test_candidates_from_n(fake):
    reply = await _chat(fake, messages=_hi(), n=2)
    assert fake.requests[-1]["body"]["generationConfig"] == {"candidateCount": 2}
    assert [c["index"] for c in reply["choices"]] == [0, 1]
    assert reply["choices"][1]["message"]["content"] == REPLY + " (candidate 1)"
    chunks = await _stream(fake, messages=_hi(), n=2)
    second = "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in chunks
        if c["choices"] and c["choices"][0]["index"] == 1
    )
    assert second == REPLY + " (candidate 1)"


@pytest.mark.parametrize(
    ("model", "finish"), [("truncated", "length"), ("unsafe", "content_filter")]
)
async def test_finish_reasons(fake, model, finish):
    reply = await _chat(fake, model, messages=_hi())
    assert reply["choices"][0]["finish_reason"] == finish
    chunks = await _stream(fake, model, messages=_hi())
    assert chunks[-2]["choices"][0]["finish_reason"] == finish


async def test_blocked_prompt_is_content_filter(fake):
    reply = await _chat(fake, "blocked", messages=_hi())
    assert reply["choices"][0]["finish_reason"] == "content_filter"
    assert reply["choices"][0]["message"]["content"] is None
    chunks = await _stream(fake, "blocked", messages=_hi())
    assert chunks[0]["choices"][0]["finish_reason"] == "content_filter"


async def test_malformed_function_call_is_an_error(fake):
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, "malformed", messages=_hi(), tools=[WEATHER])
    assert raised.value.status == 502 and raised.value.code == "malformed_function_call"


@pytest.mark.parametrize(
    ("model", "status", "code"),
    [
        ("error-400", 400, "INVALID_ARGUMENT"),
        ("error-404", 404, "NOT_FOUND"),
        ("error-403", 403, "upstream_auth_failed"),
        ("error-429", 429, "RESOURCE_EXHAUSTED"),
        ("error-500", 502, "upstream_error"),
        ("error-503", 502, "upstream_error"),
        ("error-504", 504, "upstream_timeout"),
        ("too-long", 400, "context_length_exceeded"),
    ],
)
async def test_errors(fake, model, status, code):
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, model, messages=_hi())
    error = raised.value
    assert (error.status, error.code) == (status, code)
    assert fake.api_key not in error.message
    if model == "error-429":
        assert error.headers["retry-after"] == "7" and error.type == "rate_limit_error"
    if model == "error-400":
        assert error.message == "Scripted upstream error 400."


async def test_wrong_key_is_upstream_auth_failure(fake):
    toml = _toml(fake).replace(fake.api_key, "AIza-wrong-key-123456")
    async with Gateway.from_toml(toml, {}, providers={"gemini": GeminiProvider}) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="g", messages=_hi())
    assert raised.value.status == 401 and raised.value.code == "upstream_auth_failed"
    assert "AIza-wrong" not in raised.value.message


async def test_key_from_environment_and_missing_key():
    toml = '[[models]]\nname = "g"\nprovider = "gemini"\nmodel = "m"\n'
    gw = Gateway.from_toml(toml, {"GEMINI_API_KEY": "k-env"}, providers={"gemini": GeminiProvider})
    assert gw.deployments["g"][0].api_key.reveal() == "k-env"
    assert gw.deployments["g"][0].client.base_url == "https://generativelanguage.googleapis.com"
    await gw.aclose()
    with pytest.raises(ConfigError) as raised:
        Gateway.from_toml(toml, {}, providers={"gemini": GeminiProvider})
    assert "GEMINI_API_KEY" in str(raised.value)


async def test_mid_stream_errors(fake):
    with pytest.raises(GatewayError) as raised:
        await _stream(fake, "stream-error", messages=_hi())
    assert raised.value.status == 502 and "overloaded" in raised.value.message
    with pytest.raises(GatewayError) as raised:
        await _stream(fake, "no-finish", messages=_hi())
    assert "before it finished" in raised.value.message


async def test_unsupported_params(fake):
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, messages=_hi(), logit_bias={"1": 2})
    assert raised.value.status == 400 and raised.value.param == "logit_bias"
    assert "'gemini'" in raised.value.message
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, messages=_hi(), parallel_tool_calls=False, tools=[WEATHER])
    assert raised.value.param == "parallel_tool_calls"
    async with _gateway(fake, extra="drop_unsupported = true") as gw:
        await gw.chat(model="g", messages=_hi(), logit_bias={"1": 2}, parallel_tool_calls=False)
    assert "logit_bias" not in str(fake.requests[-1]["body"])


async def test_embeddings(fake):
    async with _gateway(fake, "text-embedding-004") as gw:
        floats = await gw.embeddings(model="g", input=["a", "bb"], dimensions=4)
        packed = await gw.embeddings(model="g", input="a", encoding_format="base64")
    sent = fake.requests[-1]
    assert sent["path"] == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert sent["body"] == {
        "requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}}]
    }
    assert fake.requests[-2]["body"]["requests"][1] == {
        "model": "models/text-embedding-004",
        "content": {"parts": [{"text": "bb"}]},
        "outputDimensionality": 4,
    }
    assert [len(item["embedding"]) for item in floats["data"]] == [4, 4]
    assert floats["object"] == "list" and floats["data"][1]["index"] == 1
    values = struct.unpack("<8f", base64.b64decode(packed["data"][0]["embedding"]))
    assert values == pytest.approx([((1 + i) % 7) / 7.0 for i in range(8)])
    with pytest.raises(GatewayError) as raised:
        async with _gateway(fake, "text-embedding-004") as gw:
            await gw.embeddings(model="g", input=[[1, 2, 3]])
    assert raised.value.status == 400 and "text" in raised.value.message


def test_fake_speaks_googles_wire_format(fake):
    # What the adapter is tested against: Google's bytes, and Google's strictness.
    url = f"{fake.url}/v1beta/models/gemini-2.5-flash"
    headers = {"x-goog-api-key": fake.api_key}
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    with httpx.Client() as http:
        stream = http.post(url + ":streamGenerateContent?alt=sse", json=body, headers=headers)
        whole = http.post(url + ":generateContent", json=body, headers=headers)
        unknown = http.post(
            url + ":generateContent", json={**body, "stream": True}, headers=headers
        )
        in_url = http.post(url + f":generateContent?key={fake.api_key}", json=body)
    assert stream.headers["content-type"] == "text/event-stream"
    assert stream.content.startswith(
        b'data: {"candidates": [{"content": {"parts": [{"text": "Hello"}],"role": "model"},'
        b'"index": 0}],"usageMetadata": {"promptTokenCount": 1,'
    )
    events = stream.content.split(b"\r\n\r\n")
    assert (
        events[-1] == b""
        and len(events) == 7  # five words, then the finish
        and all(e.startswith(b"data: {") for e in events[:-1])
    )
    assert b'"finishReason": "STOP"' in events[-2]
    assert whole.headers["content-type"] == "application/json; charset=UTF-8"
    assert whole.text.startswith('{\n  "candidates": [\n    {\n      "content": {')
    assert unknown.status_code == 400
    assert unknown.json()["error"] == {
        "code": 400,
        "message": 'Invalid JSON payload received. Unknown name "stream": Cannot find field.',
        "status": "INVALID_ARGUMENT",
    }
    assert in_url.status_code == 400


async def test_cached_tokens(fake):
    reply = await _chat(fake, "gemini-cached", messages=_hi("one two three four"))
    assert reply["usage"]["prompt_tokens"] == 4
    assert reply["usage"]["prompt_tokens_details"] == {"cached_tokens": 2}

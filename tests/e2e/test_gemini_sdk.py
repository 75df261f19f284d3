"""The official OpenAI SDK against a gateway served over real HTTP, in front of a fake Gemini
API and a fake Vertex AI (real HTTP servers too): chat, streams, tools, vision, structured
output, reasoning and embeddings, all in OpenAI's shapes."""

from __future__ import annotations

import base64
import json

import openai
import pydantic
import pytest

from litegate import Gateway
from litegate.plugins.providers.gemini import GeminiProvider
from litegate.plugins.providers.vertex import VertexProvider
from litegate.testing import GatewayServer
from litegate.testing.fake_gemini import REPLY, THOUGHT, FakeGemini
from litegate.testing.sdk import assemble_stream

KEY = "sk-test-master-0123456789"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture(scope="module")
def fake():
    with FakeGemini() as fake:
        yield fake


@pytest.fixture(scope="module")
def key_file(fake, tmp_path_factory):
    path = tmp_path_factory.mktemp("vertex") / "sa.json"
    path.write_text(json.dumps(fake.service_account_info()))  # an RSA key: made once
    return path


@pytest.fixture(scope="module")
def client(fake, key_file):
    # One gateway for the module: the tests only read what they sent.
    gateway = Gateway.from_toml(
        f"""
[[pipeline]]
plugin = "auth"
master_key = "{KEY}"

[[models]]
name = "gemini"
provider = "gemini"
model = "gemini-2.5-flash"
api_base = "{fake.url}"
api_key = "${{GEMINI_API_KEY}}"

[[models]]
name = "gemini-embed"
provider = "gemini"
model = "gemini-embedding-001"
api_base = "{fake.url}"
api_key = "${{GEMINI_API_KEY}}"

[[models]]
name = "vertex"
provider = "vertex"
model = "gemini-2.5-pro"
api_base = "{fake.url}"
project = "test-project"
location = "europe-west4"
credentials = "{key_file}"
""",
        env={"GEMINI_API_KEY": fake.api_key},
        providers={"gemini": GeminiProvider, "vertex": VertexProvider},
    )
    with (
        GatewayServer(gateway) as server,
        openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client,
    ):
        yield client


def test_chat(client, fake):
    reply = client.chat.completions.create(
        model="gemini",
        messages=[{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}],
    )
    assert reply.choices[0].message.content == REPLY
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens == 3 and reply.usage.completion_tokens == 5
    assert fake.requests[-1]["headers"]["x-goog-api-key"] == fake.api_key


def test_stream_with_usage(client):
    stream = client.chat.completions.create(
        model="gemini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    streamed = assemble_stream(stream)
    text, usage, finish = streamed.text, streamed.usage, streamed.finish_reason
    assert text == REPLY and finish == "stop"
    assert usage is not None and usage.total_tokens == 6


def test_tools_with_arguments(client):
    reply = client.chat.completions.create(
        model="gemini",
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[WEATHER],
        tool_choice="required",
    )
    call = reply.choices[0].message.tool_calls[0]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"city": "city-1", "days": 3}
    follow_up = client.chat.completions.create(
        model="gemini",
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            reply.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 20C"},
        ],
        tools=[WEATHER],
    )
    assert follow_up.choices[0].message.content == (
        'The tools said: get_weather={"output": "Sunny, 20C"}'
    )


def test_streamed_tool_calls_assemble(client):
    with client.chat.completions.stream(
        model="gemini", messages=[{"role": "user", "content": "Weather?"}], tools=[WEATHER]
    ) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"city": "city-1", "days": 3}
    assert final.choices[0].finish_reason == "tool_calls"


def test_vision_data_url(client, fake):
    reply = client.chat.completions.create(
        model="gemini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What's this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    )
    assert reply.choices[0].message.content == "I see 1 image(s): image/png (24 bytes)"
    part = fake.requests[-1]["body"]["contents"][0]["parts"][1]
    assert part == {"inlineData": {"mimeType": "image/png", "data": PNG}}


class Step(pydantic.BaseModel):
    explanation: str
    output: str


class Solution(pydantic.BaseModel):
    steps: list[Step]
    final_answer: str


def test_json_schema_structured_output(client, fake):
    completion = client.chat.completions.parse(
        model="gemini",
        messages=[{"role": "user", "content": "Solve 8x + 7 = -23"}],
        response_format=Solution,
    )
    parsed = completion.choices[0].message.parsed
    assert parsed == Solution(
        steps=[Step(explanation="explanation-1", output="output-1")], final_answer="final_answer-1"
    )
    schema = fake.requests[-1]["body"]["generationConfig"]["responseSchema"]
    assert schema["propertyOrdering"] == ["steps", "final_answer"]
    assert schema["properties"]["steps"]["items"]["required"] == ["explanation", "output"]


def test_reasoning(client, fake):
    reply = client.chat.completions.create(
        model="gemini", messages=[{"role": "user", "content": "think"}], reasoning_effort="high"
    )
    message = reply.choices[0].message
    assert message.content == REPLY
    assert message.model_extra["reasoning_content"] == THOUGHT
    assert reply.usage.completion_tokens_details.reasoning_tokens == 7
    config = fake.requests[-1]["body"]["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 24576, "includeThoughts": True}
    stream = client.chat.completions.create(
        model="gemini",
        messages=[{"role": "user", "content": "think"}],
        reasoning_effort="low",
        stream=True,
    )
    reasoning = "".join(
        (chunk.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for chunk in stream
        if chunk.choices
    )
    assert reasoning == THOUGHT


def test_embeddings(client, fake):
    floats = client.embeddings.create(
        model="gemini-embed", input=["a", "bb"], encoding_format="float", dimensions=5
    )
    assert [len(item.embedding) for item in floats.data] == [5, 5]
    assert fake.requests[-1]["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    decoded = client.embeddings.create(model="gemini-embed", input="a", dimensions=5)
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding)


def test_unsupported_params_are_400s(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="gemini", messages=[{"role": "user", "content": "x"}], logit_bias={"1": 1}
        )
    assert raised.value.param == "logit_bias" and "gemini" in raised.value.message


def test_vertex_round_trip_fetches_one_token(client, fake):
    before = len(fake.token_requests)
    messages = [{"role": "user", "content": "hi"}]
    reply = client.chat.completions.create(model="vertex", messages=messages)
    stream = client.chat.completions.create(model="vertex", messages=messages, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    again = client.chat.completions.create(model="vertex", messages=messages)
    assert reply.choices[0].message.content == again.choices[0].message.content == text == REPLY
    assert len(fake.token_requests) == before + 1
    paths = [r["path"] for r in fake.requests[-3:]]
    prefix = "/v1/projects/test-project/locations/europe-west4/publishers/google/models/"
    assert paths == [
        prefix + "gemini-2.5-pro:generateContent",
        prefix + "gemini-2.5-pro:streamGenerateContent",
        prefix + "gemini-2.5-pro:generateContent",
    ]
    assert fake.requests[-2]["query"] == {"alt": "sse"}
    assert all(r["headers"]["Authorization"].startswith("Bearer ya29.") for r in fake.requests[-3:])

"""The official OpenAI SDK against a gateway served over real HTTP, in front of a fake Azure
OpenAI resource, a fake Cohere v2 API and the fake OpenAI upstream standing in for a preset:
chat, streams, tools with streamed arguments, vision, JSON schema, reasoning and embeddings."""

from __future__ import annotations

import base64
import json

import httpx
import openai
import pytest

from litegate.plugins.providers.azure import AzureOpenAIProvider
from litegate.plugins.providers.cohere import CohereProvider
from litegate.plugins.providers.presets import Groq
from litegate.testing.fake_azure import FakeAzure
from litegate.testing.fake_cohere import THOUGHT, FakeCohere
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
        },
    },
}
CHAT_MODELS = ["azure", "azure-entra", "cohere"]


@pytest.fixture(scope="module")
def azure():
    with FakeAzure() as fake:
        yield fake


@pytest.fixture(scope="module")
def cohere():
    with FakeCohere() as fake:
        yield fake


@pytest.fixture
def server(serve_gateway, azure, cohere, fake_openai):
    return serve_gateway(
        f"""
[[pipeline]]
plugin = "auth"
master_key = "{KEY}"

[[models]]
name = "azure"
provider = "azure"
model = "gpt-4o-prod"
api_base = "{azure.base_url}"
api_key = "${{AZURE_OPENAI_API_KEY}}"

[[models]]
name = "azure-entra"
provider = "azure"
model = "gpt-4o-prod"
api_base = "{azure.base_url}"
tenant_id = "{azure.TENANT}"
client_id = "{azure.CLIENT_ID}"
client_secret = "{azure.CLIENT_SECRET}"
authority = "{azure.authority}"

[[models]]
name = "azure-embed"
provider = "azure"
model = "embed-prod"
api_base = "{azure.base_url}"
api_key = "${{AZURE_OPENAI_API_KEY}}"

[[models]]
name = "azure-filtered"
provider = "azure"
model = "filtered"
api_base = "{azure.base_url}"
api_key = "${{AZURE_OPENAI_API_KEY}}"

[[models]]
name = "cohere"
provider = "cohere"
model = "command-a-vision"
api_base = "{cohere.base_url}"

[[models]]
name = "cohere-embed"
provider = "cohere"
model = "embed-v4.0"
api_base = "{cohere.base_url}"

[[models]]
name = "cohere-rerank"
provider = "cohere"
model = "rerank-v3.5"
api_base = "{cohere.base_url}"

[[models]]
name = "cohere-overflow"
provider = "cohere"
model = "overflow"
api_base = "{cohere.base_url}"

[[models]]
name = "groq"
provider = "groq"
model = "llama-3.3-70b-versatile"
api_base = "{fake_openai.base_url}"
""",
        env={
            "AZURE_OPENAI_API_KEY": azure.API_KEY,
            "CO_API_KEY": cohere.API_KEY,
            "GROQ_API_KEY": "gsk-upstream-0123456789",
        },
        providers={"azure": AzureOpenAIProvider, "cohere": CohereProvider, "groq": Groq},
    )


@pytest.fixture
def client(server):
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
        yield client


@pytest.mark.parametrize("model", [*CHAT_MODELS, "groq"])
def test_chat(client, model):
    reply = client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
        ],
    )
    assert reply.choices[0].message.content.startswith("Hello from")
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.total_tokens > 0


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_stream_with_usage(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    streamed = assemble_stream(stream)
    text, usage, finish = streamed.text, streamed.usage, streamed.finish_reason
    assert text.startswith("Hello from") and finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_tools_with_streamed_arguments_and_a_tool_result(client, model):
    messages = [{"role": "user", "content": "Weather in Paris for 2 days?"}]
    stream = client.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER], stream=True
    )
    calls: dict[int, dict] = {}
    pieces = 0
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        finish = chunk.choices[0].finish_reason or finish
        for call in chunk.choices[0].delta.tool_calls or ():
            entry = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
            entry["id"] = call.id or entry["id"]
            entry["name"] += call.function.name or ""
            entry["arguments"] += call.function.arguments or ""
            pieces += 1
    assert finish == "tool_calls" and pieces > 2
    call = calls[0]
    assert call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Paris", "days": 1}
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21C"},
    ]
    reply = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    assert reply.choices[0].message.content == "The tool said: sunny, 21C"


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_vision(client, model):
    reply = client.chat.completions.create(
        model=model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}},
                ],
            }
        ],
    )
    assert reply.choices[0].message.content == "I see 2 image(s)."


@pytest.mark.parametrize("model", CHAT_MODELS)
def test_json_schema(client, model):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Biggest city in France?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    assert json.loads(reply.choices[0].message.content) == {"city": "Paris", "population": 1}


def test_cohere_reasoning(client):
    reply = client.chat.completions.create(
        model="cohere", messages=[{"role": "user", "content": "hi"}], reasoning_effort="low"
    )
    assert reply.choices[0].message.model_extra["reasoning_content"] == THOUGHT


@pytest.mark.parametrize("model", ["azure-embed", "cohere-embed"])
def test_embeddings(client, model):
    floats = client.embeddings.create(model=model, input=["a", "bb"], encoding_format="float")
    assert len(floats.data) == 2 and len(floats.data[0].embedding) == 8
    # The SDK's default asks for base64 and decodes it.
    decoded = client.embeddings.create(model=model, input="a")
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding)
    assert decoded.usage.prompt_tokens == 1


def test_cohere_rerank_over_http(server):
    body = {
        "model": "cohere-rerank",
        "query": "red fox",
        "documents": ["a blue whale", {"text": "the red fox"}],
        "top_n": 1,
        "return_documents": True,
    }
    with httpx.Client(headers={"authorization": f"Bearer {KEY}"}) as http:
        result = http.post(server.base_url + "/rerank", json=body).json()
    assert result["object"] == "list" and result["model"] == "rerank-v3.5"
    assert [r["index"] for r in result["results"]] == [1]
    assert result["results"][0]["document"] == {"text": "the red fox"}


@pytest.mark.parametrize(
    ("model", "code"),
    [
        ("azure-filtered", "content_policy_violation"),
        ("cohere-overflow", "context_length_exceeded"),
    ],
)
def test_recognised_errors(client, model, code):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == code


def test_unsupported_param_is_a_bad_request_naming_it(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="cohere", messages=[{"role": "user", "content": "x"}], logit_bias={"1": 1}
        )
    assert raised.value.param == "logit_bias" and "'cohere'" in raised.value.message

"""The official OpenAI SDK against a gateway served over real HTTP, in front of the fake
Bedrock Runtime (which checks every SigV4 signature and request shape)."""

from __future__ import annotations

import base64
import json

import openai
import pytest

from litegate.plugins.providers.bedrock import BedrockProvider
from litegate.testing.fake_bedrock import REASONING, REPLY, SIGNATURE, FakeBedrock
from litegate.testing.sdk import assemble_stream

KEY = "sk-test-master-0123456789"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(40)).decode()
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["C", "F"]}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def fake():
    with FakeBedrock("us-west-2") as server:
        yield server


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch, tmp_path, fake):
    """Credentials in the environment (the AWS chain's first stop), nothing else ambient."""
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", fake.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", fake.secret_key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _serve(serve_gateway, fake: FakeBedrock, model: str, credentials: str = "", env=None):
    server = serve_gateway(
        f"""
[[pipeline]]
plugin = "auth"
master_key = "{KEY}"

[[models]]
name = "m"
provider = "bedrock"
model = "{model}"
api_base = "{fake.base_url}"
region = "{fake.region}"
{credentials}
""",
        env=env,
        providers={"bedrock": BedrockProvider},
    )
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)


@pytest.fixture(scope="module")
def claude_id():
    return "us.anthropic.claude-sonnet-4-20250514-v1:0"


@pytest.fixture
def client(serve_gateway, fake, claude_id):
    with _serve(serve_gateway, fake, claude_id) as client:
        yield client


def test_chat_with_credentials_from_the_environment(client, fake):
    reply = client.chat.completions.create(
        model="m",
        messages=[{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}],
        max_tokens=50,
    )
    assert reply.choices[0].message.content == REPLY
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.completion_tokens == 5
    assert fake.requests[-1]["body"]["system"] == [{"text": "Be kind."}]


def test_chat_with_credentials_from_config(serve_gateway, fake, monkeypatch, claude_id):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = (
        'aws_access_key_id = "${BEDROCK_KEY_ID}"\naws_secret_access_key = "${BEDROCK_SECRET}"'
    )
    env = {"BEDROCK_KEY_ID": fake.access_key, "BEDROCK_SECRET": fake.secret_key}
    with _serve(serve_gateway, fake, claude_id, credentials, env) as client:
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.choices[0].message.content == REPLY
    assert fake.requests[-1]["headers"]["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={fake.access_key}/"
    )


def test_stream_with_usage(client):
    stream = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    streamed = assemble_stream(stream)
    text, usage, finish = streamed.text, streamed.usage, streamed.finish_reason
    assert text == REPLY and finish == "stop"
    assert usage is not None and usage.prompt_tokens == 1 and usage.completion_tokens == 5


def test_stream_helper_with_streamed_tool_arguments(client):
    with client.chat.completions.stream(
        model="m",
        messages=[{"role": "user", "content": "What does get_weather say for Oslo?"}],
        tools=[WEATHER],
    ) as stream:
        argument_events = [e for e in stream if e.type == "tool_calls.function.arguments.delta"]
        final = stream.get_final_completion()
    assert len(argument_events) >= 3  # the arguments came in pieces
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "sample", "unit": "C"}
    assert final.choices[0].finish_reason == "tool_calls"
    # The tool's result goes back and the model answers with it.
    reply = client.chat.completions.create(
        model="m",
        messages=[
            {"role": "user", "content": "What does get_weather say for Oslo?"},
            final.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "cold"},
        ],
        tools=[WEATHER],
    )
    assert reply.choices[0].message.content == "Tool results: cold"


def test_vision_data_url(client, fake):
    reply = client.chat.completions.create(
        model="m",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    )
    assert reply.choices[0].message.content.endswith("I see 1 image(s): png 48 bytes.")
    image = fake.requests[-1]["body"]["messages"][0]["content"][1]["image"]
    assert image == {"format": "png", "source": {"bytes": PNG}}


def test_an_image_url_on_the_metadata_service_is_a_bad_request(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="m",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": "http://169.254.169.254/latest/meta-data/"},
                        }
                    ],
                }
            ],
        )
    assert raised.value.code == "url_not_allowed"


def test_json_schema(client):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "rain": {"type": "boolean"}},
        "required": ["city", "rain"],
        "additionalProperties": False,
    }
    reply = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "Report"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "report", "schema": schema, "strict": True},
        },
    )
    assert json.loads(reply.choices[0].message.content) == {"city": "sample", "rain": True}
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.tool_calls is None


def test_reasoning_round_trip(client, fake):
    reply = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], reasoning_effort="low"
    )
    message = reply.choices[0].message.model_dump(exclude_none=True)
    assert message["reasoning_content"] == REASONING
    assert message["thinking_blocks"][0]["signature"] == SIGNATURE
    client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "hi"}, message, {"role": "user", "content": "more"}],
        reasoning_effort="low",
    )
    sent = fake.requests[-1]["body"]["messages"][1]["content"][0]
    assert sent == {
        "reasoningContent": {"reasoningText": {"text": REASONING, "signature": SIGNATURE}}
    }


def test_embeddings_float_and_base64(serve_gateway, fake):
    with _serve(serve_gateway, fake, "amazon.titan-embed-text-v2:0") as client:
        floats = client.embeddings.create(
            model="m", input=["hello world", "bye"], dimensions=512, encoding_format="float"
        )
        decoded = client.embeddings.create(model="m", input="hello world", dimensions=512)
    assert [len(item.embedding) for item in floats.data] == [512, 512]
    assert floats.usage.prompt_tokens == 3
    # The SDK asks for base64 by default and decodes it.
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)


def test_throttling_is_a_rate_limit_error(serve_gateway, fake):
    client = _serve(serve_gateway, fake, "error-ThrottlingException")
    with client, pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert raised.value.response.headers["retry-after"] == "1"
    assert fake.secret_key not in raised.value.response.text


def test_context_overflow_is_recognised(serve_gateway, fake):
    client = _serve(serve_gateway, fake, "error-context")
    with client, pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == "context_length_exceeded"


def test_exception_inside_a_stream(serve_gateway, fake):
    with _serve(serve_gateway, fake, "stream-error-throttlingException") as client:
        stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        )
        with pytest.raises(openai.APIError) as raised:
            for _chunk in stream:
                pass
    assert "Scripted throttlingException" in raised.value.message

"""The bedrock adapter against a fake Bedrock Runtime that checks SigV4 signatures, request
shapes (botocore's service model) and Converse's conversation rules, and streams real binary
event-stream frames."""

from __future__ import annotations

import base64
import datetime
import struct
from urllib.parse import quote

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from litegate import ConfigError, Gateway, GatewayError
from litegate.plugins.providers.bedrock import BedrockProvider
from litegate.plugins.providers.bedrock._auth import Signer
from litegate.testing.fake_bedrock import REASONING, REPLY, SIGNATURE, FakeBedrock

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PROFILE_ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
    "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(20)).decode()
PROVIDERS = {"bedrock": BedrockProvider}
USER = [{"role": "user", "content": "hi"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


@pytest.fixture(scope="module")
def fake():
    with FakeBedrock() as server:
        yield server


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch, tmp_path):
    """No AWS credentials, config files or instance metadata from the machine running tests."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_BEARER_TOKEN_BEDROCK",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _toml(fake: FakeBedrock, model: str = CLAUDE, *, keys: bool = True, extra: str = "") -> str:
    credentials = (
        f'aws_access_key_id = "{fake.access_key}"\naws_secret_access_key = "{fake.secret_key}"\n'
        if keys
        else ""
    )
    return f"""
[[models]]
name = "m"
provider = "bedrock"
model = "{model}"
api_base = "{fake.base_url}"
region = "{fake.region}"
{credentials}{extra}
"""


def _gateway(fake: FakeBedrock, model: str = CLAUDE, **kwargs) -> Gateway:
    env = kwargs.pop("env", {})
    return Gateway.from_toml(_toml(fake, model, **kwargs), env, providers=PROVIDERS)


async def _chat(fake: FakeBedrock, model: str = CLAUDE, gateway_options=None, **request):
    async with _gateway(fake, model, **(gateway_options or {})) as gw:
        return await gw.chat(model="m", **request)


async def _stream(fake: FakeBedrock, model: str = CLAUDE, gateway_options=None, **request):
    async with _gateway(fake, model, **(gateway_options or {})) as gw:
        return [chunk async for chunk in await gw.chat(model="m", stream=True, **request)]


# -- request translation ---------------------------------------------------------------------


async def test_request_translation(fake):
    await _chat(
        fake,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
            {"role": "user", "content": "Weather in Paris and Rome?"},
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
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {
                "role": "tool",
                "tool_call_id": "call_2",
                "content": [{"type": "text", "text": "24C"}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "And this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            },
        ],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        temperature=0.2,
        top_p=0.9,
        max_tokens=300,
        stop="STOP",
        user="user-42",
    )
    sent = fake.requests[-1]
    assert sent["path"] == "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse"
    assert sent["body"] == {
        "system": [{"text": "Be brief."}, {"text": "Use metric units."}],
        "messages": [
            {"role": "user", "content": [{"text": "Weather in Paris and Rome?"}]},
            {
                "role": "assistant",
                "content": [
                    {
                        "toolUse": {
                            "toolUseId": "call_1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        }
                    },
                    {
                        "toolUse": {
                            "toolUseId": "call_2",
                            "name": "get_weather",
                            "input": {"city": "Rome"},
                        }
                    },
                ],
            },
            {
                "role": "user",  # both results and the next question: one user turn
                "content": [
                    {"toolResult": {"toolUseId": "call_1", "content": [{"text": "18C"}]}},
                    {"toolResult": {"toolUseId": "call_2", "content": [{"text": "24C"}]}},
                    {"text": "And this?"},
                    {"image": {"format": "png", "source": {"bytes": PNG}}},
                ],
            },
        ],
        "inferenceConfig": {
            "maxTokens": 300,
            "temperature": 0.2,
            "topP": 0.9,
            "stopSequences": ["STOP"],
        },
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_weather",
                        "description": "Weather for a city.",
                        "inputSchema": {"json": WEATHER_TOOL["function"]["parameters"]},
                    }
                }
            ],
            "toolChoice": {"auto": {}},
        },
        "requestMetadata": {"user": "user-42"},
    }
    headers = sent["headers"]
    assert headers["Content-Type"] == "application/json"
    assert (
        headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={fake.access_key}/")
        and "/us-east-1/bedrock/aws4_request" in headers["Authorization"]
    )
    assert "X-Amz-Date" in headers


async def test_arn_model_id_is_encoded_and_signed_as_sent(fake):
    reply = await _chat(fake, PROFILE_ARN, messages=USER)
    assert reply["choices"][0]["message"]["content"] == REPLY
    sent = fake.requests[-1]
    assert sent["model"] == PROFILE_ARN
    assert sent["path"] == f"/model/{quote(PROFILE_ARN, safe=':')}/converse"
    assert "%2F" in sent["path"]


def test_signer_matches_stock_botocore(monkeypatch):
    """The fast signer produces what botocore's SigV4Auth over an AWSRequest produces."""
    fixed = datetime.datetime(2026, 11, 28, 12, 30, 5)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: fixed)
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok")
    url = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/a:b%2Fc/converse-stream"
    body = b'{"messages": [{"role": "user", "content": [{"text": "h\xc3\xa9"}]}]}'
    ours = Signer("eu-west-1", "https://bedrock-runtime.eu-west-1.amazonaws.com").sign(
        credentials.get_frozen_credentials(), url, body, "application/vnd.amazon.eventstream"
    )
    stock = AWSRequest(
        "POST",
        url,
        data=body,
        headers={
            "content-type": "application/json",
            "accept": "application/vnd.amazon.eventstream",
        },
    )
    SigV4Auth(credentials, "bedrock", "eu-west-1").add_auth(stock)
    assert ours == dict(stock.headers.items())
    assert "Signature=" in ours["Authorization"] and ours["X-Amz-Security-Token"] == "tok"


async def test_wrong_secret_is_refused_by_the_signature_check(fake):
    toml = _toml(fake, keys=False) + (
        f'aws_access_key_id = "{fake.access_key}"\naws_secret_access_key = "not-the-secret-key"\n'
    )
    async with Gateway.from_toml(toml, {}, providers=PROVIDERS) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=USER)
    assert raised.value.status == 403
    assert raised.value.code == "upstream_auth_failed"
    assert "not-the-secret-key" not in raised.value.message


async def test_session_token_from_config_via_env():
    with FakeBedrock("eu-central-1", session_token="FwoGZXIvYXdzEFAKEtoken") as fake:
        toml = _toml(fake, keys=False) + (
            'aws_access_key_id = "${KEY_ID}"\naws_secret_access_key = "${SECRET}"\n'
            'aws_session_token = "${TOKEN}"\n'
        )
        env = {
            "KEY_ID": fake.access_key,
            "SECRET": fake.secret_key,
            "TOKEN": "FwoGZXIvYXdzEFAKEtoken",
        }
        async with Gateway.from_toml(toml, env, providers=PROVIDERS) as gw:
            reply = await gw.chat(model="m", messages=USER)
            assert "FwoGZ" not in repr(gw.deployments["m"][0].options)
        assert reply["choices"][0]["message"]["content"] == REPLY
        sent = fake.requests[-1]["headers"]
        assert sent["X-Amz-Security-Token"] == "FwoGZXIvYXdzEFAKEtoken"
        assert "/eu-central-1/bedrock/" in sent["Authorization"]


async def test_credentials_from_the_environment(fake, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", fake.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", fake.secret_key)
    reply = await _chat(fake, gateway_options={"keys": False}, messages=USER)
    assert reply["choices"][0]["message"]["content"] == REPLY


async def test_no_credentials_is_a_clear_error(fake):
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, gateway_options={"keys": False}, messages=USER)
    assert raised.value.status == 500
    assert raised.value.code == "upstream_credentials_missing"
    assert "aws_access_key_id" in raised.value.message


async def test_bedrock_api_key_is_sent_as_bearer(fake):
    reply = await _chat(
        fake,
        gateway_options={"keys": False, "extra": f'api_key = "{fake.api_key}"\n'},
        messages=USER,
    )
    assert reply["choices"][0]["message"]["content"] == REPLY
    assert fake.requests[-1]["headers"]["Authorization"] == f"Bearer {fake.api_key}"


async def test_keys_on_the_model_win_over_an_api_key(fake):
    extra = 'api_key = "some-other-bedrock-key"\n'
    async with _gateway(fake, extra=extra) as gw:
        await gw.chat(model="m", messages=USER)
        adapter = gw.pm.get_plugin("provider:bedrock")
        assert fake.secret_key not in repr(adapter._targets) + repr(gw.deployments)
    assert fake.requests[-1]["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256 ")


async def test_default_endpoint_comes_from_the_region():
    toml = f"""
[[models]]
name = "m"
provider = "bedrock"
model = "{CLAUDE}"
region = "eu-west-3"
aws_access_key_id = "AKIAEXAMPLE"
aws_secret_access_key = "secret"
"""
    async with Gateway.from_toml(toml, {}, providers=PROVIDERS) as gw:
        deployment = gw.deployments["m"][0]
        assert deployment.api_base == "https://bedrock-runtime.eu-west-3.amazonaws.com"
        assert deployment.client is not None
        assert deployment.client.base_url == deployment.api_base


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("", "models[0].region: required key is missing"),
        ('region = "Paris"', 'models[0].region: expected an AWS region like "us-east-1"'),
        (
            'region = "us-east-1"\naws_access_key_id = "AKIA"',
            "models[0]: aws_access_key_id and aws_secret_access_key go together",
        ),
        ('region = "us-east-1"\nstructured_output = "magic"', "models[0].structured_output"),
    ],
)
def test_config_errors_name_the_path(extra, problem):
    toml = f'[[models]]\nname = "m"\nprovider = "bedrock"\nmodel = "{CLAUDE}"\n{extra}\n'
    with pytest.raises(ConfigError) as raised:
        Gateway.from_toml(toml, {}, providers=PROVIDERS)
    assert problem in str(raised.value)


def _image_message(url: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]


async def test_remote_image_urls_are_refused_when_fetching_is_off(fake):
    sent = len(fake.requests)
    with pytest.raises(GatewayError) as raised:
        await _chat(
            fake,
            messages=_image_message("https://x.test/a.png"),
            gateway_options={"extra": "fetch_images = false"},
        )
    assert raised.value.status == 400
    assert "'bedrock'" in raised.value.message and "data URL" in raised.value.message
    assert raised.value.param == "messages[0].content[0].image_url.url"
    assert len(fake.requests) == sent


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/iam/", "http://10.0.0.8/a.png", "file:///etc/x"],
)
async def test_remote_images_on_private_addresses_are_never_fetched(fake, url):
    sent = len(fake.requests)
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, messages=_image_message(url))
    assert raised.value.status == 400
    assert raised.value.code in (
        "url_not_allowed",
        "invalid_value",
    )  # file: isn't even a URL we fetch
    assert len(fake.requests) == sent


async def test_remote_images_are_fetched_through_the_guard_and_sent_inline(fake):
    from aiohttp import web

    image = base64.b64decode(PNG)

    async def serve(_request):
        return web.Response(body=image, content_type="image/png")

    app = web.Application()
    app.add_routes([web.get("/cat.png", serve)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        reply = await _chat(
            fake,
            messages=_image_message(f"http://127.0.0.1:{port}/cat.png"),
            gateway_options={"extra": 'image_fetch_allow_networks = ["127.0.0.1/32"]'},
        )
    finally:
        await runner.cleanup()
    assert reply["choices"][0]["message"]["content"].endswith("I see 1 image(s): png 28 bytes.")
    sent = fake.requests[-1]["body"]["messages"][0]["content"][0]["image"]
    assert sent == {"format": "png", "source": {"bytes": PNG}}


async def test_unsupported_params_are_refused_or_dropped(fake):
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, messages=USER, seed=7)
    assert raised.value.status == 400 and raised.value.param == "seed"
    assert "'bedrock'" in raised.value.message
    reply = await _chat(
        fake,
        gateway_options={"extra": "drop_unsupported = true\n"},
        messages=USER,
        seed=7,
        presence_penalty=0.5,
    )
    assert reply["choices"][0]["message"]["content"] == REPLY
    assert "seed" not in str(fake.requests[-1]["body"])


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "get_time"}}, {"tool": {"name": "get_time"}}),
        (None, None),
    ],
)
async def test_tool_choice(fake, tool_choice, expected):
    extra = {"tool_choice": tool_choice} if tool_choice else {}
    await _chat(fake, messages=USER, tools=[WEATHER_TOOL, TIME_TOOL], **extra)
    config = fake.requests[-1]["body"]["toolConfig"]
    assert config.get("toolChoice") == expected
    assert [tool["toolSpec"]["name"] for tool in config["tools"]] == ["get_weather", "get_time"]


async def test_tool_choice_none_with_tool_history_keeps_the_tools_unforced(fake):
    reply = await _chat(
        fake,
        messages=[
            {"role": "user", "content": "get_weather for Oslo"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "cold"},
        ],
        tools=[WEATHER_TOOL],
        tool_choice="none",
    )
    config = fake.requests[-1]["body"]["toolConfig"]
    assert "toolChoice" not in config and config["tools"][0]["toolSpec"]["name"] == "get_weather"
    assert reply["choices"][0]["message"]["content"] == "Tool results: cold"


async def test_bad_tool_arguments_and_parallel_calls_off(fake):
    with pytest.raises(GatewayError) as raised:
        await _chat(
            fake,
            messages=[
                *USER,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "[1]"},
                        }
                    ],
                },
            ],
        )
    assert raised.value.param == "messages[1].tool_calls[0].function.arguments"
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, messages=USER, tools=[WEATHER_TOOL], parallel_tool_calls=False)
    assert raised.value.param == "parallel_tool_calls"


async def test_empty_turns_are_left_out_and_neighbours_merged(fake):
    await _chat(
        fake,
        messages=[
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "two"},
        ],
    )
    assert fake.requests[-1]["body"]["messages"] == [
        {"role": "user", "content": [{"text": "one"}, {"text": "two"}]}
    ]


async def test_tool_choice_none_sends_no_tools(fake):
    reply = await _chat(fake, messages=USER, tools=[WEATHER_TOOL], tool_choice="none")
    assert "toolConfig" not in fake.requests[-1]["body"]
    assert reply["choices"][0]["finish_reason"] == "stop"


# -- answers ---------------------------------------------------------------------------------


async def test_parallel_tool_calls_and_tool_results(fake):
    reply = await _chat(
        fake,
        messages=[{"role": "user", "content": "Use get_weather and get_time please"}],
        tools=[WEATHER_TOOL, TIME_TOOL],
    )
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert calls[0]["function"]["arguments"] == '{"city":"sample","days":42}'
    assert calls[0]["id"].startswith("tooluse_") and calls[0]["type"] == "function"
    assert choice["message"]["content"] is None
    follow_up = await _chat(
        fake,
        messages=[
            {"role": "user", "content": "Use get_weather and get_time please"},
            choice["message"],
            {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
            {"role": "tool", "tool_call_id": calls[1]["id"], "content": "noon"},
        ],
        tools=[WEATHER_TOOL, TIME_TOOL],
    )
    assert follow_up["choices"][0]["message"]["content"] == "Tool results: sunny; noon"


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("tool_use", "stop"),  # no tool was called: nothing for the client to run
    ],
)
async def test_stop_reasons(fake, stop_reason, finish_reason):
    reply = await _chat(fake, f"stop-{stop_reason}", messages=USER)
    assert reply["choices"][0]["finish_reason"] == finish_reason


async def test_max_tokens_and_stop_sequences_cut_the_answer(fake):
    reply = await _chat(fake, messages=USER, max_completion_tokens=2)
    assert reply["choices"][0]["message"]["content"] == "Hello from"
    assert reply["choices"][0]["finish_reason"] == "length"
    assert fake.requests[-1]["body"]["inferenceConfig"] == {"maxTokens": 2}
    reply = await _chat(fake, messages=USER, stop=["fake", "zzz"])
    assert reply["choices"][0]["message"]["content"] == "Hello from the "
    assert fake.requests[-1]["body"]["inferenceConfig"] == {"stopSequences": ["fake", "zzz"]}


async def test_usage_counts_cached_tokens_in_the_prompt(fake):
    reply = await _chat(fake, "cached", messages=[{"role": "user", "content": "one two three"}])
    assert reply["usage"] == {
        "prompt_tokens": 3 + 10 + 3,
        "completion_tokens": 5,
        "total_tokens": 21,
        "prompt_tokens_details": {"cached_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


async def test_vision_data_url(fake):
    reply = await _chat(
        fake,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    )
    assert reply["choices"][0]["message"]["content"].endswith("I see 1 image(s): png 28 bytes.")


JSON_SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "city_report",
        "schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "score": {"type": "number"}},
            "required": ["city", "score"],
        },
    },
}


async def test_json_schema_as_a_forced_tool(fake):
    reply = await _chat(fake, messages=USER, response_format=JSON_SCHEMA)
    config = fake.requests[-1]["body"]["toolConfig"]
    assert config["toolChoice"] == {"tool": {"name": "city_report"}}
    assert config["tools"][0]["toolSpec"]["inputSchema"] == {
        "json": JSON_SCHEMA["json_schema"]["schema"]
    }
    message = reply["choices"][0]["message"]
    assert message["content"] == '{"city":"sample","score":1.5}'
    assert "tool_calls" not in message
    assert reply["choices"][0]["finish_reason"] == "stop"


async def test_json_schema_with_client_tools_lets_the_model_pick(fake):
    await _chat(fake, messages=USER, response_format=JSON_SCHEMA, tools=[TIME_TOOL])
    config = fake.requests[-1]["body"]["toolConfig"]
    assert config["toolChoice"] == {"any": {}}
    assert [tool["toolSpec"]["name"] for tool in config["tools"]] == ["get_time", "city_report"]


async def test_json_object_and_native_structured_output(fake):
    reply = await _chat(fake, messages=USER, response_format={"type": "json_object"})
    assert fake.requests[-1]["body"]["toolConfig"]["toolChoice"] == {
        "tool": {"name": "json_response"}
    }
    assert reply["choices"][0]["message"]["content"] == "{}"
    reply = await _chat(
        fake,
        gateway_options={"extra": 'structured_output = "native"\n'},
        messages=USER,
        response_format=JSON_SCHEMA,
    )
    body = fake.requests[-1]["body"]
    assert "toolConfig" not in body
    assert body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["name"] == "city_report"
    assert reply["choices"][0]["message"]["content"] == '{"city":"sample","score":1.5}'


async def test_reasoning_effort_becomes_a_thinking_budget_and_comes_back_signed(fake):
    reply = await _chat(fake, messages=USER, reasoning_effort="medium")
    body = fake.requests[-1]["body"]
    assert body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 8192}
    }
    assert body["inferenceConfig"] == {"maxTokens": 8192 + 4096}
    message = reply["choices"][0]["message"]
    assert message["reasoning_content"] == REASONING
    assert message["thinking_blocks"] == [
        {"type": "thinking", "thinking": REASONING, "signature": SIGNATURE}
    ]
    # The next turn carries the signed thinking back, ahead of the text.
    await _chat(
        fake,
        messages=[*USER, message, {"role": "user", "content": "again"}],
        reasoning_effort="medium",
    )
    assistant = fake.requests[-1]["body"]["messages"][1]
    assert assistant["content"] == [
        {"reasoningContent": {"reasoningText": {"text": REASONING, "signature": SIGNATURE}}},
        {"text": REPLY},
    ]


async def test_reasoning_needs_room_and_a_reasoning_model(fake):
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, messages=USER, reasoning_effort="high", max_tokens=1000)
    assert raised.value.param == "max_tokens"
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, "amazon.nova-pro-v1:0", messages=USER, reasoning_effort="high")
    assert raised.value.param == "reasoning_effort" and "'bedrock'" in raised.value.message
    await _chat(fake, "openai.gpt-oss-120b-1:0", messages=USER, reasoning_effort="high")
    assert fake.requests[-1]["body"]["additionalModelRequestFields"] == {"reasoning_effort": "high"}


async def test_json_schema_while_thinking_is_not_forced(fake):
    reply = await _chat(fake, messages=USER, response_format=JSON_SCHEMA, reasoning_effort="low")
    assert "toolChoice" not in fake.requests[-1]["body"]["toolConfig"]
    assert reply["choices"][0]["message"]["reasoning_content"] == REASONING


# -- streams ---------------------------------------------------------------------------------


async def test_stream_text_and_usage(fake):
    chunks = await _stream(fake, messages=USER, stream_options={"include_usage": True})
    assert fake.requests[-1]["path"].endswith("/converse-stream")
    assert fake.requests[-1]["headers"]["Accept"] == "application/vnd.amazon.eventstream"
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas) == REPLY
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")


async def test_stream_tool_calls_with_streamed_arguments(fake):
    chunks = await _stream(
        fake,
        messages=[{"role": "user", "content": "call get_weather and get_time"}],
        tools=[WEATHER_TOOL, TIME_TOOL],
    )
    calls: dict[int, dict] = {}
    fragments = 0
    for chunk in chunks:
        for call in (chunk["choices"] or [{}])[0].get("delta", {}).get("tool_calls", ()):
            entry = calls.setdefault(call["index"], {"id": None, "name": None, "arguments": ""})
            if call.get("id"):
                entry["id"], entry["name"] = call["id"], call["function"]["name"]
            entry["arguments"] += call["function"]["arguments"]
            fragments += 1
    assert [calls[0]["name"], calls[1]["name"]] == ["get_weather", "get_time"]
    assert calls[0]["arguments"] == '{"city":"sample","days":42}'
    assert calls[1]["arguments"] == "{}"
    assert fragments >= 5  # the arguments arrived in pieces
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_stream_reasoning_and_signature(fake):
    chunks = await _stream(fake, messages=USER, reasoning_effort="low")
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == REASONING
    signed = [d["thinking_blocks"] for d in deltas if "thinking_blocks" in d]
    assert signed == [[{"type": "thinking", "thinking": REASONING, "signature": SIGNATURE}]]
    assert "".join(d.get("content") or "" for d in deltas) == REPLY


async def test_stream_json_schema_streams_content(fake):
    chunks = await _stream(fake, messages=USER, response_format=JSON_SCHEMA)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == '{"city":"sample","score":1.5}'
    assert not any("tool_calls" in d for d in deltas)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "status", "code"),
    [
        ("error-ThrottlingException", 429, "ThrottlingException"),
        ("error-ModelNotReadyException", 429, "ModelNotReadyException"),
        ("error-AccessDeniedException", 403, "upstream_auth_failed"),
        ("error-ResourceNotFoundException", 404, "ResourceNotFoundException"),
        ("error-ValidationException", 400, "ValidationException"),
        ("error-ServiceUnavailableException", 502, "upstream_error"),
        ("error-InternalServerException", 502, "upstream_error"),
        ("error-ModelErrorException", 502, "upstream_error"),
        ("error-ModelTimeoutException", 504, "upstream_timeout"),
        ("error-context", 400, "context_length_exceeded"),
        ("error-context-tokens", 400, "context_length_exceeded"),
    ],
)
async def test_http_errors(fake, model, status, code):
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, model, messages=USER)
    assert (raised.value.status, raised.value.code) == (status, code)
    if status == 429:
        assert raised.value.headers == {"retry-after": "1"}
    if status in (400, 404, 429):
        assert "Scripted" in raised.value.message or "too" in raised.value.message.lower()


async def test_converse_validation_errors_come_back_as_400(fake):
    with pytest.raises(GatewayError) as raised:
        await _chat(fake, messages=[{"role": "assistant", "content": "I start"}])
    assert raised.value.status == 400
    assert "must start with a user message" in raised.value.message


@pytest.mark.parametrize(
    ("model", "status", "code", "words"),
    [
        ("stream-error-throttlingException", 429, "ThrottlingException", "Scripted"),
        ("stream-error-validationException", 400, "context_length_exceeded", "too long"),
        ("stream-error-modelStreamErrorException", 502, "upstream_error", "The model crashed"),
        ("stream-error-serviceUnavailableException", 502, "upstream_error", "Scripted"),
        ("truncated", 502, "upstream_error", "ended the stream"),
        ("corrupt", 502, "upstream_error", "malformed event stream"),
    ],
)
async def test_errors_inside_a_stream(fake, model, status, code, words):
    received = []
    async with _gateway(fake, model) as gw:
        with pytest.raises(GatewayError) as raised:
            async for chunk in await gw.chat(model="m", stream=True, messages=USER):
                received.append(chunk)
    assert received  # the stream had begun
    assert (raised.value.status, raised.value.code) == (status, code)
    assert words in raised.value.message


async def test_other_endpoints_are_refused(fake):
    async with _gateway(fake) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.completions(model="m", prompt="hi")
    assert raised.value.code == "unsupported_endpoint"


# -- embeddings ------------------------------------------------------------------------------


async def test_titan_v2_embeddings_one_call_per_input(fake):
    start = len(fake.requests)
    async with _gateway(fake, "amazon.titan-embed-text-v2:0") as gw:
        floats = await gw.embeddings(model="m", input=["one", "two words"], dimensions=256)
        packed = await gw.embeddings(
            model="m", input="one", dimensions=256, encoding_format="base64"
        )
    sent = fake.requests[start:]
    assert [r["path"] for r in sent] == ["/model/amazon.titan-embed-text-v2:0/invoke"] * 3
    assert sorted(r["body"]["inputText"] for r in sent[:2]) == ["one", "two words"]
    assert sent[0]["body"] == {
        "inputText": sent[0]["body"]["inputText"],
        "dimensions": 256,
        "normalize": True,
    }
    assert floats["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert [d["index"] for d in floats["data"]] == [0, 1]
    vector = floats["data"][0]["embedding"]
    assert len(vector) == 256
    decoded = struct.unpack("<256f", base64.b64decode(packed["data"][0]["embedding"]))
    assert decoded == pytest.approx(vector, rel=1e-6)


async def test_cohere_embeddings_in_one_call(fake):
    async with _gateway(
        fake, "cohere.embed-english-v3", extra='embedding_input_type = "search_query"\n'
    ) as gw:
        reply = await gw.embeddings(model="m", input=["a b", "c"])
    assert fake.requests[-1]["body"] == {"texts": ["a b", "c"], "input_type": "search_query"}
    assert len(reply["data"]) == 2 and len(reply["data"][1]["embedding"]) == 1024
    assert reply["usage"]["prompt_tokens"] == 3


async def test_embedding_inputs_and_models_that_cannot_work(fake):
    async with _gateway(fake, "amazon.titan-embed-text-v1") as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.embeddings(model="m", input="x", dimensions=256)
        assert raised.value.param == "dimensions"
        with pytest.raises(GatewayError) as raised:
            await gw.embeddings(model="m", input=[[1, 2, 3]])
        assert raised.value.param == "input"
    async with _gateway(fake, CLAUDE) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.embeddings(model="m", input="x")
        assert raised.value.code == "unsupported_model"


async def test_embedding_errors(fake):
    async with _gateway(fake, "amazon.titan-embed-text-v2:error-ThrottlingException") as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.embeddings(model="m", input=["x", "y"])
    assert raised.value.status == 429

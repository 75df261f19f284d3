"""The azure adapter against a fake Azure OpenAI resource and Entra ID token endpoint:
deployment paths, api-version, api-key vs bearer tokens, token caching, content filters."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from litegate import ConfigError, Gateway, GatewayError
from litegate.plugins.providers.azure import DEFAULT_API_VERSION, AzureOpenAIProvider
from litegate.testing.fake_azure import FakeAzure

MESSAGES = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def fake_azure():
    with FakeAzure() as fake:
        yield fake


def _toml(fake: FakeAzure, deployment: str = "my-gpt", auth: str = "key", extra: str = "") -> str:
    credentials = {
        "key": f'api_key = "{fake.API_KEY}"',
        "static": f'azure_ad_token = "{fake.STATIC_TOKEN}"',
        "entra": (
            f'tenant_id = "{fake.TENANT}"\nclient_id = "{fake.CLIENT_ID}"\n'
            f'client_secret = "{fake.CLIENT_SECRET}"\nauthority = "{fake.authority}"'
        ),
        "none": "",
    }[auth]
    return f"""
[[models]]
name = "m"
provider = "azure"
model = "{deployment}"
api_base = "{fake.base_url}"
{credentials}
{extra}
"""


def _gateway(fake: FakeAzure, **kwargs) -> Gateway:
    return Gateway.from_toml(_toml(fake, **kwargs), {}, providers={"azure": AzureOpenAIProvider})


async def test_api_key_request(fake_azure):
    async with _gateway(fake_azure) as gw:
        reply = await gw.chat(model="m", messages=MESSAGES, seed=3)
    assert reply["choices"][0]["message"]["content"] == "Hello from Azure."
    sent = fake_azure.requests[-1]
    assert sent["path"] == "/openai/deployments/my-gpt/chat/completions"
    assert sent["query"] == {"api-version": DEFAULT_API_VERSION}
    assert sent["headers"]["api-key"] == fake_azure.API_KEY
    assert "Authorization" not in sent["headers"]
    assert sent["body"] == {"model": "my-gpt", "messages": MESSAGES, "seed": 3}


async def test_api_version_option_and_other_endpoints(fake_azure):
    async with _gateway(fake_azure, extra='api_version = "2025-04-01-preview"') as gw:
        embedded = await gw.embeddings(model="m", input=["a", "bb"], dimensions=4)
        completed = await gw.completions(model="m", prompt="say hi")
    assert len(embedded["data"]) == 2 and len(embedded["data"][0]["embedding"]) == 4
    assert completed["choices"][0]["text"] == "Hello from Azure."
    paths = [(r["path"], r["query"]["api-version"]) for r in fake_azure.requests[-2:]]
    assert paths == [
        ("/openai/deployments/my-gpt/embeddings", "2025-04-01-preview"),
        ("/openai/deployments/my-gpt/completions", "2025-04-01-preview"),
    ]


async def test_static_entra_token(fake_azure):
    async with _gateway(fake_azure, auth="static") as gw:
        await gw.chat(model="m", messages=MESSAGES)
    headers = fake_azure.requests[-1]["headers"]
    assert headers["Authorization"] == f"Bearer {fake_azure.STATIC_TOKEN}"
    assert "api-key" not in headers


async def test_entra_client_credentials_token_is_cached(fake_azure):
    before = len(fake_azure.token_requests)
    async with _gateway(fake_azure, auth="entra") as gw:
        await gw.chat(model="m", messages=MESSAGES)
        await gw.chat(model="m", messages=MESSAGES)
    assert len(fake_azure.token_requests) == before + 1
    form = fake_azure.token_requests[-1]
    assert form == {
        "grant_type": "client_credentials",
        "client_id": fake_azure.CLIENT_ID,
        "client_secret": fake_azure.CLIENT_SECRET,
        "scope": "https://cognitiveservices.azure.com/.default",
    }
    first, second = (r["headers"]["Authorization"] for r in fake_azure.requests[-2:])
    assert first == second and first.removeprefix("Bearer ") in fake_azure.issued
    assert "api-key" not in fake_azure.requests[-1]["headers"]


async def test_concurrent_callers_share_one_token_fetch(fake_azure):
    fake_azure.token_delay = 0.2
    before = len(fake_azure.token_requests)
    try:
        async with _gateway(fake_azure, auth="entra") as gw:
            await asyncio.gather(*(gw.chat(model="m", messages=MESSAGES) for _ in range(8)))
    finally:
        fake_azure.token_delay = 0.0
    assert len(fake_azure.token_requests) == before + 1


async def test_token_is_refreshed_when_it_expires(fake_azure):
    fake_azure.token_lifetime = 0
    before = len(fake_azure.token_requests)
    try:
        async with _gateway(fake_azure, auth="entra") as gw:
            await gw.chat(model="m", messages=MESSAGES)
            await gw.chat(model="m", messages=MESSAGES)
    finally:
        fake_azure.token_lifetime = 3599
    assert len(fake_azure.token_requests) == before + 2


async def test_revoked_token_is_forgotten_after_a_401(fake_azure):
    async with _gateway(fake_azure, auth="entra") as gw:
        await gw.chat(model="m", messages=MESSAGES)
        fake_azure.issued.clear()  # the resource no longer honours it
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
        assert raised.value.status == 401 and raised.value.code == "upstream_auth_failed"
        reply = await gw.chat(model="m", messages=MESSAGES)  # fetched a new one
    assert reply["choices"][0]["message"]["content"] == "Hello from Azure."


async def test_refused_client_secret(fake_azure):
    toml = _toml(fake_azure, auth="entra").replace(fake_azure.CLIENT_SECRET, "wrong-secret-0000")
    gw = Gateway.from_toml(toml, {}, providers={"azure": AzureOpenAIProvider})
    async with gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
    assert raised.value.status == 401 and raised.value.code == "upstream_auth_failed"
    assert "invalid_client" in raised.value.message
    assert "wrong-secret" not in raised.value.message


async def test_wrong_api_key_is_upstream_auth_failed(fake_azure):
    toml = _toml(fake_azure).replace(fake_azure.API_KEY, "azure-wrong-key-0000")
    gw = Gateway.from_toml(toml, {}, providers={"azure": AzureOpenAIProvider})
    async with gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
    assert raised.value.status == 401 and "azure-wrong-key" not in raised.value.message


async def test_prompt_content_filter_is_content_policy_violation(fake_azure):
    async with _gateway(fake_azure, deployment="filtered") as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
    assert raised.value.status == 400 and raised.value.code == "content_policy_violation"
    assert "content management policy" in raised.value.message
    assert raised.value.param == "prompt"


async def test_filtered_answer_is_content_policy_violation(fake_azure):
    async with _gateway(fake_azure, deployment="filtered-output") as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
    assert raised.value.status == 400 and raised.value.code == "content_policy_violation"
    assert "violence" in raised.value.message


@pytest.mark.parametrize(
    ("deployment", "status", "code"),
    [
        ("overflow", 400, "context_length_exceeded"),
        ("missing", 404, "DeploymentNotFound"),
        ("throttled", 429, "429"),
    ],
)
async def test_upstream_errors(fake_azure, deployment, status, code):
    async with _gateway(fake_azure, deployment=deployment) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
    assert (raised.value.status, raised.value.code) == (status, code)
    if status == 429:
        assert raised.value.headers == {"retry-after": "1"}


async def test_tools_pass_through(fake_azure):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    async with _gateway(fake_azure) as gw:
        reply = await gw.chat(model="m", messages=MESSAGES, tools=tools, tool_choice="required")
    assert fake_azure.requests[-1]["body"]["tools"] == tools
    call = reply["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "weather", "arguments": '{"city":"Paris"}'}


async def test_stream_usage_is_counted(fake_azure):
    async with _gateway(fake_azure) as gw:
        chunks = [c async for c in await gw.chat(model="m", messages=MESSAGES, stream=True)]
    assert fake_azure.requests[-1]["body"]["stream_options"] == {"include_usage": True}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello from Azure."
    assert not any(c.get("usage") for c in chunks)  # not asked for: withheld


def test_stream_bytes_pass_through(serve_gateway, fake_azure):
    server = serve_gateway(_toml(fake_azure), providers={"azure": AzureOpenAIProvider})
    body = {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": MESSAGES,
    }
    with httpx.Client() as http:
        text = http.post(server.base_url + "/chat/completions", json=body).text
    assert text.encode() == fake_azure.streams[-1]  # Azure's filter chunk, usage, [DONE]


@pytest.mark.parametrize(
    ("toml_edit", "problem"),
    [
        (lambda t, f: t.replace(f'api_base = "{f.base_url}"', ""), "needs api_base"),
        (lambda t, f: t.replace(f.base_url, f.base_url + "/openai"), "without the trailing"),
        (lambda t, f: t.replace(f'api_key = "{f.API_KEY}"', ""), "needs credentials"),
        (lambda t, f: t + 'tenant_id = "t"\n', "tenant_id, client_id and client_secret"),
        (lambda t, f: t.replace('"my-gpt"', '"my gpt/x"'), "not a valid name"),
    ],
)
def test_deployment_problems_stop_start_up(fake_azure, toml_edit, problem):
    with pytest.raises(ConfigError) as raised:
        Gateway.from_toml(
            toml_edit(_toml(fake_azure), fake_azure), {}, providers={"azure": AzureOpenAIProvider}
        )
    assert problem in str(raised.value)


def test_key_from_env_and_secrets_stay_hidden(fake_azure):
    gw = Gateway.from_toml(
        _toml(fake_azure, auth="none"),
        {"AZURE_OPENAI_API_KEY": fake_azure.API_KEY},
        providers={"azure": AzureOpenAIProvider},
    )
    deployment = gw.deployments["m"][0]
    assert deployment.api_key.reveal() == fake_azure.API_KEY
    entra = Gateway.from_toml(
        _toml(fake_azure, auth="entra"), {}, providers={"azure": AzureOpenAIProvider}
    )
    assert fake_azure.CLIENT_SECRET not in repr(entra.deployments["m"][0].options)


async def test_images_speech_and_transcriptions(fake_azure):
    async with _gateway(fake_azure, deployment="my-media") as gw:
        image = await gw.run(gw.new_call("images", {"model": "m", "prompt": "a fox", "n": 2}))
        await image.finish()
        speech = await gw.run(
            gw.new_call("speech", {"model": "m", "input": "hi", "voice": "alloy"})
        )
        await speech.finish()
        from litegate.multipart import UploadedFile

        upload = UploadedFile("a.wav", "audio/wav", b"\x00" * 10)
        heard = await gw.run(gw.new_call("transcriptions", {"model": "m", "file": upload}))
        await heard.finish()
    assert len(image.reply.data["data"]) == 2
    assert speech.reply.raw == b"ID3azure:hi" and speech.reply.content_type == "audio/mpeg"
    assert heard.reply.data == {"text": "heard 10 bytes"}
    paths = [r["path"] for r in fake_azure.requests[-3:]]
    assert paths == [
        "/openai/deployments/my-media/images/generations",
        "/openai/deployments/my-media/audio/speech",
        "/openai/deployments/my-media/audio/transcriptions",
    ]
    sent = fake_azure.requests[-1]
    assert sent["body"]["file"] == ("a.wav", "audio/wav", b"\x00" * 10)
    assert sent["body"]["model"] == "my-media"
    assert sent["headers"]["api-key"] == fake_azure.API_KEY


async def test_moderations_are_not_served(fake_azure):
    async with _gateway(fake_azure) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.run(gw.new_call("moderations", {"model": "m", "input": "x"}))
    assert raised.value.status == 400 and raised.value.code == "unsupported_endpoint"

"""The vertex adapter: Vertex URLs, service-account tokens (the real google-auth code path,
against the fake's token endpoint), token caching and refresh, and Vertex embeddings."""

from __future__ import annotations

import asyncio
import json

import pytest

from litegate import ConfigError, Gateway, GatewayError
from litegate.plugins.providers.vertex import VertexProvider, base_url
from litegate.testing.fake_gemini import GOOGLE_TOKEN_AUDIENCE, REPLY, SCOPE, THOUGHT, FakeGemini

PROVIDERS = {"vertex": VertexProvider}


@pytest.fixture(scope="module")
def fake():
    with FakeGemini() as fake:
        yield fake


@pytest.fixture(scope="module")
def key_file(fake, tmp_path_factory):
    path = tmp_path_factory.mktemp("vertex") / "service-account.json"
    path.write_text(json.dumps(fake.service_account_info()))
    return path


def _toml(
    fake: FakeGemini,
    credentials: str,
    model: str = "gemini-2.5-flash",
    location: str = "us-central1",
    name: str = "v",
) -> str:
    return f"""
[[models]]
name = "{name}"
provider = "vertex"
model = "{model}"
api_base = "{fake.url}"
project = "test-project"
location = "{location}"
credentials = '{credentials}'
"""


async def test_wire_and_token_grant(fake, key_file):
    before = len(fake.token_requests)
    async with Gateway.from_toml(_toml(fake, str(key_file)), {}, providers=PROVIDERS) as gw:
        reply = await gw.chat(model="v", messages=[{"role": "user", "content": "hi"}], seed=1)
        chunks = [
            c
            async for c in await gw.chat(
                model="v", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        ]
    whole, streamed = fake.requests[-2], fake.requests[-1]
    prefix = (
        "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash"
    )
    assert whole["path"] == prefix + ":generateContent" and whole["query"] == {}
    assert streamed["path"] == prefix + ":streamGenerateContent" and streamed["query"] == {
        "alt": "sse"
    }
    assert whole["body"] == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"seed": 1},
    }
    assert "x-goog-api-key" not in whole["headers"]
    # One grant for both calls: a signed JWT the fake verified (signature, iss, aud, scope).
    (grant,) = fake.token_requests[before:]
    assert grant["header"]["alg"] == "RS256"
    assert grant["claims"]["iss"] == "gateway@test-project.iam.gserviceaccount.com"
    assert grant["claims"]["aud"] == GOOGLE_TOKEN_AUDIENCE
    assert grant["claims"]["scope"] == SCOPE
    token = whole["headers"]["Authorization"].removeprefix("Bearer ")
    assert (
        token.startswith("ya29.fake-") and streamed["headers"]["Authorization"] == f"Bearer {token}"
    )
    assert reply["choices"][0]["message"]["content"] == REPLY
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == REPLY


async def test_token_is_cached_and_shared(fake):
    info = json.dumps(fake.service_account_info())
    toml = _toml(fake, "${SA}") + _toml(fake, "${SA}", name="w", location="europe-west4")
    before = len(fake.token_requests)
    async with Gateway.from_toml(toml, {"SA": info}, providers=PROVIDERS) as gw:
        messages = [{"role": "user", "content": "hi"}]
        await asyncio.gather(*(gw.chat(model=alias, messages=messages) for alias in ("v", "w") * 4))
    assert len(fake.token_requests) == before + 1
    assert fake.requests[-1]["path"].startswith("/v1/projects/test-project/locations/")


async def test_token_is_fetched_again_before_expiry():
    with FakeGemini(token_lifetime=1) as short:
        info = json.dumps(short.service_account_info())
        async with Gateway.from_toml(
            _toml(short, "${SA}"), {"SA": info}, providers=PROVIDERS
        ) as gw:
            messages = [{"role": "user", "content": "hi"}]
            await gw.chat(model="v", messages=messages)
            await gw.chat(model="v", messages=messages)
            assert len(short.token_requests) == 1
            await asyncio.sleep(0.6)  # past half the lifetime: fetched again, before it expires
            await gw.chat(model="v", messages=messages)
            assert len(short.token_requests) == 2


async def test_refused_grant_is_a_clear_502(fake):
    info = fake.service_account_info()
    other = FakeGemini().service_account_info()  # a key the fake's token endpoint never saw
    info["private_key"] = other["private_key"]
    async with Gateway.from_toml(
        _toml(fake, "${SA}"), {"SA": json.dumps(info)}, providers=PROVIDERS
    ) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="v", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status == 502 and raised.value.code == "upstream_auth_failed"
    assert "invalid_grant" in raised.value.message
    assert "PRIVATE KEY" not in raised.value.message


@pytest.mark.parametrize(
    ("credentials", "problem"),
    [
        ("/nowhere/sa.json", "can't read the file"),
        ('{"type": "authorized_user"}', "service-account key"),
        ("{not json", "not valid JSON"),
        ('{"type": "service_account"}', "not in the expected format"),
    ],
)
def test_bad_credentials_stop_start_up(fake, credentials, problem):
    with pytest.raises(ConfigError) as raised:
        Gateway.from_toml(_toml(fake, credentials), {}, providers=PROVIDERS)
    assert "models[0]" in str(raised.value) and problem in str(raised.value)


def test_api_key_or_no_credentials_stop_start_up(fake, key_file):
    with pytest.raises(ConfigError) as raised:
        Gateway.from_toml(_toml(fake, str(key_file)) + 'api_key = "x"\n', {}, providers=PROVIDERS)
    assert "api_key is not used by vertex" in str(raised.value)
    toml = '[[models]]\nname = "v"\nprovider = "vertex"\nproject = "p"\n'
    with pytest.raises(ConfigError) as raised:
        Gateway.from_toml(toml, {}, providers=PROVIDERS)
    assert "credentials is required" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        Gateway.from_toml('[[models]]\nname = "v"\nprovider = "vertex"\n', {}, providers=PROVIDERS)
    assert "models[0].project" in str(raised.value)


async def test_hosts_follow_the_location(key_file):
    assert base_url("global") == "https://aiplatform.googleapis.com"
    assert base_url("europe-west4") == "https://europe-west4-aiplatform.googleapis.com"
    toml = f"""
[[models]]
name = "v"
provider = "vertex"
project = "p"
location = "asia-northeast1"
credentials = "{key_file}"
max_connections = 7
"""
    async with Gateway.from_toml(toml, {}, providers=PROVIDERS) as gw:
        deployment = gw.deployments["v"][0]
        assert deployment.client.base_url == "https://asia-northeast1-aiplatform.googleapis.com"
        assert deployment.client._max_connections == 7


async def test_embeddings_use_predict(fake, key_file):
    async with Gateway.from_toml(
        _toml(fake, str(key_file), "text-embedding-005"), {}, providers=PROVIDERS
    ) as gw:
        result = await gw.embeddings(model="v", input=["one two", "three"], dimensions=3)
    sent = fake.requests[-1]
    assert sent["path"].endswith("/publishers/google/models/text-embedding-005:predict")
    assert sent["body"] == {
        "instances": [{"content": "one two"}, {"content": "three"}],
        "parameters": {"outputDimensionality": 3},
    }
    assert [len(item["embedding"]) for item in result["data"]] == [3, 3]
    assert result["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


async def test_vertex_errors_scrub_the_token(fake, key_file):
    async with Gateway.from_toml(
        _toml(fake, str(key_file), "error-429"), {}, providers=PROVIDERS
    ) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="v", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status == 429 and raised.value.headers["retry-after"] == "7"
    assert "ya29" not in raised.value.message


async def test_refused_token_is_fetched_anew(fake, key_file):
    async with Gateway.from_toml(_toml(fake, str(key_file)), {}, providers=PROVIDERS) as gw:
        messages = [{"role": "user", "content": "hi"}]
        await gw.chat(model="v", messages=messages)
        before = len(fake.token_requests)
        fake.revoke_tokens()
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="v", messages=messages)
        assert raised.value.status == 401 and raised.value.code == "upstream_auth_failed"
        reply = await gw.chat(model="v", messages=messages)
    assert reply["choices"][0]["message"]["content"] == REPLY
    assert len(fake.token_requests) == before + 1


async def test_shared_translation_tools_vision_json_reasoning(fake, key_file):
    tool = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    async with Gateway.from_toml(_toml(fake, str(key_file)), {}, providers=PROVIDERS) as gw:
        called = await gw.chat(model="v", messages=[{"role": "user", "content": "q"}], tools=[tool])
        seen = await gw.chat(model="v", messages=[{"role": "user", "content": [image]}])
        shaped = await gw.chat(
            model="v",
            messages=[{"role": "user", "content": "q"}],
            response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
        )
        thought = await gw.chat(
            model="v", messages=[{"role": "user", "content": "q"}], reasoning_effort="low"
        )
    call = called["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "lookup", "arguments": '{"q":"q-1"}'}
    assert seen["choices"][0]["message"]["content"] == "I see 1 image(s): image/png (8 bytes)"
    assert shaped["choices"][0]["message"]["content"] == '{"a": "a-1"}'
    assert thought["choices"][0]["message"]["reasoning_content"] == THOUGHT
    assert all(r["api"] == "vertex" for r in fake.requests[-4:])

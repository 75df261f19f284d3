"""The official OpenAI SDK against a gateway served over real HTTP, in front of a fake
OpenAI upstream that is also a real HTTP server."""

from __future__ import annotations

import base64
import struct

import httpx
import openai
import pytest

from litegate.testing.sdk import assemble_stream

KEY = "sk-test-master-0123456789"


@pytest.fixture
def gateway(serve_gateway, fake_openai):
    return serve_gateway(f"""
[[pipeline]]
plugin = "auth"
master_key = "{KEY}"

[[pipeline]]
plugin = "logging"
path = "stderr"

[[models]]
name = "gpt-test"
provider = "openai"
model = "upstream-model"
api_base = "{fake_openai.base_url}"
api_key = "sk-upstream-secret-abcdef"

[[models]]
name = "embed-test"
provider = "openai"
model = "upstream-embed"
api_base = "{fake_openai.base_url}"
api_key = "sk-upstream-secret-abcdef"

[[models]]
name = "scripted"
provider = "openai"
api_base = "{fake_openai.base_url}"
api_key = "sk-upstream-secret-abcdef"
""")


@pytest.fixture
def client(gateway):
    with openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0) as client:
        yield client


def _scripted_client(serve_gateway, fake_openai, upstream_model: str) -> openai.OpenAI:
    server = serve_gateway(f"""
[[pipeline]]
plugin = "auth"
master_key = "{KEY}"

[[models]]
name = "m"
provider = "openai"
model = "{upstream_model}"
api_base = "{fake_openai.base_url}"
api_key = "sk-upstream-secret-abcdef"
timeout = "1s"
""")
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)


def test_chat(client, fake_openai):
    reply = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hello there"}]
    )
    assert reply.choices[0].message.content == "Hello from the fake upstream."
    assert reply.usage is not None and reply.usage.total_tokens > 0
    sent = fake_openai.requests[-1]
    assert sent["body"]["model"] == "upstream-model"  # the alias became the deployment's model
    assert sent["headers"]["Authorization"] == "Bearer sk-upstream-secret-abcdef"


def test_chat_with_raw_response_has_request_id(client):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-request-id": "my-trace-42"},
    )
    assert raw.headers["x-request-id"] == "my-trace-42"


def test_stream_assembles_deltas_and_usage(client, fake_openai):
    stream = client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    streamed = assemble_stream(stream)
    assert streamed.text == "Hello from the fake upstream." and streamed.finish_reason == "stop"
    assert streamed.usage is not None and streamed.usage.completion_tokens == 5


def test_stream_without_include_usage_has_no_usage_chunk(client, fake_openai):
    chunks = list(
        client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(chunk.choices for chunk in chunks)
    # ...yet the gateway asked upstream for usage, to count tokens.
    assert fake_openai.requests[-1]["body"]["stream_options"] == {"include_usage": True}


def test_stream_helper_accumulates(client):
    with client.chat.completions.stream(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello from the fake upstream."


def test_embeddings_float_and_base64(client):
    floats = client.embeddings.create(
        model="embed-test", input=["a", "bb"], encoding_format="float"
    )
    assert len(floats.data) == 2 and len(floats.data[0].embedding) == 8
    # The SDK's default asks for base64 and decodes it.
    decoded = client.embeddings.create(model="embed-test", input="a")
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding)
    assert decoded.usage.prompt_tokens == 1


def test_legacy_completions(client):
    reply = client.completions.create(model="gpt-test", prompt="say hi")
    assert reply.choices[0].text == "Hello from the fake upstream."


def test_models_list_and_retrieve(client):
    ids = [model.id for model in client.models.list()]
    assert ids == ["gpt-test", "embed-test", "scripted"]
    assert client.models.retrieve("gpt-test").owned_by == "openai"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_wrong_key_is_authentication_error(gateway):
    bad = openai.OpenAI(base_url=gateway.base_url, api_key="sk-wrong", max_retries=0)
    with bad, pytest.raises(openai.AuthenticationError) as raised:
        bad.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == "invalid_api_key"
    assert "sk-wrong" not in raised.value.response.text


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert raised.value.code == "model_not_found"
    assert "/v1/models" in raised.value.message


def test_bad_request_names_the_field(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "x"}], temperature="hot"
        )
    assert raised.value.param == "temperature"
    body = raised.value.body
    assert set(body) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("extra", "param", "code"),
    [
        ({"n": 0}, "n", "integer_below_min_value"),
        ({"max_tokens": -1}, "max_tokens", "integer_below_min_value"),
        ({"temperature": 3}, "temperature", "integer_above_max_value"),
    ],
)
def test_values_out_of_range_are_refused_before_the_provider(client, extra, param, code):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "x"}], **extra
        )
    assert (raised.value.param, raised.value.code) == (param, code)


def test_a_user_message_without_content_is_refused(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user"}])  # type: ignore[typeddict-item]
    assert raised.value.param == "messages[0].content"


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_upstream_errors_keep_their_class(serve_gateway, fake_openai, status, exception):
    client = _scripted_client(serve_gateway, fake_openai, f"error-{status}")
    with client, pytest.raises(exception) as raised:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    response = raised.value.response
    assert response.status_code == (502 if status >= 500 else status)
    assert "sk-upstream-secret" not in response.text
    assert "Traceback" not in response.text
    if status == 429:
        assert response.headers["retry-after"] == "1"
    if status in (401, 403):
        assert raised.value.code == "upstream_auth_failed"


def test_upstream_timeout_is_504(serve_gateway, fake_openai):
    client = _scripted_client(serve_gateway, fake_openai, "slow")
    with client, pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert raised.value.response.status_code == 504
    assert raised.value.code == "upstream_timeout"


def test_unreachable_upstream_is_502(serve_gateway):
    from litegate.testing import free_port

    server = serve_gateway(f"""
[[models]]
name = "m"
provider = "openai"
api_base = "http://127.0.0.1:{free_port()}/v1"
api_key = "sk-upstream-secret-abcdef"
""")
    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    with client, pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert raised.value.response.status_code == 502
    assert raised.value.code == "upstream_unavailable"


def test_mid_stream_upstream_error_raises_in_sdk(serve_gateway, fake_openai):
    with _scripted_client(serve_gateway, fake_openai, "stream-error") as client:
        stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        )
        with pytest.raises(openai.APIError):
            for _chunk in stream:
                pass


def test_error_shapes_over_plain_http(gateway):
    url = gateway.base_url + "/chat/completions"
    auth = {"authorization": f"Bearer {KEY}"}
    cases = [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b'{"model": "gpt-test"}', 400, "missing_required_parameter"),
        (
            b'{"model": "gpt-test", "messages": [{"role": "wizard", "content": "x"}]}',
            400,
            "invalid_value",
        ),
        (b'{"model": "gpt-test", "messages": "hi"}', 400, "invalid_type"),
        (b'\xff\xfe{"model": 1}', 400, "invalid_json"),
        (
            b'{"model": "gpt-test", "messages": [{"role": "user", "content": "\\ud800"}]}',
            400,
            "invalid_json",
        ),
        (
            b'{"model": "gpt-test", "messages": ' + b"[" * 3000 + b"]" * 3000 + b"}",
            400,
            "invalid_json",
        ),
        (
            b'{"model": "gpt-test", "seed": 123456789012345678901234567890, "messages": []}',
            400,
            "invalid_type",
        ),
    ]
    with httpx.Client() as http:
        for body, status, code in cases:
            response = http.post(url, content=body, headers=auth)
            assert response.status_code == status, body
            assert response.json()["error"]["code"] == code, body
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}
            assert response.headers["x-request-id"]
        missing = http.get(gateway.url + "/nowhere")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert missing.headers["x-request-id"]
        unauthenticated = http.post(url, content=b'{"model": "gpt-test"}')
        assert unauthenticated.status_code == 401  # auth comes before body checks


def test_body_size_limit(serve_gateway):
    server = serve_gateway("""
[server]
max_body_size = "1KiB"

[[models]]
name = "m"
provider = "mock"
""")
    with httpx.Client() as http:
        big = '{"model": "m", "messages": [{"role": "user", "content": "' + "x" * 2000 + '"}]}'
        response = http.post(server.base_url + "/chat/completions", content=big)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "request_too_large"

        def chunks():
            yield big[:500].encode()
            yield big[500:].encode()

        chunked = http.post(server.base_url + "/chat/completions", content=chunks())
        assert chunked.status_code == 413


def test_health_endpoints(gateway):
    with httpx.Client() as http:
        assert http.get(gateway.url + "/health").json() == {"status": "ok"}
        ready = http.get(gateway.url + "/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_base64_embedding_decodes_to_floats(client):
    raw = client.embeddings.with_raw_response.create(
        model="embed-test", input="abc", encoding_format="base64"
    )
    encoded = raw.http_response.json()["data"][0]["embedding"]
    values = struct.unpack("<8f", base64.b64decode(encoded))
    assert len(values) == 8


def test_too_many_headers_is_431(serve_gateway):
    server = serve_gateway(
        '[server]\nmax_headers = 10\n[[models]]\nname = "m"\nprovider = "mock"\n'
    )
    headers = {f"x-extra-{i}": "1" for i in range(20)}
    with httpx.Client() as http:
        response = http.get(server.base_url + "/models", headers=headers)
    assert response.status_code == 431
    assert response.json()["error"]["code"] == "too_many_headers"
    assert response.headers["x-request-id"]


def test_bad_client_request_id_is_replaced(gateway):
    with httpx.Client() as http:
        response = http.get(gateway.url + "/health", headers={"x-request-id": "bad id\twith tab"})
    assert response.headers["x-request-id"] != "bad id\twith tab"
    assert len(response.headers["x-request-id"]) == 32

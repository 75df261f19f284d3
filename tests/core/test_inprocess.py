"""The in-process API runs the same pipeline with no HTTP."""

from __future__ import annotations

import pytest

import litegate
from litegate import Gateway, GatewayError

MOCK = '[[models]]\nname = "m"\nprovider = "mock"\nreply = "fixed answer"\n'
MESSAGES = [{"role": "user", "content": "hi"}]


async def test_chat_and_stream():
    async with Gateway.from_toml(MOCK, {}) as gw:
        reply = await gw.chat(model="m", messages=MESSAGES)
        assert reply["choices"][0]["message"]["content"] == "fixed answer"
        chunks = [c async for c in await gw.chat(model="m", messages=MESSAGES, stream=True)]
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        assert text == "fixed answer"


async def test_embeddings_and_completions():
    async with Gateway.from_toml(MOCK, {}) as gw:
        result = await gw.embeddings(model="m", input=["a", "b"])
        assert [len(d["embedding"]) for d in result["data"]] == [16, 16]
        text = await gw.completions(model="m", prompt="say")
        assert text["choices"][0]["text"] == "fixed answer"


async def test_errors_are_gateway_errors():
    async with Gateway.from_toml(MOCK, {}) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=[])
        assert raised.value.status == 400 and raised.value.param == "messages"


def test_chat_sync_and_sync_stream():
    gw = Gateway.from_toml(MOCK, {})
    try:
        assert gw.chat_sync(model="m", messages=MESSAGES)["choices"][0]["message"]["content"]
        chunks = list(gw.chat_sync(model="m", messages=MESSAGES, stream=True))
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    finally:
        gw.close()


def test_from_config_file(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text(MOCK)
    gw = Gateway.from_config(path, env={})
    try:
        assert gw.chat_sync(model="m", messages=MESSAGES)["model"] == "m"
    finally:
        gw.close()


def test_zero_config_completion(fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    reply = litegate.completion(model="openai/gpt-4o-mini", messages=MESSAGES)
    assert reply["choices"][0]["message"]["content"] == "Hello from the fake upstream."
    sent = fake_openai.requests[-1]
    assert sent["body"]["model"] == "gpt-4o-mini"
    assert sent["headers"]["Authorization"] == "Bearer sk-from-env-123"


async def test_zero_config_acompletion_stream(fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123")
    chunks = [
        c
        async for c in await litegate.acompletion(
            model="openai/gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            api_base=fake_openai.base_url,
        )
    ]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == (
        "Hello from the fake upstream."
    )


def test_zero_config_needs_a_provider_prefix():
    with pytest.raises(ValueError, match="provider/model"):
        litegate.completion(model="gpt-4o-mini", messages=MESSAGES)


def test_two_gateways_in_one_process_are_independent():
    one = Gateway.from_toml(MOCK, {})
    two = Gateway.from_toml('[[models]]\nname = "other"\nprovider = "mock"\n', {})
    assert one.pm is not two.pm
    assert one.model_names() == ["m"] and two.model_names() == ["other"]


async def test_closing_a_stream_early_is_a_client_disconnect_not_an_error(tmp_path, caplog):
    log = tmp_path / "calls.log"
    toml = f'[[pipeline]]\nplugin = "logging"\npath = "{log}"\n' + MOCK
    async with Gateway.from_toml(toml, {}) as gw:
        chunks = await gw.chat(model="m", messages=MESSAGES, stream=True)
        await chunks.__anext__()
        await chunks.aclose()
    assert '"status":499' in log.read_text() and '"client_disconnected"' in log.read_text()
    assert "internal error" not in caplog.text

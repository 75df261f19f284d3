"""OpenAI-compatible presets against the fake OpenAI upstream: base URLs, auth headers and
each provider's quirks (dropped with drop_unsupported, refused otherwise)."""

from __future__ import annotations

import httpx
import pytest

from litegate import Gateway, GatewayError
from litegate.plugins.providers import openai_compatible, presets
from litegate.plugins.providers.presets import PRESETS, OpenAICompatibleProvider

# name -> (class, default api_base, key env var): pinned here so a data edit is deliberate.
EXPECTED = {
    "groq": (presets.Groq, "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "together": (presets.Together, "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "openrouter": (presets.OpenRouter, "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "deepseek": (presets.DeepSeek, "https://api.deepseek.com", "DEEPSEEK_API_KEY"),
    "xai": (presets.XAI, "https://api.x.ai/v1", "XAI_API_KEY"),
    "fireworks": (presets.Fireworks, "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "mistral": (presets.Mistral, "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "perplexity": (presets.Perplexity, "https://api.perplexity.ai", "PERPLEXITY_API_KEY"),
    "cerebras": (presets.Cerebras, "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
    "ollama": (presets.Ollama, "http://127.0.0.1:11434/v1", None),
    "vllm": (presets.VLLM, "http://127.0.0.1:8000/v1", None),
    "lmstudio": (presets.LMStudio, "http://127.0.0.1:1234/v1", None),
}
# A value each quirk-bearing parameter can't take at that provider.
BAD_VALUES = {"n": 2, "response_format": {"type": "json_schema"}, "tool_choice": "required"}
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
MESSAGES = [{"role": "user", "content": "hi"}]


def _toml(
    name: str, base_url: str, *, key: bool = True, drop: bool = False, extra: str = ""
) -> str:
    return f"""
[[models]]
name = "m"
provider = "{name}"
model = "upstream-{name}"
api_base = "{base_url}"
{'api_key = "sk-' + name + '-upstream-0123"' if key else ""}
drop_unsupported = {str(drop).lower()}
{extra}
"""


def _gateway(name: str, base_url: str, **kwargs) -> Gateway:
    return Gateway.from_toml(
        _toml(name, base_url, **kwargs), {}, providers={name: EXPECTED[name][0]}
    )


def _bad(param: str):
    if param in BAD_VALUES:
        return BAD_VALUES[param]
    return {"logprobs": True, "top_logprobs": 2, "logit_bias": {"1": 1}, "tools": TOOLS}.get(
        param, 0.5 if "penalty" in param else ("u1" if param == "user" else True)
    )


def _quirks() -> list[tuple[str, str]]:
    found = []
    for name, preset in PRESETS.items():
        found += [(name, param) for param in sorted(preset.rejects | set(preset.only))]
    return found


def test_every_preset_is_a_class_with_its_data():
    assert set(PRESETS) == set(EXPECTED)
    for name, (cls, api_base, key_env) in EXPECTED.items():
        assert issubclass(cls, OpenAICompatibleProvider)
        assert cls.preset is PRESETS[name]
        assert cls.default_api_base == api_base
        assert cls.api_key_env == key_env
        assert cls.__module__ == presets.__name__ and getattr(presets, cls.__name__) is cls


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_sends_to_base_url_with_auth_header(name, fake_openai):
    async with _gateway(name, fake_openai.base_url) as gw:
        reply = await gw.chat(model="m", messages=MESSAGES)
    assert reply["choices"][0]["message"]["content"] == "Hello from the fake upstream."
    sent = fake_openai.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"] == {"model": f"upstream-{name}", "messages": MESSAGES}
    assert sent["headers"]["Authorization"] == f"Bearer sk-{name}-upstream-0123"


@pytest.mark.parametrize("name", ["ollama", "vllm", "lmstudio"])
async def test_local_presets_need_no_key(name, fake_openai):
    async with _gateway(name, fake_openai.base_url, key=False) as gw:
        await gw.chat(model="m", messages=MESSAGES)
    assert "Authorization" not in fake_openai.requests[-1]["headers"]


async def test_key_comes_from_the_env_var(fake_openai):
    toml = f'[[models]]\nname = "m"\nprovider = "groq"\napi_base = "{fake_openai.base_url}"\n'
    gw = Gateway.from_toml(
        toml, {"GROQ_API_KEY": "gsk-from-env-0123"}, providers={"groq": presets.Groq}
    )
    async with gw:
        await gw.chat(model="m", messages=MESSAGES)
    assert fake_openai.requests[-1]["headers"]["Authorization"] == "Bearer gsk-from-env-0123"


@pytest.mark.parametrize(("name", "param"), _quirks())
async def test_quirk_is_refused_naming_param_and_provider(name, param, fake_openai):
    before = len(fake_openai.requests)
    async with _gateway(name, fake_openai.base_url) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES, **{param: _bad(param)})
    assert raised.value.status == 400
    assert raised.value.param == param and raised.value.code == "unsupported_parameter"
    assert f"'{name}'" in raised.value.message and param in raised.value.message
    assert len(fake_openai.requests) == before  # nothing went upstream


@pytest.mark.parametrize(("name", "param"), _quirks())
async def test_quirk_is_dropped_with_drop_unsupported(name, param, fake_openai):
    async with _gateway(name, fake_openai.base_url, drop=True) as gw:
        await gw.chat(model="m", messages=MESSAGES, temperature=0.2, **{param: _bad(param)})
    body = fake_openai.requests[-1]["body"]
    assert param not in body
    assert body["temperature"] == 0.2  # the rest goes through


@pytest.mark.parametrize(
    ("name", "param", "value"),
    [("groq", "n", 1), ("ollama", "n", 1), ("ollama", "tool_choice", "auto"),
     ("deepseek", "response_format", {"type": "json_object"})],
)  # fmt: skip
async def test_allowed_values_pass(name, param, value, fake_openai):
    extra = {"tools": TOOLS} if param == "tool_choice" else {}
    async with _gateway(name, fake_openai.base_url) as gw:
        await gw.chat(model="m", messages=MESSAGES, **{param: value}, **extra)
    assert fake_openai.requests[-1]["body"][param] == value


async def test_mistral_renames_and_stream_options(fake_openai):
    async with _gateway("mistral", fake_openai.base_url) as gw:
        await gw.chat(model="m", messages=MESSAGES, seed=7, max_completion_tokens=20)
        body = fake_openai.requests[-1]["body"]
        assert body["random_seed"] == 7 and body["max_tokens"] == 20
        assert "seed" not in body and "max_completion_tokens" not in body
        chunks = [c async for c in await gw.chat(model="m", messages=MESSAGES, stream=True)]
    # Mistral refuses stream_options; it reports usage on its own.
    assert "stream_options" not in fake_openai.requests[-1]["body"]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


async def test_streams_ask_upstream_for_usage(fake_openai):
    async with _gateway("groq", fake_openai.base_url) as gw:
        chunks = [c async for c in await gw.chat(model="m", messages=MESSAGES, stream=True)]
    assert fake_openai.requests[-1]["body"]["stream_options"] == {"include_usage": True}
    assert all(c["choices"] for c in chunks)  # the usage chunk only for clients that ask


async def test_endpoint_the_provider_does_not_serve(fake_openai):
    async with _gateway("groq", fake_openai.base_url) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.embeddings(model="m", input="x")
    assert raised.value.status == 400 and raised.value.code == "unsupported_endpoint"
    assert "'groq'" in raised.value.message


async def test_embeddings_and_completions_where_served(fake_openai):
    async with _gateway("vllm", fake_openai.base_url) as gw:
        embedded = await gw.embeddings(model="m", input=["a", "b"])
        completed = await gw.completions(model="m", prompt="say hi")
    assert len(embedded["data"]) == 2
    assert completed["choices"][0]["text"] == "Hello from the fake upstream."
    assert [r["path"] for r in fake_openai.requests[-2:]] == ["/v1/embeddings", "/v1/completions"]


async def test_extra_headers_option(fake_openai):
    extra = 'headers = { "HTTP-Referer" = "https://example.org", "X-Title" = "demo" }'
    async with _gateway("openrouter", fake_openai.base_url, extra=extra) as gw:
        await gw.chat(model="m", messages=MESSAGES)
    headers = fake_openai.requests[-1]["headers"]
    assert headers["HTTP-Referer"] == "https://example.org" and headers["X-Title"] == "demo"


@pytest.mark.parametrize("status", [400, 401, 429, 500])
async def test_upstream_errors_are_normalised(status, fake_openai):
    toml = _toml("together", fake_openai.base_url).replace(
        'model = "upstream-together"', f'model = "error-{status}"'
    )
    gw = Gateway.from_toml(toml, {}, providers={"together": presets.Together})
    async with gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
    error = raised.value
    assert error.status == (502 if status >= 500 else status)
    assert "sk-together-upstream" not in error.message
    if status == 400:
        assert error.message == "Scripted upstream error 400." and error.code == "scripted_400"
    if status == 429:
        assert error.headers == {"retry-after": "1"}


async def test_mid_stream_error_event_raises(fake_openai):
    toml = _toml("together", fake_openai.base_url).replace(
        'model = "upstream-together"', 'model = "stream-error"'
    )
    gw = Gateway.from_toml(toml, {}, providers={"together": presets.Together})
    async with gw:
        with pytest.raises(GatewayError) as raised:
            async for _chunk in await gw.chat(model="m", messages=MESSAGES, stream=True):
                pass
    assert raised.value.status == 502 and "Scripted mid-stream failure" in raised.value.message


def test_error_fields_reads_the_shapes_compatible_servers_use():
    fields = openai_compatible.error_fields
    assert fields(b'{"error": {"message": "m", "code": 7, "param": "p"}}') == ("m", "7", "p")
    assert fields(b'{"object": "error", "message": "m", "type": "t"}') == ("m", None, None)
    assert fields(b'{"error": "model not found"}') == ("model not found", None, None)
    assert fields(b'{"detail": [{"msg": "Extra inputs are not permitted"}]}')[0] == (
        '[{"msg":"Extra inputs are not permitted"}]'
    )
    assert fields(b"Bad Gateway") == ("Bad Gateway", None, None)


def test_stream_bytes_pass_through_unchanged(serve_gateway, fake_openai):
    server = serve_gateway(
        _toml("fireworks", fake_openai.base_url), providers={"fireworks": presets.Fireworks}
    )
    body = {"model": "m", "stream": True, "messages": MESSAGES}
    with httpx.Client() as http:
        text = http.post(server.base_url + "/chat/completions", json=body).text
    events = [e for e in text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert events[0].startswith('data: {"id":"chatcmpl-fake') and '"usage":null' in events[0]


async def test_rerank_and_transcriptions_where_served(fake_openai):
    from litegate.multipart import UploadedFile

    async with _gateway("vllm", fake_openai.base_url) as gw:
        ranked = await gw.run(
            gw.new_call("rerank", {"model": "m", "query": "q", "documents": ["a", "b"]})
        )
        await ranked.finish()
        upload = UploadedFile("a.wav", "audio/wav", b"\x00" * 6)
        heard = await gw.run(gw.new_call("transcriptions", {"model": "m", "file": upload}))
        await heard.finish()
    assert len(ranked.reply.data["results"]) == 2
    assert heard.reply.data == {"text": "heard 6 bytes"}
    assert fake_openai.requests[-2]["path"] == "/v1/rerank"
    assert fake_openai.requests[-1]["body"]["file"] == ("a.wav", "audio/wav", b"\x00" * 6)
    assert fake_openai.requests[-1]["body"]["model"] == "upstream-vllm"

"""The exact-match cache over real HTTP, through the openai SDK."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from litegate import ConfigError, Gateway, hookimpl

from .conftest import TeamAuth, ask, client

TOML = """
[state]
kv = "memory:"

[[pipeline]]
plugin = "teams"

[[pipeline]]
plugin = "cache"
{options}

[[models]]
name = "m"
provider = "mock"
"""


def config(options: str = "") -> str:
    return TOML.replace("{options}", options)


def test_miss_then_hit_with_the_same_answer(serve_cache):
    sdk = client(serve_cache(config()))
    state, first = ask(sdk)
    assert state == "miss"
    state, second = ask(sdk)
    assert state == "hit"
    assert second.id == first.id  # the mock makes a new id per answer: this one was stored
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.usage.total_tokens == first.usage.total_tokens


def test_parameters_that_change_the_answer_are_part_of_the_key(serve_cache):
    sdk = client(serve_cache(config()))
    assert ask(sdk)[0] == "miss"
    assert ask(sdk, temperature=0.5)[0] == "miss"
    assert ask(sdk, "another question")[0] == "miss"
    # `user` and metadata don't change the answer: hits.
    assert ask(sdk, user="someone")[0] == "hit"
    assert ask(sdk, temperature=0.5, metadata={"trace": "x"}, store=False)[0] == "hit"


def test_no_cache_refreshes_and_no_store_does_not_store(serve_cache):
    sdk = client(serve_cache(config()))
    _, first = ask(sdk)
    state, fresh = ask(sdk, extra_headers={"cache-control": "no-cache"})
    assert state == "bypass" and fresh.id != first.id
    state, again = ask(sdk)
    assert state == "hit" and again.id == fresh.id  # the refreshed answer replaced the old
    assert ask(sdk, "private", extra_headers={"cache-control": "no-store"})[0] == "miss"
    assert ask(sdk, "private")[0] == "miss"
    assert ask(sdk, "private", extra_headers={"cache-control": "no-store"})[0] == "hit"


def test_uncached_endpoints_say_bypass(serve_cache):
    server = serve_cache(config('endpoints = ["chat"]'))
    raw = client(server).embeddings.with_raw_response.create(model="m", input="x")
    assert raw.headers["x-litegate-cache"] == "bypass"


def test_tenants_never_share_answers(serve_cache):
    server = serve_cache(config())
    alpha_ann, alpha_bob = client(server, "alpha.ann"), client(server, "alpha.bob")
    beta, loner = client(server, "beta.cy"), client(server, "dee")
    _, answer = ask(alpha_ann, "the team secret is 42")
    state, shared = ask(alpha_bob, "the team secret is 42")
    assert state == "hit" and shared.id == answer.id  # same team: shared
    for other in (beta, loner):
        state, own = ask(other, "the team secret is 42")
        assert state == "miss" and own.id != answer.id


def test_global_scope_shares_across_tenants(serve_cache):
    server = serve_cache(config('scope = "global"'))
    _, answer = ask(client(server, "alpha.ann"))
    state, shared = ask(client(server, "beta.cy"))
    assert state == "hit" and shared.id == answer.id


def test_ttl_expires_entries(serve_cache):
    sdk = client(serve_cache(config('ttl = "300ms"')))
    assert ask(sdk)[0] == "miss"
    assert ask(sdk)[0] == "hit"
    time.sleep(0.5)
    assert ask(sdk)[0] == "miss"
    # A request may ask for its own TTL.
    assert ask(sdk, "long", extra_headers={"x-litegate-cache-ttl": "60"})[0] == "miss"
    time.sleep(0.5)
    assert ask(sdk, "long")[0] == "hit"


def test_a_bad_ttl_header_is_400(serve_cache):
    sdk = client(serve_cache(config()))
    with pytest.raises(openai.BadRequestError) as raised:
        ask(sdk, extra_headers={"x-litegate-cache-ttl": "soon"})
    assert raised.value.code == "invalid_cache_ttl"


def test_errors_are_never_cached(serve_cache, fake_openai):
    toml = config() + (
        f'\n[[models]]\nname = "broken"\nprovider = "openai"\nmodel = "error-500"\n'
        f'api_base = "{fake_openai.base_url}"\napi_key = "sk-upstream"\n'
    )
    sdk = client(serve_cache(toml))
    before = len(fake_openai.requests)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            sdk.chat.completions.create(model="broken", messages=[{"role": "user", "content": "x"}])
    assert len(fake_openai.requests) == before + 2


def test_a_streamed_hit_replays_through_the_sdk(serve_cache):
    sdk = client(serve_cache(config()))
    messages = [{"role": "user", "content": "tell me a story"}]

    def stream(**params):
        raw = sdk.chat.completions.with_raw_response.create(
            model="m", messages=messages, stream=True, **params
        )
        chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return raw.headers["x-litegate-cache"], chunks, text

    state, first, text = stream(stream_options={"include_usage": True})
    assert state == "miss" and "tell me a story" in text
    state, again, replayed = stream(stream_options={"include_usage": True})
    assert state == "hit" and replayed == text
    assert [c.id for c in again] == [c.id for c in first]
    assert (
        again[-1].usage is not None and again[-1].usage.total_tokens == first[-1].usage.total_tokens
    )
    assert again[-2].choices[0].finish_reason == "stop"
    # Without include_usage the same entry serves, and the usage chunk is held back.
    state, plain, _ = stream()
    assert state == "hit" and all(c.usage is None for c in plain)
    # A stream and a whole answer are cached apart.
    assert ask(sdk, "tell me a story")[0] == "miss"


def test_a_stream_is_sent_as_sse_ending_in_done(serve_cache):
    server = serve_cache(config())
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"authorization": "Bearer alpha.ann"}
    texts = []
    for _ in range(2):
        response = httpx.post(server.base_url + "/chat/completions", json=body, headers=headers)
        texts.append(response.text)
    assert texts[1].endswith("data: [DONE]\n\n")
    assert texts[1] == texts[0]  # the same chunks (ids, timestamps), the same framing


async def test_a_stream_cut_off_is_not_stored():
    toml = '[state]\nkv = "memory:"\n[[pipeline]]\nplugin = "cache"\n'
    toml += '[[models]]\nname = "m"\nprovider = "mock"\n'
    async with Gateway.from_toml(toml, {}) as gateway:
        request = {"model": "m", "messages": [{"role": "user", "content": "a b c d"}]}

        async def stream(read_all: bool) -> str:
            call = gateway.new_call("chat", {**request, "stream": True})
            run = await gateway.run(call)
            chunks = run.chunks()
            async for _chunk in chunks:
                if not read_all:
                    break
            await chunks.aclose()
            return call.response_headers["x-litegate-cache"]

        assert await stream(read_all=False) == "miss"
        assert await stream(read_all=True) == "miss"  # the cut-off stream was not stored
        assert await stream(read_all=True) == "hit"


def test_bad_options_stop_start_up():
    with pytest.raises(ConfigError) as raised:
        Gateway.from_toml(config('scope = "everyone"'), {}, plugins={"teams": object})
    assert "scope" in str(raised.value)


def test_the_messages_api_is_cached_too(serve_cache):
    import anthropic

    server = serve_cache(config())
    with anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0) as sdk:
        headers = {"authorization": "Bearer alpha.ann"}
        params = {
            "model": "m",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "hello from anthropic"}],
            "extra_headers": headers,
        }
        states, texts = [], []
        for _ in range(2):
            raw = sdk.messages.with_raw_response.create(**params)
            states.append(raw.headers["x-litegate-cache"])
            texts.append(raw.parse().content[0].text)
        assert states == ["miss", "hit"] and texts[0] == texts[1]
        streamed = []
        for _ in range(2):
            with sdk.messages.stream(**params) as stream:
                streamed.append(
                    (stream.response.headers["x-litegate-cache"], stream.get_final_text())
                )
        assert streamed == [("miss", texts[0]), ("hit", texts[0])]


def test_ttl_header_zero_does_not_store_and_long_ones_are_capped(serve_cache):
    sdk = client(serve_cache(config('max_ttl = "300ms"')))
    assert ask(sdk, "zero", extra_headers={"x-litegate-cache-ttl": "0"})[0] == "miss"
    assert ask(sdk, "zero")[0] == "miss"
    ask(sdk, "capped", extra_headers={"x-litegate-cache-ttl": "3600"})
    raw = sdk.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "capped"}]
    )
    assert raw.headers["x-litegate-cache"] == "hit" and int(raw.headers["age"]) == 0
    time.sleep(0.5)
    assert ask(sdk, "capped")[0] == "miss"


class Exclaim:
    """A plugin before the cache that changes answers in place on their way out, as PII
    unmasking does: the cache must keep the answer as it was when the cache saw it."""

    @hookimpl
    def post_call(self, response):
        response["choices"][0]["message"]["content"] += "!"
        return response  # changed in place: say so, or the upstream's bytes go out

    @hookimpl
    def on_stream_chunk(self, chunk):
        for choice in chunk.get("choices") or ():
            if choice.get("delta", {}).get("content"):
                choice["delta"]["content"] += "!"
        return chunk


def test_changes_made_nearer_the_client_are_not_cached(serve_gateway):
    toml = config().replace(
        'plugin = "teams"', 'plugin = "teams"\n\n[[pipeline]]\nplugin = "exclaim"'
    )
    server = serve_gateway(toml, plugins={"teams": TeamAuth, "exclaim": Exclaim})
    sdk = client(server)
    texts = [ask(sdk)[1].choices[0].message.content for _ in range(2)]
    assert texts[0].endswith("there!") and texts[1] == texts[0]
    streamed = []
    for _ in range(2):
        raw = sdk.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "a b"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        streamed.append((raw.headers["x-litegate-cache"], text))
    assert [state for state, _ in streamed] == ["miss", "hit"]
    assert streamed[1][1] == streamed[0][1] and "!!" not in streamed[1][1]

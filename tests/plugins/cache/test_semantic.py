"""The semantic cache: a paraphrase above the threshold is a hit, another prompt a miss,
with the deterministic concept embedder of conftest.py routed by the gateway itself."""

from __future__ import annotations

import pytest

from litegate import Gateway
from litegate.gateway import IN_PROCESS

from .conftest import ConceptEmbedder, TeamAuth, ask, client, embed

TOML = """
[state]
kv = "memory:"

[[pipeline]]
plugin = "teams"

[[pipeline]]
plugin = "cache"
semantic = { model = "embedder", threshold = 0.9, path = "{tmp}/semantic.db" }

[[models]]
name = "m"
provider = "mock"

[[models]]
name = "embedder"
provider = "concepts"
"""

QUESTION = "What is the capital of France?"
PARAPHRASE = "Which city is the seat of the French government?"
OTHER = "What is the weather forecast in Paris?"


def cosine(a: str, b: str) -> float:
    x, y = embed(a), embed(b)
    dot = sum(i * j for i, j in zip(x, y, strict=True))
    return dot / (sum(i * i for i in x) * sum(j * j for j in y)) ** 0.5


def test_the_embedder_separates_the_prompts():
    assert cosine(QUESTION, PARAPHRASE) >= 0.9
    assert cosine(QUESTION, OTHER) < 0.9


def test_a_paraphrase_is_a_hit_and_another_prompt_a_miss(serve_cache):
    server = serve_cache(TOML)
    sdk = client(server)
    state, answer = ask(sdk, QUESTION)
    assert state == "miss"
    raw = sdk.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": PARAPHRASE}]
    )
    assert raw.headers["x-litegate-cache"] == "hit"
    assert float(raw.headers["x-litegate-cache-similarity"]) >= 0.9
    assert raw.parse().id == answer.id
    state, other = ask(sdk, OTHER)
    assert state == "miss" and other.id != answer.id


def test_semantic_hits_stay_within_the_tenant_and_the_parameters(serve_cache):
    server = serve_cache(TOML)
    _, answer = ask(client(server, "alpha.ann"), QUESTION)
    state, own = ask(client(server, "beta.cy"), PARAPHRASE)
    assert state == "miss" and own.id != answer.id
    assert ask(client(server, "alpha.bob"), PARAPHRASE, temperature=1.5)[0] == "miss"
    assert ask(client(server, "alpha.bob"), PARAPHRASE)[0] == "hit"


async def test_the_index_survives_a_restart(tmp_path):
    toml = TOML.replace("{tmp}", str(tmp_path)).replace(
        'kv = "memory:"', f'kv = "disk:{tmp_path}/kv"'
    )
    classes = {"plugins": {"teams": TeamAuth}, "providers": {"concepts": ConceptEmbedder}}
    request = {"model": "m", "messages": [{"role": "user", "content": QUESTION}]}
    async with Gateway.from_toml(toml, {}, **classes) as gateway:
        first = await gateway.chat(**request)
    request["messages"] = [{"role": "user", "content": PARAPHRASE}]
    async with Gateway.from_toml(toml, {}, **classes) as gateway:
        call = gateway.new_call("chat", request, principal=IN_PROCESS)
        run = await gateway.run(call)
        await run.finish()
        assert call.response_headers["x-litegate-cache"] == "hit"
        assert run.reply is not None and run.reply.data["id"] == first["id"]


def test_an_unknown_embedding_alias_stops_start_up(make_gateway, tmp_path):
    toml = TOML.replace("{tmp}", str(tmp_path)).replace('model = "embedder"', 'model = "nope"')
    gateway = make_gateway(
        toml, plugins={"teams": TeamAuth}, providers={"concepts": ConceptEmbedder}
    )
    with pytest.raises(ValueError, match="nope"):
        gateway.chat_sync(model="m", messages=[{"role": "user", "content": "x"}])


def test_a_purge_reaches_semantic_matches(serve_cache):
    import httpx

    server = serve_cache(TOML)
    sdk = client(server)
    ask(sdk, QUESTION)
    assert ask(sdk, PARAPHRASE)[0] == "hit"
    purged = httpx.post(
        server.url + "/admin/v1/cache/purge",
        json={"team": "alpha"},
        headers={"authorization": "Bearer root"},
    )
    assert purged.status_code == 200
    assert ask(sdk, PARAPHRASE)[0] == "miss"
    stats = httpx.get(
        server.url + "/admin/v1/cache/stats", headers={"authorization": "Bearer root"}
    ).json()
    assert stats["counters"]["semantic_hits"] == 1
    assert stats["semantic_vectors"] == 1  # the paraphrase's own, stored after the purge


def test_an_embedding_failure_is_a_plain_miss(serve_cache):
    toml = TOML.replace('provider = "concepts"', 'provider = "mock"\nfailure_rate = 1.0')
    sdk = client(serve_cache(toml))
    assert ask(sdk, QUESTION)[0] == "miss"
    assert ask(sdk, PARAPHRASE)[0] == "miss"
    assert ask(sdk, QUESTION)[0] == "hit"  # the exact cache still works

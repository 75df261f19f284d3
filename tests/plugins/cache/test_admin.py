"""The admin API: statistics and purges, for admins only."""

from __future__ import annotations

import httpx

from .conftest import ask, client

TOML = """
[state]
kv = "memory:"

[[pipeline]]
plugin = "teams"

[[pipeline]]
plugin = "cache"

[[models]]
name = "m"
provider = "mock"

[[models]]
name = "n"
provider = "mock"
"""

ROOT = {"authorization": "Bearer root"}


def purge(server, body, headers=ROOT) -> httpx.Response:
    return httpx.post(server.url + "/admin/v1/cache/purge", json=body, headers=headers)


def test_only_admins_see_the_routes(serve_cache):
    server = serve_cache(TOML)
    assert httpx.get(server.url + "/admin/v1/cache/stats").status_code == 401
    member = {"authorization": "Bearer alpha.ann"}
    response = httpx.get(server.url + "/admin/v1/cache/stats", headers=member)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_role"
    assert purge(server, {"all": True}, member).status_code == 403


def test_stats_count_hits_misses_and_bypasses(serve_cache):
    server = serve_cache(TOML)
    sdk = client(server)
    ask(sdk)
    ask(sdk)
    ask(sdk)
    ask(sdk, extra_headers={"cache-control": "no-cache"})
    stats = httpx.get(server.url + "/admin/v1/cache/stats", headers=ROOT).json()
    assert stats["counters"] == {
        "hits": 2,
        "misses": 1,
        "bypasses": 1,
        "stores": 2,
        "semantic_hits": 0,
    }
    assert stats["hit_rate"] == round(2 / 3, 4)
    assert stats["worker"]["memory_entries"] == 1 and stats["worker"]["memory_bytes"] > 0


def test_purge_by_tenant(serve_cache):
    server = serve_cache(TOML)
    alpha, beta = client(server, "alpha.ann"), client(server, "beta.cy")
    ask(alpha), ask(beta)
    assert purge(server, {"team": "alpha"}).status_code == 200
    assert ask(alpha)[0] == "miss"
    assert ask(beta)[0] == "hit"
    loner = client(server, "dee")
    ask(loner)
    assert purge(server, {"tenant": "test:dee"}).status_code == 200
    assert ask(loner)[0] == "miss"


def test_purge_by_model(serve_cache):
    server = serve_cache(TOML)
    sdk = client(server)
    ask(sdk)
    sdk.chat.completions.create(model="n", messages=[{"role": "user", "content": "hello there"}])
    assert purge(server, {"model": "m"}).json()["purged"].keys() == {"model:m"}
    assert ask(sdk)[0] == "miss"
    raw = sdk.chat.completions.with_raw_response.create(
        model="n", messages=[{"role": "user", "content": "hello there"}]
    )
    assert raw.headers["x-litegate-cache"] == "hit"


def test_purge_by_key_and_all(serve_cache):
    server = serve_cache(TOML)
    sdk = client(server)
    raw = sdk.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "one"}]
    )
    ask(sdk, "two")
    assert purge(server, {"key": raw.headers["x-litegate-cache-key"]}).status_code == 200
    assert ask(sdk, "one")[0] == "miss"
    assert ask(sdk, "two")[0] == "hit"
    assert purge(server, {"all": True}).status_code == 200
    assert ask(sdk, "one")[0] == "miss"
    assert ask(sdk, "two")[0] == "miss"


def test_a_purge_must_name_its_target(serve_cache):
    server = serve_cache(TOML)
    response = purge(server, {})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_purge_target"
    assert purge(server, {"key": "k", "model": "m"}).status_code == 400
    assert purge(server, {"model": 3}).status_code == 400

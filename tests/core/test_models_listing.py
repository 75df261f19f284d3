"""GET /v1/models lists what the caller may call: a principal narrowed to some aliases (a
virtual key, a JWT with a models claim) sees only those."""

from __future__ import annotations

import httpx

from litegate import Call, Principal, hookimpl

CONFIG = """
[[pipeline]]
plugin = "narrow"

[[models]]
name = "gpt-4o"
provider = "mock"

[[models]]
name = "gpt-4o-mini"
provider = "mock"

[[models]]
name = "claude"
provider = "mock"
"""


class Narrow:
    """Authenticates every caller as a principal allowed `gpt-*` only, or anything with
    the header ``x-any: 1``."""

    def __init__(self, config: object = None) -> None:
        pass

    @hookimpl
    def authenticate(self, call: Call) -> Principal:
        if call.headers.get("x-any") == "1":
            return Principal("any", "test")
        return Principal("narrow", "test", models=("gpt-*",))


def test_a_narrowed_caller_sees_only_its_models(serve_gateway):
    server = serve_gateway(CONFIG, plugins={"narrow": Narrow})
    listed = httpx.get(server.url + "/v1/models").json()
    assert [m["id"] for m in listed["data"]] == ["gpt-4o", "gpt-4o-mini"]
    assert httpx.get(server.url + "/v1/models/claude").status_code == 404
    assert httpx.get(server.url + "/v1/models/gpt-4o").status_code == 200
    everything = httpx.get(server.url + "/v1/models", headers={"x-any": "1"}).json()
    assert [m["id"] for m in everything["data"]] == ["gpt-4o", "gpt-4o-mini", "claude"]


def test_may_use():
    assert Principal("a", "t").may_use("anything")
    narrow = Principal("a", "t", models=("gpt-4o", "claude-*"))
    assert narrow.may_use("gpt-4o") and narrow.may_use("claude-sonnet")
    assert not narrow.may_use("gpt-4o-mini")

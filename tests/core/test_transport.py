"""`[server] upstream_client` picks the upstream client in one place (`TransportPool`), and
either one carries a whole call through the gateway: chat, stream and embeddings."""

from __future__ import annotations

import pytest

from litegate import Gateway
from litegate.config_errors import ConfigError
from litegate.transport import AiohttpClient, TransportPool
from litegate.upstream_h1 import H1Client

CLIENT_CLASSES = {"h1": H1Client, "aiohttp": AiohttpClient}


def _toml(base_url: str, client: str | None) -> str:
    server = f'[server]\nupstream_client = "{client}"\n' if client else ""
    return f"""{server}
[[models]]
name = "gpt"
provider = "openai"
model = "gpt-4o-mini"
api_base = "{base_url}"
api_key = "sk-test"

[[models]]
name = "embed"
provider = "openai"
model = "text-embedding-3-small"
api_base = "{base_url}"
api_key = "sk-test"
"""


def test_h1_is_the_default():
    assert TransportPool().kind == "h1"
    gateway = Gateway.from_toml(_toml("http://127.0.0.1:9/v1", None), env={})
    assert isinstance(gateway.deployments["gpt"][0].client, H1Client)


def test_one_client_per_base_url():
    pool = TransportPool("aiohttp")
    first = pool.client("http://127.0.0.1:9/v1/", 10)
    assert pool.client("http://127.0.0.1:9/v1", 10) is first
    assert pool.client("http://127.0.0.1:9/v2", 10) is not first


def test_an_unknown_client_is_a_config_error():
    with pytest.raises(ConfigError, match=r"server\.upstream_client"):
        Gateway.from_toml(_toml("http://127.0.0.1:9/v1", "curl"), env={})


@pytest.mark.parametrize("kind", ["h1", "aiohttp"])
async def test_either_client_carries_whole_calls(kind, fake_openai):
    gateway = Gateway.from_toml(_toml(fake_openai.base_url, kind), env={})
    async with gateway:
        assert isinstance(gateway.deployments["gpt"][0].client, CLIENT_CLASSES[kind])
        reply = await gateway.chat(model="gpt", messages=[{"role": "user", "content": "hi"}])
        assert reply["choices"][0]["message"]["content"]
        chunks = await gateway.chat(
            model="gpt", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        deltas = [
            c["choices"][0]["delta"].get("content") or "" async for c in chunks if c["choices"]
        ]
        assert "".join(deltas)
        vectors = await gateway.embeddings(model="embed", input="hello")
        assert vectors["data"][0]["embedding"]

from __future__ import annotations

import pytest

from litegate import ConfigError, Gateway, GatewayError
from litegate.testing import make_call, run_hook

TOML = """
[[pipeline]]
plugin = "auth"
master_key = "sk-master-123456"
keys = [{ name = "ci-bot", key = "sk-ci-abcdef" }]

[[models]]
name = "m"
provider = "mock"
"""


@pytest.fixture
def auth_plugin():
    gateway = Gateway.from_toml(TOML, {})
    return gateway.plugins[0]


@pytest.mark.parametrize(
    ("headers", "principal"),
    [
        ({"authorization": "Bearer sk-master-123456"}, "master"),
        ({"Authorization": "bearer   sk-ci-abcdef "}, "ci-bot"),
        ({"x-api-key": "sk-ci-abcdef"}, "ci-bot"),
    ],
)
async def test_accepts_configured_keys(auth_plugin, headers, principal):
    found = await run_hook(auth_plugin, "authenticate", call=make_call(headers=headers))
    assert found.id == principal


async def test_no_credential_is_left_to_others(auth_plugin):
    assert await run_hook(auth_plugin, "authenticate", call=make_call()) is None
    basic = make_call(headers={"authorization": "Basic abc"})
    assert await run_hook(auth_plugin, "authenticate", call=basic) is None


async def test_wrong_key_is_401_without_echo(auth_plugin):
    call = make_call(headers={"authorization": "Bearer sk-guess-999"})
    with pytest.raises(GatewayError) as raised:
        await run_hook(auth_plugin, "authenticate", call=call)
    assert raised.value.status == 401
    assert "sk-guess" not in raised.value.body().decode()


async def test_missing_key_is_401_through_the_pipeline():
    async with Gateway.from_toml(TOML, {}) as gw:
        call = gw.new_call("chat", {"model": "m", "messages": [{"role": "user", "content": "x"}]})
        with pytest.raises(GatewayError) as raised:
            await gw.run(call)
    assert raised.value.status == 401 and raised.value.code == "invalid_api_key"


def test_needs_some_key():
    with pytest.raises(ConfigError, match="set master_key or at least one entry"):
        Gateway.from_toml('[[pipeline]]\nplugin = "auth"\n', {})

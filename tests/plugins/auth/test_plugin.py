from __future__ import annotations

import pytest

from litegate import ConfigError, Gateway, GatewayError, Principal
from litegate.plugins.auth.tokens import ROLES
from litegate.plugins.auth.virtual_keys import narrow_models
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
    with pytest.raises(ConfigError, match="set master_key, at least one entry in keys"):
        Gateway.from_toml('[[pipeline]]\nplugin = "auth"\n', {})


def test_static_key_roles_are_checked():
    toml = '[[pipeline]]\nplugin = "auth"\nkeys = [{ name = "x", key = "sk-x", role = "root" }]\n'
    with pytest.raises(ConfigError, match="'root' is not a role"):
        Gateway.from_toml(toml, {})


def test_roles_match_the_records_layer():
    from litegate.db import Role

    assert tuple(role.value for role in Role) == ROLES


@pytest.mark.parametrize(
    ("alias", "allowed"),
    [("gpt-4o", True), ("gpt-4o-mini", True), ("claude-3", False), ("", True)],
)
async def test_principal_models_limit_the_aliases(auth_plugin, alias, allowed):
    principal = Principal("k", "virtual", models=("gpt-4o*",))
    call = make_call({"model": alias, "messages": []}, principal=principal)
    if allowed:
        assert await run_hook(auth_plugin, "pre_call", call=call) is None
        return
    with pytest.raises(GatewayError) as raised:
        await run_hook(auth_plugin, "pre_call", call=call)
    assert (raised.value.status, raised.value.code) == (403, "model_not_allowed")


async def test_principals_without_a_model_list_may_use_any(auth_plugin):
    call = make_call({"model": "anything", "messages": []}, principal=Principal("m", "master"))
    assert await run_hook(auth_plugin, "pre_call", call=call) is None


def test_narrowing_a_team_model_list():
    assert narrow_models(None, None) is None
    assert narrow_models(None, ["a", "b*"]) == ("a", "b*")
    assert narrow_models(["a"], None) == ("a",)
    # A key can narrow its team's list, never widen it.
    assert narrow_models(["a", "c"], ["a", "b*"]) == ("a",)
    assert narrow_models(["b-1", "b-2*"], ["b*"]) == ("b-1", "b-2*")
    assert narrow_models(["*"], ["a", "b*"]) == ("a", "b*")


async def test_static_keys_may_act_for_a_team_org_and_user():
    toml = TOML.replace(
        '{ name = "ci-bot", key = "sk-ci-abcdef" }',
        '{ name = "ci-bot", key = "sk-ci-abcdef", role = "team_admin", team = "t1", org = "o1", user = "u1" }',
    )
    plugin = Gateway.from_toml(toml, {}).plugins[0]
    call = make_call(headers={"x-api-key": "sk-ci-abcdef"})
    first = await run_hook(plugin, "authenticate", call=call)
    assert (first.kind, first.role, first.team, first.org, first.user) == (
        "static",
        "team_admin",
        "t1",
        "o1",
        "u1",
    )
    first.metadata["mark"] = 1
    again = await run_hook(plugin, "authenticate", call=call)
    assert again is not first and again.metadata == {}  # each call has its own principal

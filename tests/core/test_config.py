from __future__ import annotations

import subprocess
import sys

import pytest

from litegate import ConfigError, parse_config
from litegate.config_types import Secret

MINIMAL = """
[[models]]
name = "m"
provider = "mock"
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, env or {})
    return raised.value.problems


def test_defaults():
    config = parse_config(MINIMAL, {})
    assert config.server.port == 4000 and config.server.host == "127.0.0.1"
    assert config.server.max_body_size == 16 * 1024 * 1024
    assert config.state.kv.startswith("disk:")
    assert config.plugins == ()
    model = config.models[0]
    assert (model.name, model.provider, model.model) == ("m", "mock", "m")


def test_pipeline_order_ids_and_options():
    config = parse_config(
        """
[[pipeline]]
plugin = "logging"
path = "stderr"

[[pipeline]]
plugin = "auth"
master_key = "k"

[[pipeline]]
plugin = "logging"
id = "second-log"
include_messages = true
""",
        {},
    )
    assert [(e.plugin, e.id) for e in config.plugins] == [
        ("logging", "logging"),
        ("auth", "auth"),
        ("logging", "second-log"),
    ]
    assert config.plugins[0].config.path == "stderr"
    assert config.plugins[2].config.include_messages is True
    assert isinstance(config.plugins[1].config.master_key, Secret)


def test_every_problem_is_reported_with_its_path():
    found = problems(
        """
[server]
port = "abc"
surprise = 1

[state]
kv = "ftp://x"

[[pipeline]]
plugin = "auth"
master_key = 5

[[pipeline]]
plugin = "nope"

[[pipeline]]
id = "x"

[[models]]
name = "m"
provider = "mock"
latency = "12x"

[[models]]
provider = "mock"

[[models]]
name = "o"
provider = "nosuch"

[extra]
"""
    )
    assert "server.port: expected an integer, got 'abc'" in found
    assert any(p.startswith("server.surprise: unknown key") for p in found)
    assert any(p.startswith('state.kv: expected "disk:PATH"') for p in found)
    assert "pipeline[0].master_key: expected a string, got int" in found
    assert any(
        p.startswith('pipeline[1].plugin: unknown plugin "nope" (available: ') and "auth" in p
        for p in found
    )
    assert any(p.startswith("pipeline[2].plugin: required") for p in found)
    assert 'models[0].latency: expected a duration like "10m", got "12x"' in found
    assert "models[1].name: required key is missing" in found
    assert any(p.startswith('models[2].provider: unknown provider "nosuch"') for p in found)
    assert any(p.startswith("extra: unknown key") for p in found)


def test_validators_name_their_field():
    found = problems(
        '[server]\nworkers = 0\n[[models]]\nname = "m"\nprovider = "mock"\nfailure_rate = 2.0\n'
    )
    assert found == [
        "server.workers: expected at least 1 worker, got 0",
        "models[0].failure_rate: 'failure_rate' must be <= 1.0: 2.0",
    ]


def test_unknown_plugin_option_lists_known_keys():
    (problem,) = problems('[[pipeline]]\nplugin = "auth"\nmaster_key = "k"\nttl = 3\n')
    assert problem == (
        "pipeline[0].ttl: unknown key (known keys: master_key, keys, virtual_keys, "
        "key_cache_ttl, key_cache_size, negative_cache_ttl, negative_cache_size, jwt)"
    )


def test_unknown_model_key_lists_known_keys():
    (problem,) = problems(MINIMAL + "temprature = 1\n")
    assert problem.startswith("models[0].temprature: unknown key (known keys: name, provider,")
    assert "latency" in problem  # the mock provider's own options are listed too


def test_duplicate_ids_are_refused():
    found = problems('[[pipeline]]\nplugin = "logging"\n[[pipeline]]\nplugin = "logging"\n')
    assert found == [
        'pipeline[1].id: "logging" is already used by pipeline[0]; give each repeated '
        "plugin its own id"
    ]


def test_nested_paths():
    found = problems('[[pipeline]]\nplugin = "auth"\nkeys = [{ name = "a", key = 1 }]\n')
    assert found == ["pipeline[0].keys[0].key: expected a string, got int"]


def test_interpolation_from_env():
    config = parse_config(
        '[server]\nhost = "${HOST}"\nport = 4000\n'
        '[[pipeline]]\nplugin = "auth"\nmaster_key = "${KEY:-fallback}"\n' + MINIMAL,
        {"HOST": "0.0.0.0"},
    )
    assert config.server.host == "0.0.0.0"
    assert config.plugins[0].config.master_key.reveal() == "fallback"


def test_unset_variable_is_a_problem_with_its_path():
    (problem,) = problems('[[pipeline]]\nplugin = "auth"\nmaster_key = "${NOPE}"\n')
    assert problem.startswith("pipeline[0].master_key: environment variable NOPE is not set")


def test_not_toml():
    (problem,) = problems("this is = = not toml")
    assert problem.startswith("not valid TOML")


def test_secrets_never_show_in_repr():
    config = parse_config('[[pipeline]]\nplugin = "auth"\nmaster_key = "sk-very-secret"\n', {})
    assert "sk-very-secret" not in repr(config)
    assert "sk-very-secret" not in str(config.plugins[0].config)


def test_api_base_must_be_http():
    (problem,) = problems(
        '[[models]]\nname = "o"\nprovider = "openai"\napi_base = "file:///etc/passwd"\n'
    )
    assert problem.startswith("models[0].api_base: expected an http(s):// URL")


def test_extra_plugin_classes():
    import attrs

    class Mine:
        @attrs.frozen
        class Config:
            level: int = 1

        def __init__(self, config):
            self.config = config

    config = parse_config('[[pipeline]]\nplugin = "mine"\nlevel = 3\n', {}, plugins={"mine": Mine})
    assert config.plugins[0].cls is Mine and config.plugins[0].config.level == 3


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "litegate.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_check_reports_three_mistakes_and_exits_2(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text(
        """
[server]
port = "eighty"

[[pipeline]]
plugin = "auth"
master_key = "sk-secret-value"
ttl = "10m"

[[models]]
name = "m"
provider = "mock"
latency = "12x"
"""
    )
    result = _cli("check", str(path))
    assert result.returncode == 2
    assert "3 problems" in result.stderr
    assert "server.port: expected an integer" in result.stderr
    assert "pipeline[0].ttl: unknown key" in result.stderr
    assert 'models[0].latency: expected a duration like "10m", got "12x"' in result.stderr
    assert "Traceback" not in result.stderr


def test_check_prints_chain_with_secrets_masked(tmp_path):
    path = tmp_path / "pipeline.toml"
    path.write_text(
        '[[pipeline]]\nplugin = "auth"\nmaster_key = "sk-secret-value"\n'
        '[[pipeline]]\nplugin = "logging"\n'
        '[[models]]\nname = "g"\nprovider = "openai"\napi_key = "sk-upstream-secret"\n'
    )
    result = _cli("check", str(path))
    assert result.returncode == 0, result.stderr
    assert "1. auth" in result.stdout and "2. logging" in result.stdout
    assert "g -> openai:g" in result.stdout
    assert "sk-secret-value" not in result.stdout and "sk-upstream-secret" not in result.stdout
    assert "********" in result.stdout


def test_check_missing_file(tmp_path):
    result = _cli("check", str(tmp_path / "absent.toml"))
    assert result.returncode == 2
    assert "can't read the config file" in result.stderr


def test_plugins_command_lists_builtins_with_package():
    result = _cli("plugins")
    assert result.returncode == 0
    for name in ("auth", "logging", "openai", "mock"):
        assert name in result.stdout
    assert "from litegate " in result.stdout


def test_containers_are_not_coerced():
    found = problems(
        '[[pipeline]]\nplugin = "auth"\nmaster_key = "k"\nkeys = "abc"\n'
        '[[pipeline]]\nplugin = "auth"\nid = "second"\nkeys = [{ name = "a", key = "k" }, "x"]\n'
    )
    assert found == [
        "pipeline[0].keys: expected an array, got 'abc'",
        "pipeline[1].keys[1]: expected a table, got 'x'",
    ]


def test_check_shows_durations_as_seconds(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[[models]]\nname = "m"\nprovider = "mock"\n[[pipeline]]\nplugin = "logging"\n')
    assert "Duration(" not in _cli("check", str(path)).stdout

"""The webhook plugin's pipeline.toml table: defaults, checks, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from litegate_webhook import WebhookPlugin

from litegate import ConfigError, Gateway, parse_config
from litegate.cli import main as litegate_cli


def test_defaults_and_durations(webhook_toml) -> None:
    config = parse_config(webhook_toml("https://hooks.example/in", flush_interval="250ms"))
    entry = config.plugins[0]
    assert entry.plugin == "webhook" and entry.cls is WebhookPlugin
    options = entry.config
    assert options.flush_interval == 0.25
    assert (options.batch_size, options.max_queue, options.max_retries) == (100, 10_000, 3)
    assert options.headers == {}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (
            'url = "ftp://x"',
            'pipeline[0].url: expected an http:// or https:// URL, got scheme "ftp"',
        ),
        ('url = "localhost:8080"', "pipeline[0].url: expected an http:// or https:// URL"),
        ('url = "http://"', "pipeline[0].url: expected a URL with a host"),
        ('url = "http://h:port/"', "pipeline[0].url: the URL's port is not a number"),
        ("batch_size = 0", "pipeline[0].batch_size: expected at least 1, got 0"),
        ("max_retries = -1", "pipeline[0].max_retries: expected at least 0, got -1"),
        ('flush_interval = "12x"', 'pipeline[0].flush_interval: expected a duration like "10m"'),
        ("flush_interval = 0", "pipeline[0].flush_interval: expected a duration above zero"),
        ('headers = { "x-token" = 1 }', "pipeline[0].headers[x-token]: expected a string"),
        ('headers = { "bad name" = "v" }', "pipeline[0].headers: 'bad name' is not a valid"),
        ("bogus = 1", "pipeline[0].bogus: unknown key (known keys: url, headers, batch_size"),
    ],
)
def test_bad_config_names_the_toml_path(line: str, problem: str) -> None:
    url = "" if line.startswith("url") else 'url = "http://127.0.0.1:9/events"\n'
    toml = f'[[pipeline]]\nplugin = "webhook"\n{url}{line}\n'
    with pytest.raises(ConfigError) as caught:
        Gateway.from_toml(toml, env={})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(problem)


def test_url_is_required() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[[pipeline]]\nplugin = "webhook"\n')
    assert caught.value.problems == ["pipeline[0].url: required key is missing"]


def test_a_url_error_does_not_echo_the_url() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[[pipeline]]\nplugin = "webhook"\nurl = "ftp://user:hunter2@x/"\n')
    assert "hunter2" not in caught.value.render()


def test_check_shows_the_plugin_with_header_values_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pipeline.toml"
    path.write_text(
        '[[pipeline]]\nplugin = "webhook"\nurl = "https://hooks.example/in"\n'
        'headers = { authorization = "Bearer ${HOOK_TOKEN}" }\n'
        '[[models]]\nname = "m"\nprovider = "mock"\n'
    )
    monkeypatch.setenv("HOOK_TOKEN", "tok-sensitive")
    assert litegate_cli(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1. webhook" in out and "url=https://hooks.example/in" in out
    assert "tok-sensitive" not in out and "********" in out

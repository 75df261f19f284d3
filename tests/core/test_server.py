"""`litegate.server`: the refusal to expose a gateway that authenticates nobody."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from litegate import parse_config
from litegate.server import exposure_problem

OPEN = """
[[models]]
name = "m"
provider = "mock"
"""
GUARDED = (
    """
[[pipeline]]
plugin = "auth"
master_key = "sk-x"
"""
    + OPEN
)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_is_always_fine(host):
    assert exposure_problem(parse_config(OPEN), host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "gateway.internal"])
def test_other_addresses_need_authentication_or_an_explicit_yes(host):
    problem = exposure_problem(parse_config(OPEN), host)
    assert problem is not None and "allow_unauthenticated" in problem
    assert exposure_problem(parse_config(GUARDED), host) is None
    explicit = "[server]\nallow_unauthenticated = true\n" + OPEN
    assert exposure_problem(parse_config(explicit), host) is None


def test_serve_refuses_before_binding(tmp_path: Path):
    config = tmp_path / "pipeline.toml"
    config.write_text(OPEN)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "litegate.cli",
            "serve",
            "--config",
            str(config),
            "--host",
            "0.0.0.0",
            "--port",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no plugin in [[pipeline]] authenticates callers" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("reload", ["off", "signal"])
async def test_after_start_runs_once_the_plugins_have_started(tmp_path, reload):
    """`litegate.asgi` freezes the garbage collector's view again after start-up (so a
    database engine's or a tokenizer's objects are not scanned by every full collection):
    the hook runs after `Gateway.start()`, on both kinds of app."""
    from litegate import Gateway
    from litegate.app import create_app
    from litegate.reload import ReloadableApp

    path = tmp_path / "pipeline.toml"
    path.write_text(f'[server]\nreload = "{reload}"\n[[models]]\nname = "m"\nprovider = "mock"\n')
    gateway = Gateway.from_config(path)
    seen = []
    hook = lambda: seen.append(gateway.ready)  # noqa: E731 - a one-line probe
    app = (
        create_app(gateway, after_start=hook)
        if reload == "off"
        else ReloadableApp(path, gateway, after_start=hook)
    )
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert seen == [True]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]

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

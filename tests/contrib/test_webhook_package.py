"""contrib/litegate-webhook is a real distribution: pip installs it, its entry point makes
`plugin = "webhook"` work, and `litegate plugins` names the distribution it came from."""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import pytest

from litegate import loader

PACKAGE = Path(__file__).resolve().parents[2] / "contrib" / "litegate-webhook"


def install_lock_path(package_dir: Path) -> Path:
    # Twin of the one in contrib/litegate-webhook/tests/conftest.py, whose tests hold this
    # lock shared while they run, so the re-install below never swaps the package under them.
    key = hashlib.sha256(f"{sys.prefix}\0{package_dir}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"litegate-contrib-install-{key}.lock"


def _build_isolation() -> list[str]:
    # Build offline when this venv already has the backend the package asks for
    # (setuptools >= 70.1); otherwise pip fetches it from the package index.
    major, minor = (int(part) for part in version("setuptools").split(".")[:2])
    return ["--no-build-isolation"] if (major, minor) >= (70, 1) else []


@pytest.fixture(scope="module")
def installed() -> None:
    """`pip install -e contrib/litegate-webhook`, once per test run even across xdist workers."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid-{os.getpid()}"
    lock_path = install_lock_path(PACKAGE)
    done = lock_path.with_suffix(".done")
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (done.exists() and done.read_text() == run):
                command = [sys.executable, "-m", "pip", "install", "--no-deps"]
                command += [*_build_isolation(), "--editable", str(PACKAGE)]
                result = subprocess.run(
                    command,
                    capture_output=True,
                    text=True,
                    timeout=100,
                    env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                )
                assert result.returncode == 0, result.stdout + result.stderr
                done.write_text(run)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    importlib.invalidate_caches()


def test_the_entry_point_is_discovered(installed: None) -> None:
    assert "webhook" in loader.available_plugins()
    (found,) = [d for d in loader.discover() if d.name == "webhook"]
    assert found.group == "litegate.plugins"
    assert found.target == "litegate_webhook:WebhookPlugin"
    assert found.package == "litegate-webhook 0.1.0"


def test_litegate_plugins_lists_it_with_its_distribution(installed: None) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "litegate.cli", "plugins"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (line,) = [line for line in result.stdout.splitlines() if line.split()[:1] == ["webhook"]]
    assert "litegate_webhook:WebhookPlugin" in line
    assert line.endswith("from litegate-webhook 0.1.0")


# Runs in a fresh interpreter, as an operator's process would: nothing imported beforehand.
_DELIVER = """
import asyncio, json
import litegate_webhook
from litegate import Gateway
from litegate_webhook.testing import WebhookReceiver

PIPELINE = '''
[[pipeline]]
plugin = "webhook"
url = "RECEIVER_URL"
batch_size = 10
flush_interval = "50ms"
headers = { authorization = "Bearer ${HOOK_TOKEN}" }

[[models]]
name = "m"
provider = "mock"
'''

async def calls(gateway):
    async with gateway:
        for _ in range(2):
            await gateway.chat(model="m", messages=[{"role": "user", "content": "hi"}])

with WebhookReceiver() as receiver:
    toml = PIPELINE.replace("RECEIVER_URL", receiver.url)
    gateway = Gateway.from_toml(toml, env={"HOOK_TOKEN": "t0k"})
    asyncio.run(calls(gateway))
    print(json.dumps({
        "module": type(gateway.plugins[0]).__module__,
        "file": litegate_webhook.__file__,
        "events": receiver.events,
        "authorization": [r["authorization"] for r in receiver.requests],
    }))
"""


def test_a_gateway_from_toml_loads_it_and_delivers_events(installed: None, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", _DELIVER],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["module"] == "litegate_webhook._plugin"
    assert Path(seen["file"]).is_relative_to(PACKAGE / "src")  # the editable install
    assert [(e["model"], e["status"], e["provider"]) for e in seen["events"]] == [
        ("m", 200, "mock"),
        ("m", 200, "mock"),
    ]
    assert seen["authorization"] == ["Bearer t0k"]

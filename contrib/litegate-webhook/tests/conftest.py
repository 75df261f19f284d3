"""Fixtures for the webhook plugin's tests (litegate's own fixtures load via pytest11)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litegate_webhook.testing import WebhookReceiver

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def install_lock_path(package_dir: Path) -> Path:
    # Twin of the one in tests/contrib/test_webhook_package.py, which re-installs this
    # package while other xdist workers may be running these tests: the same venv and
    # package give the same lock.
    key = hashlib.sha256(f"{sys.prefix}\0{package_dir}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"litegate-contrib-install-{key}.lock"


@pytest.fixture(autouse=True)
def _not_while_reinstalling() -> Iterator[None]:
    """Hold a shared lock so a concurrent `pip install -e` never swaps the package mid-test."""
    with open(install_lock_path(PACKAGE_DIR), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    return json.dumps(value)  # strings, ints and booleans are written alike in TOML


@pytest.fixture
def webhook_toml() -> Callable[..., str]:
    """``webhook_toml(url, batch_size=2, ...)``: a pipeline of the webhook plugin alone, in
    front of the offline `mock` provider under the alias "m"."""

    def build(url: str, *, before: str = "", **options: Any) -> str:
        lines = [before, "[[pipeline]]", 'plugin = "webhook"', f"url = {json.dumps(url)}"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in options.items()]
        lines += ["", "[[models]]", 'name = "m"', 'provider = "mock"', ""]
        return "\n".join(lines)

    return build

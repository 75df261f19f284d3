"""What a provider adapter is, and helpers every adapter uses.

An adapter is a plain class registered under the ``litegate.providers`` entry-point group,
with one ``@hookimpl provider_call(call, deployment)``. Class attributes tell the core how to
build its deployments; an attrs ``Options`` class declares its extra `[[models]]` keys.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from .ids import random_id

__all__ = ["ProviderAdapter", "completion_id", "now"]


class ProviderAdapter:
    #: Used when a `[[models]]` entry has no ``api_base``.
    default_api_base: ClassVar[str | None] = None
    #: Environment variable read when a `[[models]]` entry has no ``api_key``.
    api_key_env: ClassVar[str | None] = None
    #: False for adapters that never open HTTP connections (no pooled client is made).
    uses_http: ClassVar[bool] = True
    #: An attrs class for provider-specific `[[models]]` keys, or None.
    Options: ClassVar[Any] = None

    def api_base_for(self, options: Any) -> str | None:
        """The upstream base URL for a `[[models]]` entry without ``api_base``.

        Override when it depends on the entry's options (a region, a location)."""
        return self.default_api_base

    def check_deployment(self, deployment: Any) -> str | None:
        """A problem with a deployment's settings, found at start-up, or None."""
        return None


def completion_id(prefix: str = "chatcmpl") -> str:
    return f"{prefix}-{random_id()[:24]}"


def now() -> int:
    return int(time.time())

"""The ASGI app for any ASGI server: ``hypercorn "litegate.asgi:app"``.

The config path comes from ``LITEGATE_CONFIG`` (default ``pipeline.toml``). A bad config
prints its problems and exits with status 2 -- no traceback.
"""

from __future__ import annotations

import os
import sys

from .app import create_app
from .config_errors import ConfigError
from .gateway import Gateway

__all__ = ["app"]


def _build() -> object:
    path = os.environ.get("LITEGATE_CONFIG", "pipeline.toml")
    try:
        return create_app(Gateway.from_config(path))
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        raise SystemExit(2) from None


app = _build()

"""The ASGI app for any ASGI server: ``hypercorn "litegate.asgi:app"``.

The config path comes from ``LITEGATE_CONFIG`` (default ``pipeline.toml``). A bad config
prints its problems and exits with status 2 -- no traceback.
"""

from __future__ import annotations

import logging
import os
import sys

from .app import create_app
from .config_errors import ConfigError
from .gateway import Gateway

__all__ = ["app"]


def _build() -> object:
    if not logging.getLogger().handlers:
        # The app's own entry point: make plugin warnings and errors visible on stderr,
        # unless the server (or the user) configured logging already.
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    path = os.environ.get("LITEGATE_CONFIG", "pipeline.toml")
    try:
        return create_app(Gateway.from_config(path))
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        raise SystemExit(2) from None


app = _build()

"""The ASGI app for any ASGI server: ``hypercorn "litegate.asgi:app"``.

The config path comes from ``LITEGATE_CONFIG`` (default ``pipeline.toml``). A bad config
prints its problems and exits with status 2 -- no traceback. Unless ``[server] reload`` is
"off", the app reloads the file in place (`litegate.reload`).
"""

from __future__ import annotations

import os
import sys

from .app import create_app
from .config_errors import ConfigError
from .gateway import Gateway
from .gc_tuning import tune_gc
from .logs import configure as configure_logging
from .reload import ReloadableApp

__all__ = ["app"]


def _build() -> object:
    path = os.environ.get("LITEGATE_CONFIG", "pipeline.toml")
    try:
        gateway = Gateway.from_config(path)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        raise SystemExit(2) from None
    # The app's own entry point: make plugin warnings and errors visible on stderr (as text
    # or JSON lines, `[server] log_format`), unless logging is configured already.
    configure_logging(gateway.config.server.log_format)
    if gateway.config.server.reload == "off":
        built: object = create_app(gateway, after_start=tune_gc)
    else:  # the same app behind a swappable reference (see litegate.reload)
        built = ReloadableApp(path, gateway, after_start=tune_gc)
    tune_gc()
    return built


app = _build()

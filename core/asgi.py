"""The ASGI app for any ASGI server: ``hypercorn "litegate.asgi:app"``.

The config path comes from ``LITEGATE_CONFIG`` (default ``pipeline.toml``). A bad config
prints its problems and exits with status 2 -- no traceback. Unless ``[server] reload`` is
"off", the app reloads the file in place (`litegate.reload`).
"""

from __future__ import annotations

import gc
import os
import sys

from .app import create_app
from .config_errors import ConfigError
from .gateway import Gateway
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
        built: object = create_app(gateway, after_start=_tune_gc)
    else:  # the same app behind a swappable reference (see litegate.reload)
        built = ReloadableApp(path, gateway, after_start=_tune_gc)
    _tune_gc()
    return built


def _tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running server process.

    Each call allocates a few hundred short-lived objects, so CPython's default first-
    generation threshold (700) collects every couple of calls; with hundreds of calls in
    flight that was ~100 us a call in the benchmark. Everything imported and built at
    start-up is moved out of the collector's sight (it lives as long as the process): once
    when the app is built, and again when the plugins have started (a database engine, a
    tokenizer and their imports are ~50k objects, ~20 ms per full collection).
    """
    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(10_000, gen1, gen2)


app = _build()

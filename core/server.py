"""Running the gateway under Hypercorn (``litegate serve``)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from hypercorn.config import Config as HypercornConfig
from hypercorn.run import run

from .config import GatewayConfig

__all__ = ["hypercorn_config", "serve"]


def hypercorn_config(config: GatewayConfig, host: str, port: int, workers: int) -> HypercornConfig:
    hc = HypercornConfig()
    hc.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    # workers = 0 runs in this process; hypercorn spawns processes only for more than one.
    hc.workers = 0 if workers == 1 else workers
    hc.application_path = "litegate.asgi:app"
    hc.worker_class = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    hc.h11_max_incomplete_size = int(config.server.max_header_size)
    hc.keep_alive_timeout = float(config.server.keep_alive_timeout)
    hc.graceful_timeout = float(config.server.graceful_timeout)
    hc.accesslog = None  # the `logging` plugin writes one line per call, with more in it
    return hc


def serve(config: GatewayConfig, path: Path, host: str, port: int, workers: int) -> int:
    # Workers (and the in-process worker) build their app from litegate.asgi, which reads this.
    os.environ["LITEGATE_CONFIG"] = str(path.resolve())
    try:
        return run(hypercorn_config(config, host, port, workers))
    except OSError as exc:  # binding failed: say so, without Hypercorn's traceback
        print(f"litegate: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1

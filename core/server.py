"""Running the gateway under Hypercorn (``litegate serve``)."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypercorn.config import Config as HypercornConfig
from hypercorn.run import run

from .config import GatewayConfig
from .markers import PROJECT

__all__ = ["exposure_problem", "hypercorn_config", "serve"]


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


def exposure_problem(config: GatewayConfig, host: str) -> str | None:
    """Why serving `config` on `host` would be unsafe, or None.

    A gateway that authenticates nobody spends its provider keys for whoever reaches it: on
    a loopback address that is the machine's own users; on any other, the network. Refused
    unless `[server] allow_unauthenticated` says the operator means it (a private network
    behind an authenticating proxy, for instance).
    """
    if config.server.allow_unauthenticated or _is_loopback(host):
        return None
    if any(_implements(entry.cls, "authenticate") for entry in config.plugins):
        return None
    return (
        f"refusing to serve on {host}: no plugin in [[pipeline]] authenticates callers, so "
        "anyone who can reach this address could use your provider keys. Add the `auth` "
        "plugin, listen on 127.0.0.1, or set [server] allow_unauthenticated = true."
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _implements(cls: type, hook: str) -> bool:
    method = getattr(cls, hook, None)
    return method is not None and hasattr(method, f"{PROJECT}_impl")


def serve(config: GatewayConfig, path: Path, host: str, port: int, workers: int) -> int:
    problem = exposure_problem(config, host)
    if problem is not None:
        print(f"litegate: {problem}", file=sys.stderr)
        return 2
    # Workers (and the in-process worker) build their app from litegate.asgi, which reads this.
    os.environ["LITEGATE_CONFIG"] = str(path.resolve())
    os.environ["LITEGATE_WORKERS"] = str(workers)
    with tempfile.TemporaryDirectory(prefix="litegate-run-") as run_dir:
        # One scratch directory per server run, shared by its workers (and wiped at exit):
        # the metrics plugin keeps every worker's Prometheus values there, so /metrics on any
        # worker shows the sum of all (prometheus_client's multiprocess mode).
        os.environ["LITEGATE_RUN_DIR"] = run_dir
        metrics_dir = os.path.join(run_dir, "prometheus")
        os.mkdir(metrics_dir)
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
        return _run(config, hypercorn_config(config, host, port, workers), host, port)


def _run(config: GatewayConfig, hc: HypercornConfig, host: str, port: int) -> int:
    try:
        if hc.workers > 1 and config.server.reload != "off":
            # Hypercorn's own supervisor restarts every worker on SIGHUP; ours forwards it.
            from .reload import serve_workers

            return serve_workers(hc, _worker_func(hc))
        return run(hc)
    except OSError as exc:  # binding failed: say so, without Hypercorn's traceback
        print(f"litegate: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1


def _worker_func(hc: HypercornConfig) -> Any:
    from hypercorn.asyncio.run import asyncio_worker, uvloop_worker

    return uvloop_worker if hc.worker_class == "uvloop" else asyncio_worker

"""`litegate serve` in subprocesses, for tests of what only real processes show: several
Hypercorn workers sharing a store, several gateways sharing Redis and a database."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from .server import free_port

__all__ = ["litegate_serve", "serve_processes"]


@contextmanager
def serve_processes(
    config: Path,
    *,
    workers: int = 1,
    count: int = 1,
    output: list[str] | None = None,
    ready_within: float = 60.0,
) -> Iterator[list[str]]:
    """`count` ``litegate serve --config CONFIG --workers WORKERS`` processes on free ports,
    started side by side and waited for until ready (a loaded machine starts two workers
    slowly: a minute is allowed); their base URLs. What each printed is appended to
    `output` when they stop (it goes to a file meanwhile, so a chatty server never blocks
    on a full pipe). The environment's ``LITEGATE_*``/``OPENAI_*`` variables are left out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LITEGATE_", "OPENAI_"))}
    binary = str(Path(sys.executable).parent / "litegate")
    started: list[tuple[subprocess.Popen[bytes], str, tempfile._TemporaryFileWrapper[bytes]]] = []
    try:
        for _ in range(count):
            port = free_port()
            # Closed in the `finally` below, once the process has stopped.
            log = tempfile.NamedTemporaryFile(prefix="litegate-serve-", suffix=".log")  # noqa: SIM115
            process = subprocess.Popen(
                [binary, "serve", "--config", str(config), "--port", str(port),
                 "--workers", str(workers)],
                cwd=config.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            started.append((process, f"http://127.0.0.1:{port}", log))
        deadline = time.monotonic() + ready_within
        for process, url, log in started:
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"server exited: {_read(log)}")
                try:
                    if httpx.get(url + "/health/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"server did not become ready: {_read(log)[-2000:]}")
                time.sleep(0.1)
        yield [url for _process, url, _log in started]
    finally:
        for process, _url, _log in started:
            if process.poll() is None:
                process.terminate()
        for process, _url, log in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if output is not None:
                output.append(_read(log))
            log.close()


@contextmanager
def litegate_serve(config: Path, workers: int = 1, **options: object) -> Iterator[str]:
    """One `serve_processes` process; its base URL."""
    with serve_processes(config, workers=workers, **options) as (url,):  # type: ignore[arg-type]
        yield url


def _read(log: tempfile._TemporaryFileWrapper[bytes]) -> str:
    log.flush()
    with open(log.name, "rb") as handle:
        return handle.read().decode(errors="replace")

"""Serving a Gateway over real sockets from a test, with Hypercorn in a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Self

from hypercorn.asyncio import serve
from hypercorn.config import Config

from ..app import create_app
from ..gateway import Gateway

__all__ = ["GatewayServer", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BackgroundServer:
    """Runs an ASGI app under Hypercorn on 127.0.0.1 in a thread with its own event loop."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"server:{self.port}")
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            raise RuntimeError(f"test server did not start: {self._error!r}")
        return self

    def _run(self) -> None:
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 1

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            task = asyncio.ensure_future(serve(self.app, config, shutdown_trigger=self._stop.wait))
            await self._wait_listening()
            self._ready.set()
            await task

        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _wait_listening(self) -> None:
        for _ in range(500):
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.01)
                continue
            writer.close()
            return

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class GatewayServer(BackgroundServer):
    """A Gateway served over HTTP; `base_url` is what an OpenAI SDK client wants."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        super().__init__(create_app(gateway))
        self.base_url = self.url + "/v1"

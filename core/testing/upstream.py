"""The base of every fake upstream: an aiohttp server in a background thread on 127.0.0.1.

A fake says which routes it serves (`add_routes`); starting, stopping and the context-manager
protocol are the same for all of them.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Self

from aiohttp import web

from .server import free_port

__all__ = ["FakeUpstream"]


class FakeUpstream:
    #: Used in the thread's name and in start-up errors.
    name = "fake upstream"

    def __init__(self) -> None:
        self.port = free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.name)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"the {self.name} did not start")
        return self

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        self.add_routes(app)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

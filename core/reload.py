"""Hot reload: build a new Gateway from the changed config and swap it in atomically.

`ReloadableApp` is the ASGI app ``litegate.asgi`` serves when ``[server] reload`` is not
"off". It holds the current *generation* (a Gateway and the app built on it) and counts the
requests each generation serves. A reload -- SIGHUP, a change of the file (``watch``), or
``POST /admin/v1/config/reload`` -- reads and validates the file, builds and starts a new
Gateway, then swaps it in: new requests go to it at once, requests in flight (streams too)
finish on the old one, which is closed when its last request ends. When anything fails (bad
TOML, unknown plugin, a failing start-up hook) the old generation keeps serving and the error
is logged and shown by ``GET /admin/v1/config``.

With several Hypercorn workers each worker reloads by itself: the file watcher runs in every
worker, `serve_workers` forwards SIGHUP to every worker, and the admin API publishes the
request on the `[state] kv` channel ``config.reload`` (a shared ``disk:`` or ``redis://``
store reaches every worker; ``memory:`` only the one that was asked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import time
import tomllib
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .app import create_app
from .call import Principal
from .config import load_config
from .config_errors import ConfigError
from .gateway import Gateway
from .ids import random_id
from .route_auth import Handler, guarded

__all__ = ["CHANNEL", "ReloadableApp", "mask_config", "reloader_for", "serve_workers"]

log = logging.getLogger("litegate.reload")

#: The `[state] kv` channel on which a reload asked of one worker reaches the others.
CHANNEL = "config.reload"
CONFIG_PATH = "/admin/v1/config"
RELOAD_PATH = "/admin/v1/config/reload"
MASK = "********"
_SECRET_NAMES = re.compile(r"(?i)(key|secret|token|password|authorization|credential)")
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@]+):[^@/]+@")


class Generation:
    """One config's Gateway and app, and how many requests it is serving."""

    __slots__ = ("active", "app", "gateway", "loaded_at", "number", "raw", "retired")

    def __init__(self, gateway: Gateway, number: int, raw: dict[str, Any]) -> None:
        self.gateway = gateway
        self.app = create_app(gateway)
        self.number = number
        self.raw = raw
        self.loaded_at = time.time()
        self.active = 0
        self.retired = False


#: The reloadable apps of this process, for `reloader_for`.
_APPS: weakref.WeakSet[ReloadableApp] = weakref.WeakSet()


def reloader_for(gateway: Gateway) -> ReloadableApp | None:
    """The `ReloadableApp` serving `gateway` as its current generation (None when the gateway
    is not served with hot reload): lets a plugin (the admin UI) show and reload the config."""
    for app in list(_APPS):
        if app.current.gateway is gateway:
            return app
    return None


class ReloadableApp:
    def __init__(
        self,
        path: str | os.PathLike[str],
        gateway: Gateway,
        after_start: Callable[[], None] | None = None,
    ) -> None:
        self.path = Path(path).resolve()
        self._after_start = after_start
        self.mode = gateway.config.server.reload
        self.current = Generation(gateway, 1, _read_raw(self.path))
        self.last_error: dict[str, Any] | None = None
        self._workers = int(os.environ.get("LITEGATE_WORKERS", gateway.config.server.workers))
        self._lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._triggers: list[asyncio.Task[Any]] = []
        self._stop: asyncio.Event | None = None
        self._state: Any = None
        _APPS.add(self)

    @property
    def gateway(self) -> Gateway:
        return self.current.gateway

    # -- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind == "http" and scope["path"] in (CONFIG_PATH, RELOAD_PATH):
            await self._admin(scope, receive, send)
            return
        generation = self.current
        generation.active += 1
        try:
            await generation.app(scope, receive, send)
        finally:
            generation.active -= 1
            if generation.retired and not generation.active:
                self._spawn(self._close(generation))

    async def _lifespan(self, receive: Any, send: Any) -> None:
        await receive()  # lifespan.startup
        try:
            await self.gateway.start()
            await self._start_triggers()
        except BaseException as exc:
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        if self._after_start is not None:
            self._after_start()
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await self._stop_triggers()
        await self.gateway.aclose()
        await send({"type": "lifespan.shutdown.complete"})

    async def _admin(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        methods: tuple[str, ...]
        handler: Handler
        if scope["path"] == RELOAD_PATH:
            methods, handler, roles = ("POST",), self._reload_route, {"admin"}
        else:
            methods, handler, roles = ("GET", "HEAD"), self._show_config, {"admin", "viewer"}
        if request.method not in methods:
            response: Response = JSONResponse(
                {"error": {"message": "Method not allowed.", "code": "method_not_allowed"}}, 405
            )
        else:  # authenticated by the *current* gateway's auth plugins
            response = await guarded(self.gateway, handler, roles=roles)(request)
        # These routes are answered before the request-id middleware of the app they front.
        response.headers["x-request-id"] = random_id()
        await response(scope, receive, send)

    # -- reloading ---------------------------------------------------------------------

    async def reload(self, reason: str) -> bool:
        """Build a gateway from the file and swap it in; False (old one kept) on failure."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            gateway: Gateway | None = None
            try:
                raw = _read_raw(self.path)
                config = load_config(self.path)
                gateway = Gateway(config)
                generation = Generation(gateway, self.current.number + 1, raw)
                await gateway.start()
            except Exception as exc:
                message = exc.render() if isinstance(exc, ConfigError) else f"{exc!r}"
                self.last_error = {"at": time.time(), "reason": reason, "message": message}
                log.error(
                    "config reload (%s) failed; still serving the old config:\n%s", reason, message
                )
                if gateway is not None:
                    with contextlib.suppress(Exception):
                        await gateway.aclose()
                return False
            old, self.current = self.current, generation
            self.last_error = None
            _warn_about_server_changes(old.gateway, gateway)
            old.retired = True
            if not old.active:
                self._spawn(self._close(old))
            log.info(
                "config reloaded (%s): generation %d, models %s",
                reason,
                generation.number,
                ", ".join(gateway.model_names()),
            )
            return True

    async def _close(self, generation: Generation) -> None:
        try:
            await generation.gateway.aclose()
        except Exception:
            log.exception("closing the previous config's gateway failed")

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- triggers ----------------------------------------------------------------------

    async def _start_triggers(self) -> None:
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload("SIGHUP")))
        if self.mode == "watch":
            self._triggers.append(asyncio.ensure_future(self._watch(self._stop)))
        if self._workers > 1:  # in the background: start-up does not wait for it
            self._triggers.append(asyncio.ensure_future(self._listen()))

    async def _stop_triggers(self) -> None:
        if self._stop is not None:
            self._stop.set()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        for task in self._triggers:
            task.cancel()
        for task in [*self._triggers, *self._tasks]:  # reloads and closes finish first
            with contextlib.suppress(BaseException):
                await task
        if self._state is not None:
            await self._state.aclose()

    async def _watch(self, stop: asyncio.Event) -> None:
        import watchfiles

        path = self.path

        def is_config(_change: Any, changed: str) -> bool:
            return Path(changed) == path

        async for _changes in watchfiles.awatch(
            path.parent, watch_filter=is_config, stop_event=stop, debounce=200, step=50
        ):
            try:
                if _read_raw(path) == self.current.raw:
                    continue  # saved without a change
            except ConfigError:
                pass  # the reload reports it
            await self.reload("file changed")

    async def _listen(self) -> None:
        from .state import open_state

        kv = self.gateway.config.state
        self._state = state = await open_state(kv.kv, prefix=kv.prefix)
        me = f"{os.getpid()}".encode()
        async with state.subscribe(CHANNEL) as messages:
            async for message in messages:
                if message is not None and message != me:
                    await self.reload("admin API (another worker)")

    # -- admin routes ------------------------------------------------------------------

    async def reload_and_announce(self, reason: str) -> bool:
        """`reload`, then (when it worked) ask the other workers to reload too."""
        ok = await self.reload(reason)
        if ok and self._state is not None:
            await self._state.publish(CHANNEL, f"{os.getpid()}".encode())
        return ok

    async def _reload_route(self, _request: Request, principal: Principal) -> Response:
        log.info("config reload requested through the admin API by %s", principal.id)
        ok = await self.reload_and_announce("admin API")
        if not ok:
            assert self.last_error is not None
            return JSONResponse(
                {
                    "error": {
                        "message": "The new config was rejected; the old one keeps serving.\n"
                        + self.last_error["message"],
                        "type": "invalid_request_error",
                        "code": "invalid_config",
                    }
                },
                422,
            )
        return JSONResponse({"reloaded": True, **self._status()})

    async def _show_config(self, _request: Request, _principal: Principal) -> Response:
        return JSONResponse({**self._status(), "config": mask_config(self.current.raw)})

    def status(self) -> dict[str, Any]:
        """What ``GET /admin/v1/config`` says besides the config: generation, models, the
        last reload error."""
        return self._status()

    def _status(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "generation": self.current.number,
            "loaded_at": self.current.loaded_at,
            "reload": self.mode,
            "worker_pid": os.getpid(),
            "models": self.gateway.model_names(),
            "last_error": self.last_error,
        }


def mask_config(raw: Any, name: str = "") -> Any:
    """The config as written, with secret-looking values (api keys, tokens, passwords,
    header values, passwords in URLs) masked. ``${VAR}`` references stay as written."""
    if isinstance(raw, Mapping):
        headers = name.lower().endswith("headers")
        return {
            key: MASK
            if (headers or _SECRET_NAMES.search(str(key))) and isinstance(value, str)
            else mask_config(value, str(key))
            for key, value in raw.items()
        }
    if isinstance(raw, list):
        return [mask_config(item, name) for item in raw]
    if isinstance(raw, str):
        return _URL_PASSWORD.sub(rf"\1:{MASK}@", raw)
    return raw


def _read_raw(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"can't read the config file: {exc}"], str(path)) from None


def _warn_about_server_changes(old: Gateway, new: Gateway) -> None:
    before, after = old.config.server, new.config.server
    changed = [
        field
        for field in ("host", "port", "workers", "max_header_size", "keep_alive_timeout")
        if getattr(before, field) != getattr(after, field)
    ]
    if changed:
        log.warning("config reload: [server] %s changed; that takes a restart", ", ".join(changed))


def serve_workers(config: Any, worker_func: Any) -> int:
    """Hypercorn's multi-worker supervisor, except that SIGHUP is forwarded to the workers
    (each reloads its config in place) instead of restarting them."""
    from multiprocessing import get_context
    from multiprocessing.connection import wait

    sockets = config.create_sockets()
    context = get_context("spawn")
    shutdown_event = context.Event()
    processes = []
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for _ in range(config.workers):
        process = context.Process(
            target=worker_func,
            kwargs={"config": config, "shutdown_event": shutdown_event, "sockets": sockets},
        )
        process.start()
        processes.append(process)

    def forward(*_args: Any) -> None:
        for process in processes:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGHUP)

    def shutdown(*_args: Any) -> None:
        shutdown_event.set()

    signal.signal(signal.SIGHUP, forward)
    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    wait(process.sentinel for process in processes)
    shutdown_event.set()
    for process in processes:
        process.join(float(config.graceful_timeout) + 5)
        if process.is_alive():
            process.terminate()
    for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
        sock.close()
    return max((process.exitcode or 0 for process in processes), default=0)

"""The Gateway: one config's plugins, providers and pipeline, usable in-process or over HTTP.

Each Gateway owns its plugin manager, so two configs can live in one process (tests, hot
reload). `litegate.app.create_app(gateway)` serves it over HTTP; `await gw.chat(...)` runs
the very same pipeline with no HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .call import Call, Principal
from .config import GatewayConfig, load_config, parse_config
from .config_errors import ConfigError
from .config_types import Secret
from .deployment import Deployment
from .dispatch import Dispatcher, HookOrderError
from .errors import GatewayError
from .ids import random_id
from .markers import PROJECT
from .pipeline import Pipeline, Run
from .request_limits import RequestLimits
from .state import State, open_state
from .transport import TransportPool

if TYPE_CHECKING:
    from .db import Database

__all__ = ["IN_PROCESS", "Gateway"]

log = logging.getLogger("litegate")

#: The principal of in-process calls: the code that built the Gateway is trusted.
IN_PROCESS = Principal(id="in-process", kind="in-process", role="admin")


class Gateway:
    def __init__(self, config: GatewayConfig, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.transports = TransportPool(config.server.upstream_client)
        problems: list[str] = []
        self.plugins = [self._register_plugin(entry, problems) for entry in config.plugins]
        self.deployments = self._build_deployments(os.environ if env is None else env, problems)
        if problems:
            raise ConfigError(problems, config.source)
        try:
            self.pm.check_pending()
            self.dispatcher = Dispatcher(self.pm, [entry.id for entry in config.plugins])
        except (pluggy.PluginValidationError, HookOrderError) as exc:
            raise ConfigError([str(exc)], config.source) from None
        server = config.server
        limits = RequestLimits(server.max_json_depth, server.max_messages, server.max_tools)
        self.pipeline = Pipeline(self.dispatcher, self.deployments, len(config.plugins), limits)
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._runner: asyncio.Runner | None = None
        self._state: State | None = None
        self._state_lock: asyncio.Lock | None = None
        self._db: Database | None = None
        self._db_lock: asyncio.Lock | None = None

    # -- construction --------------------------------------------------------------------

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str], env: Mapping[str, str] | None = None, **classes: Any
    ) -> Gateway:
        """Build from a pipeline.toml file. `plugins=` / `providers=` name extra classes."""
        return cls(load_config(path, env, **classes), env)

    @classmethod
    def from_toml(cls, text: str, env: Mapping[str, str] | None = None, **classes: Any) -> Gateway:
        """Build from pipeline.toml text. `plugins=` / `providers=` name extra classes."""
        return cls(parse_config(text, env, **classes), env)

    def _register_plugin(self, entry: Any, problems: list[str]) -> Any:
        where = f"pipeline[{entry.index}] ({entry.plugin})"
        try:
            plugin = entry.cls(entry.config) if entry.config is not None else entry.cls()
            self.pm.register(plugin, name=entry.id)
        except pluggy.PluginValidationError as exc:
            problems.append(f"{where}: {exc}")
            return None
        except Exception as exc:
            problems.append(f"{where}: could not be set up: {exc}")
            return None
        return plugin

    def _build_deployments(
        self, env: Mapping[str, str], problems: list[str]
    ) -> dict[str, list[Deployment]]:
        adapters: dict[str, Any] = {}
        by_alias: dict[str, list[Deployment]] = {}
        for entry in self.config.models:
            adapter = adapters.get(entry.provider)
            if adapter is None:
                adapter = adapters[entry.provider] = entry.adapter()
                self.pm.register(adapter, name=f"provider:{entry.provider}")
            api_key = entry.api_key
            key_env = getattr(adapter, "api_key_env", None)
            if api_key is None and key_env and env.get(key_env):
                api_key = Secret(env[key_env])
            default_base = getattr(adapter, "api_base_for", None)
            api_base = entry.api_base or (
                default_base(entry.options)
                if default_base is not None
                else getattr(adapter, "default_api_base", None)
            )
            deployment = Deployment(
                alias=entry.name,
                provider=entry.provider,
                model=entry.model,
                id=f"{entry.name}#{len(by_alias.get(entry.name, ()))}",
                api_key=api_key,
                api_base=api_base,
                timeout=float(entry.timeout),
                connect_timeout=float(entry.connect_timeout),
                options=entry.options,
                drop_unsupported=entry.drop_unsupported,
                routing=entry.router,
                pricing=entry.pricing,
            )
            if api_base and getattr(adapter, "uses_http", True):
                deployment.client = self.transports.client(api_base, entry.max_connections)
            check = getattr(adapter, "check_deployment", None)
            problem = check(deployment) if check is not None else None
            if problem:
                problems.append(f"models[{entry.index}]: {problem}")
            by_alias.setdefault(entry.name, []).append(deployment)
        return by_alias

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._started

    async def start(self) -> None:
        """Run the plugins' start-up hooks (once). In-process calls do this by themselves."""
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self._started:
                await self.dispatcher.each("startup", gateway=self)
                self._started = True

    async def open_state(self) -> State:
        """The `[state] kv` backend, opened on the first call (plugins call this from their
        `startup` hook) and closed by `aclose` after the shutdown hooks. Nothing opens it
        unless a plugin asks, so a gateway without such plugins writes no files. A relative
        ``disk:`` path is resolved against the current working directory."""
        if self._state is not None:
            return self._state
        if self._state_lock is None:
            self._state_lock = asyncio.Lock()
        async with self._state_lock:
            if self._state is None:
                kv = self.config.state
                self._state = await open_state(kv.kv, prefix=kv.prefix)
            return self._state

    async def open_db(self) -> Database:
        """The `[state] db` records database, connected on the first call and migrated to the
        newest schema first when `[state] migrate` is on (the default; safe when several
        workers start at once). Plugins that keep records call this from `startup` or on
        first use; a gateway whose plugins never call it never imports SQLAlchemy."""
        if self._db is not None:
            return self._db
        if self._db_lock is None:
            self._db_lock = asyncio.Lock()
        async with self._db_lock:
            if self._db is None:
                from .db import Database

                db = Database(self.config.state.db)
                await db.connect()
                try:
                    if self.config.state.migrate:
                        await db.upgrade()
                except BaseException:
                    await db.aclose()
                    raise
                self._db = db
            return self._db

    async def aclose(self) -> None:
        if self._started:
            self._started = False
            await self.dispatcher.notify(self.dispatcher.reversed("shutdown"), gateway=self)
        state, self._state = self._state, None
        if state is not None:
            await state.aclose()
        db, self._db = self._db, None
        if db is not None:
            await db.aclose()
        await self.transports.aclose()

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def close(self) -> None:
        """Close what `chat_sync` opened (its private event loop and connections)."""
        if self._runner is not None:
            self._runner.run(self.aclose())
            self._runner.close()
            self._runner = None

    # -- calls ---------------------------------------------------------------------------

    def model_names(self) -> list[str]:
        return list(self.deployments)

    def new_call(
        self,
        endpoint: str,
        request: dict[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        principal: Principal | None = None,
        request_id: str | None = None,
    ) -> Call:
        # Only the shape is checked here; the fields are validated in the pipeline, after
        # authentication, so strangers get 401 rather than hints about the API.
        if not isinstance(request, dict):
            raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json")
        model = request.get("model")
        return Call(
            id=request_id or random_id(),
            endpoint=endpoint,
            request=request,
            alias=model if isinstance(model, str) else "",
            stream=request.get("stream") is True,
            headers=headers or {},
            principal=principal,
        )

    async def run(self, call: Call) -> Run:
        """Start `call` through the pipeline (HTTP routes use this)."""
        if not self._started:
            await self.start()
        return await self.pipeline.start(call)

    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        """Run only the authenticate hooks on `headers` (lower-case names); raises 401."""
        call = Call(id=random_id(), endpoint="auth", request={}, alias="", headers=headers)
        await self.pipeline.authenticate(call)
        return call.principal

    async def _in_process(self, endpoint: str, request: dict[str, Any]) -> Any:
        call = self.new_call(endpoint, request, principal=IN_PROCESS)
        run = await self.run(call)
        if run.stream is not None:
            return run.chunks()
        await run.finish()
        assert run.reply is not None
        return run.reply.data

    async def chat(
        self, *, model: str, messages: list[dict[str, Any]], stream: bool = False, **params: Any
    ) -> Any:
        """A chat completion: the response dict, or with ``stream=True`` an async iterator of
        chunk dicts. Raises `GatewayError` with the status and code an HTTP client would get."""
        request = {"model": model, "messages": messages, **params}
        if stream:
            request["stream"] = True
        return await self._in_process("chat", request)

    async def completions(self, *, model: str, prompt: Any, **params: Any) -> Any:
        return await self._in_process("completions", {"model": model, "prompt": prompt, **params})

    async def embeddings(self, *, model: str, input: Any, **params: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self._in_process(
            "embeddings", {"model": model, "input": input, **params}
        )
        return result

    def chat_sync(self, **kwargs: Any) -> Any:
        """`chat` for code without an event loop; ``stream=True`` gives a plain iterator."""
        if self._runner is None:
            self._runner = asyncio.Runner()
        result = self._runner.run(self.chat(**kwargs))
        if isinstance(result, dict):
            return result
        return self._iterate_sync(result)

    def _iterate_sync(self, chunks: AsyncIterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        assert self._runner is not None
        runner = self._runner
        try:
            while True:
                try:
                    yield runner.run(chunks.__anext__())  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
        finally:
            runner.run(chunks.aclose())  # type: ignore[attr-defined]

"""pipeline.toml: its schema, and loading it into checked, typed objects.

Loading reports every problem at once, each naming its TOML path
(``pipeline[2].ttl: expected a duration like "10m", got "12x"``). Plugin and provider
options are structured into the `Config` / `Options` attrs classes those classes declare,
with the same converter, so third-party config gets the same checks and messages.
"""

from __future__ import annotations

import collections.abc
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.cols import list_structure_factory

from . import loader
from .config_errors import ConfigError, describe
from .config_types import (
    ByteSize,
    Duration,
    Secret,
    parse_byte_size,
    parse_duration,
    parse_secret,
)
from .deployment import DeploymentPricing, DeploymentRouting
from .interpolate import interpolate
from .transport import CLIENTS

__all__ = [
    "ConfigError",
    "GatewayConfig",
    "ModelEntry",
    "PluginEntry",
    "ServerConfig",
    "StateConfig",
    "converter",
    "load_config",
    "parse_config",
]

T = TypeVar("T")


def _strict(kind: type, noun: str) -> Any:
    def structure(value: Any, _type: Any) -> Any:
        # bool is an int in Python, but `port = true` is a mistake, not 1.
        if isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)):
            return value
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"expected {noun}, got {value!r}")

    return structure


converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
converter.register_structure_hook(str, _strict(str, "a string"))
converter.register_structure_hook(int, _strict(int, "an integer"))
converter.register_structure_hook(float, _strict(float, "a number"))
converter.register_structure_hook(bool, _strict(bool, "true or false"))
converter.register_structure_hook(Duration, lambda v, _t: parse_duration(v))
converter.register_structure_hook(ByteSize, lambda v, _t: parse_byte_size(v))
converter.register_structure_hook(Secret, lambda v, _t: parse_secret(v))
converter.register_unstructure_hook(Secret, lambda s: repr(s))
converter.register_unstructure_hook(Duration, float)
converter.register_unstructure_hook(ByteSize, int)


def _is_list(kind: Any) -> bool:
    return typing.get_origin(kind) in (list, collections.abc.Sequence)


def _is_dict(kind: Any) -> bool:
    return typing.get_origin(kind) in (dict, collections.abc.Mapping)


def _strict_container(hook: Any, expected: type, noun: str) -> Any:
    # cattrs would happily turn the string "abc" into ["a", "b", "c"]; a TOML value of the
    # wrong kind is a mistake to report, not to coerce.
    def structure(value: Any, kind: Any) -> Any:
        if not isinstance(value, expected):
            raise ValueError(f"expected {noun}, got {value!r}")
        return hook(value, kind)

    return structure


converter.register_structure_hook_factory(
    _is_list,
    lambda kind, conv: _strict_container(list_structure_factory(kind, conv), list, "an array"),
)
converter.register_structure_hook_factory(
    _is_dict, lambda kind, conv: _strict_container(conv._structure_dict, dict, "a table")
)
converter.register_structure_hook_factory(
    attrs.has,
    lambda kind, conv: _strict_container(conv.gen_structure_attrs_fromdict(kind), dict, "a table"),
)


@attrs.frozen
class ServerConfig:
    """`[server]`: where and how the HTTP server listens."""

    #: Address to listen on. The loopback default serves this machine only.
    host: str = "127.0.0.1"
    #: TCP port to listen on.
    port: int = attrs.field(default=4000)
    #: Hypercorn worker processes; state shared between them lives in `[state]`.
    workers: int = attrs.field(default=1)
    #: Largest request body accepted; larger ones get 413.
    max_body_size: ByteSize = ByteSize(16 * 1024 * 1024)
    #: Largest request head (request line + headers); larger ones are refused by the server.
    max_header_size: ByteSize = ByteSize(16 * 1024)
    #: Most request headers accepted; more get 431.
    max_headers: int = 100
    #: How long an idle keep-alive connection stays open.
    keep_alive_timeout: Duration = Duration(5)
    #: How long a client may take to send its whole request (head and body); slower ones get
    #: 408, so slow clients can't hold a worker.
    request_timeout: Duration = Duration(30)
    #: Deepest JSON nesting accepted in a request body; deeper ones get 400.
    max_json_depth: int = attrs.field(default=32, validator=attrs.validators.ge(4))
    #: Most entries in a request's `messages`; more get 400.
    max_messages: int = attrs.field(default=2048, validator=attrs.validators.ge(1))
    #: Most entries in a request's `tools`; more get 400.
    max_tools: int = attrs.field(default=512, validator=attrs.validators.ge(1))
    #: Requests served at once by each worker; beyond it requests are shed with 503 and
    #: ``Retry-After`` before any work is done (0: no limit).
    max_concurrent_requests: int = attrs.field(default=1024, validator=attrs.validators.ge(0))
    #: Serve on a non-loopback address although no plugin authenticates callers. Without it,
    #: such a gateway refuses to start: anyone who can reach it could spend your provider keys.
    allow_unauthenticated: bool = False
    #: The HTTP client that carries provider calls: ``"h1"`` (litegate's own HTTP/1.1 client on
    #: asyncio and httptools, the cheapest per call) or ``"aiohttp"``.
    upstream_client: str = attrs.field(default="h1", validator=attrs.validators.in_(CLIENTS))
    #: On shutdown, how long requests in flight may take to finish.
    graceful_timeout: Duration = Duration(10)
    #: Hot reload of this file (see docs/observability.md): "off"; "signal" (on SIGHUP and
    #: ``POST /admin/v1/config/reload``); "watch" (also whenever the file changes).
    reload: str = attrs.field(
        default="signal", validator=attrs.validators.in_(("off", "signal", "watch"))
    )
    #: The gateway's own log records on stderr: "text", or "json" (one object per line,
    #: with the request id and trace id of the request being served).
    log_format: str = attrs.field(default="text", validator=attrs.validators.in_(("text", "json")))

    @port.validator
    def _check_port(self, _attr: Any, value: int) -> None:
        if not 0 <= value <= 65535:
            raise ValueError(f"expected a port between 0 and 65535, got {value}")

    @workers.validator
    def _check_workers(self, _attr: Any, value: int) -> None:
        if value < 1:
            raise ValueError(f"expected at least 1 worker, got {value}")


_KV_SCHEMES = ("disk:", "memory:", "redis://", "rediss://")
_DB_SCHEMES = ("sqlite:///", "sqlite+aiosqlite:///", "postgresql://", "postgresql+asyncpg://")


@attrs.frozen
class StateConfig:
    """`[state]`: where shared counters (`kv`) and records (`db`) live."""

    #: Shared counters and caches: "disk:PATH" (one host), "memory:" (one process) or
    #: "redis://host:port/db" (many hosts).
    #: A relative ``disk:`` path is resolved against the working directory.
    kv: str = attrs.field(default="disk:.litegate/kv")
    #: Namespace of this gateway's keys and channels in `kv`: gateways sharing a store with
    #: different configs (other deployments, other tenants) need different prefixes.
    prefix: str = "litegate:"
    #: Records (keys, spend, logs): "sqlite:///PATH" (embedded) or "postgresql://..." .
    db: str = attrs.field(default="sqlite:///.litegate/litegate.db")
    #: Apply the database migrations when the gateway first opens `db`. Turn off to run
    #: ``litegate db upgrade`` as a separate deployment step instead.
    migrate: bool = True

    @kv.validator
    def _check_kv(self, _attr: Any, value: str) -> None:
        if not value.startswith(_KV_SCHEMES) or (
            value.startswith("memory:") and value != "memory:"
        ):
            raise ValueError(
                f'expected "disk:PATH", "memory:" or "redis[s]://HOST:PORT/DB", got {value!r}'
            )

    @db.validator
    def _check_db(self, _attr: Any, value: str) -> None:
        if not value.startswith(_DB_SCHEMES):
            raise ValueError(f"expected one of {', '.join(_DB_SCHEMES)}..., got {value!r}")


@attrs.frozen
class PluginEntry:
    """One `[[pipeline]]` entry, with its plugin class resolved and options structured."""

    index: int
    plugin: str
    id: str
    cls: type
    config: Any


@attrs.frozen
class _ModelCommon:
    #: The alias clients ask for; entries sharing a name are deployments of one alias.
    name: str
    #: The provider adapter (see `litegate plugins` for those installed).
    provider: str
    #: The model name sent upstream; defaults to `name`.
    model: str | None = None
    #: The provider credential; defaults to the provider's standard environment variable.
    api_key: Secret | None = None
    #: The upstream base URL; defaults to the provider's public endpoint.
    api_base: str | None = None
    #: Longest wait for a whole answer (for streams: longest silence between chunks).
    timeout: Duration = Duration(600)
    #: Longest wait to open a connection to the upstream.
    connect_timeout: Duration = Duration(10)
    #: Connections kept open to this deployment's upstream (shared per base URL).
    max_connections: int = 1000
    #: Drop request parameters this provider can't take, instead of answering 400.
    drop_unsupported: bool = False
    #: Settings for the router plugin, as a sub-table: ``router = { weight = 3 }``.
    router: DeploymentRouting = attrs.field(factory=DeploymentRouting)
    #: Prices for the cost plugin, over the shipped table's, as a sub-table:
    #: ``pricing = { input_per_million = 2.5, output_per_million = 10 }``.
    pricing: DeploymentPricing | None = None


_MODEL_COMMON_KEYS = tuple(field.name for field in attrs.fields(_ModelCommon))


@attrs.frozen
class ModelEntry:
    """One `[[models]]` entry: an alias name mapped to a provider deployment."""

    index: int
    name: str
    provider: str
    model: str
    api_key: Secret | None
    api_base: str | None
    timeout: Duration
    connect_timeout: Duration
    max_connections: int
    drop_unsupported: bool
    router: DeploymentRouting
    adapter: type
    options: Any
    pricing: DeploymentPricing | None = None


@attrs.frozen
class GatewayConfig:
    server: ServerConfig
    state: StateConfig
    plugins: tuple[PluginEntry, ...]
    models: tuple[ModelEntry, ...]
    source: str = "<inline>"


def structure(data: Any, cls: type[T], path: str, errors: list[str]) -> T | None:
    """Structure `data` into `cls`; on failure append one message per problem and return None."""
    if not isinstance(data, dict):
        errors.append(f"{path}: expected a table, got {data!r}")
        return None
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # cattrs raises ExceptionGroups and plain errors alike
        errors.extend(describe(exc, path))
        return None


def options_class(owner: type, attr: str) -> type | None:
    cls = getattr(owner, attr, None)
    return cls if isinstance(cls, type) and attrs.has(cls) else None


def load_config(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    plugins: Mapping[str, type] | None = None,
    providers: Mapping[str, type] | None = None,
) -> GatewayConfig:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"can't read the config file: {exc.strerror}"], source) from None
    except UnicodeDecodeError:
        raise ConfigError(["the config file is not UTF-8 text"], source) from None
    return parse_config(text, env, source=source, plugins=plugins, providers=providers)


def parse_config(
    text: str,
    env: Mapping[str, str] | None = None,
    *,
    source: str = "<inline>",
    plugins: Mapping[str, type] | None = None,
    providers: Mapping[str, type] | None = None,
) -> GatewayConfig:
    """Parse and check a pipeline.toml text.

    `plugins` / `providers` map names to classes to use besides the installed entry points
    (a plugin under development, a test); a name given here wins over an installed one.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], source) from None
    errors: list[str] = []
    raw = interpolate(raw, os.environ if env is None else env, "", errors)

    for key in raw:
        if key not in ("server", "state", "pipeline", "models"):
            errors.append(f"{key}: unknown key (known keys: server, state, pipeline, models)")
    server = structure(raw.get("server", {}), ServerConfig, "server", errors)
    state = structure(raw.get("state", {}), StateConfig, "state", errors)
    chain = _plugin_entries(_array(raw, "pipeline", errors), errors, plugins or {})
    models = _model_entries(_array(raw, "models", errors), errors, providers or {})
    if errors:
        raise ConfigError(errors, source)
    assert server is not None and state is not None
    return GatewayConfig(server, state, tuple(chain), tuple(models), source)


def _array(raw: dict[str, Any], key: str, errors: list[str]) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        errors.append(f"{key}: expected an array of tables ([[{key}]]), got {value!r}")
        return []
    return value


def _resolve(
    tables: list[Any], key: str, extra: Mapping[str, type], load: Any
) -> tuple[dict[str, type], set[str]]:
    names = [t.get(key) for t in tables if isinstance(t, dict)]
    wanted = [n for n in names if isinstance(n, str) and n not in extra]
    classes, missing = load(wanted)
    return {**classes, **extra}, missing


def _plugin_entries(
    tables: list[Any], errors: list[str], extra: Mapping[str, type]
) -> list[PluginEntry]:
    classes, missing = _resolve(tables, "plugin", extra, loader.plugin_classes)
    entries: list[PluginEntry] = []
    seen_ids: dict[str, int] = {}
    for index, table in enumerate(tables):
        path = f"pipeline[{index}]"
        if not isinstance(table, dict):
            errors.append(f"{path}: expected a table, got {table!r}")
            continue
        options = dict(table)
        name = options.pop("plugin", None)
        entry_id = options.pop("id", name)
        if not isinstance(name, str):
            errors.append(f"{path}.plugin: required; name the plugin to run here")
            continue
        if name in missing:
            available = ", ".join(loader.available_plugins()) or "none installed"
            errors.append(f'{path}.plugin: unknown plugin "{name}" (available: {available})')
            continue
        if not isinstance(entry_id, str):
            errors.append(f"{path}.id: expected a string, got {entry_id!r}")
            continue
        if entry_id in seen_ids:
            errors.append(
                f'{path}.id: "{entry_id}" is already used by pipeline[{seen_ids[entry_id]}]; '
                "give each repeated plugin its own id"
            )
            continue
        seen_ids[entry_id] = index
        cls = classes[name]
        config_cls = options_class(cls, "Config")
        config = None
        if config_cls is not None:
            config = structure(options, config_cls, path, errors)
            if config is None:
                continue
        elif options:
            errors.extend(f"{path}.{key}: unknown key ({name} takes no options)" for key in options)
            continue
        entries.append(PluginEntry(index, name, entry_id, cls, config))
    return entries


def _model_entries(
    tables: list[Any], errors: list[str], extra: Mapping[str, type]
) -> list[ModelEntry]:
    adapters, missing = _resolve(tables, "provider", extra, loader.provider_classes)
    entries: list[ModelEntry] = []
    for index, table in enumerate(tables):
        path = f"models[{index}]"
        if not isinstance(table, dict):
            errors.append(f"{path}: expected a table, got {table!r}")
            continue
        common_raw = {k: v for k, v in table.items() if k in _MODEL_COMMON_KEYS}
        extra = {k: v for k, v in table.items() if k not in _MODEL_COMMON_KEYS}
        common = structure(common_raw, _ModelCommon, path, errors)
        if common is None:
            continue
        if common.provider in missing:
            available = ", ".join(loader.available_providers()) or "none installed"
            errors.append(
                f'{path}.provider: unknown provider "{common.provider}" (available: {available})'
            )
            continue
        adapter = adapters[common.provider]
        options_cls = options_class(adapter, "Options")
        options: Any = None
        if options_cls is not None:
            try:
                options = converter.structure(extra, options_cls)
            except Exception as exc:
                allowed = _MODEL_COMMON_KEYS + tuple(f.name for f in attrs.fields(options_cls))
                errors.extend(describe(exc, path, allowed))
                continue
        elif extra:
            known = ", ".join(_MODEL_COMMON_KEYS)
            errors.extend(f"{path}.{key}: unknown key (known keys: {known})" for key in extra)
            continue
        if common.api_base is not None and not common.api_base.startswith(("http://", "https://")):
            errors.append(f"{path}.api_base: expected an http(s):// URL, got {common.api_base!r}")
            continue
        entries.append(
            ModelEntry(
                index=index,
                name=common.name,
                provider=common.provider,
                model=common.model or common.name,
                api_key=common.api_key,
                api_base=common.api_base,
                timeout=common.timeout,
                connect_timeout=common.connect_timeout,
                max_connections=common.max_connections,
                drop_unsupported=common.drop_unsupported,
                router=common.router,
                adapter=adapter,
                options=options,
                pricing=common.pricing,
            )
        )
    return entries

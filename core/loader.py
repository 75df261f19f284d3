"""Finding plugins and provider adapters through entry points (the one stevedore module).

Built-ins are registered by our own pyproject under the same groups third parties use, so
there is exactly one way in. Only names the config asks for are imported.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

import attrs
from stevedore import NamedExtensionManager

__all__ = [
    "PLUGIN_GROUP",
    "PROVIDER_GROUP",
    "Discovered",
    "available_plugins",
    "available_providers",
    "discover",
    "plugin_classes",
    "provider_classes",
]

PLUGIN_GROUP = "litegate.plugins"
PROVIDER_GROUP = "litegate.providers"


@attrs.frozen
class Discovered:
    group: str
    name: str
    target: str
    package: str


def _load(group: str, names: list[str]) -> tuple[dict[str, type], set[str]]:
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}, set()
    missing: set[str] = set()
    # stevedore keeps entry points in an on-disk cache keyed by file mtimes, and in a
    # process-wide dict. Both can miss a package installed since (pip keeps the wheel's fixed
    # timestamps), and a plugin that is installed must be found: hand stevedore the current
    # list from importlib.metadata every time we load.
    NamedExtensionManager.ENTRY_POINT_CACHE[group] = _entry_points(group)
    manager = NamedExtensionManager(
        group,
        names=wanted,
        name_order=True,
        invoke_on_load=False,
        on_missing_entrypoints_callback=missing.update,
        on_load_failure_callback=_reraise,
    )
    return {ext.name: ext.plugin for ext in manager}, missing


def _reraise(_manager: Any, entry_point: Any, exc: BaseException) -> None:
    raise RuntimeError(f"entry point {entry_point.name!r} failed to import: {exc}") from exc


def plugin_classes(names: list[str]) -> tuple[dict[str, type], set[str]]:
    """Load the named plugin classes in order; return them and the names not found."""
    return _load(PLUGIN_GROUP, names)


def provider_classes(names: list[str]) -> tuple[dict[str, type], set[str]]:
    return _load(PROVIDER_GROUP, names)


def _entry_points(group: str) -> list[EntryPoint]:
    # Listing must not import anything: importlib.metadata reads names only; stevedore
    # imports (and is used for loading, above).
    return list(entry_points(group=group))


def _names(group: str) -> list[str]:
    return sorted({ep.name for ep in _entry_points(group)})


def available_plugins() -> list[str]:
    return _names(PLUGIN_GROUP)


def available_providers() -> list[str]:
    return _names(PROVIDER_GROUP)


def discover() -> list[Discovered]:
    """Every plugin and provider entry point installed, with the distribution it comes from."""
    found = []
    for group in (PLUGIN_GROUP, PROVIDER_GROUP):
        for ep in _entry_points(group):
            dist = getattr(ep, "dist", None)
            package = f"{dist.name} {dist.version}" if dist is not None else "?"
            found.append(Discovered(group, ep.name, ep.value, package))
    return sorted(found, key=lambda d: (d.group, d.name))

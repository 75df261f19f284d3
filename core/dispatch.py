"""Our dispatcher: runs hook impls in pipeline order and awaits the async ones one by one.

pluggy keeps what it is good at (markers, validation at registration, argument pruning, the
registry), but its own calling can't serve us: a coroutine is never None so `firstresult`
stops at the first async impl, and it orders impls LIFO. Impl lists are computed once here at
start-up; a hook nobody implements is an empty tuple and costs one truth test per request.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import attrs
import pluggy

from .hookspecs import MODES

__all__ = ["Dispatcher", "HookOrderError", "Impl"]

log = logging.getLogger("litegate.dispatch")


class HookOrderError(Exception):
    """A plugin asked pluggy to reorder it; only pipeline.toml decides order."""


@attrs.frozen
class Impl:
    """One plugin's implementation of one hook, ready to call."""

    #: The plugin's position in the pipeline (-1 for provider adapters).
    index: int
    plugin: str
    fn: Callable[..., Any]
    argnames: tuple[str, ...]
    is_async: bool

    async def __call__(self, **kwargs: Any) -> Any:
        result = self.fn(*[kwargs[name] for name in self.argnames])
        if self.is_async:
            result = await result
        return result

    def call_sync(self, **kwargs: Any) -> Any:
        return self.fn(*[kwargs[name] for name in self.argnames])


class Dispatcher:
    def __init__(self, pm: pluggy.PluginManager, order: Sequence[str]) -> None:
        """`order`: the registered plugin names in pipeline order."""
        position = {name: index for index, name in enumerate(order)}
        self._impls: dict[str, tuple[Impl, ...]] = {}
        self._reversed: dict[tuple[str, int | None], tuple[Impl, ...]] = {}
        self.targeted: dict[str, Impl] = {}
        for hook_name, mode in MODES.items():
            caller = getattr(pm.hook, hook_name)
            impls = []
            for hookimpl in caller.get_hookimpls():
                _refuse_reordering(hook_name, hookimpl)
                name = pm.get_name(hookimpl.plugin) or "?"
                fn = hookimpl.function
                is_async = inspect.iscoroutinefunction(fn)
                if hook_name == "on_stream_chunk" and is_async:
                    raise HookOrderError(
                        f"plugin {name!r}: on_stream_chunk must be a plain def (it runs per chunk)"
                    )
                impl = Impl(position.get(name, -1), name, fn, tuple(hookimpl.argnames), is_async)
                if mode == "targeted":
                    self.targeted[name] = impl
                else:
                    impls.append(impl)
            self._impls[hook_name] = tuple(sorted(impls, key=lambda i: i.index))

    def impls(self, hook: str) -> tuple[Impl, ...]:
        return self._impls[hook]

    def reversed(self, hook: str, reached: int | None = None) -> tuple[Impl, ...]:
        """Response-side order; with `reached`, only plugins at or before that position.
        Made once per (hook, reached) -- there are as many as plugins -- not per call."""
        key = (hook, reached)
        found = self._reversed.get(key)
        if found is None:
            impls = self._impls[hook]
            if reached is not None:
                impls = tuple(i for i in impls if i.index <= reached)
            found = self._reversed[key] = impls[::-1]
        return found

    async def first(self, hook: str, **kwargs: Any) -> Any:
        for impl in self._impls[hook]:
            result = await impl(**kwargs)
            if result is not None:
                return result
        return None

    async def each(self, hook: str, **kwargs: Any) -> None:
        for impl in self._impls[hook]:
            await impl(**kwargs)

    async def collect(self, hook: str, **kwargs: Any) -> list[Any]:
        found: list[Any] = []
        for impl in self._impls[hook]:
            result = await impl(**kwargs)
            if result:
                found.extend(result)
        return found

    async def notify(self, impls: Sequence[Impl], **kwargs: Any) -> None:
        for impl in impls:
            try:
                await impl(**kwargs)
            except Exception:
                log.exception(
                    "plugin %r failed in an event hook; the response was not affected", impl.plugin
                )

    async def enter_scopes(self, **kwargs: Any) -> AsyncExitStack | None:
        impls = self._impls["call_scope"]
        if not impls:
            return None
        stack = AsyncExitStack()
        try:
            for impl in impls:
                manager = await impl(**kwargs)
                if manager is not None:
                    await stack.enter_async_context(manager)
        except BaseException:
            await stack.aclose()
            raise
        return stack


def _refuse_reordering(hook_name: str, hookimpl: Any) -> None:
    plugin = getattr(hookimpl, "plugin_name", "?")
    if hookimpl.tryfirst or hookimpl.trylast:
        raise HookOrderError(
            f"plugin {plugin!r}: {hook_name} uses tryfirst/trylast; the order in pipeline.toml "
            "is the only order, so remove the option and move the plugin in the chain"
        )
    if hookimpl.hookwrapper or hookimpl.wrapper:
        raise HookOrderError(
            f"plugin {plugin!r}: {hook_name} is a pluggy wrapper; implement call_scope instead"
        )

"""Calling one plugin's hooks directly, the way the dispatcher would."""

from __future__ import annotations

import inspect
import uuid
from typing import Any

from ..call import Call, Principal

__all__ = ["make_call", "run_hook"]


def make_call(
    request: dict[str, Any] | None = None,
    *,
    endpoint: str = "chat",
    headers: dict[str, str] | None = None,
    principal: Principal | None = None,
) -> Call:
    """A Call as the HTTP layer would build it (defaults: a one-message chat to "test")."""
    request = request or {"model": "test", "messages": [{"role": "user", "content": "hi"}]}
    return Call(
        id=uuid.uuid4().hex,
        endpoint=endpoint,
        request=request,
        alias=request.get("model", "test"),
        stream=request.get("stream") is True,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        principal=principal,
    )


async def run_hook(plugin: Any, hook: str, **kwargs: Any) -> Any:
    """Call `plugin`'s impl of `hook` with the arguments it accepts, awaiting if async."""
    fn = getattr(plugin, hook)
    wanted = inspect.signature(fn).parameters
    result = fn(**{k: v for k, v in kwargs.items() if k in wanted})
    if inspect.isawaitable(result):
        result = await result
    return result

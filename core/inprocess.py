"""Zero-config calls: ``litegate.completion(model="openai/gpt-4o-mini", messages=[...])``.

The provider comes from the model's prefix, the key from the provider's standard environment
variable (``OPENAI_API_KEY``, ...). Each call builds a small Gateway with no plugins and
closes it afterwards: nothing is kept between calls, so there is no module-level state.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from .config import parse_config
from .gateway import Gateway

__all__ = ["acompletion", "completion", "gateway_for_model"]


def gateway_for_model(
    model: str, env: Mapping[str, str] | None = None, api_base: str | None = None
) -> Gateway:
    provider, sep, name = model.partition("/")
    if not sep or not provider or not name:
        raise ValueError(
            f"model {model!r}: write it as 'provider/model', e.g. 'openai/gpt-4o-mini' "
            "(zero-config calls need the provider prefix)"
        )
    env = os.environ if env is None else env
    base = api_base or env.get(f"{provider.upper()}_BASE_URL")
    lines = [
        "[[models]]",
        f"name = {_toml(model)}",
        f"provider = {_toml(provider)}",
        f"model = {_toml(name)}",
    ]
    if base:
        lines.append(f"api_base = {_toml(base)}")
    return Gateway(parse_config("\n".join(lines), env={}, source=f"model {model!r}"), env)


def _toml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def acompletion(
    *,
    model: str,
    messages: list[dict[str, Any]],
    stream: bool = False,
    api_base: str | None = None,
    **params: Any,
) -> Any:
    """A chat completion with no config file. With ``stream=True``, an async iterator of chunks
    (the gateway closes when it is exhausted)."""
    gateway = gateway_for_model(model, api_base=api_base)
    try:
        result = await gateway.chat(model=model, messages=messages, stream=stream, **params)
    except BaseException:
        await gateway.aclose()
        raise
    if not stream:
        await gateway.aclose()
        return result
    return _closing(gateway, result)


async def _closing(gateway: Gateway, chunks: Any) -> Any:
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        await chunks.aclose()
        await gateway.aclose()


def completion(
    *, model: str, messages: list[dict[str, Any]], api_base: str | None = None, **params: Any
) -> dict[str, Any]:
    """`acompletion` for code without an event loop (no streaming; use `Gateway.chat_sync`)."""
    if params.get("stream"):
        raise ValueError("completion() does not stream; use Gateway.chat_sync(stream=True)")
    return asyncio.run(
        acompletion(
            model=model,
            messages=messages,
            api_base=api_base,
            **params,
        )
    )

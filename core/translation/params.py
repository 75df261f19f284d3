"""Parameters a provider can't take: dropped when the deployment says `drop_unsupported`,
otherwise a 400 naming the parameter and the provider."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ..errors import GatewayError

__all__ = ["check_params"]


def check_params(
    request: dict[str, Any],
    supported: Collection[str],
    *,
    provider: str,
    drop: bool,
) -> dict[str, Any]:
    """`request` without the keys outside `supported` (when `drop`), else raise 400."""
    unsupported = [key for key in request if key not in supported and request[key] is not None]
    if not unsupported:
        return request
    if drop:
        return {key: value for key, value in request.items() if key not in unsupported}
    names = ", ".join(f"'{key}'" for key in unsupported)
    raise GatewayError(
        400,
        f"The provider '{provider}' does not support {names}. Remove it, or set "
        "drop_unsupported = true on this model to have the gateway drop it.",
        param=unsupported[0],
        code="unsupported_parameter",
    )

"""A deployment: one concrete provider model behind an alias, built from a `[[models]]` entry."""

from __future__ import annotations

from typing import Any

import attrs

from .config_types import Secret
from .transport import UpstreamClient

__all__ = ["Deployment", "DeploymentRouting"]


@attrs.frozen
class DeploymentRouting:
    """`[[models]].router`: how the router plugin treats this deployment."""

    #: This deployment's share of its alias's calls under the "shuffle" strategy, relative
    #: to the other deployments' weights.
    weight: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))


@attrs.define(slots=True, eq=False)
class Deployment:
    #: The alias clients ask for (`[[models]].name`).
    alias: str
    provider: str
    #: The model name sent upstream.
    model: str
    #: "alias#index": unique across the config, used in logs and headers.
    id: str
    api_key: Secret | None
    api_base: str | None
    timeout: float
    connect_timeout: float
    #: The adapter's structured `Options` for this entry (None when it declares none).
    options: Any
    #: Drop parameters the provider can't take instead of rejecting the call.
    drop_unsupported: bool = False
    #: The pooled upstream client for `api_base` (shared by deployments with the same base).
    client: UpstreamClient | None = None
    #: Its `[[models]].router` settings.
    routing: DeploymentRouting = attrs.field(factory=DeploymentRouting)

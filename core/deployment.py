"""A deployment: one concrete provider model behind an alias, built from a `[[models]]` entry."""

from __future__ import annotations

from typing import Any

import attrs

from .config_types import Duration, Secret
from .transport import UpstreamClient

__all__ = ["Deployment", "DeploymentPricing", "DeploymentRouting"]


@attrs.frozen
class DeploymentRouting:
    """`[[models]].router`: how the router plugin treats this deployment."""

    #: This deployment's share of its alias's calls under the "shuffle" strategy, relative
    #: to the other deployments' weights.
    weight: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    #: Requests per minute this deployment takes; the router sends no more (unset: no limit).
    rpm: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    #: Tokens (prompt + completion) per minute this deployment takes (unset: no limit).
    tpm: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    #: Calls in flight at once on this deployment (unset: no limit).
    max_parallel: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    #: Longest wait for one attempt's answer (streams: for their first chunk); a slower
    #: attempt fails as a 504 and may be retried (unset: only `[[models]].timeout` applies).
    timeout: Duration | None = None
    #: Preference order: the router uses the deployments with the lowest `priority` first and
    #: the others only when none of those can take the call.
    priority: int = 0
    #: Labels a call may ask for (``x-litegate-tags`` header or the key's ``tags``
    #: metadata): such a call goes to deployments carrying one of them, when any does.
    tags: tuple[str, ...] = ()
    #: Whether the router's active health checks (``health_check_interval``) include it.
    health_check: bool = True
    #: Price of a prompt token, for the "cost" strategy (unset: priced after every priced one).
    input_cost_per_token: float | None = None
    #: Price of a completion token, for the "cost" strategy.
    output_cost_per_token: float | None = None

    @property
    def unlimited(self) -> bool:
        """No rpm, tpm or max_parallel: the router need not count against limits."""
        return self.rpm is None and self.tpm is None and self.max_parallel is None


@attrs.frozen
class DeploymentPricing:
    """`[[models]].pricing`: this deployment's prices, over the shipped table's (the cost
    plugin reads them; a price left out comes from the table)."""

    #: USD per million prompt tokens.
    input_per_million: float | None = None
    #: USD per million completion tokens.
    output_per_million: float | None = None
    #: USD per million prompt tokens read from the provider's prompt cache.
    cached_input_per_million: float | None = None
    #: USD per million reasoning tokens, where priced apart from output.
    reasoning_per_million: float | None = None
    #: USD per generated image.
    per_image: float | None = None
    #: USD per second of audio.
    per_second: float | None = None
    #: USD per million characters of speech input.
    per_million_characters: float | None = None

    def price_fields(self) -> dict[str, float | None]:
        """The prices under the field names of `litegate.pricing.ModelPrice`."""
        return {
            "input": self.input_per_million,
            "output": self.output_per_million,
            "cached_input": self.cached_input_per_million,
            "reasoning": self.reasoning_per_million,
            "image": self.per_image,
            "second": self.per_second,
            "character": self.per_million_characters,
        }


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
    #: Its `[[models]].pricing` (None: the shipped table's prices).
    pricing: DeploymentPricing | None = None

"""`cost`: what each call cost, from its token usage and the price table.

Prices come from the table shipped in `litegate.pricing` (or the file `prices` names), with
each deployment's ``[[models]] pricing`` on top. The cost goes into ``call.cost`` (and, exact,
into the stash under `litegate.pricing.CALL_COST`) for the plugins that record or limit
spend, and into the ``x-litegate-cost`` response header.

Streams: their usage arrives with the last chunk, after the response headers went out, so a
stream has no ``x-litegate-cost`` header. Its cost is computed when the stream ends (before
the final usage chunk and ``[DONE]``, which are sent unchanged) and recorded like any other.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from litegate import Call, GatewayError, Usage, hookimpl
from litegate.gateway import Gateway
from litegate.pricing import (
    ModelPrice,
    PriceTable,
    call_cost,
    default_table,
    format_cost,
    load_table,
)

__all__ = ["COST_HEADER", "CostPlugin"]

log = logging.getLogger("litegate.cost")

COST_HEADER = "x-litegate-cost"


class CostPlugin:
    @attrs.frozen
    class Config:
        #: A price table file (litegate's JSON format, or LiteLLM's model price file) to use
        #: instead of the table shipped with litegate.
        prices: str | None = None
        #: Send the cost (USD) of non-streamed answers in the ``x-litegate-cost`` header.
        header: bool = True

    def __init__(self, config: Config) -> None:
        self.config = config
        self.table: PriceTable = load_table(config.prices) if config.prices else default_table()
        # Deployment id -> its price; filled once at start-up (deployments are known then).
        self._prices: dict[str, ModelPrice | None] = {}

    @hookimpl
    def startup(self, gateway: Gateway) -> None:
        for deployments in gateway.deployments.values():
            for deployment in deployments:
                price = self.table.for_deployment(deployment)
                self._prices[deployment.id] = price
                if price is None and deployment.provider != "mock":
                    log.warning(
                        "no price for deployment %s (%s/%s): its calls are recorded at cost 0; "
                        "set pricing = { input_per_million = ..., output_per_million = ... }",
                        deployment.id,
                        deployment.provider,
                        deployment.model,
                    )

    def _price(self, call: Call) -> ModelPrice | None:
        if call.deployment is None:
            return None
        if call.deployment.id in self._prices:
            return self._prices[call.deployment.id]
        return self.table.for_deployment(call.deployment)

    @hookimpl
    def post_call(self, call: Call, response: dict[str, Any]) -> None:
        # The core sets call.usage only after the post_call chain; read it here ourselves.
        if call.usage is None:
            call.usage = Usage.from_openai(response.get("usage"))
        cost = call_cost(call, self._price(call), response)
        if self.config.header:
            call.response_headers[COST_HEADER] = format_cost(cost)

    @hookimpl
    def on_stream_end(self, call: Call) -> None:
        # Usage came with the stream's last chunk; the headers are long gone.
        call_cost(call, self._price(call))

    @hookimpl
    def on_success(self, call: Call) -> None:
        call_cost(call, self._price(call))  # a no-op when computed above

    @hookimpl
    def on_failure(self, call: Call, error: GatewayError) -> None:
        # A stream that broke after its usage arrived still cost something.
        call_cost(call, self._price(call))

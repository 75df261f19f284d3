"""Asking a moderation model or a guard model -- served by this same gateway -- about texts."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from litegate import Call, GatewayError, StashKey
from litegate.gateway import IN_PROCESS

from .rules import CompiledRule

if TYPE_CHECKING:
    from litegate import Gateway

__all__ = ["Moderator"]

log = logging.getLogger("litegate.guardrails")


class Moderator:
    """Sends moderation calls through the gateway's own pipeline (so routing, retries, PII
    masking and logging apply to them too), as the in-process principal."""

    __slots__ = ("_gateway", "_inner")

    def __init__(self, inner: StashKey[bool]) -> None:
        # Filled once by the plugin's startup hook: the gateway exists only after plugins.
        self._gateway: list[Gateway] = []
        self._inner = inner

    def bind(self, gateway: Gateway) -> None:
        self._gateway[:] = [gateway]

    async def unsafe(self, call: Call, rule: CompiledRule, texts: list[str]) -> bool:
        """Whether the rule's model finds `texts` unsafe. A moderation call that fails
        refuses the call (503), unless the rule says `fail_open`."""
        if not self._gateway:
            raise RuntimeError("the guardrails plugin was not started")
        gateway = self._gateway[0]
        try:
            if rule.rule.endpoint == "moderations":
                data = await self._ask(
                    gateway, call, "moderations", {"model": rule.rule.model, "input": texts}
                )
                return _moderation_says_unsafe(data, rule)
            prompt = rule.rule.prompt.replace("{text}", "\n\n".join(texts))
            request = {
                "model": rule.rule.model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0,
            }
            data = await self._ask(gateway, call, "chat", request)
            answer = data["choices"][0]["message"].get("content") or ""
            assert rule.unsafe is not None
            return rule.unsafe.search(answer) is not None
        except Exception as exc:
            reason = exc.code if isinstance(exc, GatewayError) else type(exc).__name__
            log.warning(
                "guardrail %r: the moderation call for request %s failed (%s)",
                rule.name,
                call.id,
                reason,
            )
            if rule.rule.fail_open:
                return False
            raise GatewayError(
                503,
                f"The guardrail '{rule.name}' could not check this request; try again later.",
                code="guardrail_unavailable",
            ) from None

    async def _ask(
        self, gateway: Gateway, call: Call, endpoint: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        inner = gateway.new_call(
            endpoint, request, principal=IN_PROCESS, request_id=f"{call.id}.guard"
        )
        inner.stash[self._inner] = True
        run = await gateway.run(inner)
        await run.finish()
        assert run.reply is not None
        return run.reply.data


def _moderation_says_unsafe(data: dict[str, Any], rule: CompiledRule) -> bool:
    wanted = rule.rule.categories
    threshold = rule.rule.threshold
    for result in data.get("results") or ():
        if threshold is None and not wanted:
            if result.get("flagged"):
                return True
            continue
        if threshold is None:
            categories = result.get("categories") or {}
            if any(categories.get(name) for name in wanted):
                return True
            continue
        scores = result.get("category_scores") or {}
        for name, score in scores.items():
            counted = not wanted or name in wanted
            if counted and isinstance(score, int | float) and score >= threshold:
                return True
    return False

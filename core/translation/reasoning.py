"""OpenAI's ``reasoning_effort`` as a thinking-token budget, for providers that take a budget
and publish no mapping of their own (Anthropic, Claude on Bedrock, Cohere). One table, so an
effort means the same budget whichever of them serves the call. Providers with their own
documented figures (Gemini) keep those."""

from __future__ import annotations

__all__ = ["MIN_BUDGET", "THINKING_BUDGETS"]

#: reasoning_effort -> thinking budget in tokens (Anthropic's minimum budget is 1024).
THINKING_BUDGETS = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32768,
    "max": 65536,
}
MIN_BUDGET = 1024

"""`guardrails`: input and output checks -- prompt injection, deny and allow lists, input
size, JSON-schema validity, a moderation model -- that block, flag or redact.

See docs/guardrails.md. Modules: `rules` (configuration), `patterns` (the built-in
injection phrases), `texts` (where a request's texts are), `moderation` (calls through the
gateway), `streams` (output checks chunk by chunk), `plugin` (the hooks).
"""

from .patterns import INJECTION_PATTERNS
from .plugin import HEADER, GuardrailsPlugin
from .rules import Rule

__all__ = ["HEADER", "INJECTION_PATTERNS", "GuardrailsPlugin", "Rule"]

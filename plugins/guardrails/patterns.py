"""The built-in prompt-injection and jailbreak phrases (case-insensitive regexes).

Heuristics, not a classifier: they catch the common, copy-pasted attacks cheaply and are
meant to be combined with a moderation model for the rest. Add your own with `patterns`,
or set ``builtin = false`` to use only yours.
"""

from __future__ import annotations

__all__ = ["INJECTION_PATTERNS"]

_VERB = r"(?:ignore|disregard|forget|skip|override|bypass)"
_EARLIER = r"(?:all\s+|any\s+|the\s+)?(?:previous|prior|above|earlier|preceding|initial|original)"
_RULES = r"(?:instructions?|prompts?|rules|directions|guidelines|context|messages?)"

INJECTION_PATTERNS: tuple[str, ...] = (
    # "Ignore all previous instructions", "disregard the above rules", ...
    rf"\b{_VERB}\s+{_EARLIER}\s+{_RULES}",
    rf"\b{_VERB}\s+(?:all\s+|any\s+)?(?:your|the)\s+(?:system\s+)?{_RULES}",
    # Asking for the hidden prompt.
    r"\b(?:reveal|show|print|repeat|output|tell\s+me)\s+(?:me\s+)?(?:your|the)\s+"
    r"(?:system|hidden|initial|secret)\s+(?:prompt|instructions?|message)",
    # Persona jailbreaks.
    r"\byou\s+are\s+(?:now\s+)?(?:DAN|in\s+developer\s+mode|jailbroken|unrestricted|unfiltered)\b",
    r"\bdo\s+anything\s+now\b",
    r"\b(?:enable|activate|enter)\s+(?:developer|god|jailbreak|unrestricted)\s+mode\b",
    r"\bpretend\s+(?:that\s+)?you\s+(?:are|have)\s+(?:no|not\s+bound\s+by)\s+"
    r"(?:restrictions|rules|limits|guidelines|filters)",
    r"\bact\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|evil)\b",
    r"\b(?:without|no)\s+(?:any\s+)?(?:ethical|moral|safety)\s+(?:restrictions|guidelines|filters)",
    r"\bbypass\s+(?:your\s+|the\s+)?(?:safety|content|moderation)\s+(?:filters?|policy|policies)",
    # Chat-template tokens smuggled into text.
    r"<\|im_start\|>\s*system",
    r"<\|(?:system|endoftext|start_header_id)\|>",
    r"\[/?INST\]",
    r"(?m:^\s*#{2,}\s*(?:system|new\s+instructions?)\s*:?\s*$)",
)

"""The guardrails plugin's rules: their TOML shape and what they compile to at start-up."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import attrs

from litegate import Call

from .patterns import INJECTION_PATTERNS

__all__ = ["ACTIONS", "CHECKS", "CompiledRule", "Rule", "compile_rule"]

#: check kind -> where it looks.
CHECKS = {
    "injection": "input",
    "deny": "input",
    "allow": "input",
    "max_tokens": "input",
    "output_deny": "output",
    "json_schema": "output",
    "moderation": "input",  # or output, or both: see `stage`
}
ACTIONS = ("block", "flag", "redact")
#: Checks whose findings are spans of text, so "redact" means something.
_REDACTABLE = frozenset({"injection", "deny", "output_deny"})


@attrs.frozen
class Rule:
    #: Named in errors, the x-litegate-guardrail header and the log.
    name: str
    #: What to look at: "injection" (prompt injection and jailbreak phrases), "deny" (input
    #: terms or topics, regex), "allow" (the input must match one of `patterns`),
    #: "max_tokens" (estimated input tokens), "output_deny" (answer terms, regex),
    #: "json_schema" (the answer against the request's response_format schema) or
    #: "moderation" (a moderation endpoint or a guard model, through the gateway).
    check: str = attrs.field(validator=attrs.validators.in_(tuple(CHECKS)))
    #: "block" (400 content_policy_violation naming the rule), "flag" (header
    #: x-litegate-guardrail and the log field "guardrails") or "redact" (replace the
    #: matched text; injection, deny and output_deny only).
    action: str = attrs.field(default="block", validator=attrs.validators.in_(ACTIONS))
    #: Regular expressions (injection: added to the built-in set; deny, allow, output_deny:
    #: the list).
    patterns: list[str] = attrs.field(factory=list)
    #: injection: also use the built-in phrase set.
    builtin: bool = True
    #: Match patterns without regard to case.
    ignore_case: bool = True
    #: Which messages input checks read (moderation's input stage too).
    roles: list[str] = attrs.field(factory=lambda: ["user", "tool"])
    #: What redacted text becomes.
    replacement: str = "[redacted]"
    #: max_tokens: the most input tokens (estimated as characters / 4, all messages).
    limit: int | None = None
    #: moderation: the model alias to ask (served by this gateway).
    model: str | None = None
    #: moderation: "moderations" (an OpenAI-style moderation model) or "chat" (a guard
    #: model whose answer is matched against `unsafe_pattern`).
    endpoint: str = attrs.field(
        default="moderations", validator=attrs.validators.in_(("moderations", "chat"))
    )
    #: moderation: check the "input", the "output" or "both".
    stage: str = attrs.field(
        default="input", validator=attrs.validators.in_(("input", "output", "both"))
    )
    #: moderation (moderations endpoint): a violation when any category score reaches this;
    #: unset, the endpoint's own `flagged` decides.
    threshold: float | None = None
    #: moderation (moderations endpoint): only these categories count (all when empty).
    categories: list[str] = attrs.field(factory=list)
    #: moderation (chat endpoint): the guard model's prompt; {text} is replaced by the text.
    prompt: str = (
        "Is the following text safe? Answer 'safe' or 'unsafe' followed by the category.\n\n{text}"
    )
    #: moderation (chat endpoint): the guard model's answer means "unsafe" when it matches.
    unsafe_pattern: str = r"^\s*unsafe"
    #: moderation: when the moderation call fails, let the call through instead of
    #: refusing it with 503.
    fail_open: bool = False
    #: Apply only to these teams (``principal.team``); all when both lists are empty.
    teams: list[str] = attrs.field(factory=list)
    #: Apply only to these keys (``principal.id``); all when both lists are empty.
    keys: list[str] = attrs.field(factory=list)
    #: Never apply to these teams or keys.
    exempt: list[str] = attrs.field(factory=list)


@attrs.frozen
class CompiledRule:
    rule: Rule
    #: One alternation of the rule's patterns (None for checks without patterns).
    pattern: re.Pattern[str] | None
    unsafe: re.Pattern[str] | None
    teams: frozenset[str]
    keys: frozenset[str]
    exempt: frozenset[str]
    roles: frozenset[str]

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def check(self) -> str:
        return self.rule.check

    def input_stage(self) -> bool:
        if self.rule.check == "moderation":
            return self.rule.stage in ("input", "both")
        return CHECKS[self.rule.check] == "input"

    def output_stage(self) -> bool:
        if self.rule.check == "moderation":
            return self.rule.stage in ("output", "both")
        return CHECKS[self.rule.check] == "output"

    def applies_to(self, call: Call) -> bool:
        principal = call.principal
        ids: tuple[Any, ...] = (principal.id, principal.team) if principal else ()
        if self.exempt and any(i in self.exempt for i in ids):
            return False
        if not self.teams and not self.keys:
            return True
        if principal is None:
            return False
        return principal.id in self.keys or principal.team in self.teams


def compile_rule(rule: Rule) -> CompiledRule:
    """Check `rule` as a whole and compile its patterns; ValueError names the problem."""
    check, action = rule.check, rule.action
    if action == "redact" and check not in _REDACTABLE:
        raise ValueError(f"action 'redact' does not apply to the {check} check: use block or flag")
    sources: Sequence[str] = list(rule.patterns)
    if check == "injection" and rule.builtin:
        sources = [*INJECTION_PATTERNS, *sources]
    if check in ("injection", "deny", "allow", "output_deny") and not sources:
        raise ValueError(f"the {check} check needs patterns")
    if check == "max_tokens" and (rule.limit is None or rule.limit < 1):
        raise ValueError("the max_tokens check needs limit (at least 1)")
    if check == "moderation" and not rule.model:
        raise ValueError("the moderation check needs model (an alias this gateway serves)")
    pattern = None
    if sources:
        flags = re.IGNORECASE if rule.ignore_case else 0
        for source in sources:
            try:
                re.compile(source, flags)
            except re.error as exc:
                raise ValueError(f"bad pattern {source!r}: {exc}") from None
        pattern = re.compile("|".join(f"(?:{source})" for source in sources), flags)
    unsafe = None
    if check == "moderation" and rule.endpoint == "chat":
        try:
            unsafe = re.compile(rule.unsafe_pattern, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"bad unsafe_pattern: {exc}") from None
    return CompiledRule(
        rule=rule,
        pattern=pattern,
        unsafe=unsafe,
        teams=frozenset(rule.teams),
        keys=frozenset(rule.keys),
        exempt=frozenset(rule.exempt),
        roles=frozenset(rule.roles),
    )

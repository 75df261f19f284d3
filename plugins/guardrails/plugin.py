"""`guardrails`: input and output checks with block, flag and redact actions.

Input checks run in `pre_call` (prompt injection, deny and allow lists, input size, a
moderation model); output checks on the answer (deny lists, JSON-schema validity, a
moderation model), whole or streamed. Place it after `pii` so that a moderation model and
the checks see placeholders, not personal data.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import attrs

from litegate import Call, GatewayError, StashKey, hookimpl

from .moderation import Moderator
from .rules import CompiledRule, Rule, compile_rule
from .streams import StreamChecks
from .texts import input_slots, total_chars

if TYPE_CHECKING:
    from litegate import Gateway

__all__ = ["HEADER", "GuardrailsPlugin"]

log = logging.getLogger("litegate.guardrails")

#: The response header naming the rules that flagged the call.
HEADER = "x-litegate-guardrail"
#: Set on the calls the plugin itself makes (moderation), which it must not check again.
INNER = StashKey[bool]("guardrails.inner")
STREAM = StashKey[StreamChecks]("guardrails.stream")
#: The output rules that apply to the call (chosen in pre_call).
OUTPUT_RULES = StashKey[tuple[CompiledRule, ...]]("guardrails.output")


class GuardrailsPlugin:
    @attrs.frozen
    class Config:
        #: The checks, in order ([[pipeline.rules]]); see docs/guardrails.md.
        rules: list[Rule] = attrs.field(factory=list)

    def __init__(self, config: Config) -> None:
        self.config = config
        compiled = []
        for index, rule in enumerate(config.rules):
            try:
                compiled.append(compile_rule(rule))
            except ValueError as exc:
                raise ValueError(f"rules[{index}] ({rule.name}): {exc}") from None
        if any(r.check == "json_schema" for r in compiled):
            try:
                import jsonschema  # noqa: F401 - only checking it is there
            except ImportError:
                raise ValueError(
                    "the json_schema check needs the jsonschema package: "
                    "pip install 'litegate[guardrails]'"
                ) from None
        self._input = tuple(r for r in compiled if r.input_stage())
        self._output = tuple(r for r in compiled if r.output_stage())
        self.moderator = Moderator(INNER)

    @hookimpl
    def startup(self, gateway: Gateway) -> None:
        self.moderator.bind(gateway)

    # -- request side --------------------------------------------------------------------

    @hookimpl
    async def pre_call(self, call: Call) -> None:
        if INNER in call.stash:
            return
        output = tuple(r for r in self._output if r.applies_to(call))
        if output:
            call.stash[OUTPUT_RULES] = output
        for rule in self._input:
            if rule.applies_to(call):
                await self._check_input(call, rule)

    async def _check_input(self, call: Call, rule: CompiledRule) -> None:
        check = rule.check
        if check == "max_tokens":
            estimate = math.ceil(total_chars(call) / 4)
            if estimate > (rule.rule.limit or 0):
                act(call, rule, "input")
            return
        slots = list(input_slots(call, rule.roles))
        if check == "moderation":
            texts = [container[key] for container, key in slots]
            if texts and await self.moderator.unsafe(call, rule, texts):
                act(call, rule, "input")
            return
        pattern = rule.pattern
        assert pattern is not None
        if check == "allow":
            if slots and not any(pattern.search(container[key]) for container, key in slots):
                act(call, rule, "input")
            return
        hits = [(container, key) for container, key in slots if pattern.search(container[key])]
        if not hits:
            return
        if rule.rule.action == "redact":
            for container, key in hits:
                container[key] = pattern.sub(rule.rule.replacement, container[key])
            flag(call, rule)
        else:
            act(call, rule, "input")

    # -- response side ------------------------------------------------------------------

    @hookimpl
    async def post_call(self, call: Call, response: dict[str, Any]) -> dict[str, Any] | None:
        rules = call.stash.get(OUTPUT_RULES)
        if not rules:
            return None
        for choice in response.get("choices") or ():
            message = choice.get("message") if isinstance(choice, dict) else None
            holder, key = (message, "content") if isinstance(message, dict) else (choice, "text")
            text = holder.get(key) if isinstance(holder, dict) else None
            if not isinstance(text, str):
                continue
            for rule in rules:
                text = await self._check_output(call, rule, text)
            holder[key] = text
        return response

    async def _check_output(self, call: Call, rule: CompiledRule, text: str) -> str:
        check = rule.check
        if check == "output_deny":
            assert rule.pattern is not None
            if not rule.pattern.search(text):
                return text
            if rule.rule.action == "redact":
                flag(call, rule)
                return rule.pattern.sub(rule.rule.replacement, text)
            act(call, rule, "output")
        elif check == "json_schema":
            if schema_problem(call.request, text) is not None:
                act(call, rule, "output")
        elif check == "moderation" and await self.moderator.unsafe(call, rule, [text]):
            act(call, rule, "output")
        return text

    @hookimpl
    def on_stream_chunk(self, call: Call, chunk: dict[str, Any]) -> dict[str, Any] | None:
        rules = call.stash.get(OUTPUT_RULES)
        if not rules:
            return chunk
        checks = call.stash.get(STREAM)
        if checks is None:
            checks = call.stash[STREAM] = StreamChecks(rules)
        for rule, text in checks.chunk(chunk):
            if rule.check == "json_schema":
                if schema_problem(call.request, text) is not None:
                    act(call, rule, "output")
            elif rule.rule.action == "redact":
                flag(call, rule)
            else:
                act(call, rule, "output")
        return chunk

    @hookimpl
    async def on_stream_end(
        self, call: Call, tail: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        checks = call.stash.get(STREAM)
        if checks is None:
            return None
        for rule in checks.rules:
            if rule.check == "moderation":
                texts = [t for t in checks.full.values() if t]
                if texts and await self.moderator.unsafe(call, rule, texts):
                    act(call, rule, "output")
        flushed = checks.rest(call)
        return flushed + tail if flushed else None


def act(call: Call, rule: CompiledRule, stage: str) -> None:
    """A rule found something: refuse the call (block) or note it (flag)."""
    if rule.rule.action == "block":
        log.info("guardrail %r blocked request %s (%s)", rule.name, call.id, stage)
        what = "request" if stage == "input" else "answer"
        raise GatewayError(
            400,
            f"The {what} was refused by the guardrail '{rule.name}'.",
            code="content_policy_violation",
        )
    flag(call, rule)


def flag(call: Call, rule: CompiledRule) -> None:
    """Name the rule in the x-litegate-guardrail header and the log field "guardrails"."""
    names: list[str] = call.log_fields.setdefault("guardrails", [])
    if rule.name not in names:
        names.append(rule.name)
        call.response_headers[HEADER] = ",".join(names)


def schema_problem(request: dict[str, Any], text: str) -> str | None:
    """Why `text` does not satisfy the request's response_format (None when it does or when
    none was asked for)."""
    response_format = request.get("response_format")
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind not in ("json_schema", "json_object"):
        return None
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return "not JSON"
    if kind == "json_object":
        return None if isinstance(value, dict) else "not a JSON object"
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        return None
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    return None if error is None else error.message

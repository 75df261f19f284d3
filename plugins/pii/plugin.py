"""`pii`: finds personal data and secrets in requests; masks, redacts or refuses them.

Put it early in the chain -- after auth, before cache, router and logging -- so that its
`pre_call` changes the request before any later plugin sees it: cache keys, logs and traces
then only ever hold placeholders.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import attrs

from litegate import Call, GatewayError, Reply, StashKey, hookimpl

from .detectors import BUILTIN_ENTITIES, Finder, Finding
from .masking import Vault, may_hold_placeholder, redact
from .policy import CustomEntity, Override, Policy, _mode, _modes, compile_policy
from .stream_unmask import StreamUnmasker
from .texts import request_slots

__all__ = ["PIIPlugin"]

log = logging.getLogger("litegate.pii")

#: The call's placeholders (set in pre_call when something was masked).
VAULT = StashKey[Vault]("pii.vault")
#: The policy the call got.
POLICY = StashKey[Policy]("pii.policy")
STREAM = StashKey[StreamUnmasker]("pii.stream")
OUTPUT = StashKey["OutputStreamScan"]("pii.output")
#: How many values the call's request had, per entity type (for metrics; never the values).
FOUND = StashKey[dict[str, int]]("pii.found")

#: Output scanning in streams holds back this many characters, so a value split across
#: chunks is seen whole before it is sent.
OUTPUT_WINDOW = 96


class PIIPlugin:
    @attrs.frozen
    class Config:
        #: What happens to a found value unless `modes` says otherwise: "mask" (placeholders
        #: like `<EMAIL_1>` upstream, originals restored in the answer), "redact" (`<EMAIL>`,
        #: for good) or "block" (400 naming the entity types found, never the values).
        mode: str = attrs.field(default="mask", validator=_mode)
        #: The built-in entity types to look for.
        entities: list[str] = attrs.field(factory=lambda: list(BUILTIN_ENTITIES))
        #: Per entity type, a mode other than `mode`: { CREDIT_CARD = "block" }.
        modes: dict[str, str] = attrs.field(factory=dict, validator=_modes)
        #: Your own entity types, each a regular expression ([[pipeline.custom]]).
        custom: list[CustomEntity] = attrs.field(factory=list)
        #: The region phone numbers without a + country code are read in (ISO 3166 code).
        phone_region: str = "US"
        #: SECRET also flags long random-looking tokens of at least this many bits of
        #: entropy per character (0 turns that off; known key prefixes are always found).
        min_entropy: float = 4.3
        #: Also apply the redact and block modes to values the answer brings up itself.
        scan_output: bool = False
        #: Apply the rules to tool results (messages of role "tool").
        tool_results: bool = True
        #: Apply the rules to embeddings inputs.
        embeddings: bool = True
        #: Other rules for some teams or keys ([[pipeline.overrides]]).
        overrides: list[Override] = attrs.field(factory=list)

    def __init__(self, config: Config) -> None:
        self.config = config
        self._extra = self.extra_finders()
        self._default = self._compile(None)
        by_key: dict[str, Policy] = {}
        by_team: dict[str, Policy] = {}
        for index, override in enumerate(config.overrides):
            if (override.team is None) == (override.key is None):
                raise ValueError(f"overrides[{index}]: set exactly one of team or key")
            try:
                policy = self._compile(override)
            except ValueError as exc:
                raise ValueError(f"overrides[{index}]: {exc}") from None
            if override.key is not None:
                by_key[override.key] = policy
            else:
                by_team[override.team] = policy  # type: ignore[index]
        self._by_key = by_key
        self._by_team = by_team

    def _compile(self, override: Override | None) -> Policy:
        config = self.config
        entities = config.entities
        modes = dict(config.modes)
        if override is not None and override.entities is not None:
            entities = override.entities
            names = {*entities, *(c.name for c in config.custom)}
            modes = {entity: mode for entity, mode in modes.items() if entity in names}
        if override is not None:
            modes.update(override.modes)
        return compile_policy(
            mode=(override.mode if override and override.mode else None) or config.mode,
            entities=entities,
            modes=modes,
            custom=config.custom,
            phone_region=config.phone_region,
            min_entropy=config.min_entropy,
            scan_output=config.scan_output
            if override is None or override.scan_output is None
            else override.scan_output,
            enabled=override.enabled if override is not None else True,
            extra=self._extra[0],
            extra_entities=self._extra[1],
        )

    def extra_finders(self) -> tuple[Sequence[Finder], Sequence[str]]:
        """More detectors, and the entity types they find, for subclasses (the Presidio
        contrib plugin) to add. Called once, from `__init__`."""
        return (), ()

    def policy_for(self, call: Call) -> Policy:
        principal = call.principal
        if principal is not None and (self._by_key or self._by_team):
            found = self._by_key.get(principal.id)
            if found is None and principal.team is not None:
                found = self._by_team.get(principal.team)
            if found is not None:
                return found
        return self._default

    # -- request side --------------------------------------------------------------------

    @hookimpl
    def pre_call(self, call: Call) -> None:
        policy = self.policy_for(call)
        call.stash[POLICY] = policy
        if not policy.enabled:
            return
        try:
            self._protect(call, policy)
        except GatewayError:
            raise
        except Exception as exc:
            # Fail closed: nothing goes upstream unchecked. The exception's text may quote
            # the request, so only its type is logged.
            log.error("pii: detection failed in request %s (%s)", call.id, type(exc).__name__)
            raise GatewayError(
                500,
                "The gateway could not check this request for personal data, so it was not "
                f"sent (request id {call.id}).",
                code="pii_check_failed",
            ) from None

    def _protect(self, call: Call, policy: Policy) -> None:
        config = self.config
        scan = policy.scanner.scan_remembered
        # (container, key, text, findings) of each text with something in it.
        hits: list[tuple[Any, Any, str, list[Finding]]] = []
        # Texts with a "<": no placeholder may equal what they already hold.
        marked: list[str] = []
        for container, key in request_slots(
            call.endpoint,
            call.request,
            tool_results=config.tool_results,
            embeddings=config.embeddings,
        ):
            text = container[key]
            if "<" in text:
                marked.append(text)
            findings = scan(text)
            if findings:
                hits.append((container, key, text, findings))
        if not hits:
            return
        counts: dict[str, int] = {}
        for hit in hits:
            for finding in hit[3]:
                entity = finding[0]
                counts[entity] = counts.get(entity, 0) + 1
        call.stash[FOUND] = counts
        call.log_fields["pii"] = counts  # types and counts only, never values
        blocked = policy.blocked.intersection(counts) if policy.blocked else None
        if blocked:
            # The request may still be logged (with include_messages): leave nothing in it.
            for container, key, text, findings in hits:
                container[key] = redact(text, findings)
            raise GatewayError(
                400,
                "The request contains data this gateway does not forward: "
                f"{', '.join(sorted(blocked))}. Remove it and try again.",
                code="pii_detected",
            )
        vault = Vault()
        if marked:
            vault.reserve(marked)
        for container, key, text, findings in hits:
            container[key] = vault.mask(text, findings, policy.redacted)
        if vault.by_placeholder:  # (all redacted: nothing to put back)
            call.stash[VAULT] = vault

    # -- response side -------------------------------------------------------------------

    @hookimpl
    def post_call(self, call: Call, reply: Reply) -> dict[str, Any] | None:
        vault = call.stash.get(VAULT)
        scanning = _output_policy(call)
        if vault is None and scanning is None:
            return None
        if scanning is None and reply.raw is not None and not may_hold_placeholder(reply.raw):
            return None  # nothing to put back: the answer is not even parsed
        response = reply.data
        changed = False
        for choice in response.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            message = choice.get("message")
            holder, key = (message, "content") if isinstance(message, dict) else (choice, "text")
            text = holder.get(key)
            if isinstance(text, str):
                new = text
                if scanning is not None:
                    new = self._scan_answer(new, scanning)
                if vault is not None:
                    new = vault.unmask(new)
                if new != text:
                    holder[key], changed = new, True
            if vault is not None and isinstance(message, dict):
                for tool_call in message.get("tool_calls") or ():
                    function = tool_call.get("function") if isinstance(tool_call, dict) else None
                    arguments = function.get("arguments") if isinstance(function, dict) else None
                    if isinstance(arguments, str):
                        restored = vault.unmask_json(arguments)
                        if restored != arguments:
                            function["arguments"], changed = restored, True  # type: ignore[index]
        # Unchanged (the model echoed no placeholder): the upstream's bytes can go out as is.
        return response if changed else None

    def _scan_answer(self, text: str, policy: Policy) -> str:
        findings = policy.scanner.scan(text)
        if not findings:
            return text
        blocked = sorted(policy.blocked.intersection(f.entity for f in findings))
        if blocked:
            raise GatewayError(
                400,
                f"The answer contained data this gateway does not return: {', '.join(blocked)}.",
                code="pii_detected",
            )
        return redact(text, findings)

    @hookimpl
    def on_stream_chunk(self, call: Call, chunk: dict[str, Any]) -> dict[str, Any] | None:
        vault = call.stash.get(VAULT)
        scanning = _output_policy(call)
        if vault is None and scanning is None:
            return chunk
        if scanning is not None:
            output = call.stash.get(OUTPUT)
            if output is None:
                output = call.stash[OUTPUT] = OutputStreamScan(self, scanning)
            output.chunk(chunk)
        if vault is not None:
            unmasker = call.stash.get(STREAM)
            if unmasker is None:
                unmasker = call.stash[STREAM] = StreamUnmasker(vault)
            unmasker.chunk(chunk)
        return chunk

    @hookimpl
    def on_stream_end(self, call: Call, tail: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        # A stream that ended without a finish_reason: send what is still held back.
        rest: dict[int, str] = {}
        output = call.stash.get(OUTPUT)
        if output is not None:
            rest = output.rest()
        unmasker = call.stash.get(STREAM)
        if unmasker is not None:
            for index, text in rest.items():
                unmasker.held[(index, "c")] = unmasker.held.get((index, "c"), "") + text
            rest = unmasker.rest()
        if not rest:
            return None
        flushed = [
            {
                "id": call.id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": call.alias,
                "choices": [{"index": index, "delta": {"content": text}, "finish_reason": None}],
            }
            for index, text in rest.items()
            if text
        ]
        return flushed + tail


def _output_policy(call: Call) -> Policy | None:
    """The call's policy when it asks for answers to be scanned."""
    policy = call.stash.get(POLICY)
    if policy is not None and policy.enabled and policy.scan_output:
        return policy
    return None


class OutputStreamScan:
    """`scan_output` for streams: holds back the last `OUTPUT_WINDOW` characters of each
    choice's content, so a value split across chunks is redacted (or refused) whole."""

    __slots__ = ("held", "plugin", "policy")

    def __init__(self, plugin: PIIPlugin, policy: Policy) -> None:
        self.plugin = plugin
        self.policy = policy
        self.held: dict[int, str] = {}

    def chunk(self, chunk: dict[str, Any]) -> None:
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            holder, key = (delta, "content") if isinstance(delta, dict) else (choice, "text")
            index = choice.get("index", 0)
            final = choice.get("finish_reason") is not None
            piece = holder.get(key)
            if not isinstance(piece, str) and not (final and index in self.held):
                continue
            text = self.held.pop(index, "") + (piece or "")
            if final:
                holder[key] = self.plugin._scan_answer(text, self.policy)
                continue
            cut = max(0, len(text) - OUTPUT_WINDOW)
            findings = self.policy.scanner.scan(text)
            for finding in findings:
                if finding.start < cut < finding.end:
                    cut = finding.start
            self.held[index] = text[cut:]
            holder[key] = self.plugin._scan_answer(text[:cut], self.policy) if cut else ""

    def rest(self) -> dict[int, str]:
        left = {i: self.plugin._scan_answer(t, self.policy) for i, t in self.held.items() if t}
        self.held.clear()
        return left

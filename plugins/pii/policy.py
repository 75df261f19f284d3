"""The pii plugin's configuration and the compiled policies it becomes at start-up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .detectors import (
    BUILTIN_ENTITIES,
    Finder,
    Scanner,
    builtin_recognizers,
    custom_recognizer,
)

__all__ = ["MODES", "CustomEntity", "Override", "Policy", "compile_policy"]

#: What happens to a found value: placeholder and restore, replace for good, or refuse.
MODES = ("mask", "redact", "block")


def _mode(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value not in MODES:
        raise ValueError(f"{attribute.name}: expected one of {', '.join(MODES)}, got {value!r}")


def _modes(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    for entity, mode in (value or {}).items():
        if mode not in MODES:
            raise ValueError(
                f"{attribute.name}.{entity}: expected one of {', '.join(MODES)}, got {mode!r}"
            )


@attrs.frozen
class CustomEntity:
    #: The entity type, upper-case letters and underscores (``EMPLOYEE_ID``); placeholders
    #: are ``<EMPLOYEE_ID_1>``.
    name: str
    #: A Python regular expression; the whole match is the value.
    pattern: str
    #: What to do with it; by default the plugin's `mode`.
    mode: str | None = attrs.field(default=None, validator=_mode)
    #: Match without regard to case.
    ignore_case: bool = False


@attrs.frozen
class Override:
    """Rules for one team or one key instead of the plugin's own (a key's entry wins)."""

    #: The team (``principal.team``) these rules are for.
    team: str | None = None
    #: The key (``principal.id``: a static key's name, a virtual key's id) these rules are for.
    key: str | None = None
    #: False turns PII handling off for this team or key.
    enabled: bool = True
    #: Replaces the plugin's `mode`.
    mode: str | None = attrs.field(default=None, validator=_mode)
    #: Replaces the plugin's `entities` (custom entities always apply).
    entities: list[str] | None = None
    #: Merged over the plugin's `modes`.
    modes: dict[str, str] = attrs.field(factory=dict, validator=_modes)
    #: Replaces the plugin's `scan_output`.
    scan_output: bool | None = None


@attrs.frozen
class Policy:
    """What one caller's requests get, compiled once."""

    enabled: bool
    scanner: Scanner
    modes: Mapping[str, str]
    redacted: frozenset[str]
    blocked: frozenset[str]
    scan_output: bool


def compile_policy(
    *,
    mode: str,
    entities: Sequence[str],
    modes: Mapping[str, str],
    custom: Sequence[CustomEntity],
    phone_region: str,
    min_entropy: float,
    scan_output: bool,
    enabled: bool = True,
    extra: Sequence[Finder] = (),
    extra_entities: Sequence[str] = (),
) -> Policy:
    """`extra` finders (of `extra_entities`) run after the built-in and custom ones."""
    recognizers: list[Finder] = list(
        builtin_recognizers(entities, phone_region=phone_region, min_entropy=min_entropy)
    )
    entity_modes = {entity: mode for entity in BUILTIN_ENTITIES if entity in entities}
    for own in custom:
        recognizers.append(custom_recognizer(own.name, own.pattern, own.ignore_case))
        entity_modes[own.name] = own.mode or mode
    recognizers.extend(extra)
    for entity in extra_entities:
        entity_modes.setdefault(entity, mode)
    for entity, chosen in modes.items():
        if entity not in entity_modes:
            raise ValueError(f"modes.{entity}: not among the entities in use")
        entity_modes[entity] = chosen
    return Policy(
        enabled=enabled,
        scanner=Scanner(recognizers),
        modes=entity_modes,
        redacted=frozenset(e for e, m in entity_modes.items() if m == "redact"),
        blocked=frozenset(e for e, m in entity_modes.items() if m == "block"),
        scan_output=scan_output,
    )

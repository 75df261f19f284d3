"""Placeholders: replace found values with ``<EMAIL_1>`` and put them back in the answer.

A `Vault` lives for one call. The same value gets the same placeholder everywhere in the
call (so a model sees that two messages name the same person), and a placeholder never
equals text the caller wrote: numbers already used in the request's own text are skipped,
so `unmask(mask(x)) == x` for any x.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from .detectors import Finding

__all__ = ["PLACEHOLDER", "Vault", "may_hold_placeholder", "redact"]

#: What a placeholder looks like: ``<`` NAME ``_`` number ``>``; names have no digits.
PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*)_(\d{1,9})>")
#: How a JSON document's text may write a placeholder's brackets (Go's encoder escapes them).
_JSON_OPENERS = ("<", "\\u003c", "\\u003C")
_JSON_CLOSERS = (">", "\\u003e", "\\u003E")
#: A placeholder inside a JSON document's text, its brackets written either way.
_PLACEHOLDER_IN_JSON = re.compile(
    f"(?:{'|'.join(map(re.escape, _JSON_OPENERS))})"
    + r"([A-Z][A-Z_]*)_(\d{1,9})"
    + f"(?:{'|'.join(map(re.escape, _JSON_CLOSERS))})"
)
_NONE_RESERVED: frozenset[str] = frozenset()


class Vault:
    """One call's placeholders, both ways."""

    __slots__ = ("_counters", "_reserved", "by_placeholder", "by_value")

    def __init__(self) -> None:
        #: placeholder -> original value
        self.by_placeholder: dict[str, str] = {}
        #: (entity, original value) -> placeholder
        self.by_value: dict[tuple[str, str], str] = {}
        self._counters: dict[str, int] = {}
        #: Placeholders the request's own text holds (most requests: none, no set made).
        self._reserved: frozenset[str] | set[str] = _NONE_RESERVED

    def __bool__(self) -> bool:
        return bool(self.by_placeholder)

    def reserve(self, texts: Iterable[str]) -> None:
        """Never hand out a placeholder that already appears in these texts."""
        for text in texts:
            if "<" in text:
                found = {m.group(0) for m in PLACEHOLDER.finditer(text)}
                if found:
                    self._reserved = found.union(self._reserved)

    def placeholder(self, entity: str, value: str) -> str:
        key = (entity, value)
        known = self.by_value.get(key)
        if known is not None:
            return known
        number = self._counters.get(entity, 0)
        while True:
            number += 1
            made = f"<{entity}_{number}>"
            if made not in self._reserved:
                break
        self._counters[entity] = number
        self.by_value[key] = made
        self.by_placeholder[made] = value
        return made

    def mask(self, text: str, findings: Iterable[Finding], redacted: frozenset[str]) -> str:
        """`text` with each finding replaced: by a placeholder, or by ``<ENTITY>`` when its
        entity is in `redacted`. Findings are sorted and do not overlap."""
        parts: list[str] = []
        last = 0
        for entity, start, end in findings:
            parts.append(text[last:start])
            if entity in redacted:
                parts.append(f"<{entity}>")
            else:
                parts.append(self.placeholder(entity, text[start:end]))
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def unmask(self, text: str) -> str:
        """`text` with every placeholder of this vault replaced by its original."""
        if "<" not in text or not self.by_placeholder:
            return text
        originals = self.by_placeholder
        return PLACEHOLDER.sub(lambda m: originals.get(m.group(0), m.group(0)), text)

    def unmask_json(self, text: str) -> str:
        """Like `unmask`, inside a JSON document's text (tool-call arguments): each original
        is escaped as a JSON string's content. The document may write the placeholder's
        brackets as ``\\u003c`` and ``\\u003e`` (Go's encoder does)."""
        if not self.by_placeholder or ("<" not in text and "\\u003" not in text):
            return text
        originals = self.by_placeholder

        def restore(match: re.Match[str]) -> str:
            value = originals.get(f"<{match.group(1)}_{match.group(2)}>")
            return match.group(0) if value is None else json.dumps(value)[1:-1]

        return _PLACEHOLDER_IN_JSON.sub(restore, text)

    def pending_prefix(self, text: str, json: bool = False) -> int:
        """Where a placeholder of this vault may begin at the end of `text` and go on in the
        next chunk (``len(text)`` when nothing needs holding back). With `json`, `text` is a
        piece of a JSON document's text, where the brackets may be written ``\\u003c``
        and ``\\u003e`` (as `unmask_json` reads them)."""
        if not json:
            cut = text.rfind("<")
            if cut >= 0 and _continues(text[cut:], self.by_placeholder):
                return cut
            return len(text)
        # The last opener, written either way, then a trailing backslash (an escaped
        # opener or closer cut short): the earliest from which a placeholder may go on.
        opener = max(map(text.rfind, _JSON_OPENERS))
        for cut in sorted({opener, text.rfind("\\")}):
            if cut >= 0 and _continues(text[cut:], self._json_forms()):
                return cut
        return len(text)

    def _json_forms(self) -> list[str]:
        """Every way a JSON text may write this vault's placeholders."""
        return [
            f"{opener}{made[1:-1]}{closer}"
            for made in self.by_placeholder
            for opener in _JSON_OPENERS
            for closer in _JSON_CLOSERS
        ]


def may_hold_placeholder(raw: bytes) -> bool:
    """Whether a JSON answer's bytes may hold a placeholder: an opener written either way
    (``\\u003`` covers both escapes). `find`, not `in`: ``bytes in bytes`` first tries the
    needle as an integer and formats and clears a TypeError (~1,500 instructions)."""
    return raw.find(b"<") >= 0 or raw.find(b"\\u003") >= 0


def _continues(tail: str, forms: Iterable[str]) -> bool:
    """Whether `tail` is the start, and not the whole, of one of `forms`."""
    return any(len(made) > len(tail) and made.startswith(tail) for made in forms)


def redact(text: str, findings: Iterable[Finding]) -> str:
    """`text` with each finding replaced by ``<ENTITY>``, irreversibly."""
    parts: list[str] = []
    last = 0
    for finding in findings:
        parts.append(text[last : finding.start])
        parts.append(f"<{finding.entity}>")
        last = finding.end
    parts.append(text[last:])
    return "".join(parts)

"""Output checks on a stream, chunk by chunk.

Deny-list matches are looked for in the last `WINDOW` characters plus the new piece, so a
term split across chunks is still seen. With ``action = "redact"`` the last `WINDOW`
characters are held back until the text after them shows they are not part of a match
(terms longer than `WINDOW` characters can slip through split). JSON-schema checks run
when a choice finishes; moderation of the answer runs at the end of the stream.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from litegate import Call

from .rules import CompiledRule

__all__ = ["WINDOW", "StreamChecks"]

WINDOW = 64


class StreamChecks:
    """One stream's output rules and what they hold per choice."""

    __slots__ = ("deny", "full", "held", "recent", "redact", "rules", "schema")

    def __init__(self, rules: tuple[CompiledRule, ...]) -> None:
        self.rules = rules
        self.deny = tuple(r for r in rules if r.check == "output_deny" and _acts(r))
        self.redact = tuple(r for r in rules if r.check == "output_deny" and not _acts(r))
        self.schema = tuple(r for r in rules if r.check == "json_schema")
        #: Each choice's whole text so far (for the schema and moderation checks).
        self.full: dict[int, str] = {}
        #: Each choice's last characters already checked (deny lists look across chunks).
        self.recent: dict[int, str] = {}
        #: Text held back for redaction, per choice.
        self.held: dict[int, str] = {}

    def chunk(self, chunk: dict[str, Any]) -> Iterator[tuple[CompiledRule, str]]:
        """Check (and for redact rules, change) `chunk`; yields each rule that found
        something, with the text it looked at."""
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            holder, key = (delta, "content") if isinstance(delta, dict) else (choice, "text")
            index = choice.get("index", 0)
            final = choice.get("finish_reason") is not None
            piece = holder.get(key)
            piece = piece if isinstance(piece, str) else ""
            if piece:
                self.full[index] = self.full.get(index, "") + piece
                window = self.recent.get(index, "") + piece
                self.recent[index] = window[-WINDOW:]
                for rule in self.deny:
                    assert rule.pattern is not None
                    if rule.pattern.search(window):
                        yield rule, window
            if self.redact and (piece or (final and index in self.held)):
                text, found = self._redact(index, piece, final)
                holder[key] = text
                yield from ((rule, text) for rule in found)
            if final:
                for rule in self.schema:
                    yield rule, self.full.get(index, "")

    def _redact(self, index: int, piece: str, final: bool) -> tuple[str, list[CompiledRule]]:
        text = self.held.pop(index, "") + piece
        cut = len(text) if final else max(0, len(text) - WINDOW)
        for rule in self.redact:
            assert rule.pattern is not None
            for match in rule.pattern.finditer(text):
                if match.start() < cut < match.end():
                    cut = match.start()
        if cut < len(text):
            self.held[index] = text[cut:]
        return _apply(self.redact, text[:cut])

    def rest(self, call: Call) -> list[dict[str, Any]]:
        """Chunks for what is still held once the stream ended without a finish reason."""
        left = [(index, _apply(self.redact, text)[0]) for index, text in self.held.items()]
        self.held.clear()
        return [
            {
                "id": call.id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": call.alias,
                "choices": [{"index": index, "delta": {"content": text}, "finish_reason": None}],
            }
            for index, text in left
            if text
        ]


def _acts(rule: CompiledRule) -> bool:
    return rule.rule.action != "redact"


def _apply(rules: tuple[CompiledRule, ...], text: str) -> tuple[str, list[CompiledRule]]:
    found = []
    for rule in rules:
        assert rule.pattern is not None
        text, count = rule.pattern.subn(rule.rule.replacement, text)
        if count:
            found.append(rule)
    return text, found

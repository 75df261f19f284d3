"""Restoring placeholders in a stream, where one may arrive split (``<EMA`` + ``IL_1>``).

Only the possible start of a placeholder at a chunk's end is held back -- from its ``<`` on,
and only while it is a prefix of one of the call's placeholders -- so text flows as it comes
and a held piece is at most one placeholder long.
"""

from __future__ import annotations

from typing import Any

from .masking import Vault

__all__ = ["StreamUnmasker"]


class StreamUnmasker:
    """One stream's held-back pieces, per choice and field (content, each tool call's
    arguments, a completion's text)."""

    __slots__ = ("held", "vault")

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.held: dict[tuple[int, str], str] = {}

    def chunk(self, chunk: dict[str, Any]) -> dict[str, Any]:
        """Unmask `chunk` in place (and return it), holding back split placeholders."""
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            final = choice.get("finish_reason") is not None
            delta = choice.get("delta")
            if isinstance(delta, dict):
                if isinstance(delta.get("content"), str) or (final and (index, "c") in self.held):
                    delta["content"] = self._feed((index, "c"), delta.get("content") or "", final)
                for call in delta.get("tool_calls") or ():
                    function = call.get("function") if isinstance(call, dict) else None
                    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                        key = (index, f"t{call.get('index', 0)}")
                        function["arguments"] = self._feed(key, function["arguments"], final, True)
                if final:
                    self._flush_tools(index, delta)
            elif isinstance(choice.get("text"), str):  # legacy completions
                choice["text"] = self._feed((index, "c"), choice["text"], final)
        return chunk

    def rest(self) -> dict[int, str]:
        """What is still held for each choice's content once the stream ended (to send)."""
        left = {key[0]: text for key, text in self.held.items() if key[1] == "c" and text}
        self.held.clear()
        return {index: self.vault.unmask(text) for index, text in left.items()}

    def _feed(self, key: tuple[int, str], text: str, final: bool, json: bool = False) -> str:
        vault = self.vault
        text = self.held.pop(key, "") + text
        if not final:
            cut = vault.pending_prefix(text, json)
            if cut < len(text):
                text, self.held[key] = text[:cut], text[cut:]
        return vault.unmask_json(text) if json else vault.unmask(text)

    def _flush_tools(self, index: int, delta: dict[str, Any]) -> None:
        for key in [k for k in self.held if k[0] == index and k[1] != "c"]:
            rest = self.vault.unmask_json(self.held.pop(key))
            tool_index = int(key[1][1:])
            calls = delta.setdefault("tool_calls", [])
            calls.append({"index": tool_index, "function": {"arguments": rest}})

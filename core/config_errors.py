"""Turn cattrs' structured validation errors into one line per problem, each with its path.

cattrs (with detailed validation) raises exception groups annotated with the attribute or
index where each failure happened; we walk them to build paths like ``pipeline[2].ttl``.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

__all__ = ["ConfigError", "describe"]


class ConfigError(Exception):
    """Every problem found in a config, each a line ``path: what was expected``."""

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = [f"{self.source}: {len(self.problems)} {noun}:"]
        lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)


def describe(exc: BaseException, path: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Every leaf failure in `exc` as ``path: message``."""
    return list(_walk(exc, path, allowed))


def _join(path: str, segment: str) -> str:
    if segment.startswith("["):
        return path + segment
    return f"{path}.{segment}" if path else segment


def _walk(exc: BaseException, path: str, allowed: tuple[str, ...]) -> Iterator[str]:
    if isinstance(exc, ForbiddenExtraKeysError):
        names = allowed or tuple(field.name for field in attrs.fields(exc.cl))
        known = f" (known keys: {', '.join(names)})" if names else ""
        for key in sorted(exc.extra_fields):
            yield f"{_join(path, key)}: unknown key{known}"
        return
    if isinstance(exc, ClassValidationError | IterableValidationError):
        for sub in exc.exceptions:
            sub_path = path
            for note in getattr(sub, "__notes__", ()):
                if isinstance(note, AttributeValidationNote):
                    sub_path = _join(path, note.name)
                elif isinstance(note, IterableValidationNote):
                    sub_path = _join(path, f"[{note.index}]")
            yield from _walk(sub, sub_path, allowed)
        return
    if isinstance(exc, KeyError):
        yield f"{path}: required key is missing"
        return
    # attrs validators run in __init__, after cattrs annotated the fields, so the failing
    # field is found on the validator's own frame (it receives the attrs.Attribute).
    field = _validated_field(exc)
    yield f"{_join(path, field) if field else path}: {_message(exc)}"


def _validated_field(exc: BaseException) -> str | None:
    tb = exc.__traceback__
    found = None
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, attrs.Attribute):
                found = value.name
        tb = tb.tb_next
    return found


def _message(exc: BaseException) -> str:
    # attrs' own validators put extra values after the message; the message is enough.
    if exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc)

"""Value types that appear in pipeline.toml: durations, byte sizes and secrets.

Each parser raises `ValueError` with the sentence an operator should read; the config loader
prefixes it with the TOML path.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["ByteSize", "Duration", "Secret", "parse_byte_size", "parse_duration"]


class Duration(float):
    """Seconds, written in TOML as a number of seconds or a string like "500ms", "10m"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Duration({float(self)!r})"


class ByteSize(int):
    """Bytes, written as an integer or a string like "16MiB", "512KB"."""

    __slots__ = ()


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    None: 1,
}


def parse_duration(value: Any) -> Duration:
    if isinstance(value, bool):
        raise ValueError(f'expected a duration like "10m", got {value!r}')
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a duration that is not negative, got {value!r}")
        return Duration(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return Duration(float(match.group(1)) * _DURATION_UNITS[match.group(2)])
        raise ValueError(f'expected a duration like "10m", got "{value}"')
    raise ValueError(f'expected a duration like "10m", got {value!r}')


def parse_byte_size(value: Any) -> ByteSize:
    if isinstance(value, bool):
        raise ValueError(f'expected a size like "16MiB", got {value!r}')
    if isinstance(value, int) and value >= 0:
        return ByteSize(value)
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            unit = match.group(2).lower() if match.group(2) else None
            return ByteSize(int(float(match.group(1)) * _SIZE_UNITS[unit]))
        raise ValueError(f'expected a size like "16MiB", got "{value}"')
    raise ValueError(f'expected a size like "16MiB", got {value!r}')


class Secret:
    """A credential from the config. Its repr and str never show the value.

    Call `reveal()` at the single place the value is sent upstream or compared.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


def parse_secret(value: Any) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return Secret(value)

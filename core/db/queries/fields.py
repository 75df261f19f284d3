"""Which columns callers may set, checked like keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models.base import Base

__all__ = ["apply_fields"]


def apply_fields(row: Base, allowed: frozenset[str], fields: Mapping[str, Any]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise TypeError(
            f"{type(row).__name__} has no settable field(s) {', '.join(unknown)} "
            f"(settable: {', '.join(sorted(allowed))})"
        )
    for name, value in fields.items():
        setattr(row, name, value)

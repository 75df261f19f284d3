"""`${VAR}` and `${VAR:-default}` interpolation of config strings from the environment.

Applied to parsed TOML values (never to the raw text), so a value can't break out of its
string and inject TOML. `$${` writes a literal `${`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["interpolate"]

_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: Any, env: Mapping[str, str], path: str, errors: list[str]) -> Any:
    """Return `value` with every reference replaced; append a message per unset variable."""
    if isinstance(value, str):
        if "$" not in value:
            return value
        return _REF.sub(lambda m: _replace(m, env, path, errors), value)
    if isinstance(value, dict):
        return {
            key: interpolate(item, env, f"{path}.{key}" if path else key, errors)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [interpolate(item, env, f"{path}[{i}]", errors) for i, item in enumerate(value)]
    return value


def _replace(match: re.Match[str], env: Mapping[str, str], path: str, errors: list[str]) -> str:
    if match.group(0) == "$${":
        return "${"
    name, default = match.group(1), match.group(2)
    found = env.get(name)
    if found is not None and (found != "" or default is None):
        return found
    if default is not None:
        return default
    errors.append(
        f"{path}: environment variable {name} is not set "
        f'(set it, or write "${{{name}:-default}}" to give a default)'
    )
    return ""

"""The admin API's fields: one declaration per field gives its validation, its JSON output and
its OpenAPI schema, so the three can't disagree.

Every bad value is a 400 in the OpenAI error shape with `param` naming the field; values are
bounded so that nothing a client sends can make the database fail (lengths, NUL characters,
integer and money ranges).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import attrs
import orjson

from litegate import GatewayError
from litegate.config_types import parse_duration
from litegate.db import BudgetPeriod, Role

__all__ = [
    "BUDGET",
    "ID",
    "LIMITS",
    "METADATA",
    "TIMESTAMPS",
    "Field",
    "Kind",
    "dump",
    "json_schema",
    "object_schema",
    "validate",
]

Kind = Literal[
    "id", "string", "integer", "boolean", "strings", "object", "datetime", "money", "role",
    "period", "duration", "count",
]  # fmt: skip

MAX_INT = 2**31 - 1  # the Integer columns
MAX_MONEY = Decimal(10) ** 9  # Numeric(20, 10) holds less than 10**10
MAX_DURATION = 366 * 86400.0
MAX_LIST = 1000
MAX_OBJECT_BYTES = 65536
ENUMS: dict[str, type[enum.Enum]] = {"role": Role, "period": BudgetPeriod}


@attrs.frozen
class Field:
    name: str
    kind: Kind
    doc: str
    #: The attribute on the row, when it differs from the JSON name.
    attr: str | None = None
    required: bool = False
    nullable: bool = True
    #: Only in responses (ids, timestamps, state).
    read_only: bool = False
    max_length: int = 255

    @property
    def column(self) -> str:
        return self.attr or self.name


#: Field groups several resources share.
ID = (Field("id", "id", "The id (assigned by the gateway).", read_only=True, nullable=False),)
METADATA = (
    Field("metadata", "object", "Free-form JSON for your own use.", attr="meta", nullable=False),
)
BUDGET = (
    Field("max_budget", "money", "Spending cap in dollars; null: none."),
    Field("budget_period", "period", "When the budget resets; null: never."),
)
LIMITS = (
    Field(
        "allowed_models",
        "strings",
        "Model aliases or glob patterns that may be called; null: any (a key: its team's).",
    ),
    Field("rpm_limit", "integer", "Requests per minute; null: no limit (a key: its team's)."),
    Field("tpm_limit", "integer", "Tokens per minute; null: no limit (a key: its team's)."),
    Field("max_parallel", "integer", "Requests in flight at once; null: no limit."),
)
TIMESTAMPS = (
    Field("created_at", "datetime", "When it was created.", read_only=True, nullable=False),
    Field("updated_at", "datetime", "When it last changed.", read_only=True, nullable=False),
)


def _bad(field: str, message: str) -> GatewayError:
    return GatewayError(400, f"'{field}': {message}", code="invalid_value", param=field)


def validate(body: Any, fields: Sequence[Field], *, partial: bool) -> dict[str, Any]:
    """`body` checked against the writable `fields`, as {row attribute: Python value}.

    `partial` (an update): nothing is required, only the fields present are returned."""
    if not isinstance(body, dict):
        raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json")
    writable = {field.name: field for field in fields if not field.read_only}
    for name in body:
        if name not in writable:
            allowed = ", ".join(sorted(writable)) or "none"
            # Only a name-like field is echoed (not, say, a secret sent as a name).
            shown = name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name) else None
            raise GatewayError(
                400,
                f"Unknown field {repr(shown) if shown else '(not a field name)'} "
                f"(allowed: {allowed}).",
                code="unknown_field",
                param=shown,
            )
    values: dict[str, Any] = {}
    for name, field in writable.items():
        if name not in body:
            if field.required and not partial:
                raise GatewayError(400, f"'{name}' is required.", code="missing_field", param=name)
            continue
        values[field.column] = convert(field, body[name])
    return values


def convert(field: Field, value: Any) -> Any:
    """One JSON value as the Python value its column takes; 400 when it doesn't fit."""
    name = field.name
    if value is None:
        if field.nullable and not field.required:
            return None
        raise _bad(name, "may not be null")
    kind = field.kind
    if kind in ("id", "string"):
        return _string(name, value, field.max_length)
    if kind in ("integer", "count"):
        if type(value) is not int or not 0 <= value <= MAX_INT:
            raise _bad(name, f"expected an integer between 0 and {MAX_INT}")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _bad(name, "expected true or false")
        return value
    if kind == "strings":
        if not isinstance(value, list) or len(value) > MAX_LIST:
            raise _bad(name, f"expected a list of at most {MAX_LIST} strings")
        return [_string(name, item, field.max_length) for item in value]
    if kind == "object":
        return _object(name, value)
    if kind == "datetime":
        return _datetime(name, value)
    if kind == "money":
        return _money(name, value)
    if kind == "duration":
        try:
            seconds = float(parse_duration(value))
        except ValueError as exc:
            raise _bad(name, str(exc)) from None
        if not math.isfinite(seconds) or seconds > MAX_DURATION:
            raise _bad(name, "expected at most 366 days")
        return seconds
    allowed = [member.value for member in ENUMS[kind]]
    if value not in allowed:
        raise _bad(name, f"expected one of {', '.join(allowed)}")
    return ENUMS[kind](value)


def _string(name: str, value: Any, max_length: int) -> str:
    if not isinstance(value, str) or not value or len(value) > max_length or "\x00" in value:
        raise _bad(name, f"expected a non-empty string of at most {max_length} characters")
    return value


def _object(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(name, "expected a JSON object")
    encoded = orjson.dumps(value)
    if len(encoded) > MAX_OBJECT_BYTES or b"\\u0000" in encoded:
        raise _bad(name, f"expected at most {MAX_OBJECT_BYTES} bytes, without NUL characters")
    return value


def _datetime(name: str, value: Any) -> datetime:
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
            raise _bad(name, "expected a timezone (e.g. 2030-01-01T00:00:00Z)")
    raise _bad(name, "expected an ISO 8601 date-time such as 2030-01-01T00:00:00Z")


def _money(name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str) or len(str(value)) > 40:
        raise _bad(name, "expected a number of dollars")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _bad(name, "expected a number of dollars") from None
    if not amount.is_finite() or not 0 <= amount < MAX_MONEY:
        raise _bad(name, f"expected a number of dollars from 0 to {MAX_MONEY}")
    return amount


# -- output -------------------------------------------------------------------------------


def dump(row: object, fields: Sequence[Field]) -> dict[str, Any]:
    """`row` as the JSON object the API shows (only the declared fields: never a hash)."""
    return {field.name: _plain(getattr(row, field.column)) for field in fields}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


# -- OpenAPI --------------------------------------------------------------------------------


def json_schema(field: Field) -> dict[str, Any]:
    """The JSON Schema (OpenAPI 3.1 dialect) of one field."""
    kind = field.kind
    schema: dict[str, Any]
    if kind in ("id", "string"):
        schema = {"type": "string", "minLength": 1, "maxLength": field.max_length}
    elif kind in ("integer", "count"):
        schema = {"type": "integer", "minimum": 0, "maximum": MAX_INT}
    elif kind == "boolean":
        schema = {"type": "boolean"}
    elif kind == "strings":
        item = {"type": "string", "minLength": 1, "maxLength": field.max_length}
        schema = {"type": "array", "items": item, "maxItems": MAX_LIST}
    elif kind == "object":
        schema = {"type": "object"}
    elif kind == "datetime":
        schema = {"type": "string", "format": "date-time"}
    elif kind == "money":
        schema = {"type": "number", "minimum": 0, "exclusiveMaximum": int(MAX_MONEY)}
    elif kind == "duration":
        schema = {
            "oneOf": [
                {"type": "number", "minimum": 0, "maximum": MAX_DURATION},
                {"type": "string", "examples": ["10m", "24h"]},
            ]
        }
    else:
        schema = {"type": "string", "enum": [member.value for member in ENUMS[kind]]}
    if field.nullable and not field.required and "type" in schema:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    schema["description"] = field.doc
    return schema


def object_schema(
    fields: Sequence[Field], *, output: bool, partial: bool = False
) -> dict[str, Any]:
    """An object of `fields`: a response (`output`) has them all, a request only the
    writable ones, of which an update (`partial`) requires none."""
    shown = [field for field in fields if output or not field.read_only]
    if output:
        required = [field.name for field in shown]
    else:
        required = [field.name for field in shown if field.required and not partial]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {field.name: json_schema(field) for field in shown},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def fields_of(*groups: Sequence[Field]) -> tuple[Field, ...]:
    return tuple(field for group in groups for field in group)


def by_name(fields: Sequence[Field]) -> Mapping[str, Field]:
    return {field.name: field for field in fields}

"""JSON Schema (what OpenAI tools and `response_format` carry) to Gemini's `Schema`.

Gemini takes a subset of OpenAPI 3.0: upper-case `type` names, `nullable` instead of a
`"null"` type, `anyOf` but no `oneOf`/`allOf`/`$ref`, `enum` for strings only, a few
`format`s. Its JSON parser rejects every unknown field with a 400, so this converter keeps
the keys Gemini knows and drops the rest (`additionalProperties`, `$schema`, `strict`,
`patternProperties`, `examples`, `exclusiveMinimum`, ...). `$ref`s into `$defs`/`definitions`
are inlined; a recursive schema can't be, and is a 400.
"""

from __future__ import annotations

from typing import Any

from litegate import GatewayError

__all__ = ["to_gemini_schema"]

_TYPES = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
    "null": "NULL",
}
# Copied as they are (after a type check where Gemini's field has a fixed type).
_PLAIN = ("title", "description", "pattern", "default", "example")
_NUMBERS = (
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
)
_FORMATS = {
    "STRING": frozenset({"enum", "date-time"}),
    "NUMBER": frozenset({"float", "double"}),
    "INTEGER": frozenset({"int32", "int64"}),
}
_MAX_DEPTH = 64


def to_gemini_schema(
    schema: Any, *, where: str, provider: str, ordered: bool = False
) -> dict[str, Any]:
    """Gemini's `Schema` for a JSON Schema. `ordered` adds `propertyOrdering` (Gemini otherwise
    writes structured output keys alphabetically, not in the order the caller declared)."""
    if not isinstance(schema, dict):
        raise GatewayError(400, f"'{where}' must be a JSON Schema object.", param=where)
    converter = _Converter(schema, where, provider, ordered)
    return converter.convert(schema, ())


class _Converter:
    __slots__ = ("defs", "ordered", "provider", "where")

    def __init__(self, root: dict[str, Any], where: str, provider: str, ordered: bool) -> None:
        defs: dict[str, Any] = {}
        for key in ("$defs", "definitions"):
            found = root.get(key)
            if isinstance(found, dict):
                for name, value in found.items():
                    defs[f"#/{key}/{name}"] = value
        self.defs = defs
        self.where = where
        self.provider = provider
        self.ordered = ordered

    def fail(self, message: str) -> GatewayError:
        return GatewayError(
            400,
            f"'{self.where}': {message} (the provider '{self.provider}' takes a subset of "
            "JSON Schema).",
            param=self.where,
            code="invalid_schema",
        )

    def resolve(self, ref: str, refs: tuple[str, ...]) -> dict[str, Any]:
        if ref in refs:
            raise self.fail(f"the schema is recursive through '{ref}'")
        target = self.defs.get(ref)
        if not isinstance(target, dict):
            raise self.fail(f"'$ref' to '{ref}' can't be resolved")
        return target

    def convert(self, schema: Any, refs: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(schema, dict):
            return {}
        if len(refs) > _MAX_DEPTH:
            raise self.fail("the schema is nested too deeply")
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self.resolve(ref, refs)
            merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.convert(merged, (*refs, ref))
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            parts = []
            for part in all_of:
                if isinstance(part, dict) and isinstance(part.get("$ref"), str):
                    part_ref = part["$ref"]
                    refs = (*refs, part_ref)
                    part = self.resolve(part_ref, refs[:-1])
                parts.append(part)
            return self.convert(_merge_all_of(schema, parts), refs)
        out: dict[str, Any] = {}
        nullable = schema.get("nullable") is True
        kind = schema.get("type")
        if isinstance(kind, list):
            names = [k for k in kind if k != "null"]
            nullable = nullable or len(names) < len(kind)
            if len(names) == 1:
                kind = names[0]
            elif names:
                variants = [self.convert({**schema, "type": k}, refs) for k in names]
                return {"anyOf": variants, "nullable": True} if nullable else {"anyOf": variants}
            else:
                kind = "null"
        gemini_type = _TYPES.get(kind) if isinstance(kind, str) else None
        if gemini_type is not None:
            out["type"] = gemini_type
        for key in _PLAIN:
            if key in schema:
                out[key] = schema[key]
        for key in _NUMBERS:
            value = schema.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = value
        enum = schema.get("enum")
        if "const" in schema:
            enum = [schema["const"]]
        if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
            out["enum"] = enum
            out.setdefault("type", "STRING")
        fmt = schema.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS.get(out.get("type", ""), ()):
            out["format"] = fmt
        any_of = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(any_of, list) and any_of:
            kept = []
            for variant in any_of:
                if isinstance(variant, dict) and variant.get("type") == "null":
                    nullable = True
                else:
                    kept.append(self.convert(variant, refs))
            if len(kept) == 1:
                out.update(kept[0])
            elif kept:
                out["anyOf"] = kept
        properties = schema.get("properties")
        if isinstance(properties, dict) and properties:
            out["properties"] = {
                name: self.convert(value, refs) for name, value in properties.items()
            }
            out.setdefault("type", "OBJECT")
            required = schema.get("required")
            if isinstance(required, list):
                names = [name for name in required if name in properties]
                if names:
                    out["required"] = names
            if self.ordered and len(properties) > 1:
                out["propertyOrdering"] = list(properties)
        items = schema.get("items")
        if isinstance(items, dict):
            out["items"] = self.convert(items, refs)
        elif isinstance(items, list) and items:
            converted = [self.convert(item, refs) for item in items]
            out["items"] = converted[0] if len(converted) == 1 else {"anyOf": converted}
        if nullable:
            out["nullable"] = True
        return out


def _merge_all_of(schema: dict[str, Any], parts: list[Any]) -> dict[str, Any]:
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    properties: dict[str, Any] = dict(merged.get("properties") or {})
    required: list[str] = list(merged.get("required") or [])
    for part in parts:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                properties.update(value)
            elif key == "required" and isinstance(value, list):
                required.extend(name for name in value if name not in required)
            else:
                merged.setdefault(key, value)
    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged

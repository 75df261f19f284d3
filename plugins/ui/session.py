"""Signed-in sessions of the UI.

The cookie holds only a random session id (256 bits); the principal it stands for and the
session's CSRF token live in the `[state] kv` store under a hash of that id, with a TTL. The
credential the operator signed in with is never stored or sent back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import attrs
import orjson

from litegate import Principal
from litegate.call import Limits
from litegate.state import State

__all__ = ["COOKIE", "LOGIN_COOKIE", "Session", "create", "delete", "load", "same"]

#: The session cookie (HttpOnly, SameSite=Strict, Path=/ui).
COOKIE = "litegate_ui"
#: The sign-in form's double-submit CSRF cookie (before there is a session).
LOGIN_COOKIE = "litegate_ui_login"
_PREFIX = "ui.session."


@attrs.frozen
class Session:
    principal: Principal
    csrf: str


def _key(session_id: str) -> str:
    return _PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


def _dump(principal: Principal) -> dict[str, Any]:
    data = attrs.asdict(principal, recurse=True)
    data["models"] = list(principal.models) if principal.models is not None else None
    data["allowed_parameters"] = sorted(principal.allowed_parameters)
    return data


def _load(data: dict[str, Any]) -> Principal:
    limits = data.pop("limits", None)
    models = data.pop("models", None)
    allowed = data.pop("allowed_parameters", [])
    return Principal(
        **data,
        limits=Limits(**limits) if limits else None,
        models=tuple(models) if models is not None else None,
        allowed_parameters=frozenset(allowed),
    )


async def create(state: State, principal: Principal, ttl: float) -> tuple[str, Session]:
    """A new session for `principal`: its id (for the cookie) and the session."""
    session_id = secrets.token_urlsafe(32)
    session = Session(principal, secrets.token_urlsafe(32))
    value = orjson.dumps({"principal": _dump(principal), "csrf": session.csrf})
    await state.set(_key(session_id), value, ttl=ttl)
    return session_id, session


async def load(state: State, session_id: str | None) -> Session | None:
    if not session_id or len(session_id) > 128:
        return None
    raw = await state.get(_key(session_id))
    if raw is None:
        return None
    data = orjson.loads(raw)
    return Session(_load(data["principal"]), data["csrf"])


async def delete(state: State, session_id: str | None) -> None:
    if session_id and len(session_id) <= 128:
        await state.delete(_key(session_id))


def same(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of two tokens (False when either is missing)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())

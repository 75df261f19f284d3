"""Virtual keys: create (the secret is returned once, only its hash kept), find, list,
update, revoke, rotate."""

from __future__ import annotations

import copy
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Team, User, VirtualKey, utcnow
from .fields import apply_fields
from .pages import Page, keyset_page

__all__ = [
    "EVERY_KEY",
    "KEY_CHANGES_CHANNEL",
    "KEY_FIELDS",
    "SECRET_PREFIX",
    "create_key",
    "find_key",
    "generate_secret",
    "get_key",
    "get_key_by_hash",
    "hash_secret",
    "list_keys",
    "revoke_key",
    "rotate_key",
    "update_key",
]

SECRET_PREFIX = "sk-lg-"
#: The `[state] kv` channel on which a change to a key (revoke, rotate, update, delete) is
#: announced; the message is the key's hash (`hash_secret`, hex ASCII). Every worker's auth
#: plugin drops that key from its in-memory cache when it hears one.
KEY_CHANGES_CHANNEL = "keys.changed"
#: The message that means "every key may have changed": a team's or user's settings (allowed
#: models, limits), which every cached key of theirs carries, were updated or removed.
EVERY_KEY = "*"
_SHOWN = len(SECRET_PREFIX) + 6

#: What `create_key` and `update_key` may set.
KEY_FIELDS = frozenset(
    {
        "name",
        "user_id",
        "team_id",
        "meta",
        "enabled",
        "expires_at",
        "allowed_models",
        "rpm_limit",
        "tpm_limit",
        "max_parallel",
        "max_budget",
        "budget_period",
    }
)


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """SHA-256, hex. Unsalted on purpose: the secrets are random 256-bit tokens (nothing to
    guess), and a lookup must find the row from the presented secret alone."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(
    session: AsyncSession, *, secret: str | None = None, **fields: Any
) -> tuple[VirtualKey, str]:
    """A new key and its secret (shown once: only the hash is stored)."""
    secret = secret or generate_secret()
    key = VirtualKey(key_hash=hash_secret(secret), prefix=secret[:_SHOWN])
    apply_fields(key, KEY_FIELDS, fields)
    session.add(key)
    await session.flush()
    return key, secret


async def get_key(session: AsyncSession, key_id: str) -> VirtualKey | None:
    return await session.get(VirtualKey, key_id)


async def get_key_by_hash(session: AsyncSession, key_hash: str) -> VirtualKey | None:
    return await session.scalar(select(VirtualKey).where(VirtualKey.key_hash == key_hash))


async def find_key(session: AsyncSession, secret: str) -> VirtualKey | None:
    """The key a client presented, usable or not (check `VirtualKey.usable_at`)."""
    return await get_key_by_hash(session, hash_secret(secret))


async def list_keys(
    session: AsyncSession,
    *,
    team_id: str | None = None,
    user_id: str | None = None,
    include_revoked: bool = True,
    cursor: str | None = None,
    limit: int = 100,
    org_id: str | None = None,
) -> Page[VirtualKey]:
    """Oldest first, in pages (see `litegate.db.queries.pages`). `org_id`: only keys whose
    team or user belongs to that organization."""
    query = select(VirtualKey)
    if org_id is not None:
        query = query.where(
            or_(
                VirtualKey.team_id.in_(select(Team.id).where(Team.org_id == org_id)),
                VirtualKey.user_id.in_(select(User.id).where(User.org_id == org_id)),
            )
        )
    if team_id is not None:
        query = query.where(VirtualKey.team_id == team_id)
    if user_id is not None:
        query = query.where(VirtualKey.user_id == user_id)
    if not include_revoked:
        query = query.where(VirtualKey.revoked_at.is_(None))
    order = (VirtualKey.created_at, VirtualKey.id)
    return await keyset_page(session, query, order, cursor=cursor, limit=limit)


async def update_key(session: AsyncSession, key_id: str, **fields: Any) -> VirtualKey | None:
    """Set `fields` (names from KEY_FIELDS); None when there is no such key."""
    key = await get_key(session, key_id)
    if key is not None:
        apply_fields(key, KEY_FIELDS, fields)
        await session.flush()
    return key


async def revoke_key(
    session: AsyncSession, key_id: str, *, at: datetime | None = None
) -> VirtualKey | None:
    """Mark the key revoked (an earlier revocation time is kept); None when not found."""
    key = await get_key(session, key_id)
    if key is not None and key.revoked_at is None:
        key.revoked_at = at or utcnow()
        await session.flush()
    return key


async def rotate_key(
    session: AsyncSession, key_id: str, *, grace: timedelta, at: datetime | None = None
) -> tuple[VirtualKey, str] | None:
    """A new key with the old one's settings; the old one works for `grace` more."""
    old = await get_key(session, key_id)
    if old is None:
        return None
    now = at or utcnow()
    settings = {name: copy.deepcopy(getattr(old, name)) for name in KEY_FIELDS}
    new, secret = await create_key(session, **settings)
    new.rotated_from = old.id
    old.grace_until = now + grace if old.grace_until is None else min(old.grace_until, now + grace)
    await session.flush()
    return new, secret

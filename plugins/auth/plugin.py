"""The `auth` plugin's hooks: who is calling, and may they use the model they ask for."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

import attrs

from litegate import Call, Gateway, GatewayError, Principal, hookimpl
from litegate.config_types import Duration, Secret

from .tokens import ROLES, JWTConfig, JWTVerifier, looks_like_jwt
from .virtual_keys import VirtualKeys, invalid_key, models_allowed

__all__ = ["AuthPlugin", "StaticKey"]


def _check_role(_instance: object, _attribute: object, value: str) -> None:
    if value not in ROLES:
        raise ValueError(f"{value!r} is not a role ({', '.join(ROLES)})")


@attrs.frozen
class StaticKey:
    #: Who this key belongs to; appears in logs as the principal (never the key itself).
    name: str
    #: The secret clients present.
    key: Secret
    #: What the key may do: admin, org_admin, team_admin, member or viewer.
    role: str = attrs.field(default="member", validator=_check_role)
    #: The id of the team the key acts for (admin API scope for team_admin, member, viewer).
    team: str | None = None
    #: The id of the organization the key acts for (admin API scope for org_admin).
    org: str | None = None
    #: The id of the user the key acts for (a member's own keys).
    user: str | None = None


class AuthPlugin:
    """Who may call: a master key, static keys, virtual keys from the records database
    (`[state] db`) and JWTs from an identity provider; and which models they may use."""

    @attrs.frozen
    class Config:
        #: The administrator's key. Empty means no master key.
        master_key: Secret | None = None
        #: Further keys, each with a name.
        keys: list[StaticKey] = attrs.field(factory=list)
        #: Accept virtual keys: secrets (``sk-lg-...``) whose hash is stored in the records
        #: database (`[state] db`), with their team's and user's settings.
        virtual_keys: bool = False
        #: How long a virtual key found in the database is used without asking again.
        #: Changes announced on `[state] kv` (revoke, rotate, update) apply at once anyway.
        key_cache_ttl: Duration = Duration(60)
        #: Virtual keys kept in memory, per worker.
        key_cache_size: int = attrs.field(default=10_000, validator=attrs.validators.ge(1))
        #: How long an unknown key is remembered as unknown (0: ask the database each time).
        negative_cache_ttl: Duration = Duration(5)
        #: Unknown keys remembered, per worker (kept apart, so random keys evict only
        #: each other).
        negative_cache_size: int = attrs.field(default=1_000, validator=attrs.validators.ge(1))
        #: Accept JWTs (``Authorization: Bearer <jwt>``) from an identity provider.
        jwt: JWTConfig | None = None

    def __init__(self, config: Config) -> None:
        self.config = config
        entries = []
        if config.master_key:
            entries.append(
                (config.master_key.reveal().encode(), Principal("master", "master", role="admin"))
            )
        for static in config.keys:
            if not static.key:
                raise ValueError(f"keys entry {static.name!r} has an empty key")
            principal = Principal(
                static.name,
                "static",
                role=static.role,
                team=static.team,
                org=static.org,
                user=static.user,
            )
            entries.append((static.key.reveal().encode(), principal))
        if not entries and not config.virtual_keys and config.jwt is None:
            raise ValueError(
                "set master_key, at least one entry in keys, virtual_keys = true or jwt: "
                "with none of them, every request would be refused"
            )
        self._keys = tuple(entries)
        self.virtual = (
            VirtualKeys(
                ttl=float(config.key_cache_ttl),
                negative_ttl=float(config.negative_cache_ttl),
                size=config.key_cache_size,
                negative_size=config.negative_cache_size,
            )
            if config.virtual_keys
            else None
        )
        self.tokens = JWTVerifier(config.jwt) if config.jwt is not None else None

    @hookimpl
    async def startup(self, gateway: Gateway) -> None:
        if self.virtual is not None:
            await self.virtual.connect(gateway)

    @hookimpl
    async def shutdown(self) -> None:
        if self.virtual is not None:
            await self.virtual.aclose()

    @hookimpl
    async def authenticate(self, call: Call) -> Principal | None:
        presented = _presented_key(call.headers)
        if presented is None:
            return None
        found = self._static(presented)
        if found is not None:
            return found
        if self.tokens is not None and looks_like_jwt(presented):
            return await self.tokens.principal(presented)
        if self.virtual is not None:
            from litegate.db.queries import hash_secret

            return await self.virtual.lookup(hash_secret(presented), datetime.now(UTC))
        raise invalid_key()

    @hookimpl
    def pre_call(self, call: Call) -> None:
        principal = call.principal
        if principal is None or principal.models is None or not call.alias:
            return
        if not models_allowed(call.alias, principal.models):
            raise GatewayError(
                403,
                f"This credential may not use the model '{call.alias}'.",
                code="model_not_allowed",
                param="model",
            )

    def _static(self, presented: str) -> Principal | None:
        candidate = presented.encode()
        found = None
        for key, principal in self._keys:
            # No early exit: every key is compared, whatever matched.
            if hmac.compare_digest(candidate, key):
                found = principal
        if found is None:
            return None
        return found.for_call()


def _presented_key(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None

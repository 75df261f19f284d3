"""`auth`: who may call. First form: a master key and static keys from the config.

Keys are read from ``Authorization: Bearer <key>`` or ``x-api-key`` and compared in constant
time against every configured key (so timing reveals neither a match nor which key).
The tenancy issue grows this plugin with virtual keys and JWT.
"""

from __future__ import annotations

import hmac

import attrs

from litegate import Call, GatewayError, Principal, hookimpl
from litegate.config_types import Secret


@attrs.frozen
class StaticKey:
    #: Who this key belongs to; appears in logs as the principal (never the key itself).
    name: str
    #: The secret clients present.
    key: Secret
    #: What the key may do: "admin" or "member".
    role: str = "member"
    #: The id of the team the key acts for (admin API scope for team_admin, member, viewer).
    team: str | None = None
    #: The id of the organization the key acts for (admin API scope for org_admin).
    org: str | None = None
    #: The id of the user the key acts for (a member's own keys).
    user: str | None = None


class AuthPlugin:
    @attrs.frozen
    class Config:
        #: The administrator's key. Empty means no master key.
        master_key: Secret | None = None
        #: Further keys, each with a name.
        keys: list[StaticKey] = attrs.field(factory=list)

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
            entries.append(
                (
                    static.key.reveal().encode(),
                    Principal(
                        static.name,
                        "static",
                        role=static.role,
                        team=static.team,
                        org=static.org,
                        user=static.user,
                    ),
                )
            )
        if not entries:
            raise ValueError(
                "set master_key or at least one entry in keys: with neither, "
                "every request would be refused"
            )
        self._keys = tuple(entries)

    @hookimpl
    def authenticate(self, call: Call) -> Principal | None:
        presented = _presented_key(call.headers)
        if presented is None:
            return None
        candidate = presented.encode()
        found = None
        for key, principal in self._keys:
            # No early exit: every key is compared, whatever matched.
            if hmac.compare_digest(candidate, key):
                found = principal
        if found is None:
            raise GatewayError(401, "Invalid API key.", code="invalid_api_key")
        return Principal(
            found.id, found.kind, role=found.role, team=found.team, org=found.org, user=found.user
        )


def _presented_key(headers: object) -> str | None:
    get = headers.get  # type: ignore[attr-defined]
    authorization = get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    api_key = get("x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None

"""Who may do what through the admin API: one table of actions, one rule for scope, one rule
for grants.

1. **Actions** (`ACTIONS`): which roles may call a route at all; `guarded` answers 403 to
   the others before the handler runs.
2. **Scope** (`Scope.reaches`): which rows a caller can see and change. An admin reaches
   everything; an org_admin its organization; a team_admin its team; a member itself (its own
   keys); a viewer its team, else its org, else its user, else everything — read-only, since
   no write action lists it. A row out of scope is answered 404, as if it did not exist.
3. **Grants** (`Rights.check`): whatever a caller gives (a key's or a team's models, limits
   and budget; a user's role) must be within its own rights. A value left empty is filled in
   with the caller's bound rather than meaning "unlimited".

The master key's principal has the role admin and so can do everything.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any, Literal

import attrs

from litegate import GatewayError, Principal
from litegate.db import Organization, Role, Team

__all__ = [
    "ACTIONS",
    "GRANTS",
    "RANK",
    "Owner",
    "Rights",
    "Scope",
    "actor",
    "check_role_grant",
]

ADMIN, ORG_ADMIN, TEAM_ADMIN, MEMBER, VIEWER = (role.value for role in Role)
EVERYONE = frozenset(role.value for role in Role)
#: How much each role may do; a caller grants roles up to its own.
RANK = {VIEWER: 0, MEMBER: 1, TEAM_ADMIN: 2, ORG_ADMIN: 3, ADMIN: 4}

#: The roles that may call each action (reads are then narrowed by scope).
ACTIONS: Mapping[str, frozenset[str]] = {
    "orgs.create": frozenset({ADMIN}),
    "orgs.list": EVERYONE,
    "orgs.read": EVERYONE,
    "orgs.update": frozenset({ADMIN}),
    "orgs.delete": frozenset({ADMIN}),
    "teams.create": frozenset({ADMIN, ORG_ADMIN}),
    "teams.list": EVERYONE,
    "teams.read": EVERYONE,
    "teams.update": frozenset({ADMIN, ORG_ADMIN}),
    "teams.delete": frozenset({ADMIN, ORG_ADMIN}),
    "users.create": frozenset({ADMIN, ORG_ADMIN, TEAM_ADMIN}),
    "users.list": EVERYONE,
    "users.read": EVERYONE,
    "users.update": frozenset({ADMIN, ORG_ADMIN, TEAM_ADMIN}),
    "users.delete": frozenset({ADMIN, ORG_ADMIN, TEAM_ADMIN}),
    "keys.create": frozenset({ADMIN, ORG_ADMIN, TEAM_ADMIN, MEMBER}),
    "keys.list": EVERYONE,
    "keys.read": EVERYONE,
    "keys.update": frozenset({ADMIN, ORG_ADMIN, TEAM_ADMIN, MEMBER}),
    "keys.revoke": frozenset({ADMIN, ORG_ADMIN, TEAM_ADMIN, MEMBER}),
    "keys.rotate": frozenset({ADMIN, ORG_ADMIN, TEAM_ADMIN, MEMBER}),
    "audit.list": frozenset({ADMIN, ORG_ADMIN}),
}

#: What a key or team grants: its models, limits and budget.
GRANTS = ("allowed_models", "rpm_limit", "tpm_limit", "max_parallel", "max_budget")

Level = Literal["all", "org", "team", "user", "none"]


@attrs.frozen
class Owner:
    """Where a row belongs: an organization, a team, a user (any may be None)."""

    org: str | None = None
    team: str | None = None
    user: str | None = None


@attrs.frozen
class Scope:
    level: Level
    #: The id at that level (None for "all" and "none").
    id: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Scope:
        role = principal.role
        if role == ADMIN:
            return cls("all")
        if role == ORG_ADMIN:
            return cls("org", principal.org) if principal.org else cls("none")
        if role == TEAM_ADMIN:
            return cls("team", principal.team) if principal.team else cls("none")
        if role == MEMBER:
            return cls("user", principal.user) if principal.user else cls("none")
        if role == VIEWER:
            for level, value in (
                ("team", principal.team),
                ("org", principal.org),
                ("user", principal.user),
            ):
                if value:
                    return cls(level, value)  # type: ignore[arg-type]  # one of the literals
            return cls("all")
        return cls("none")

    def reaches(self, owner: Owner) -> bool:
        if self.level == "all":
            return True
        if self.level == "none":
            return False
        return bool(getattr(owner, self.level) == self.id)


def actor(principal: Principal) -> str:
    """Who did it, for the audit log: the credential's kind and id, never its secret."""
    return "master-key" if principal.kind == "master" else f"{principal.kind}:{principal.id}"


def check_role_grant(principal: Principal, role: str) -> None:
    """A caller may give a user at most its own role."""
    if RANK.get(role, 99) > RANK.get(principal.role or "", -1):
        raise GatewayError(
            403,
            f"A {principal.role} can't grant the role {role}.",
            code="grant_exceeds_rights",
            param="role",
        )


def _too_much(field: str, what: str) -> GatewayError:
    return GatewayError(
        403, f"'{field}': {what} is more than the caller has.", code="grant_exceeds_rights",
        param=field,
    )  # fmt: skip


@attrs.frozen
class Rights:
    """The most a caller may give: None in a field means unbounded."""

    models: tuple[str, ...] | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    max_parallel: int | None = None
    max_budget: Decimal | None = None

    @classmethod
    def of(
        cls, principal: Principal, team: Team | None = None, org: Organization | None = None
    ) -> Rights:
        """An admin's rights are unbounded; anyone else's are its principal's models and
        limits, narrowed by its team's (when it has one) and its org's budget."""
        if principal.role == ADMIN:
            return cls()
        limits = principal.limits
        rights = cls(
            models=principal.models,
            rpm_limit=limits.rpm if limits else None,
            tpm_limit=limits.tpm if limits else None,
            max_parallel=limits.max_parallel if limits else None,
        )
        if team is not None:
            rights = rights.narrowed(
                models=tuple(team.allowed_models) if team.allowed_models is not None else None,
                rpm_limit=team.rpm_limit,
                tpm_limit=team.tpm_limit,
                max_parallel=team.max_parallel,
                max_budget=team.max_budget,
            )
        if org is not None:
            rights = rights.narrowed(max_budget=org.max_budget)
        return rights

    def narrowed(self, **bounds: Any) -> Rights:
        changes: dict[str, Any] = {}
        for name, bound in bounds.items():
            if bound is None:
                continue
            mine = getattr(self, name)
            if mine is None:
                changes[name] = bound
            elif name == "models":
                # What both allow: the patterns of each that the other covers.
                both = [m for m in bound if not _models_within([m], mine)]
                both += [m for m in mine if not _models_within([m], bound) and m not in both]
                changes[name] = tuple(both)
            else:
                changes[name] = min(mine, bound)
        return attrs.evolve(self, **changes)

    def check(
        self, values: dict[str, Any], *, fill: bool, names: Collection[str] = GRANTS
    ) -> dict[str, Any]:
        """`values` (row attributes) checked against these rights: 403 naming the first
        field that grants more. With `fill` (a create), those of `names` left out get the
        bound."""
        result = dict(values)
        for name in names:
            bound = getattr(self, "models" if name == "allowed_models" else name)
            if bound is None or (name not in result and not fill):
                continue
            value = result.get(name)
            if value is None:
                result[name] = list(bound) if name == "allowed_models" else bound
            elif name == "allowed_models":
                outside = _models_within(value, bound)
                if outside:
                    raise _too_much(name, f"access to {', '.join(outside[:5])}")
            elif value > bound:
                raise _too_much(name, str(value))
        return result


def _models_within(requested: list[str], allowed: tuple[str, ...]) -> list[str]:
    """The requested aliases or patterns no allowed pattern covers (a pattern is covered
    when an allowed pattern matches it as text: "gpt-4*" is within "gpt-*")."""
    return [name for name in requested if not any(fnmatchcase(name, p) for p in allowed)]

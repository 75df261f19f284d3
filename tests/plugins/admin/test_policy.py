"""The RBAC policy and the field validation as plain functions (no server)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from litegate import GatewayError, Limits, Principal
from litegate.db import Team
from litegate.plugins.admin.rbac import ACTIONS, Owner, Rights, Scope, actor, check_role_grant
from litegate.plugins.admin.schema import Field, validate


def _principal(role, **ids):
    return Principal("p", "static", role=role, **ids)


@pytest.mark.parametrize(
    ("principal", "level", "ident"),
    [
        (_principal("admin"), "all", None),
        (_principal("org_admin", org="o"), "org", "o"),
        (_principal("org_admin"), "none", None),
        (_principal("team_admin", team="t", org="o"), "team", "t"),
        (_principal("member", user="u", team="t"), "user", "u"),
        (_principal("member"), "none", None),
        (_principal("viewer", org="o", team="t"), "team", "t"),
        (_principal("viewer", org="o"), "org", "o"),
        (_principal("viewer"), "all", None),
        (_principal("superuser"), "none", None),
        (_principal(None), "none", None),
    ],
)
def test_scope_of_each_role(principal, level, ident):
    assert Scope.of(principal) == Scope(level, ident)


def test_scope_reaches_by_its_level():
    assert Scope("org", "o").reaches(Owner(org="o", team="t"))
    assert not Scope("org", "o").reaches(Owner(org="x"))
    assert Scope("team", "t").reaches(Owner(org="o", team="t", user="u"))
    assert not Scope("user", "u").reaches(Owner(team="t"))
    assert not Scope("none").reaches(Owner())


def test_only_admins_write_organizations_and_read_the_audit_log():
    assert ACTIONS["orgs.create"] == {"admin"}
    assert ACTIONS["audit.list"] == {"admin", "org_admin"}
    writes = [action for action in ACTIONS if not action.endswith((".list", ".read"))]
    assert all("viewer" not in ACTIONS[action] for action in writes)


def test_role_grants_stop_at_the_callers_own():
    check_role_grant(_principal("team_admin"), "team_admin")
    check_role_grant(_principal("team_admin"), "viewer")
    for role in ("org_admin", "admin", "bogus"):
        with pytest.raises(GatewayError) as raised:
            check_role_grant(_principal("team_admin"), role)
        assert raised.value.status == 403 and raised.value.param == "role"


def test_rights_narrow_by_principal_and_team():
    caller = Principal("p", "jwt", role="member", models=("gpt-*", "m"), limits=Limits(rpm=50))
    team = Team(name="t", allowed_models=["gpt-4o*", "claude-*"], rpm_limit=100, tpm_limit=9)
    rights = Rights.of(caller, team)
    assert rights.models == ("gpt-4o*",)
    assert (rights.rpm_limit, rights.tpm_limit, rights.max_parallel) == (50, 9, None)
    assert Rights.of(_principal("admin"), team) == Rights()

    filled = rights.check({}, fill=True)
    assert filled["allowed_models"] == ["gpt-4o*"] and filled["rpm_limit"] == 50
    assert rights.check({"allowed_models": ["gpt-4o-mini"]}, fill=False) == {
        "allowed_models": ["gpt-4o-mini"]
    }
    assert rights.check({"name": "x"}, fill=False) == {"name": "x"}
    for values, field in (
        ({"allowed_models": ["gpt-*"]}, "allowed_models"),
        ({"rpm_limit": 51}, "rpm_limit"),
    ):
        with pytest.raises(GatewayError) as raised:
            rights.check(values, fill=False)
        assert raised.value.status == 403 and raised.value.param == field
    budget = Rights(max_budget=Decimal(10))
    assert budget.check({"max_budget": None}, fill=False) == {"max_budget": Decimal(10)}


def test_actors_never_carry_secrets():
    assert actor(Principal("master", "master", role="admin")) == "master-key"
    assert actor(Principal("k1", "virtual", role="member")) == "virtual:k1"


def test_validation_names_the_field():
    fields = (Field("n", "integer", "a count"), Field("s", "string", "text", required=True))
    assert validate({"s": "x", "n": 3}, fields, partial=False) == {"s": "x", "n": 3}
    assert validate({}, fields, partial=True) == {}
    for body, param in (
        ({}, "s"),
        ({"s": "x", "n": "3"}, "n"),
        ({"s": ""}, "s"),
        ({"s": "x", "z": 1}, "z"),
    ):
        with pytest.raises(GatewayError) as raised:
            validate(body, fields, partial=False)
        assert raised.value.status == 400 and raised.value.param == param

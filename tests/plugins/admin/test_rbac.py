"""The RBAC matrix: every role against every admin route (targets inside the caller's
organization and team), then the same routes against another organization's rows, then
grants beyond the caller's own rights."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from litegate.plugins.admin.plugin import OPERATIONS

ROLES = ("master", "admin", "org_admin", "team_admin", "member", "viewer")
OK = 200  # any 2xx


def _fresh_org(admin, world):
    return admin.post("/organizations", json={"name": f"tmp-{next(_count)}"}).json()["id"]


def _fresh_team(admin, world):
    body = {"name": f"tmp-{next(_count)}", "org_id": world.acme}
    return admin.post("/teams", json=body).json()["id"]


def _fresh_user(admin, world):
    return admin.post("/users", json={"team_id": world.platform}).json()["id"]


def _fresh_key(admin, world):
    body = {"team_id": world.platform, "user_id": world.alice}
    return admin.post("/keys", json=body).json()["id"]


_count = itertools.count()

#: operationId -> (how to build the request with the master client, expected per role in
#: ROLES order: OK, or the refusal's status). Targets sit in acme / platform / alice.
Request = Callable[..., tuple[str, dict | None]]
MATRIX: dict[str, tuple[Request, tuple[int, ...]]] = {
    "create_org": (lambda a, w: ("/organizations", {"name": f"new-{next(_count)}"}),
                   (OK, OK, 403, 403, 403, 403)),
    "list_orgs": (lambda a, w: ("/organizations", None), (OK,) * 6),
    "get_org": (lambda a, w: (f"/organizations/{w.acme}", None), (OK, OK, OK, 404, 404, 404)),
    "update_org": (lambda a, w: (f"/organizations/{_fresh_org(a, w)}", {"metadata": {"a": 1}}),
                   (OK, OK, 403, 403, 403, 403)),
    "delete_org": (lambda a, w: (f"/organizations/{_fresh_org(a, w)}", None),
                   (OK, OK, 403, 403, 403, 403)),
    "create_team": (lambda a, w: ("/teams", {"name": f"new-{next(_count)}", "org_id": w.acme}),
                    (OK, OK, OK, 403, 403, 403)),
    "list_teams": (lambda a, w: ("/teams", None), (OK,) * 6),
    "get_team": (lambda a, w: (f"/teams/{w.platform}", None), (OK, OK, OK, OK, 404, OK)),
    "update_team": (lambda a, w: (f"/teams/{w.platform}", {"metadata": {"a": 1}}),
                    (OK, OK, OK, 403, 403, 403)),
    "delete_team": (lambda a, w: (f"/teams/{_fresh_team(a, w)}", None),
                    (OK, OK, OK, 403, 403, 403)),
    "create_user": (lambda a, w: ("/users", {"team_id": w.platform}),
                    (OK, OK, OK, OK, 403, 403)),
    "list_users": (lambda a, w: ("/users", None), (OK,) * 6),
    "get_user": (lambda a, w: (f"/users/{w.alice}", None), (OK,) * 6),
    "update_user": (lambda a, w: (f"/users/{_fresh_user(a, w)}", {"name": "x"}),
                    (OK, OK, OK, OK, 403, 403)),
    "delete_user": (lambda a, w: (f"/users/{_fresh_user(a, w)}", None),
                    (OK, OK, OK, OK, 403, 403)),
    "create_key": (lambda a, w: ("/keys", {"team_id": w.platform}), (OK, OK, OK, OK, OK, 403)),
    "list_keys": (lambda a, w: ("/keys", None), (OK,) * 6),
    "get_key": (lambda a, w: (f"/keys/{_fresh_key(a, w)}", None), (OK,) * 6),
    "update_key": (lambda a, w: (f"/keys/{_fresh_key(a, w)}", {"name": "x"}),
                   (OK, OK, OK, OK, OK, 403)),
    "revoke_key": (lambda a, w: (f"/keys/{_fresh_key(a, w)}", None), (OK, OK, OK, OK, OK, 403)),
    "revoke_key_by_post": (lambda a, w: (f"/keys/{_fresh_key(a, w)}/revoke", None),
                           (OK, OK, OK, OK, OK, 403)),
    "rotate_key": (lambda a, w: (f"/keys/{_fresh_key(a, w)}/rotate", {}),
                   (OK, OK, OK, OK, OK, 403)),
    "list_audit": (lambda a, w: ("/audit", None), (OK, OK, OK, 403, 403, 403)),
}  # fmt: skip

#: The same routes against rows of the other organization (globex / other / bob): only the
#: admins reach them; everyone else gets 404 (or 403 where the role can't call the route).
ELSEWHERE: dict[str, Request] = {
    "get_org": lambda a, w: (f"/organizations/{w.globex}", None),
    "get_team": lambda a, w: (f"/teams/{w.other}", None),
    "update_team": lambda a, w: (f"/teams/{w.other}", {"metadata": {}}),
    "get_user": lambda a, w: (f"/users/{w.bob}", None),
    "update_user": lambda a, w: (f"/users/{w.bob}", {"name": "x"}),
    "delete_user": lambda a, w: (
        "/users/" + a.post("/users", json={"team_id": w.other}).json()["id"],
        None,
    ),
    "get_key": lambda a, w: (f"/keys/{_key_of_bob(a, w)}", None),
    "update_key": lambda a, w: (f"/keys/{_key_of_bob(a, w)}", {"name": "x"}),
    "revoke_key": lambda a, w: (f"/keys/{_key_of_bob(a, w)}", None),
    "rotate_key": lambda a, w: (f"/keys/{_key_of_bob(a, w)}/rotate", {}),
    "create_key": lambda a, w: ("/keys", {"team_id": w.other}),
    "create_user": lambda a, w: ("/users", {"team_id": w.other}),
    "create_team": lambda a, w: ("/teams", {"name": f"x-{next(_count)}", "org_id": w.globex}),
}


def _key_of_bob(admin, world):
    return admin.post("/keys", json={"team_id": world.other, "user_id": world.bob}).json()["id"]


def _call(client, method, path, body):
    return (
        client.request(method, path, json=body)
        if body is not None
        else client.request(method, path)
    )


def test_the_matrix_covers_every_route():
    assert {op.operation_id for op in OPERATIONS} == set(MATRIX)


@pytest.mark.parametrize("role", ROLES)
def test_matrix(world, role):
    by_id = {op.operation_id: op for op in OPERATIONS}
    failures = []
    with world.client() as master, world.client(role) as caller:
        for name, (build, expected) in MATRIX.items():
            op = by_id[name]
            path, body = build(master, world)
            response = _call(caller, op.method, path, body)
            want = expected[ROLES.index(role)]
            got = OK if 200 <= response.status_code < 300 else response.status_code
            if got != want:
                failures.append(
                    f"{op.method} {path} as {role}: {response.status_code} {response.text[:200]}"
                )
            if got != OK:
                assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ROLES)
def test_other_organizations_are_out_of_reach(world, role):
    by_id = {op.operation_id: op for op in OPERATIONS}
    failures = []
    with world.client() as master, world.client(role) as caller:
        for name, build in ELSEWHERE.items():
            op = by_id[name]
            path, body = build(master, world)
            response = _call(caller, op.method, path, body)
            if role in ("master", "admin"):
                ok = response.status_code < 300
            else:
                ok = response.status_code in (403, 404)
            if not ok:
                failures.append(
                    f"{op.method} {path} as {role}: {response.status_code} {response.text[:200]}"
                )
    assert not failures, "\n".join(failures)


def test_lists_show_only_the_callers_scope(world):
    with world.client() as master:
        mine = master.post("/keys", json={"team_id": world.platform, "user_id": world.alice})
        teams = master.post("/keys", json={"team_id": world.platform, "user_id": world.tom})
        theirs = master.post("/keys", json={"team_id": world.other, "user_id": world.bob})
    ids = {name: r.json()["id"] for name, r in
           (("mine", mine), ("teams", teams), ("theirs", theirs))}  # fmt: skip
    expected = {
        "admin": {"mine", "teams", "theirs"},
        "org_admin": {"mine", "teams"},
        "team_admin": {"mine", "teams"},
        "member": {"mine"},
        "viewer": {"mine", "teams"},
    }
    for role, names in expected.items():
        with world.client(role) as client:
            keys = {item["id"] for item in client.get("/keys").json()["data"]}
            assert keys == {ids[n] for n in names}, role
            users = {item["id"] for item in client.get("/users").json()["data"]}
            orgs = {item["id"] for item in client.get("/organizations").json()["data"]}
            teams_seen = {item["id"] for item in client.get("/teams").json()["data"]}
        if role == "admin":
            assert world.bob in users and orgs == {world.acme, world.globex}
        elif role == "org_admin":
            assert users == {world.olga, world.tom, world.alice} and orgs == {world.acme}
            assert teams_seen == {world.platform}
        elif role in ("team_admin", "viewer"):
            assert users == {world.tom, world.alice} and teams_seen == {world.platform}
            assert orgs == set()
        else:
            assert users == {world.alice} and teams_seen == set() and orgs == set()


def test_grants_never_exceed_the_callers_rights(world):
    with world.client() as master:
        master.patch(f"/teams/{world.platform}",
                     json={"allowed_models": ["m", "gpt-*"], "rpm_limit": 100, "max_budget": 50})  # fmt: skip
    with world.client("team_admin") as lead:
        too_fast = lead.post("/keys", json={"rpm_limit": 1000})
        assert too_fast.status_code == 403 and too_fast.json()["error"]["param"] == "rpm_limit"
        other_model = lead.post("/keys", json={"allowed_models": ["claude-*"]})
        assert other_model.json()["error"]["param"] == "allowed_models"
        too_rich = lead.post("/keys", json={"max_budget": 51})
        assert too_rich.json()["error"]["param"] == "max_budget"
        narrowed = lead.post(
            "/keys", json={"allowed_models": ["gpt-4o", "gpt-4*"], "rpm_limit": 10}
        )
        assert narrowed.status_code == 201, narrowed.text
        filled = lead.post("/keys", json={}).json()
        assert filled["allowed_models"] == ["m", "gpt-*"] and filled["rpm_limit"] == 100
        assert filled["max_budget"] == 50 and filled["team_id"] == world.platform
        raise_it = lead.patch(f"/keys/{filled['id']}", json={"rpm_limit": 101})
        assert raise_it.status_code == 403

        for role in ("admin", "org_admin"):
            promoted = lead.post("/users", json={"role": role})
            assert promoted.status_code == 403 and promoted.json()["error"]["param"] == "role"
        assert lead.post("/users", json={"role": "team_admin"}).status_code == 201
        assert lead.patch(f"/users/{world.alice}", json={"role": "admin"}).status_code == 403
        elsewhere = lead.post("/users", json={"team_id": world.other})
        assert elsewhere.status_code == 403
        # Users above it are not its to change.
        assert lead.patch(f"/users/{world.olga}", json={"name": "x"}).status_code in (403, 404)

    with world.client("org_admin") as boss:
        assert boss.post("/users", json={"role": "admin"}).status_code == 403
        made = boss.post("/users", json={"role": "org_admin"})
        assert made.status_code == 201 and made.json()["org_id"] == world.acme
        assert boss.post("/teams", json={"name": "t", "org_id": world.globex}).status_code == 403
        assert boss.post("/keys", json={}).status_code == 403  # a key must belong somewhere

    with world.client("member") as alice:
        own = alice.post("/keys", json={})
        assert own.status_code == 201
        assert own.json()["user_id"] == world.alice and own.json()["team_id"] == world.platform
        assert alice.post("/keys", json={"user_id": world.tom}).status_code == 403
        assert alice.post("/keys", json={"team_id": world.other}).status_code == 403
        assert alice.post("/keys", json={"rpm_limit": 1000}).status_code == 403


def test_a_key_leaving_its_team_keeps_no_more_than_it_inherited(world):
    with world.client() as master:
        master.patch(f"/teams/{world.platform}", json={"allowed_models": ["m"], "rpm_limit": 10})
        key = master.post("/keys", json={"team_id": world.platform, "user_id": world.alice})
        assert key.json()["allowed_models"] is None  # inherits the team's
    with world.client("member") as alice:
        moved = alice.patch(f"/keys/{key.json()['id']}", json={"team_id": None})
        assert moved.status_code == 200, moved.text
        assert moved.json()["allowed_models"] == ["m"] and moved.json()["rpm_limit"] == 10


def test_a_change_that_changes_nothing_is_not_audited(world):
    with world.client() as master:
        key = master.post("/keys", json={"name": "same"}).json()
        assert master.patch(f"/keys/{key['id']}", json={"name": "same"}).status_code == 200
        actions = [e["action"] for e in master.get("/audit").json()["data"]]
    assert actions == ["key.create"]

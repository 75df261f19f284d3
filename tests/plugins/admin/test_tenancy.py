"""`/admin/v1/organizations`, `/teams`, `/users` over real HTTP: create, read, list in pages,
update, delete (refused while something still refers to the row)."""

from __future__ import annotations

import pytest


def _walk(client, path, limit=2):
    seen, cursor = [], None
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        page = client.get(path, params=params)
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen


def test_organizations_crud(world):
    with world.client() as admin:
        created = admin.post("/organizations", json={"name": "initech", "max_budget": "100"})
        assert created.status_code == 201, created.text
        org = created.json()
        assert org["max_budget"] == 100 and org["metadata"] == {}
        assert admin.get(f"/organizations/{org['id']}").json() == org
        assert _walk(admin, "/organizations") == [world.acme, world.globex, org["id"]]

        patched = admin.patch(f"/organizations/{org['id']}", json={"budget_period": "monthly"})
        assert patched.json()["budget_period"] == "monthly"
        taken = admin.post("/organizations", json={"name": "acme"})
        assert taken.status_code == 409
        assert admin.post("/organizations", json={}).json()["error"]["param"] == "name"

        in_use = admin.delete(f"/organizations/{world.acme}")
        assert in_use.status_code == 409 and "teams" in in_use.json()["error"]["message"]
        assert admin.delete(f"/organizations/{org['id']}").json()["deleted"] is True
        assert admin.get(f"/organizations/{org['id']}").status_code == 404
        assert admin.delete(f"/organizations/{org['id']}").status_code == 404


def test_teams_crud(world):
    with world.client() as admin:
        created = admin.post(
            "/teams",
            json={"name": "research", "org_id": world.acme, "allowed_models": ["m"],
                  "rpm_limit": 100},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        team = created.json()
        assert team["org_id"] == world.acme and team["allowed_models"] == ["m"]
        assert admin.get(f"/teams/{team['id']}").json()["name"] == "research"

        same_name = admin.post("/teams", json={"name": "research", "org_id": world.acme})
        assert same_name.status_code == 409
        assert admin.post("/teams", json={"name": "x", "org_id": "nope"}).status_code == 400

        assert _walk(admin, "/teams") == [world.platform, world.other, team["id"]]
        by_org = admin.get("/teams", params={"org_id": world.acme}).json()["data"]
        assert [item["id"] for item in by_org] == [world.platform, team["id"]]

        patched = admin.patch(f"/teams/{team['id']}", json={"rpm_limit": None, "name": "r2"})
        assert patched.json()["rpm_limit"] is None and patched.json()["name"] == "r2"

        key = admin.post("/keys", json={"team_id": team["id"]}).json()
        assert admin.delete(f"/teams/{team['id']}").status_code == 409
        admin.delete(f"/keys/{key['id']}")  # a revoked key no longer holds its team
        assert admin.delete(f"/teams/{team['id']}").status_code == 200
        assert admin.get(f"/keys/{key['id']}").json()["team_id"] is None


def test_users_crud(world):
    with world.client() as admin:
        created = admin.post(
            "/users",
            json={"email": "carol@acme.test", "name": "Carol", "team_id": world.platform,
                  "role": "team_admin"},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        user = created.json()
        assert user["org_id"] == world.acme  # from its team
        assert user["role"] == "team_admin"
        assert admin.get(f"/users/{user['id']}").json()["email"] == "carol@acme.test"

        duplicate = admin.post("/users", json={"email": "carol@acme.test"})
        assert duplicate.status_code == 409
        mismatch = admin.post("/users", json={"team_id": world.platform, "org_id": world.globex})
        assert mismatch.status_code == 400 and mismatch.json()["error"]["param"] == "team_id"
        assert admin.post("/users", json={"role": "root"}).json()["error"]["param"] == "role"

        everyone = _walk(admin, "/users")
        assert everyone == [world.olga, world.tom, world.alice, world.bob, user["id"]]
        in_team = admin.get("/users", params={"team_id": world.platform}).json()["data"]
        assert [item["id"] for item in in_team] == [world.tom, world.alice, user["id"]]

        demoted = admin.patch(f"/users/{user['id']}", json={"role": "viewer"})
        assert demoted.json()["role"] == "viewer"
        moved = admin.patch(f"/users/{user['id']}", json={"team_id": world.other})
        assert moved.json()["org_id"] == world.globex

        key = admin.post("/keys", json={"user_id": user["id"]}).json()
        assert admin.delete(f"/users/{user['id']}").status_code == 409
        admin.delete(f"/keys/{key['id']}")
        assert admin.delete(f"/users/{user['id']}").status_code == 200
        assert admin.get(f"/users/{user['id']}").status_code == 404


@pytest.mark.parametrize("path", ["/organizations", "/teams", "/users", "/keys"])
def test_unknown_fields_and_bad_bodies_are_400(world, path):
    with world.client() as admin:
        unknown = admin.post(path, json={"name": "x", "bogus": 1})
        assert unknown.status_code == 400
        assert unknown.json()["error"]["param"] == "bogus"
        assert admin.post(path, content=b"\xff\xfe").status_code == 400
        assert admin.post(path, json="a string").status_code == 400
        huge = admin.post(path, json={"name": "x", "metadata": {"x": "y" * 70000}})
        assert huge.status_code == 400 and huge.json()["error"]["param"] == "metadata"
        assert admin.put(path).status_code == 405

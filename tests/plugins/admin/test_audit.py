"""`/admin/v1/audit`: every change recorded (who, what, before/after with secrets masked,
when), newest first, in pages; an org_admin sees its organization's entries only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from litegate.db.queries import MASK


def test_every_change_is_recorded_with_secrets_masked(world):
    started = datetime.now(UTC) - timedelta(seconds=5)
    with world.client() as admin:
        key = admin.post("/keys", json={"name": "ci", "team_id": world.platform}).json()
        admin.patch(f"/keys/{key['id']}", json={"name": "ci-2"})
        rotated = admin.post(f"/keys/{key['id']}/rotate").json()
        admin.delete(f"/keys/{rotated['id']}")
        team = admin.post("/teams", json={"name": "t", "org_id": world.acme}).json()
        admin.delete(f"/teams/{team['id']}")
        entries = admin.get("/audit").json()["data"]

    actions = [(entry["action"], entry["target_id"]) for entry in entries]
    assert actions == [
        ("team.delete", team["id"]),
        ("team.create", team["id"]),
        ("key.revoke", rotated["id"]),
        ("key.create", rotated["id"]),
        ("key.rotate", key["id"]),
        ("key.update", key["id"]),
        ("key.create", key["id"]),
    ]
    for entry in entries:
        assert entry["actor"] == "master-key"
        assert started <= datetime.fromisoformat(entry["at"]) <= datetime.now(UTC)
        assert entry["org_id"] == world.acme
        for side in (entry["before"], entry["after"]):
            if side is not None and "key_hash" in side:
                assert side["key_hash"] == MASK
    created = entries[-1]
    assert created["before"] is None and created["after"]["name"] == "ci"
    update = entries[-2]
    assert (update["before"]["name"], update["after"]["name"]) == ("ci", "ci-2")
    assert entries[0]["after"] is None and entries[0]["before"]["name"] == "t"
    text = str(entries)
    assert key["key"] not in text and rotated["key"] not in text


def test_audit_pages_filters_and_scope(world):
    with world.client("admin") as admin:
        for name in ("a", "b", "c"):
            admin.post("/teams", json={"name": name, "org_id": world.acme})
        admin.post("/teams", json={"name": "g", "org_id": world.globex})
        first = admin.get("/audit", params={"limit": 2}).json()
        second = admin.get("/audit", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        names = [e["after"]["name"] for e in first["data"] + second["data"]]
        assert names == ["g", "c", "b", "a"] and second["next_cursor"] is None
        assert {e["actor"] for e in first["data"]} == {"static:admin-key"}
        by_target = admin.get("/audit", params={"target_type": "team", "actor": "nobody"})
        assert by_target.json()["data"] == []

    with world.client("org_admin") as boss:
        seen = [e["after"]["name"] for e in boss.get("/audit").json()["data"]]
        assert seen == ["c", "b", "a"]
    with world.client("team_admin") as lead:
        assert lead.get("/audit").status_code == 403

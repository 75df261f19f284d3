"""No secret — a created or rotated key, the master key, a static key — appears in any log
line, access log, audit entry or later response."""

from __future__ import annotations

import asyncio
import logging

import httpx

from .conftest import MASTER_KEY, ROLE_KEYS, _seed, config_toml


def test_secrets_stay_out_of_logs_audit_and_responses(serve_gateway, records_url, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    ids = asyncio.run(_seed(records_url))
    access_log = tmp_path / "access.log"
    extra = f'rotation_grace = "1h"\n\n[[pipeline]]\nplugin = "logging"\npath = "{access_log}"\n'
    server = serve_gateway(config_toml(ids, f"disk:{tmp_path}/kv", records_url, extra))
    master = {"authorization": f"Bearer {MASTER_KEY}"}
    later: list[str] = []
    with httpx.Client(base_url=server.url, headers=master) as client:
        created = client.post("/admin/v1/keys", json={"name": "ci", "team_id": ids["platform"]})
        secret = created.json()["key"]
        rotated = client.post(f"/admin/v1/keys/{created.json()['id']}/rotate").json()
        secrets = [secret, rotated["key"], MASTER_KEY, *ROLE_KEYS.values()]

        chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        assert client.post("/v1/chat/completions", json=chat).status_code == 200
        wrong = client.post(
            "/v1/chat/completions", json=chat, headers={"authorization": f"Bearer {secret}x"}
        )
        assert wrong.status_code == 401
        later.append(wrong.text)
        for path in ("/admin/v1/keys", f"/admin/v1/keys/{rotated['id']}", "/admin/v1/audit",
                     "/admin/v1/keys/nope", "/admin/v1/openapi.json"):  # fmt: skip
            later.append(client.get(path).text)
        client.patch(f"/admin/v1/keys/{rotated['id']}", json={"metadata": {"secret": secret}})
        audit = client.get("/admin/v1/audit").text
        later.append(audit)
        for body in ({"name": secret * 20}, {"team_id": secret}, {secret: 1}):
            bad = client.post("/admin/v1/keys", json=body)
            assert bad.status_code == 400
            later.append(bad.text)
        misplaced = client.get(f"/admin/v1/keys/{secret}")
        assert misplaced.status_code == 404
        later.append(misplaced.text)

    # Ours and the servers' (a driver's own DEBUG log of SQL parameters is out of scope).
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("litegate", "hypercorn")]
    lines = [record.getMessage() for record in ours]
    lines += access_log.read_text().splitlines()
    assert len(lines) > 2
    assert any("admin change" in line for line in lines)
    for text in [*lines, *later]:
        for value in secrets:
            assert value not in text, text[:300]

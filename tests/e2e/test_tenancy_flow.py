"""The tenancy issue's whole flow over real HTTP, on SQLite and on PostgreSQL: an admin creates
a team and a key for it through the admin API; the key calls an allowed model (200) and a
forbidden one (403); the key is revoked through the admin API and refused on the next
request — by the gateway that revoked it and by a second gateway process sharing the same
database and Redis, within a second."""

from __future__ import annotations

import uuid

import httpx
import pytest

from litegate.testing import serve_processes
from tests.plugins.auth.test_scale_out import (
    MASTER_KEY,
    assert_refused_everywhere_within,
    status,
)

MODELS = """
[[models]]
name = "gpt-4o"
provider = "mock"

[[models]]
name = "claude"
provider = "mock"
"""


def _config(tmp_path, db_url: str, kv: str, prefix: str):
    path = tmp_path / "pipeline.toml"
    path.write_text(
        f'[state]\nkv = "{kv}"\nprefix = "{prefix}"\ndb = "{db_url}"\n\n'
        f'[[pipeline]]\nplugin = "auth"\nmaster_key = "{MASTER_KEY}"\nvirtual_keys = true\n\n'
        '[[pipeline]]\nplugin = "admin"\n\n'
        '[[pipeline]]\nplugin = "logging"\n' + MODELS
    )
    return path


def _chat(url: str, secret: str, model: str) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {secret}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=20,
    )


@pytest.mark.services
def test_admin_creates_revokes_and_every_instance_refuses(tmp_path, records_url, redis_url):
    prefix = f"flow-{uuid.uuid4().hex[:8]}:"
    config = _config(tmp_path, records_url, redis_url, prefix)
    output: list[str] = []
    admin = {"authorization": f"Bearer {MASTER_KEY}"}
    with serve_processes(config, count=2, output=output) as (first, second):
        api = first + "/admin/v1"
        team = httpx.post(
            api + "/teams", headers=admin, json={"name": "platform", "allowed_models": ["gpt-4o"]}
        )
        assert team.status_code in (200, 201), team.text
        created = httpx.post(
            api + "/keys", headers=admin, json={"name": "ci", "team_id": team.json()["id"]}
        )
        assert created.status_code in (200, 201), created.text
        key = created.json()
        secret = key["key"]

        for url in (first, second):
            assert _chat(url, secret, "gpt-4o").status_code == 200
            forbidden = _chat(url, secret, "claude")
            assert forbidden.status_code == 403
            assert forbidden.json()["error"]["code"] == "model_not_allowed"

        revoked = httpx.post(f"{api}/keys/{key['id']}/revoke", headers=admin)
        assert revoked.status_code == 200, revoked.text
        assert status(first, secret) == 401  # the instance that revoked it, at once
        assert_refused_everywhere_within([first, second], secret, 1.0)
    logs = "\n".join(output)
    assert secret not in logs and MASTER_KEY not in logs

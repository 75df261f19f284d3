"""Whatever a client sends to a write route, the answer is a 4xx in the OpenAI error shape,
never a 500."""

from __future__ import annotations

import httpx

from litegate.plugins.admin.plugin import OPERATIONS, SCHEMAS

from .conftest import MASTER_KEY

#: A value of every wrong type and out-of-range shape (each field meets each).
GARBAGE = [None, True, 2**63, -1.5, "", "x" * 5000, "\x00", "NaN", [None], {"a": [1, {"b": None}]}]


def test_no_input_makes_a_500(world):
    with world.client() as setup:
        key = setup.post("/keys", json={"team_id": world.platform}).json()["id"]
    # One busy kept-alive connection: thousands of requests, quickly.
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=world.url + "/admin/v1", headers=headers, timeout=30) as admin:
        ids = {"key_id": key, "team_id": world.platform, "user_id": world.alice,
               "org_id": world.acme}  # fmt: skip
        for op in OPERATIONS:
            if op.request is None:
                continue
            path = op.path.format(**ids)
            for field in [*SCHEMAS[op.request]["properties"], "bogus"]:
                for value in GARBAGE:
                    response = admin.request(op.method, path, json={field: value})
                    assert response.status_code < 500, (
                        op.method,
                        path,
                        field,
                        value,
                        response.text,
                    )
                    if response.status_code >= 400:
                        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
            for raw in (b"", b"null", b"[]", b'"x"', b"{", b"\xff", b'{"a":' * 2000):
                response = admin.request(op.method, path, content=raw)
                assert response.status_code < 500, (op.method, path, raw[:20], response.text)

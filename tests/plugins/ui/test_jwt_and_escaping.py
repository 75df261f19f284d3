"""Signing in with a JWT (checked by the auth plugin's `authenticate` hook); what callers
send (model names, key names) is escaped on every page."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from litegate.plugins.ui.charts import bar_chart

from .conftest import MASTER_KEY, Served, csrf_of, sign_in


def test_sign_in_with_a_jwt(serve_gateway, tmp_path: Path) -> None:
    signer = ec.generate_private_key(ec.SECP256R1())
    pem = (
        signer.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    toml = (
        f'[state]\nkv = "memory:"\ndb = "sqlite:///{tmp_path}/records.db"\n\n'
        f'[[pipeline]]\nplugin = "auth"\nmaster_key = "{MASTER_KEY}"\n'
        f'jwt = {{ public_keys = [{json.dumps(pem)}], issuer = "i", audience = "a" }}\n\n'
        '[[pipeline]]\nplugin = "ui"\n\n[[models]]\nname = "m"\nprovider = "mock"\n'
    )
    server = serve_gateway(toml)
    now = int(time.time())
    claims = {"iss": "i", "aud": "a", "sub": "dana", "exp": now + 600}
    viewer = jwt.encode({**claims, "role": "viewer"}, signer, algorithm="ES256")
    expired = jwt.encode({**claims, "exp": now - 600}, signer, algorithm="ES256")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert sign_in(client, expired).status_code == 401
        response = sign_in(client, viewer)
        assert response.status_code == 303
        assert viewer not in response.headers.get("set-cookie", "")
        page = client.get("/ui/models")
        assert page.status_code == 200 and "dana · viewer" in page.text
        assert viewer not in page.text
        assert client.get("/ui/config").status_code == 200
        assert (
            client.post("/ui/config/reload", data={"csrf": csrf_of(page.text)}).status_code == 403
        )


def test_caller_text_is_escaped(served: Served) -> None:
    evil = '<script>alert("x")</script>'
    refused = httpx.post(
        served.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": evil, "messages": [{"role": "user", "content": "x"}]},
        timeout=30,
    )
    assert refused.status_code == 404
    client = served.sign_in()
    served.wait_logged(1, client, spend=False)
    for path in ("/ui/requests", "/ui/spend"):
        page = client.get(path, params={"model": evil, "by": "model"}).text
        assert "<script>" not in page, path
    assert "&lt;script&gt;" in client.get("/ui/requests").text
    keys = client.get("/ui/keys")
    created = client.post("/ui/keys", data={"csrf": csrf_of(keys.text), "name": evil})
    assert created.status_code == 201 and "<script>" not in created.text
    assert "<script>" not in client.get("/ui/keys").text


def test_chart_labels_are_escaped() -> None:
    svg = str(bar_chart('<b onload="x">', ["<i>"], [('ok"><script>', [1.0])]))
    assert "<script>" not in svg and "<b " not in svg and "<i>" not in svg

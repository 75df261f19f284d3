"""No presented credential -- master key, static key, virtual key, JWT -- appears in any
response body or header, nor in the logs, whether it was accepted or refused."""

from __future__ import annotations

import json
import logging
import time

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from litegate.db import queries

from .conftest import MESSAGES, MODELS, new_key

MASTER = "sk-master-never-shown-4d2c"
STATIC = "sk-static-never-shown-91ab"


async def test_no_secret_reaches_responses_or_logs(
    serve_gateway, records, records_url, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    signer = ec.generate_private_key(ec.SECP256R1())
    pem = (
        signer.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    access_log = tmp_path / "access.log"
    toml = (
        f'[state]\nkv = "disk:{tmp_path}/kv"\ndb = "{records_url}"\n\n'
        f'[[pipeline]]\nplugin = "auth"\nmaster_key = "{MASTER}"\n'
        f'keys = [{{ name = "ci", key = "{STATIC}" }}]\nvirtual_keys = true\n'
        f'jwt = {{ public_keys = [{json.dumps(pem)}], issuer = "i", audience = "a" }}\n\n'
        f'[[pipeline]]\nplugin = "logging"\npath = "{access_log}"\ninclude_messages = true\n'
        + MODELS
    )
    key_id, virtual = await new_key(records, allowed_models=["gpt-4o"])
    _, revoked = await new_key(records)
    async with records.session() as session:
        await queries.revoke_key(session, (await queries.find_key(session, revoked)).id)
    now = int(time.time())
    claims = {"iss": "i", "aud": "a", "sub": "dana"}
    token = jwt.encode({**claims, "exp": now + 60}, signer, algorithm="ES256")
    expired = jwt.encode({**claims, "exp": now - 60}, signer, algorithm="ES256")
    wrong_audience = jwt.encode({**claims, "aud": "b", "exp": now + 60}, signer, algorithm="ES256")
    head, body, signature = token.split(".")
    tampered = f"{head}.{body}.{signature[::-1]}"
    presented = {
        MASTER: 200,
        STATIC: 200,
        virtual: 200,
        token: 200,
        "sk-guess-not-a-key-5e6f": 401,
        "sk-lg-guessed-virtual-key-0000": 401,
        revoked: 401,
        expired: 401,
        wrong_audience: 401,
        tampered: 401,
    }
    server = serve_gateway(toml)
    seen = []
    with httpx.Client(base_url=server.url, timeout=20) as client:
        for secret, expected in presented.items():
            for headers in ({"authorization": f"Bearer {secret}"}, {"x-api-key": secret}):
                for model in ("gpt-4o", "claude"):
                    response = client.post(
                        "/v1/chat/completions",
                        headers=headers,
                        json={"model": model, "messages": MESSAGES},
                    )
                    wanted = (
                        403
                        if expected == 200 and secret == virtual and model == "claude"
                        else expected
                    )
                    assert response.status_code == wanted, (response.text, model)
                    seen.append(str(response.headers) + response.text)
                models = client.get("/v1/models", headers=headers)
                seen.append(str(models.headers) + models.text)

    where = {
        "responses": "\n".join(seen),
        "logs": caplog.text,
        "access log": access_log.read_text(),
    }
    assert where["logs"]  # the server thread logs here too
    assert key_id in where["access log"]  # the principal is logged by id ...
    for secret in presented:
        for name, text in where.items():
            assert secret not in text, f"a presented credential appears in the {name}"
    for name, text in where.items():
        # ... and no prefix of a credential long enough to matter either.
        for secret in (MASTER, STATIC, virtual, token):
            assert secret[:16] not in text, f"a credential's prefix appears in the {name}"

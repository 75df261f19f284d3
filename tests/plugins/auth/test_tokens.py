"""JWTs over real HTTP with the openai SDK; keys from a JWKS served on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from litegate import ConfigError, Gateway
from litegate.plugins.auth.tokens import looks_like_jwt
from litegate.testing.server import BackgroundServer

from .conftest import MODELS, Spy, chat

ISSUER = "https://idp.test/"
AUDIENCE = "litegate"


class IdentityProvider:
    """Signing keys, and a JWKS endpoint that publishes the public halves of some."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {"k1": rsa.generate_private_key(65537, 2048)}
        self.published = ["k1"]
        self.fetches = 0
        app = Starlette(routes=[Route("/jwks", self.jwks)])
        self.server = BackgroundServer(app)
        self.url = self.server.url + "/jwks"

    async def jwks(self, request: Request) -> JSONResponse:
        self.fetches += 1
        keys = []
        for kid in self.published:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return JSONResponse({"keys": keys})

    def token(self, kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300}
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(payload, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    with provider.server:
        yield provider


def jwt_toml(jwt_table: str, spy: bool = False) -> str:
    pipeline = '[[pipeline]]\nplugin = "auth"\n' + f"jwt = {{ {jwt_table} }}\n"
    if spy:
        pipeline += '\n[[pipeline]]\nplugin = "spy"\n'
    return pipeline + MODELS


def jwks_table(idp: IdentityProvider, extra: str = "") -> str:
    table = f'jwks_url = "{idp.url}", issuer = "{ISSUER}", audience = "{AUDIENCE}", leeway = "0s"'
    return table + (", " + extra if extra else "")


def refused(base_url: str, token: str) -> str:
    """The message of the 401 the token gets (checking it never echoes the token)."""
    with pytest.raises(openai.AuthenticationError) as raised:
        chat(base_url, token)
    assert raised.value.status_code == 401
    assert raised.value.body["code"] == "invalid_api_key"
    assert token not in raised.value.response.text
    message: str = raised.value.body["message"]
    return message


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if secret is None:
        return signing_input + "."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


def test_a_valid_token_calls_with_its_claims(serve_gateway, idp):
    Spy.seen = []
    extra = 'role_map = { "idp-admins" = "admin" }, claims = { models = "llm" }'
    server = serve_gateway(jwt_toml(jwks_table(idp, extra), spy=True), plugins={"spy": Spy})
    token = idp.token(team="ml", org="acme", role=["staff", "idp-admins"], llm=["gpt-4o*"])
    assert chat(server.base_url, token).choices
    (principal,) = Spy.seen
    assert (principal.id, principal.kind, principal.user) == ("alice", "jwt", "alice")
    assert (principal.team, principal.org, principal.role) == ("ml", "acme", "admin")
    assert principal.models == ("gpt-4o*",)
    with pytest.raises(openai.PermissionDeniedError) as raised:
        chat(server.base_url, token, "claude")
    assert raised.value.body["code"] == "model_not_allowed"
    # A role the map does not know grants nothing beyond the default.
    chat(server.base_url, idp.token(role="root"))
    assert Spy.seen[-1].role == "member"


def test_rejected_tokens_are_401(serve_gateway, idp):
    server = serve_gateway(jwt_toml(jwks_table(idp)))
    now = int(time.time())
    public_pem = (
        idp.keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": now + 300}
    idp.keys["stranger"] = rsa.generate_private_key(65537, 2048)
    genuine = idp.token()
    head, body, _signature = genuine.split(".")
    forged_signature = idp.token(kid="stranger").split(".")[2]
    cases = {
        "expired": (idp.token(exp=now - 10), "expired"),
        "not yet valid": (idp.token(nbf=now + 300), "not valid yet"),
        "wrong issuer": (idp.token(iss="https://evil.test/"), "issuer"),
        "wrong audience": (idp.token(aud="someone-else"), "audience"),
        "no exp": (idp.token(exp=None), "'exp'"),
        "bad signature": (f"{head}.{body}.{forged_signature}", "signature does not verify"),
        "alg none": (hand_made({"alg": "none", "kid": "k1"}, claims, None), "algorithm"),
        "HS256 with the public key": (
            hand_made({"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims, public_pem),
            "algorithm",
        ),
        "unknown kid": (idp.token(kid="stranger"), "No signing key"),
        "garbage": ("aaaa.bbbb.cccc", "malformed"),
    }
    for name, (token, reason) in cases.items():
        assert reason in refused(server.base_url, token), name
    assert chat(server.base_url, genuine).choices


def test_an_unknown_kid_refetches_the_jwks(serve_gateway, idp):
    server = serve_gateway(jwt_toml(jwks_table(idp, 'jwks_min_refetch = "0s"')))
    assert chat(server.base_url, idp.token()).choices
    assert idp.fetches == 1
    # The identity provider rotates: a new key, published after the gateway fetched.
    idp.keys["k2"] = rsa.generate_private_key(65537, 2048)
    idp.published.append("k2")
    assert chat(server.base_url, idp.token(kid="k2")).choices
    assert idp.fetches == 2
    assert chat(server.base_url, idp.token(kid="k1", sub="bob")).choices
    assert idp.fetches == 2  # known ids need no fetch


def test_refetches_are_rate_limited(serve_gateway, idp):
    server = serve_gateway(jwt_toml(jwks_table(idp, 'jwks_min_refetch = "1h"')))
    assert chat(server.base_url, idp.token()).choices
    idp.keys["k9"] = rsa.generate_private_key(65537, 2048)
    for number in range(5):
        refused(server.base_url, idp.token(kid="k9", sub=f"user-{number}"))
    assert idp.fetches == 1


def test_verified_tokens_are_cached_by_their_whole_hash(serve_gateway, idp):
    server = serve_gateway(jwt_toml(jwks_table(idp)))
    token = idp.token(exp=int(time.time()) + 8)  # room for a loaded machine
    assert chat(server.base_url, token).choices
    # Same header and claims, another signature: the cached token must not vouch for it.
    head, body, signature = token.split(".")
    tampered = f"{head}.{body}.{signature[:-4]}AAAA"
    assert "signature" in refused(server.base_url, tampered)
    assert chat(server.base_url, token).choices  # from the cache
    time.sleep(
        max(0.0, jwt.decode(token, options={"verify_signature": False})["exp"] + 0.5 - time.time())
    )
    assert "expired" in refused(server.base_url, token)  # the cache ends at exp


def test_inline_public_keys_pem_and_jwk(serve_gateway):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    pem = (
        ec_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    ed_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed_key.public_key()))
    ed_jwk["kid"] = "ed"
    keys = json.dumps([pem, json.dumps(ed_jwk)])
    table = f'public_keys = {keys}, issuer = "{ISSUER}", audience = "{AUDIENCE}"'
    server = serve_gateway(jwt_toml(table))
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "carol", "exp": int(time.time()) + 60}
    assert chat(server.base_url, jwt.encode(claims, ec_key, algorithm="ES256")).choices
    eddsa = jwt.encode(claims, ed_key, algorithm="EdDSA", headers={"kid": "ed"})
    assert chat(server.base_url, eddsa).choices
    # An EdDSA token may not pick the EC key, nor an ES256 token the Ed25519 key.
    other = ed25519.Ed25519PrivateKey.generate()
    assert "signature" in refused(server.base_url, jwt.encode(claims, other, algorithm="EdDSA"))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (f'issuer = "{ISSUER}", audience = "{AUDIENCE}"', "set jwks_url or public_keys"),
        (f'public_keys = ["x"], audience = "{AUDIENCE}"', "issuer"),
        (f'public_keys = ["x"], issuer = "{ISSUER}", audience = ""', "audience must not be empty"),
        (
            'jwks_url = "http://127.0.0.1:1/", issuer = "i", audience = "a", algorithms = ["HS256"]',
            "'HS256' is not accepted",
        ),
        (
            'jwks_url = "http://127.0.0.1:1/", issuer = "i", audience = "a", algorithms = ["none"]',
            "'none' is not accepted",
        ),
        ('public_keys = ["not a key"], issuer = "i", audience = "a"', "PEM public key or a JWK"),
        (
            'public_keys = [\'{"kty": "oct", "k": "c2VjcmV0"}\'], issuer = "i", audience = "a"',
            "'oct' is not accepted",
        ),
        (
            'jwks_url = "http://127.0.0.1:1/", issuer = "i", audience = "a", role_map = { x = "root" }',
            "'root' is not a role",
        ),
    ],
)
def test_unsafe_or_incomplete_configs_are_refused(table, message):
    with pytest.raises(ConfigError, match=message):
        Gateway.from_toml(jwt_toml(table), {})


def test_private_keys_are_refused_in_the_config():
    private = (
        rsa.generate_private_key(65537, 2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    table = f'public_keys = [{json.dumps(private)}], issuer = "i", audience = "a"'
    with pytest.raises(ConfigError, match="private keys do not belong here"):
        Gateway.from_toml(jwt_toml(table), {})


def test_tokens_are_told_from_keys():
    assert looks_like_jwt("eyJh.eyJz.c2ln") and looks_like_jwt("eyJh.eyJz.")
    assert not looks_like_jwt("sk-lg-abc_DEF-123") and not looks_like_jwt("a.b")


def test_an_unreachable_jwks_is_503_until_it_answers(serve_gateway, idp):
    down = BackgroundServer(Starlette()).url  # a port nobody listens on
    table = (
        f'jwks_url = "{down}/jwks", issuer = "{ISSUER}", audience = "{AUDIENCE}", '
        'jwks_min_refetch = "0s"'
    )
    server = serve_gateway(jwt_toml(table))
    token = idp.token()
    with pytest.raises(openai.InternalServerError) as raised:
        chat(server.base_url, token)
    assert raised.value.status_code == 503 and raised.value.body["code"] == "auth_unavailable"
    assert token not in raised.value.response.text


def test_fetched_keys_outlive_an_identity_provider_outage(serve_gateway):
    idp = IdentityProvider()
    with idp.server:
        extra = 'jwks_ttl = "0s", jwks_min_refetch = "0s"'  # refetch on every token
        server = serve_gateway(jwt_toml(jwks_table(idp, extra)))
        assert chat(server.base_url, idp.token()).choices
    # The JWKS server is gone: fetches fail, the keys already fetched still verify.
    assert chat(server.base_url, idp.token(sub="bob")).choices
    assert idp.fetches == 1


def test_a_key_published_for_one_algorithm_verifies_no_other(serve_gateway, idp):
    server = serve_gateway(jwt_toml(jwks_table(idp, 'algorithms = ["RS256", "PS256"]')))
    assert chat(server.base_url, idp.token()).choices
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "exp": int(time.time()) + 60}
    pss = jwt.encode(claims, idp.keys["k1"], algorithm="PS256", headers={"kid": "k1"})
    assert "No signing key" in refused(server.base_url, pss)  # k1's JWK says RS256


def test_encryption_keys_are_refused_in_the_config():
    jwk = json.loads(
        jwt.algorithms.RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048).public_key())
    )
    table = f'public_keys = [{json.dumps(json.dumps({**jwk, "use": "enc"}))}], issuer = "i", audience = "a"'
    with pytest.raises(ConfigError, match="not for signatures"):
        Gateway.from_toml(jwt_toml(table), {})

"""JWT bearer tokens from an identity provider, verified against its public keys.

Only asymmetric algorithms are accepted (so a token "signed" with the public key as an HMAC
secret, or with ``alg: none``, never verifies). Keys come from the config (PEM or JWK) and/or
a JWKS URL, fetched lazily, cached, and fetched again (at most every `jwks_min_refetch`)
when a token names a key id not seen yet -- the identity provider rotated its keys.
Verified tokens are cached by the SHA-256 of the whole token until they expire.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

import attrs
import httpx

from litegate import GatewayError, Principal
from litegate.config_types import Duration

from .cache import TTLCache

__all__ = ["JWKS", "ROLES", "JWTClaims", "JWTConfig", "JWTVerifier", "PublicKey", "looks_like_jwt"]

log = logging.getLogger("litegate.auth")

#: Roles, widest first: the values of `litegate.db.Role` (repeated here so that JWT and
#: static keys work without importing the records layer).
ROLES = ("admin", "org_admin", "team_admin", "member", "viewer")

#: Algorithm -> the key type it needs. Symmetric (HS*) and "none" are absent on purpose.
ALGORITHM_KEY_TYPES = {
    "RS256": "RSA",
    "RS384": "RSA",
    "RS512": "RSA",
    "PS256": "RSA",
    "PS384": "RSA",
    "PS512": "RSA",
    "ES256": "EC",
    "ES384": "EC",
    "ES512": "EC",
    "EdDSA": "OKP",
}

_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def looks_like_jwt(credential: str) -> bool:
    """Three base64url parts separated by dots (API keys have no dots)."""
    return _JWT.match(credential) is not None


def _check_algorithms(_instance: Any, _attribute: Any, value: list[str]) -> None:
    if not value:
        raise ValueError("name at least one algorithm")
    for name in value:
        if name not in ALGORITHM_KEY_TYPES:
            raise ValueError(
                f"{name!r} is not accepted: use asymmetric algorithms only "
                f"({', '.join(ALGORITHM_KEY_TYPES)})"
            )


def _check_role_map(_instance: Any, _attribute: Any, value: dict[str, str]) -> None:
    for claimed, role in value.items():
        if role not in ROLES:
            raise ValueError(f"{claimed}: {role!r} is not a role ({', '.join(ROLES)})")


def _check_role(_instance: Any, _attribute: Any, value: str) -> None:
    if value not in ROLES:
        raise ValueError(f"{value!r} is not a role ({', '.join(ROLES)})")


@attrs.frozen
class JWTClaims:
    """Which claims of a token say who the caller is ("" ignores that claim)."""

    #: The caller's user id (also the principal's id). Tokens without it are refused.
    user: str = "sub"
    #: The caller's team id.
    team: str = "team"
    #: The caller's role: a string or a list of strings, translated by `role_map`.
    role: str = "role"
    #: The caller's organization id.
    org: str = "org"
    #: A list of model aliases or globs the caller may use; "" (the default): any model.
    models: str = ""


def _not_empty(_instance: Any, attribute: Any, value: str) -> None:
    if not value:
        raise ValueError(f"{attribute.name} must not be empty: tokens for others must not pass")


@attrs.frozen
class JWTConfig:
    #: The issuer (``iss``) tokens must carry, e.g. "https://idp.example.com/".
    issuer: str = attrs.field(validator=_not_empty)
    #: The audience (``aud``) tokens must be meant for, e.g. "litegate".
    audience: str = attrs.field(validator=_not_empty)
    #: Where the identity provider publishes its signing keys (a JSON Web Key Set).
    jwks_url: str | None = None
    #: Signing keys given here instead of (or besides) `jwks_url`: each a PEM public key
    #: ("-----BEGIN PUBLIC KEY-----...") or a JWK as a JSON object string.
    public_keys: list[str] = attrs.field(factory=list)
    #: Clock skew allowed when checking ``exp``, ``nbf`` and ``iat``.
    leeway: Duration = Duration(30)
    #: Signature algorithms accepted (asymmetric only: RS*, PS*, ES*, EdDSA).
    algorithms: list[str] = attrs.field(
        factory=lambda: ["RS256", "ES256", "EdDSA"], validator=_check_algorithms
    )
    #: Which claims name the user, team, role, organization and models.
    claims: JWTClaims = JWTClaims()
    #: Role claim values -> litegate roles, e.g. ``{ "gateway-admins" = "admin" }``. With a
    #: map, unmapped values are ignored; without one, values that are litegate roles count.
    role_map: dict[str, str] = attrs.field(factory=dict, validator=_check_role_map)
    #: The role of a token whose role claim gives none.
    default_role: str = attrs.field(default="member", validator=_check_role)
    #: How long fetched keys are used before `jwks_url` is fetched again.
    jwks_ttl: Duration = Duration(600)
    #: Fetches of `jwks_url` (on an unknown key id, or after a failure) are at least this
    #: far apart, so forged key ids cannot make the gateway hammer the identity provider.
    jwks_min_refetch: Duration = Duration(30)
    #: How long a fetch of `jwks_url` may take.
    jwks_timeout: Duration = Duration(5)
    #: Verified tokens kept in memory (each until it expires).
    cache_size: int = attrs.field(default=10_000, validator=attrs.validators.ge(1))

    def __attrs_post_init__(self) -> None:
        if not self.jwks_url and not self.public_keys:
            raise ValueError("set jwks_url or public_keys: with neither, no token can verify")


@attrs.frozen
class PublicKey:
    """One verification key: its id (None for a PEM key), type ("RSA", "EC", "OKP"), and
    the one algorithm it is for, when its JWK names one."""

    kid: str | None
    kty: str
    key: Any
    alg: str | None = None


def parse_public_key(text: str) -> PublicKey:
    """A PEM public key or a JWK (JSON); ValueError for anything else (private keys too)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        try:
            key = load_pem_public_key(text.encode())
        except ValueError:
            raise ValueError("not a PEM public key (private keys do not belong here)") from None
        if isinstance(key, rsa.RSAPublicKey):
            return PublicKey(None, "RSA", key)
        if isinstance(key, ec.EllipticCurvePublicKey):
            return PublicKey(None, "EC", key)
        if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            return PublicKey(None, "OKP", key)
        raise ValueError(f"unsupported public key type {type(key).__name__}")
    try:
        jwk = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("expected a PEM public key or a JWK as JSON") from None
    return parse_jwk(jwk)


def parse_jwk(jwk: Any) -> PublicKey:
    import jwt

    if not isinstance(jwk, dict):
        raise ValueError("a JWK must be a JSON object")
    kty = jwk.get("kty")
    if kty not in ("RSA", "EC", "OKP"):
        raise ValueError(f"JWK key type {kty!r} is not accepted (RSA, EC or OKP only)")
    if "d" in jwk:
        raise ValueError("that JWK holds a private key; give the public key only")
    if jwk.get("use", "sig") != "sig":
        raise ValueError(f"JWK use {jwk.get('use')!r} is not for signatures")
    try:
        key = jwt.PyJWK(jwk).key
    except jwt.PyJWTError as exc:
        raise ValueError(f"unusable JWK: {exc}") from None
    kid, alg = jwk.get("kid"), jwk.get("alg")
    return PublicKey(
        kid if isinstance(kid, str) else None, kty, key, alg if isinstance(alg, str) else None
    )


class JWKS:
    """The keys at `url`: fetched on first use, again after `ttl`, or sooner for an unknown
    key id; never more often than every `min_refetch` seconds."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float,
        min_refetch: float,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refetch = min_refetch
        self.timeout = timeout
        self._clock = clock
        self._keys: tuple[PublicKey, ...] = ()
        self._fetched_at = -math.inf
        self._attempted_at = -math.inf
        self._lock = asyncio.Lock()
        #: Fetches made (successful or not), for tests and metrics.
        self.fetches = 0

    @property
    def loaded(self) -> bool:
        """Whether a fetch ever succeeded."""
        return bool(self._keys)

    async def keys(self, kid: str | None) -> tuple[PublicKey, ...]:
        if self._wants_fetch(kid):
            async with self._lock:
                if self._wants_fetch(kid):  # another call may have fetched meanwhile
                    await self._fetch()
        return self._keys

    def _wants_fetch(self, kid: str | None) -> bool:
        now = self._clock()
        if now - self._attempted_at < self.min_refetch:
            return False
        stale = now - self._fetched_at >= self.ttl
        unknown = kid is not None and all(key.kid != kid for key in self._keys)
        return stale or unknown

    async def _fetch(self) -> None:
        self._attempted_at = self._clock()
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(self.url, headers={"accept": "application/json"})
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
            return
        found = []
        entries = document.get("keys") if isinstance(document, dict) else None
        for entry in entries if isinstance(entries, list) else ():
            try:
                found.append(parse_jwk(entry))
            except ValueError as exc:
                log.info("JWKS %s: skipped a key: %s", self.url, exc)
        if not found:
            log.warning("JWKS from %s holds no usable keys; keeping the previous ones", self.url)
            return
        self._keys = tuple(found)
        self._fetched_at = self._attempted_at


def _reject(message: str) -> GatewayError:
    return GatewayError(401, message, code="invalid_api_key")


class JWTVerifier:
    """Turns a presented JWT into a `Principal`, or raises 401 saying why (never echoing
    the token)."""

    def __init__(self, config: JWTConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        try:
            import jwt  # noqa: F401 (checked here, so a missing extra stops start-up)
        except ImportError:
            raise ValueError("jwt needs PyJWT: pip install 'litegate[jwt]'") from None
        self.config = config
        self.inline = tuple(parse_public_key(text) for text in config.public_keys)
        self.jwks = (
            JWKS(
                config.jwks_url,
                ttl=float(config.jwks_ttl),
                min_refetch=float(config.jwks_min_refetch),
                timeout=float(config.jwks_timeout),
                clock=clock,
            )
            if config.jwks_url
            else None
        )
        self._verified: TTLCache[Principal] = TTLCache(config.cache_size, clock)

    async def principal(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).hexdigest()
        cached = self._verified.get(digest)
        if cached is not None:
            return cached.for_call()
        claims = await self._verify(token)
        principal = self._principal_of(claims)
        lifetime = float(claims["exp"]) + float(self.config.leeway) - time.time()
        self._verified.put(digest, principal, lifetime)
        return principal.for_call()

    async def _verify(self, token: str) -> dict[str, Any]:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _reject("The token is malformed.") from None
        algorithm = header.get("alg")
        if algorithm not in self.config.algorithms:
            raise _reject("The token's signature algorithm is not accepted.")
        kid = header.get("kid")
        kid = kid if isinstance(kid, str) else None
        candidates = await self._candidates(algorithm, kid)
        if not candidates:
            if self.jwks is not None and not self.jwks.loaded:
                raise GatewayError(
                    503,
                    "The identity provider's signing keys could not be fetched; try again shortly.",
                    code="auth_unavailable",
                )
            raise _reject("No signing key is known for this token.")
        config = self.config
        for candidate in candidates:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    candidate.key,
                    algorithms=[algorithm],
                    issuer=config.issuer,
                    audience=config.audience,
                    leeway=float(config.leeway),
                    options={"require": ["exp", "iss", "aud"]},
                )
                return claims
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise _reject("The token has expired.") from None
            except jwt.ImmatureSignatureError:
                raise _reject("The token is not valid yet.") from None
            except jwt.InvalidIssuerError:
                raise _reject("The token's issuer is not accepted.") from None
            except jwt.InvalidAudienceError:
                raise _reject("The token is not meant for this gateway (audience).") from None
            except jwt.MissingRequiredClaimError as exc:
                raise _reject(f"The token lacks the '{exc.claim}' claim.") from None
            except jwt.PyJWTError:
                raise _reject("The token is invalid.") from None
        raise _reject("The token's signature does not verify.")

    async def _candidates(self, algorithm: str, kid: str | None) -> list[PublicKey]:
        """The keys that may have signed a token with `algorithm` and `kid`: of the type
        the algorithm needs, and not meant for another algorithm."""
        keys = list(self.inline)
        if self.jwks is not None:
            keys += await self.jwks.keys(kid)
        kty = ALGORITHM_KEY_TYPES[algorithm]
        keys = [key for key in keys if key.kty == kty and key.alg in (None, algorithm)]
        if kid is not None:
            named = [key for key in keys if key.kid == kid]
            # PEM keys have no id: they are tried for any token.
            return named or [key for key in keys if key.kid is None]
        return keys

    def _principal_of(self, claims: dict[str, Any]) -> Principal:
        names = self.config.claims
        user = _text(claims.get(names.user)) if names.user else None
        if user is None:
            raise _reject(f"The token lacks the '{names.user}' claim.")
        models = claims.get(names.models) if names.models else None
        return Principal(
            user,
            "jwt",
            team=_text(claims.get(names.team)) if names.team else None,
            role=self._role_of(claims.get(names.role) if names.role else None),
            metadata={"issuer": claims.get("iss")},
            user=user,
            org=_text(claims.get(names.org)) if names.org else None,
            models=tuple(m for m in models if isinstance(m, str))
            if isinstance(models, list)
            else None,
        )

    def _role_of(self, claimed: Any) -> str:
        values = claimed if isinstance(claimed, list) else [claimed]
        role_map = self.config.role_map
        roles = {
            role_map.get(value) if role_map else value for value in values if isinstance(value, str)
        }
        for role in ROLES:  # the widest one the token grants
            if role in roles:
                return role
        return self.config.default_role


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None

"""`auth`: who may call, and which models they may use.

Credentials are read from ``Authorization: Bearer <credential>`` or ``x-api-key`` and tried
in this order: the master key and static keys from the config (compared in constant time
against every one, so timing reveals neither a match nor which key); a JWT from an identity
provider (`tokens`); a virtual key from the records database (`virtual_keys`). A principal
with a model list may only call those aliases (403 ``model_not_allowed``). See docs/auth.md.
"""

from .plugin import AuthPlugin, StaticKey
from .tokens import JWTClaims, JWTConfig

__all__ = ["AuthPlugin", "JWTClaims", "JWTConfig", "StaticKey"]

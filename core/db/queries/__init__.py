"""The queries tenancy and spend need first, as functions over an `AsyncSession`.

They flush but never commit: the caller's ``async with db.session()`` is the transaction.
All SQL is built from SQLAlchemy expressions with bound parameters.
"""

from .audit import MASK, SECRET_FIELDS, append_audit, list_audit, mask_secrets, snapshot
from .keys import (
    KEY_CHANGES_CHANNEL,
    KEY_FIELDS,
    SECRET_PREFIX,
    create_key,
    find_key,
    generate_secret,
    get_key,
    get_key_by_hash,
    hash_secret,
    list_keys,
    revoke_key,
    rotate_key,
    update_key,
)
from .pages import MAX_PAGE_SIZE, Page
from .spend import DIMENSIONS, Dimension, SpendEntry, SpendTotal, insert_spend, sum_spend
from .tenancy import (
    ORG_FIELDS,
    TEAM_FIELDS,
    USER_FIELDS,
    create_org,
    create_team,
    create_user,
    get_org,
    get_team,
    get_user,
    list_orgs,
    list_teams,
    list_users,
)

__all__ = [
    "DIMENSIONS",
    "KEY_CHANGES_CHANNEL",
    "KEY_FIELDS",
    "MASK",
    "MAX_PAGE_SIZE",
    "ORG_FIELDS",
    "SECRET_FIELDS",
    "SECRET_PREFIX",
    "TEAM_FIELDS",
    "USER_FIELDS",
    "Dimension",
    "Page",
    "SpendEntry",
    "SpendTotal",
    "append_audit",
    "create_key",
    "create_org",
    "create_team",
    "create_user",
    "find_key",
    "generate_secret",
    "get_key",
    "get_key_by_hash",
    "get_org",
    "get_team",
    "get_user",
    "hash_secret",
    "insert_spend",
    "list_audit",
    "list_keys",
    "list_orgs",
    "list_teams",
    "list_users",
    "mask_secrets",
    "revoke_key",
    "rotate_key",
    "snapshot",
    "sum_spend",
    "update_key",
]

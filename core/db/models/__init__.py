"""The tables: tenancy (organizations, teams, users), virtual keys, audit log, spend ledger,
request log."""

from .audit import AuditEntry
from .base import Base, BudgetPeriod, UTCDateTime, new_id, utcnow
from .keys import VirtualKey
from .requestlog import RequestLogRow
from .spend import SpendRow
from .tenancy import Organization, Role, Team, User

__all__ = [
    "AuditEntry",
    "Base",
    "BudgetPeriod",
    "Organization",
    "RequestLogRow",
    "Role",
    "SpendRow",
    "Team",
    "UTCDateTime",
    "User",
    "VirtualKey",
    "new_id",
    "utcnow",
]

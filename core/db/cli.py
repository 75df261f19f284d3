"""`litegate db upgrade` and `litegate db current`."""

from __future__ import annotations

import asyncio
import sys

from ..config import GatewayConfig
from .database import Database
from .engine import display_url

__all__ = ["run"]


def run(action: str, config: GatewayConfig) -> int:
    try:
        db = Database(config.state.db)
    except ValueError as exc:
        print(f"litegate: state.db: {exc}", file=sys.stderr)
        return 2
    where = display_url(config.state.db)
    head = Database.head_revision()
    try:
        if action == "upgrade":
            revision = asyncio.run(db.upgrade())
            print(f"{where}: at revision {revision} (head)")
            return 0
        revision = asyncio.run(db.current_revision())
    except Exception as exc:  # a database that can't be reached: say so, no traceback
        print(f"litegate: {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if revision is None:
        print(f"{where}: not migrated (head is {head}; run `litegate db upgrade`)")
    elif revision == head:
        print(f"{where}: at revision {revision} (head)")
    else:
        print(f"{where}: at revision {revision} (head is {head}; run `litegate db upgrade`)")
    return 0

"""The admin web UI at /ui: server-rendered pages over the admin API's code paths, the spend
ledger, the request log and the running config. See docs/admin-ui.md."""

from .plugin import UIPlugin

__all__ = ["UIPlugin"]

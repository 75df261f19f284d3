"""`router`: picks a deployment per call (strategies), retries failed attempts with backoff,
falls back to other aliases, and cools down failing deployments. See docs/routing.md."""

from __future__ import annotations

from .plugin import RouterPlugin

__all__ = ["RouterPlugin"]

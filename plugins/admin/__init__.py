"""`admin`: the admin API under /admin/v1 — organizations, teams, users, virtual keys, the
audit log — with role-based access, and its OpenAPI document. See docs/admin-api.md."""

from __future__ import annotations

from .plugin import AdminPlugin

__all__ = ["AdminPlugin"]

"""Budget periods in UTC: when the current one began, when it resets, and its state key."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import attrs

__all__ = ["PERIODS", "Period", "current_period"]

PERIODS = ("daily", "weekly", "monthly", "none")


@attrs.frozen
class Period:
    #: Names the period in state keys: "2026-11-28", "2026-W48", "2026-11" or "all".
    tag: str
    #: The first day it counts (None: since the beginning).
    start: date | None
    #: When the next one begins (None: never).
    resets_at: datetime | None

    def ttl(self, now: datetime) -> float | None:
        """How long state for this period must live: to its end, plus a day's margin."""
        if self.resets_at is None:
            return None
        return (self.resets_at - now).total_seconds() + 86_400


def current_period(kind: str | None, now: datetime) -> Period:
    """The period of kind `kind` (daily, weekly, monthly, none/None) that contains `now`."""
    today = now.astimezone(UTC).date()
    if kind == "daily":
        return Period(today.isoformat(), today, _midnight(today + timedelta(days=1)))
    if kind == "weekly":
        monday = today - timedelta(days=today.weekday())
        year, week, _ = monday.isocalendar()
        return Period(f"{year}-W{week:02d}", monday, _midnight(monday + timedelta(days=7)))
    if kind == "monthly":
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period(first.strftime("%Y-%m"), first, _midnight(following))
    if kind in (None, "none"):
        return Period("all", None, None)
    raise ValueError(f"unknown budget period {kind!r} (choose from {', '.join(PERIODS)})")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)

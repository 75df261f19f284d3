"""`litegate spend` (spend reports from the ledger) and `litegate pricing` (the price table)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["COMMANDS", "add_commands", "run"]

COMMANDS = ("spend", "pricing")


def add_commands(commands: Any) -> None:
    """Add the `spend` and `pricing` sub-commands to the `litegate` parser."""
    spend = commands.add_parser("spend", help="spend from the ledger, grouped, over a date range")
    spend.add_argument(
        "--group-by",
        default="day",
        help="comma-separated: key, user, team, org, model, deployment, provider, day",
    )
    spend.add_argument(
        "--start", type=date.fromisoformat, help="first UTC day (default: 30 days ago)"
    )
    spend.add_argument("--end", type=date.fromisoformat, help="last UTC day (default: today)")
    for name in ("key", "user", "team", "org", "model"):
        spend.add_argument(f"--{name}", help=f"only this {name}")
    spend.add_argument("--csv", action="store_true", help="CSV instead of a table")
    spend.add_argument("--config", "-c", default="pipeline.toml", type=Path)

    pricing = commands.add_parser("pricing", help="the price table the cost plugin uses")
    actions = pricing.add_subparsers(dest="action", required=True)
    update = actions.add_parser(
        "update", help="rewrite the table from a price file (LiteLLM's format, or litegate's)"
    )
    update.add_argument("file", type=Path)
    update.add_argument(
        "--output", type=Path, help="where to write it (default: the table litegate ships)"
    )
    show = actions.add_parser("show", help="the price of one model")
    show.add_argument("provider")
    show.add_argument("model")


def run(args: argparse.Namespace) -> int:
    if args.command == "pricing":
        return _pricing(args)
    return _spend(args)


def _pricing(args: argparse.Namespace) -> int:
    from . import pricing

    if args.action == "show":
        price = pricing.default_table().lookup(args.provider, args.model)
        if price is None:
            print(f"no price for {args.provider}/{args.model}", file=sys.stderr)
            return 1
        print(json.dumps(price.to_dict(), indent=2))
        return 0
    try:
        table = pricing.load_table(args.file)
    except (OSError, ValueError) as exc:
        print(f"litegate: {args.file}: {exc}", file=sys.stderr)
        return 2
    if not table.source:
        table.source = args.file.name
    output = args.output or pricing.DEFAULT_PATH
    pricing.write_table(table, output)
    print(f"{output}: {len(table)} models from {args.file}")
    return 0


def _spend(args: argparse.Namespace) -> int:
    from .config import load_config
    from .config_errors import ConfigError
    from .db.queries.spend import DIMENSIONS, report_csv, report_rows

    by = [name.strip() for name in args.group_by.split(",") if name.strip()]
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown or not by:
        print(f"litegate: --group-by takes {', '.join(DIMENSIONS)}", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    end = args.end or datetime.now(UTC).date()
    start = args.start or end - timedelta(days=29)
    try:
        totals = asyncio.run(_totals(config.state.db, by, start, end, args))
    except Exception as exc:  # a database that can't be reached: say so, no traceback
        print(f"litegate: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.csv:
        sys.stdout.write(report_csv(totals, by))
        return 0
    rows = report_rows(totals, by)
    columns = [*by, "cost", "requests", "prompt_tokens", "completion_tokens"]
    table = [[_cell(row[name]) for name in columns] for row in rows]
    widths = [max([len(c), *(len(line[i]) for line in table)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for line in table:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)))
    total = sum(t.cost for t in totals)
    print(f"total: ${total:.6f} over {sum(t.requests for t in totals)} request(s), {start}..{end}")
    return 0


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    return "-" if value is None else str(value)


async def _totals(url: str, by: list[str], start: date, end: date, args: Any) -> Any:
    from .db import Database
    from .db.queries.spend import sum_spend

    db = Database(url)
    await db.connect()
    try:
        async with db.session() as session:
            return await sum_spend(
                session,
                by=by,  # type: ignore[arg-type]  # checked against DIMENSIONS
                start=start,
                end=end,
                key_id=args.key,
                user_id=args.user,
                team_id=args.team,
                org_id=args.org,
                model=args.model,
            )
    finally:
        await db.aclose()

"""`litegate keys|users|teams ...`: manage tenancy directly in the `[state] db` of a config.

For bootstrapping (the first admin user and key) and for scripts on the gateway's host. Each
change is written to the audit log with the actor ``cli``, and a revoked or rotated key is
announced on the `[state] kv` key-changes channel so running workers drop it at once. A
created key's secret is printed once, on stdout; nothing else ever shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .config_types import parse_duration

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from .config import GatewayConfig

__all__ = ["COMMANDS", "add_commands", "run"]

COMMANDS = ("keys", "users", "teams")
ROLES = ("admin", "org_admin", "team_admin", "member", "viewer")
ACTOR = "cli"


def _models(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated model names or patterns")
    return names


def _count(text: str) -> int:
    if not text.isdigit() or int(text) > 2**31 - 1:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def _dollars(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected an amount of dollars, got {text!r}") from None
    if not amount.is_finite() or not 0 <= amount < 10**9:
        raise argparse.ArgumentTypeError(f"expected an amount of dollars, got {text!r}")
    return amount


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 date-time, got {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give a timezone, e.g. 2030-01-01T00:00:00Z")
    return value


def _grace(text: str) -> timedelta:
    try:
        return timedelta(seconds=float(parse_duration(text)))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _limits(parser: argparse.ArgumentParser, *, models: bool = True) -> None:
    if models:
        parser.add_argument("--models", type=_models, help="allowed models: a,b,gpt-*")
        parser.add_argument("--rpm", type=_count, help="requests per minute")
        parser.add_argument("--tpm", type=_count, help="tokens per minute")
        parser.add_argument("--max-parallel", type=_count, help="requests in flight at once")
    parser.add_argument("--budget", type=_dollars, help="spending cap in dollars")
    parser.add_argument(
        "--budget-period",
        choices=("daily", "weekly", "monthly"),
        help="when the budget starts again from 0 (UTC); unset: it never resets",
    )


def add_commands(commands: Any) -> None:
    """Add the keys, users and teams sub-commands to `litegate`'s parser."""

    def sub(group: Any, name: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, help=text)
        parser.add_argument("--config", "-c", default="pipeline.toml", type=Path)
        return parser

    keys = commands.add_parser("keys", help="virtual keys in [state] db").add_subparsers(
        dest="action", required=True
    )
    create = sub(keys, "create", "create a key and print its secret (shown once)")
    create.add_argument("--name")
    create.add_argument("--team", help="team id")
    create.add_argument("--user", help="user id")
    create.add_argument("--expires", type=_when, help="ISO 8601 date-time")
    create.add_argument(
        "--secret-stdin",
        action="store_true",
        help="import an existing secret (moving keys from another gateway): read it from "
        "standard input instead of generating one",
    )
    _limits(create)
    listing = sub(keys, "list", "list keys (never their secrets)")
    listing.add_argument("--team", help="only this team's")
    listing.add_argument("--user", help="only this user's")
    listing.add_argument("--active", action="store_true", help="leave revoked keys out")
    sub(keys, "revoke", "revoke a key at once, on every worker").add_argument("key_id")
    rotate = sub(keys, "rotate", "replace a key; the old one works for --grace more")
    rotate.add_argument("key_id")
    rotate.add_argument("--grace", type=_grace, default=timedelta(hours=24), help='e.g. "1h"')

    users = commands.add_parser("users", help="users in [state] db").add_subparsers(
        dest="action", required=True
    )
    create = sub(users, "create", "create a user")
    create.add_argument("--email")
    create.add_argument("--name")
    create.add_argument("--role", choices=ROLES, default="member")
    create.add_argument("--team", help="team id")
    create.add_argument("--org", help="organization id")
    _limits(create, models=False)
    listing = sub(users, "list", "list users")
    listing.add_argument("--team", help="only this team's")
    listing.add_argument("--org", help="only this organization's")

    teams = commands.add_parser("teams", help="teams in [state] db").add_subparsers(
        dest="action", required=True
    )
    create = sub(teams, "create", "create a team")
    create.add_argument("name")
    create.add_argument("--org", help="organization id")
    _limits(create)
    sub(teams, "list", "list teams").add_argument("--org", help="only this organization's")


def run(args: argparse.Namespace, config: GatewayConfig) -> int:
    """Run `litegate <args.command> <args.action>` against `config`'s databases."""
    from .db import Database
    from .db.engine import display_url

    try:
        db = Database(config.state.db)
    except ValueError as exc:
        print(f"litegate: state.db: {exc}", file=sys.stderr)
        return 2
    action = _ACTIONS[(args.command, args.action)]
    try:
        return asyncio.run(_with_db(db, config, action, args))
    except _Refused as exc:
        print(f"litegate: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # an unreachable database: say so, no traceback
        where = display_url(config.state.db)
        print(f"litegate: {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


class _Refused(Exception):
    """A request that can't be done (no such id, a name taken): the message says why."""


@attrs.define
class _Output:
    """What an action shows and announces, once its transaction has committed (a secret
    printed for a key that then failed to commit would be worse than none)."""

    #: stdout: the secret, the listing.
    lines: list[str] = attrs.field(factory=list)
    #: stderr: what happened, for people.
    notes: list[str] = attrs.field(factory=list)
    #: Hashes of changed keys, for the key-changes channel.
    announce: list[str] = attrs.field(factory=list)


Action = Callable[["AsyncSession", argparse.Namespace, _Output], Coroutine[Any, Any, None]]


async def _with_db(db: Any, config: GatewayConfig, action: Action, args: argparse.Namespace) -> int:
    from sqlalchemy.exc import IntegrityError

    if config.state.migrate:
        await db.upgrade()
    out = _Output()
    async with db:
        try:
            async with db.session() as session:
                await action(session, args, out)
        except IntegrityError:
            raise _Refused("that conflicts with existing data (a name or email taken?)") from None
    for note in out.notes:
        print(note, file=sys.stderr)
    for line in out.lines:
        print(line)
    announce = out.announce
    if announce:
        from .db.queries import KEY_CHANGES_CHANNEL
        from .state import open_state

        state = await open_state(config.state.kv, prefix=config.state.prefix)
        try:
            for key_hash in announce:
                await state.publish(KEY_CHANGES_CHANNEL, key_hash.encode())
        finally:
            await state.aclose()
    return 0


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    shown = [[("-" if value is None else str(value)) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in shown)) for i, h in enumerate(header)]
    return [
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in [list(header), *shown]
    ]


async def _all(list_page: Callable[..., Any], **filters: Any) -> list[Any]:
    rows, cursor = [], None
    while True:
        page = await list_page(cursor=cursor, limit=1000, **filters)
        rows += page.items
        cursor = page.next_cursor
        if cursor is None:
            return rows


async def _audit(session: AsyncSession, action: str, row: Any, before: Any = None) -> None:
    from .db import queries

    after = queries.snapshot(row)
    org = after.get("org_id")
    if org is None and after.get("team_id"):
        team = await queries.get_team(session, after["team_id"])
        org = team.org_id if team is not None else None
    await queries.append_audit(
        session, actor=ACTOR, action=action, target_type=action.partition(".")[0],
        target_id=row.id, before=before, after=after, org_id=org,
    )  # fmt: skip


def _grants(args: argparse.Namespace) -> dict[str, Any]:
    values = {
        "allowed_models": getattr(args, "models", None),
        "rpm_limit": getattr(args, "rpm", None),
        "tpm_limit": getattr(args, "tpm", None),
        "max_parallel": getattr(args, "max_parallel", None),
        "max_budget": args.budget,
        "budget_period": args.budget_period,
    }
    return {name: value for name, value in values.items() if value is not None}


async def _exists(session: AsyncSession, kind: str, ident: str | None) -> None:
    from .db import queries

    getters = {"team": queries.get_team, "user": queries.get_user, "org": queries.get_org}
    if ident is not None and await getters[kind](session, ident) is None:
        raise _Refused(f"no {kind} with id {ident!r}")


async def _keys_create(session: AsyncSession, args: argparse.Namespace, out: _Output) -> None:
    from .db import queries

    imported = _imported_secret() if args.secret_stdin else None
    await _exists(session, "team", args.team)
    await _exists(session, "user", args.user)
    key, secret = await queries.create_key(
        session, secret=imported, name=args.name, team_id=args.team, user_id=args.user,
        expires_at=args.expires, **_grants(args),
    )  # fmt: skip
    await _audit(session, "key.create", key)
    if imported is not None:  # the caller has the secret: never echo it
        out.notes.append(f"imported key {key.id} ({key.prefix}...)")
        return
    out.notes.append(f"created key {key.id} ({key.prefix}...); its secret, shown this once:")
    out.lines.append(secret)


#: An imported secret is matched by its unsalted hash, so it must be hard to guess.
MIN_IMPORTED_SECRET = 20


def _imported_secret() -> str:
    secret = sys.stdin.readline().strip()
    if len(secret) < MIN_IMPORTED_SECRET or len(secret) > 256:
        raise _Refused(
            f"--secret-stdin: the secret must be {MIN_IMPORTED_SECRET} to 256 characters "
            f"(got {len(secret)})"
        )
    if not secret.isascii() or not secret.isprintable() or " " in secret:
        raise _Refused("--secret-stdin: the secret must be printable ASCII without spaces")
    return secret


async def _keys_list(session: AsyncSession, args: argparse.Namespace, out: _Output) -> None:
    from .db import queries

    keys = await _all(
        lambda **kw: queries.list_keys(session, **kw),
        team_id=args.team, user_id=args.user, include_revoked=not args.active,
    )  # fmt: skip
    out.lines += _table(
        ("ID", "PREFIX", "NAME", "TEAM", "USER", "STATUS"),
        [(k.id, k.prefix, k.name, k.team_id, k.user_id, _status(k)) for k in keys],
    )


def _status(key: Any) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.grace_until is not None:
        return f"rotated (until {key.grace_until:%Y-%m-%d %H:%M}Z)"
    return "active" if key.enabled else "disabled"


async def _keys_revoke(session: AsyncSession, args: argparse.Namespace, out: _Output) -> None:
    from .db import queries

    key = await queries.get_key(session, args.key_id)
    if key is None:
        raise _Refused(f"no key with id {args.key_id!r}")
    if key.revoked_at is None:
        before = queries.snapshot(key)
        await queries.revoke_key(session, key.id)
        await _audit(session, "key.revoke", key, before)
    out.lines.append(f"revoked key {key.id} ({key.prefix}...)")
    out.announce.append(key.key_hash)


async def _keys_rotate(session: AsyncSession, args: argparse.Namespace, out: _Output) -> None:
    from .db import queries

    old = await queries.get_key(session, args.key_id)
    if old is None:
        raise _Refused(f"no key with id {args.key_id!r}")
    if old.revoked_at is not None:
        raise _Refused(f"key {old.id} is revoked; create a new one instead")
    before = queries.snapshot(old)
    rotated = await queries.rotate_key(session, old.id, grace=args.grace)
    assert rotated is not None  # found just above, in this transaction
    new, secret = rotated
    await _audit(session, "key.rotate", old, before)
    await _audit(session, "key.create", new)
    out.notes.append(f"rotated key {old.id}: it works until {old.grace_until:%Y-%m-%d %H:%M}Z")
    out.notes.append(f"new key {new.id} ({new.prefix}...); its secret, shown this once:")
    out.lines.append(secret)
    out.announce.append(old.key_hash)


async def _users_create(session: AsyncSession, args: argparse.Namespace, out: _Output) -> None:
    from .db import Role, queries

    await _exists(session, "team", args.team)
    await _exists(session, "org", args.org)
    org = args.org
    if org is None and args.team is not None:
        team = await queries.get_team(session, args.team)
        org = team.org_id if team is not None else None
    user = await queries.create_user(
        session, role=Role(args.role), email=args.email, name=args.name, team_id=args.team,
        org_id=org, **_grants(args),
    )  # fmt: skip
    await _audit(session, "user.create", user)
    out.lines.append(f"created user {user.id} ({user.role.value})")


async def _users_list(session: AsyncSession, args: argparse.Namespace, out: _Output) -> None:
    from .db import queries

    users = await _all(
        lambda **kw: queries.list_users(session, **kw), team_id=args.team, org_id=args.org
    )
    out.lines += _table(
        ("ID", "EMAIL", "NAME", "ROLE", "TEAM", "ORG"),
        [(u.id, u.email, u.name, u.role.value, u.team_id, u.org_id) for u in users],
    )


async def _teams_create(session: AsyncSession, args: argparse.Namespace, out: _Output) -> None:
    from .db import queries

    await _exists(session, "org", args.org)
    team = await queries.create_team(session, name=args.name, org_id=args.org, **_grants(args))
    await _audit(session, "team.create", team)
    out.lines.append(f"created team {team.id} ({team.name})")


async def _teams_list(session: AsyncSession, args: argparse.Namespace, out: _Output) -> None:
    from .db import queries

    teams = await _all(lambda **kw: queries.list_teams(session, **kw), org_id=args.org)
    out.lines += _table(
        ("ID", "NAME", "ORG", "MODELS", "RPM", "TPM"),
        [(t.id, t.name, t.org_id, _joined(t.allowed_models), t.rpm_limit, t.tpm_limit)
         for t in teams],
    )  # fmt: skip


def _joined(models: list[str] | None) -> str | None:
    return None if models is None else ",".join(models)


#: (command, action) -> what it does.
_ACTIONS: dict[tuple[str, str], Action] = {
    ("keys", "create"): _keys_create,
    ("keys", "list"): _keys_list,
    ("keys", "revoke"): _keys_revoke,
    ("keys", "rotate"): _keys_rotate,
    ("users", "create"): _users_create,
    ("users", "list"): _users_list,
    ("teams", "create"): _teams_create,
    ("teams", "list"): _teams_list,
}

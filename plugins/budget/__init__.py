"""`budget`: spending caps per key, user, team and organization.

Budgets come from the records database (``max_budget`` / ``budget_period`` on virtual keys,
users, teams and organizations; cached for `cache_ttl`) and from this plugin's `budgets`
list (for static keys and tests). Each applies to the calls of principals it matches.

Before a call goes upstream, its estimated cost is *reserved* on every budget that applies,
atomically in the state backend (`State.reserve`: diskcache across a host's workers, Redis
across hosts); a reservation that would pass a budget's cap refuses the call with 429
``budget_exceeded``, naming the budget and when it resets. After the call, the real cost
(from the `cost` plugin) *settles* the reservation. So concurrent calls can overspend at most
by what their estimates under-guessed: an estimate is never below the real cost when the
request sets ``max_tokens`` and the prompt's price is known (the prompt is estimated at one
token per 4 characters of its JSON, which over-counts).

Spend per period lives in state counters, one per budget and period (so periods reset by
themselves); the ledger is the truth they are seeded from: the first time a process meets a
budget's counter for a period and it is absent, it is set from the spend ledger's total for
that period. Crossing a threshold (50/80/100 % by default) posts an alert to `webhook_url`,
once per budget, period and threshold across all instances.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import orjson

from litegate import Call, Gateway, GatewayError, Principal, StashKey, Usage, hookimpl
from litegate.config_types import Duration, Secret
from litegate.pricing import ModelPrice, call_cost, cost_of, default_table, load_table
from litegate.state import State, StateError
from litegate.state.give_backs import GiveBacks

from ._alerts import Alerts
from ._periods import PERIODS, Period, current_period

__all__ = ["RESERVED", "Budget", "BudgetPlugin", "StaticBudget"]

log = logging.getLogger("litegate.budget")

SCOPES = ("key", "user", "team", "org")


@attrs.frozen
class StaticBudget:
    #: Whose budget: "key" (the principal's id), "user", "team" or "org".
    scope: str = attrs.field(validator=attrs.validators.in_(SCOPES))
    #: The id it applies to (a static key's name, a team id, ...).
    id: str
    #: The cap, in USD.
    max_budget: float = attrs.field(validator=attrs.validators.ge(0))
    #: When spend starts again from 0: "daily", "weekly", "monthly" (UTC) or "none".
    period: str = attrs.field(default="none", validator=attrs.validators.in_(PERIODS))


@attrs.frozen
class Budget:
    scope: str
    id: str
    limit: Decimal
    period: str | None

    def describe(self) -> str:
        return f"{self.scope} '{self.id}'"


@attrs.frozen
class Reservation:
    budget: Budget
    key: str
    period: Period
    ttl: float | None


#: What the call reserved: its estimate and the budgets it was reserved on.
RESERVED = StashKey[tuple[Decimal, tuple[Reservation, ...]]]("budget.reserved")


@attrs.define
class _Runtime:
    """What start-up provides: the gateway, and the state backend."""

    gateway: Gateway | None = None
    state: State | None = None


class BudgetPlugin:
    @attrs.frozen
    class Config:
        #: The price table for estimates: as the cost plugin's `prices` (keep them the same).
        prices: str | None = None
        #: Budgets given here rather than in the database (static keys, fixed caps).
        budgets: list[StaticBudget] = attrs.field(factory=list)
        #: Also read the budgets set on virtual keys, users, teams and organizations.
        from_database: bool = True
        #: How long a budget read from the database is used before it is read again.
        cache_ttl: Duration = Duration(10)
        #: Where alerts are POSTed (JSON). Unset: alerts are only logged. Treated as a secret
        #: (webhook URLs often carry a token): never shown or logged.
        webhook_url: Secret | None = None
        #: Fractions of a budget whose crossing sends an alert (once per period each).
        thresholds: list[float] = attrs.field(factory=lambda: [0.5, 0.8, 1.0])
        #: How long one webhook POST may take.
        webhook_timeout: Duration = Duration(5)
        #: Completion tokens assumed for the estimate when a request sets no max_tokens.
        output_tokens_estimate: int = attrs.field(default=256, validator=attrs.validators.ge(0))
        #: Set a period's counter from the spend ledger the first time it is used.
        seed_from_ledger: bool = True
        #: How long money given back after a call (its estimate was above its real cost) may
        #: wait to be written, gathered per budget, before it is: the budget is stricter for
        #: that long, never looser, and a call it would refuse first writes it. 0 writes each
        #: at once (one more store write per call).
        give_back_delay: Duration = Duration(0.1)
        #: When the state backend or database can't be reached: refuse calls with 503
        #: (false, the default: money is not spent unchecked) or let them through (true,
        #: logged). See docs/security.md, "Dependency outages".
        fail_open: bool = False

    def __init__(self, config: Config) -> None:
        self.config = config
        url = config.webhook_url.reveal() if config.webhook_url else None
        self.alerts = Alerts(url, float(config.webhook_timeout))
        self._static: dict[tuple[str, str], Budget] = {
            (b.scope, b.id): Budget(b.scope, b.id, _decimal(b.max_budget), b.period)
            for b in config.budgets
        }
        self._runtime = _Runtime()
        delay = float(config.give_back_delay)
        self.give_backs = GiveBacks(delay) if delay > 0 else None
        # (scope, id) -> (expires, lookup); seeded counter keys -> their seeding.
        self._rows: dict[tuple[str, str], tuple[float, asyncio.Task[Budget | None]]] = {}
        self._seeded: dict[str, asyncio.Task[None]] = {}
        self._periods: dict[str | None, Period] = {}
        # Alert markers this process has seen set (so it checks each one once).
        self._alerted: set[str] = set()
        # alias -> the dearest price among its deployments (the estimate's, before routing).
        self._prices: dict[str, ModelPrice] = {}

    # -- lifecycle --------------------------------------------------------------------

    @hookimpl
    async def startup(self, gateway: Gateway) -> None:
        self._runtime.gateway = gateway
        self._runtime.state = await gateway.open_state()
        table = load_table(self.config.prices) if self.config.prices else default_table()
        for alias, deployments in gateway.deployments.items():
            prices = [p for d in deployments if (p := table.for_deployment(d)) is not None]
            if prices:
                self._prices[alias] = max(prices, key=_unit_price)

    @hookimpl
    async def shutdown(self) -> None:
        if self.give_backs is not None:
            await self.give_backs.aclose()
        await self.alerts.aclose()

    # -- before the call: reserve -------------------------------------------------------

    @hookimpl
    async def pre_call(self, call: Call) -> None:
        principal = call.principal
        if principal is None:
            return
        try:
            budgets = await self._budgets(principal)
            if not budgets:
                return
            estimate = self.estimate(call)
            reservations = await self._reserve(budgets, estimate)
        except (StateError, OSError, _DatabaseError) as exc:
            if self.config.fail_open:
                log.warning("budgets not enforced for call %s: %s", call.id, exc)
                return
            raise GatewayError(
                503,
                "Budgets can't be checked right now; try again shortly.",
                code="budget_unavailable",
            ) from None
        call.stash[RESERVED] = (estimate, reservations)

    def estimate(self, call: Call) -> Decimal:
        """The call's cost, guessed high: the prompt at one token per 4 characters of its
        JSON, and max_tokens (or `output_tokens_estimate`) completion tokens."""
        price = self._prices.get(call.alias)
        if price is None:
            return Decimal(0)
        request = call.request
        prompt = request.get("messages") or request.get("input") or request.get("prompt") or ""
        prompt_tokens = math.ceil(len(orjson.dumps(prompt)) / 4)
        completion = 0
        if call.endpoint in ("chat", "completions"):
            limit = request.get("max_completion_tokens") or request.get("max_tokens")
            completion = limit if isinstance(limit, int) else self.config.output_tokens_estimate
        usage = Usage(prompt_tokens, completion, prompt_tokens + completion)
        return cost_of(price, endpoint=call.endpoint, usage=usage, request=request)

    async def _reserve(self, budgets: list[Budget], estimate: Decimal) -> tuple[Reservation, ...]:
        state = self._state()
        now = datetime.now(UTC)
        done: list[Reservation] = []
        for budget in budgets:
            period = self._period(budget.period, now)
            key = f"budget:{budget.scope}:{budget.id}:{period.tag}"
            reservation = Reservation(budget, key, period, period.ttl(now))
            await self._seed(reservation)
            ok, total = await state.reserve(
                key, float(estimate), float(budget.limit), reservation.ttl
            )
            if not ok and self.give_backs is not None and self.give_backs.pending(key):
                # Money given back but not written yet may be what this call lacks.
                await self.give_backs.flush((key,))
                ok, total = await state.reserve(
                    key, float(estimate), float(budget.limit), reservation.ttl
                )
            if not ok:
                for taken in done:  # give back what the other budgets reserved
                    await state.incr_float(taken.key, -float(estimate), taken.ttl)
                raise _exceeded(budget, period, total)
            done.append(reservation)
        return tuple(done)

    def _period(self, kind: str | None, now: datetime) -> Period:
        # The same period serves every call until it ends: compute it once per period.
        period = self._periods.get(kind)
        if period is None or (period.resets_at is not None and now >= period.resets_at):
            period = self._periods[kind] = current_period(kind, now)
        return period

    # -- after the call: settle ---------------------------------------------------------

    @hookimpl
    async def on_success(self, call: Call) -> None:
        await self._settle(call)

    @hookimpl
    async def on_failure(self, call: Call) -> None:
        await self._settle(call)

    async def _settle(self, call: Call) -> None:
        reserved = call.stash.get(RESERVED)
        if reserved is None:
            return
        estimate, reservations = reserved
        actual = call_cost(call)
        delta = float(actual - estimate)
        state = self._state()
        for reservation in reservations:
            if delta < 0 and self.give_backs is not None:
                self.give_backs.add(reservation.key, delta, self._giver(reservation, actual))
                continue
            try:
                total = None
                if delta:
                    total = await state.incr_float(reservation.key, delta, reservation.ttl)
                if actual:
                    if total is None:
                        total = _float(await state.get(reservation.key))
                    await self._alert(reservation, total)
            except StateError as exc:
                # The counter keeps the estimate; the ledger still has the real cost.
                log.warning("budget of %s not settled: %s", reservation.budget.describe(), exc)

    def _giver(
        self, reservation: Reservation, actual: Decimal
    ) -> Callable[[float], Awaitable[None]]:
        """How `GiveBacks` writes a budget's gathered give-back, and then checks its alerts
        on the total, as a settle does."""

        async def give_back(amount: float) -> None:
            total = await self._state().incr_float(reservation.key, amount, reservation.ttl)
            if actual:
                await self._alert(reservation, total)

        return give_back

    async def _alert(self, reservation: Reservation, total: float) -> None:
        budget = reservation.budget
        if budget.limit <= 0:
            return
        used = total / float(budget.limit)
        for threshold in sorted(self.config.thresholds):
            if used + 1e-9 < threshold:
                break
            marker = f"budget-alert:{budget.scope}:{budget.id}:{reservation.period.tag}:{threshold}"
            if marker in self._alerted:
                continue  # this process saw it sent: no need to ask the state backend again
            self._alerted.add(marker)
            # Once per budget, period and threshold, whichever instance gets here first.
            if await self._state().incr(marker, 1, reservation.ttl) != 1:
                continue
            self.alerts.send(
                {
                    "type": "budget.threshold",
                    "scope": budget.scope,
                    "id": budget.id,
                    "threshold": threshold,
                    "spent": round(total, 10),
                    "max_budget": float(budget.limit),
                    "period": budget.period or "none",
                    "period_start": _iso(reservation.period.start),
                    "resets_at": _iso(reservation.period.resets_at),
                }
            )

    # -- which budgets apply ------------------------------------------------------------

    async def _budgets(self, principal: Principal) -> list[Budget]:
        wanted: list[tuple[str, str | None]] = [
            ("key", principal.id),
            ("user", principal.user),
            ("team", principal.team),
            ("org", principal.org),
        ]
        found = []
        for scope, ident in wanted:
            if ident is None:
                continue
            static = self._static.get((scope, ident))
            if static is not None:
                found.append(static)
            if self.config.from_database and (scope != "key" or principal.kind == "virtual"):
                row = await self._row_budget(scope, ident)
                if row is not None:
                    found.append(row)
        return found

    async def _row_budget(self, scope: str, ident: str) -> Budget | None:
        now = time.monotonic()
        cached = self._rows.get((scope, ident))
        if cached is None or cached[0] < now:
            task = asyncio.ensure_future(self._read_row(scope, ident))
            cached = (now + float(self.config.cache_ttl), task)
            self._rows[(scope, ident)] = cached
        task = cached[1]
        if task.done() and not task.cancelled() and task.exception() is None:
            return task.result()  # the usual case, without shield's bookkeeping
        try:
            return await asyncio.shield(task)
        except _DatabaseError:
            self._rows.pop((scope, ident), None)
            raise

    async def _read_row(self, scope: str, ident: str) -> Budget | None:
        from litegate.db import Organization, Team, User, VirtualKey

        model: Any = {"key": VirtualKey, "user": User, "team": Team, "org": Organization}[scope]
        try:
            db = await self._gateway().open_db()
            async with db.session() as session:
                row = await session.get(model, ident)
        except Exception as exc:
            raise _DatabaseError(f"reading the {scope} budget failed: {exc}") from None
        if row is None or row.max_budget is None:
            return None
        period = row.budget_period.value if row.budget_period is not None else None
        return Budget(scope, ident, Decimal(row.max_budget), period)

    async def _seed(self, reservation: Reservation) -> None:
        if not self.config.seed_from_ledger:
            return
        task = self._seeded.get(reservation.key)
        if task is not None and task.done() and not task.cancelled() and not task.exception():
            return  # seeded already: the usual case
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.ensure_future(self._seed_from_ledger(reservation))
            self._seeded[reservation.key] = task
        await asyncio.shield(task)

    async def _seed_from_ledger(self, reservation: Reservation) -> None:
        from litegate.db.queries.spend import total_spend

        state = self._state()
        if await state.get(reservation.key) is not None:
            return
        budget = reservation.budget
        try:
            db = await self._gateway().open_db()
            async with db.session() as session:
                spent = await total_spend(
                    session, start=reservation.period.start, **{f"{budget.scope}_id": budget.id}
                )
        except Exception as exc:
            raise _DatabaseError(f"reading spend from the ledger failed: {exc}") from None
        if spent:
            # Only where no other worker got there first (it seeded, or reserved already).
            await state.compare_and_set(
                reservation.key, None, str(float(spent)).encode(), reservation.ttl
            )

    def _state(self) -> State:
        state = self._runtime.state
        if state is None:
            raise StateError("the budget plugin has not started")
        return state

    def _gateway(self) -> Gateway:
        assert self._runtime.gateway is not None
        return self._runtime.gateway


class _DatabaseError(Exception):
    """The records database failed while reading budgets or spend."""


def _exceeded(budget: Budget, period: Period, total: float) -> GatewayError:
    spent = f"${total:,.2f} of ${float(budget.limit):,.2f}"
    if period.resets_at is None:
        when = "it does not reset"
        headers: dict[str, str] = {}
    else:
        when = f"it resets at {_iso(period.resets_at)}"
        headers = {"x-litegate-budget-reset": _iso(period.resets_at) or ""}
    window = f"this {budget.period} period" if budget.period else "in total"
    return GatewayError(
        429,
        f"The budget of {budget.describe()} is exhausted ({spent} spent {window}); {when}.",
        code="budget_exceeded",
        headers=headers,
    )


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value.isoformat())


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def _float(value: bytes | None) -> float:
    return float(value) if value else 0.0


def _unit_price(price: ModelPrice) -> Decimal:
    return (price.input or Decimal(0)) + (price.output or Decimal(0)) + (price.image or 0)

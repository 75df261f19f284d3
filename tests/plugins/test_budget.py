"""The budget plugin: reserve before, settle after, atomically in the state backend; 429
``budget_exceeded`` naming the budget and its reset; alerts at thresholds; periods."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from litegate import Principal
from litegate.db import Database, queries
from litegate.db.queries.spend import SpendEntry, insert_spend
from litegate.plugins.budget._periods import current_period

from .spend_support import PrincipalsPlugin, WebhookReceiver, ledger_rows, wait_for

PLUGINS = {"principals": PrincipalsPlugin}
#: The fake OpenAI upstream answers 5 completion tokens; at $1 a token, a call costs $5.
CALL_COST = 5
ASK = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


def _toml(upstream: str, *, kv: str, db: str, budget: str = "", spend: bool = False) -> str:
    ledger = '[[pipeline]]\nplugin = "spend"\nflush_interval = "50ms"\n' if spend else ""
    return f"""
[state]
kv = "{kv}"
db = "{db}"
prefix = "test-{uuid.uuid4().hex[:8]}:"

[[pipeline]]
plugin = "principals"

[[pipeline]]
plugin = "budget"
{budget}

[[pipeline]]
plugin = "cost"

{ledger}

[[models]]
name = "gpt"
provider = "openai"
model = "gpt-4o"
api_base = "{upstream}"
api_key = "sk-upstream"
# Round numbers: $1 per completion token, prompts free.
pricing = {{ input_per_million = 0, output_per_million = 1000000 }}
"""


async def _create_team(url: str, **fields) -> str:
    db = Database(url)
    await db.upgrade()
    await db.connect()
    try:
        async with db.session() as session:
            team = await queries.create_team(session, name=f"team-{uuid.uuid4().hex[:6]}", **fields)
            return team.id
    finally:
        await db.aclose()


async def _post_many(urls: list[str], token: str, count: int) -> list[httpx.Response]:
    """`count` calls at once, spread over the gateways at `urls`."""
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post(
                    urls[n % len(urls)] + "/v1/chat/completions",
                    json=ASK,
                    headers={"authorization": f"Bearer {token}"},
                )
                for n in range(count)
            )
        )


def test_budget_race(serve_gateway, fake_openai, records_url, tmp_path, request):
    """50 concurrent calls against a team budget with room for 5: exactly 5 succeed.

    Each call reserves its estimate ($5: max_tokens=5 at $1, prompts free) before going
    upstream and the real cost is the same $5, so in-flight estimates allow nothing beyond
    the budget: at most floor($25 / $5) = 5 calls can hold a reservation, ever.
    Runs on SQLite + diskcache and on PostgreSQL + Redis, with two gateways (each with its
    own plugins and connections) sharing the state and the records, the calls spread over
    both."""
    if records_url.startswith("postgresql"):
        kv = request.getfixturevalue("redis_url")
    else:
        kv = f"disk:{tmp_path}/kv"
    team = asyncio.run(_create_team(records_url, max_budget=Decimal(5 * CALL_COST)))
    PrincipalsPlugin.extra["k-race"] = Principal("k-race", "test", team=team)
    config = _toml(fake_openai.base_url, kv=kv, db=records_url, spend=True)
    servers = [serve_gateway(config, plugins=PLUGINS) for _ in range(2)]
    responses = asyncio.run(_post_many([s.url for s in servers], "k-race", 50))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 5, statuses
    refused = [r for r in responses if r.status_code == 429]
    assert len(refused) == 45
    error = refused[0].json()["error"]
    assert error["code"] == "budget_exceeded"
    assert f"team '{team}'" in error["message"] and "does not reset" in error["message"]
    # The ledger agrees: $25 spent, not a cent more.
    rows = wait_for(lambda: len(r := ledger_rows(records_url)) == 50 and r)
    assert sum(row.cost for row in rows.values()) == 5 * CALL_COST
    assert sorted(row.status for row in rows.values()).count("budget_exceeded") == 45


def test_exceeded_names_the_budget_and_when_it_resets(serve_gateway, fake_openai, tmp_path):
    budget = """budgets = [{ scope = "user", id = "alice", max_budget = 7, period = "daily" }]"""
    server = serve_gateway(
        _toml(fake_openai.base_url, kv="memory:", db=f"sqlite:///{tmp_path}/r.db", budget=budget),
        plugins=PLUGINS,
    )
    headers = {"authorization": "Bearer k-alice"}
    url = server.url + "/v1/chat/completions"
    assert httpx.post(url, json=ASK, headers=headers, timeout=30).status_code == 200
    refused = httpx.post(url, json=ASK, headers=headers, timeout=30)
    assert refused.status_code == 429
    error = refused.json()["error"]
    tomorrow = current_period("daily", datetime.now(UTC)).resets_at
    assert error["code"] == "budget_exceeded" and error["type"] == "rate_limit_error"
    assert error["message"] == (
        "The budget of user 'alice' is exhausted ($5.00 of $7.00 spent this daily period); "
        f"it resets at {tomorrow:%Y-%m-%dT%H:%M:%SZ}."
    )
    assert refused.headers["x-litegate-budget-reset"] == f"{tomorrow:%Y-%m-%dT%H:%M:%SZ}"
    # Another user of the same team is not held back by alice's budget.
    other = httpx.post(url, json=ASK, headers={"authorization": "Bearer k-bob"}, timeout=30)
    assert other.status_code == 200


def test_threshold_alerts_once_per_period(serve_gateway, fake_openai, tmp_path):
    with WebhookReceiver() as hook:
        budget = f"""webhook_url = "{hook.url}"
budgets = [{{ scope = "team", id = "t1", max_budget = 10, period = "monthly" }}]"""
        server = serve_gateway(
            _toml(
                fake_openai.base_url, kv="memory:", db=f"sqlite:///{tmp_path}/r.db", budget=budget
            ),
            plugins=PLUGINS,
        )
        url = server.url + "/v1/chat/completions"
        headers = {"authorization": "Bearer k-alice"}
        statuses = [
            httpx.post(url, json=ASK, headers=headers, timeout=30).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 429, 429]
        wait_for(lambda: len(hook.bodies) >= 3)
    alerts = sorted(hook.bodies, key=lambda body: body["threshold"])
    assert [(a["threshold"], a["spent"]) for a in alerts] == [(0.5, 5.0), (0.8, 10.0), (1.0, 10.0)]
    first = alerts[0]
    period = current_period("monthly", datetime.now(UTC))
    assert first["scope"] == "team" and first["id"] == "t1" and first["max_budget"] == 10.0
    assert first["period"] == "monthly" and first["period_start"] == period.start.isoformat()


def test_budget_seeded_from_the_ledger(serve_gateway, fake_openai, tmp_path):
    db_url = f"sqlite:///{tmp_path}/r.db"
    team = asyncio.run(_create_team(db_url, max_budget=Decimal(12), budget_period="monthly"))

    async def seed() -> None:
        db = Database(db_url)
        await db.connect()
        async with db.session() as session:
            await insert_spend(
                session,
                [
                    SpendEntry(request_id="old-1", alias="gpt", team_id=team, cost=Decimal(4)),
                    SpendEntry(request_id="old-2", alias="gpt", team_id=team, cost=Decimal(4)),
                    # Last year: another period, not counted.
                    SpendEntry(
                        request_id="old-3",
                        alias="gpt",
                        team_id=team,
                        cost=Decimal(100),
                        created_at=datetime(date.today().year - 1, 1, 1, tzinfo=UTC),
                    ),
                ],
            )
        await db.aclose()

    asyncio.run(seed())
    PrincipalsPlugin.extra["k-seeded"] = Principal("k-seeded", "test", team=team)
    server = serve_gateway(_toml(fake_openai.base_url, kv="memory:", db=db_url), plugins=PLUGINS)
    url = server.url + "/v1/chat/completions"
    headers = {"authorization": "Bearer k-seeded"}
    # $8 of $12 spent this month: room for no $5 call.
    refused = httpx.post(url, json=ASK, headers=headers, timeout=30)
    assert refused.status_code == 429, refused.text
    assert "$8.00 of $12.00 spent this monthly period" in refused.json()["error"]["message"]
    # A cheaper call (max_tokens=4: $4 estimated, $5 real) still fits the estimate.
    cheaper = httpx.post(url, json={**ASK, "max_tokens": 4}, headers=headers, timeout=30)
    assert cheaper.status_code == 200


def test_periods_reset_by_themselves():
    moment = datetime(2026, 2, 28, 23, 59, tzinfo=UTC)
    daily = current_period("daily", moment)
    assert (daily.tag, daily.start, daily.resets_at) == (
        "2026-02-28",
        date(2026, 2, 28),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    weekly = current_period("weekly", moment)  # a Saturday
    assert (weekly.tag, weekly.start, weekly.resets_at) == (
        "2026-W09",
        date(2026, 2, 23),
        datetime(2026, 3, 2, tzinfo=UTC),
    )
    monthly = current_period("monthly", datetime(2026, 12, 31, tzinfo=UTC))
    assert (monthly.tag, monthly.resets_at) == ("2026-12", datetime(2027, 1, 1, tzinfo=UTC))
    forever = current_period(None, moment)
    assert (forever.tag, forever.resets_at, forever.ttl(moment)) == ("all", None, None)
    # A new period is a new counter: the next day's calls start from zero.
    assert current_period("daily", datetime(2026, 3, 1, tzinfo=UTC)).tag != daily.tag
    assert daily.ttl(moment) == pytest.approx(60 + 86_400)


def test_a_period_rolls_over_in_a_gateway(make_gateway, monkeypatch, tmp_path):
    """Exhaust a daily budget, move the clock to the next day: calls go through again."""
    import litegate.plugins.budget as budget_module

    class Clock(datetime):
        now_value = datetime(2026, 5, 4, 12, tzinfo=UTC)

        @classmethod
        def now(cls, tz=None):
            return cls.now_value

    monkeypatch.setattr(budget_module, "datetime", Clock)
    gateway = make_gateway(
        f"""
[state]
kv = "memory:"
db = "sqlite:///{tmp_path}/r.db"

[[pipeline]]
plugin = "budget"
seed_from_ledger = false
budgets = [{{ scope = "key", id = "in-process", max_budget = 2, period = "daily" }}]

[[pipeline]]
plugin = "cost"

[[models]]
name = "m"
provider = "mock"
reply = "one two"
pricing = {{ input_per_million = 0, output_per_million = 1000000 }}
"""
    )
    ask = {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2}
    gateway.chat_sync(**ask)
    with pytest.raises(Exception) as refused:
        gateway.chat_sync(**ask)
    assert getattr(refused.value, "code", None) == "budget_exceeded"
    Clock.now_value = datetime(2026, 5, 5, 0, 0, 1, tzinfo=UTC)
    assert gateway.chat_sync(**ask)["choices"][0]["message"]["content"] == "one two"


async def test_a_refusal_gives_back_the_other_budgets_reservations(fake_openai, tmp_path):
    from litegate import Gateway, GatewayError

    budgets = """budgets = [
  { scope = "user", id = "alice", max_budget = 100 },
  { scope = "team", id = "t1", max_budget = 7, period = "weekly" },
]"""
    gateway = Gateway.from_toml(
        _toml(fake_openai.base_url, kv="memory:", db=f"sqlite:///{tmp_path}/r.db", budget=budgets),
        env={},
        plugins=PLUGINS,
    )
    async with gateway:
        state = await gateway.open_state()
        week = current_period("weekly", datetime.now(UTC)).tag

        async def ask() -> None:
            principal = Principal("k-alice", "test", user="alice", team="t1")
            call = gateway.new_call("chat", dict(ASK), principal=principal)
            run = await gateway.run(call)
            await run.finish()

        await ask()
        assert await state.get("budget:user:alice:all") == b"5"
        assert await state.get(f"budget:team:t1:{week}") == b"5"
        with pytest.raises(GatewayError) as refused:
            await ask()
        assert refused.value.code == "budget_exceeded" and "team 't1'" in refused.value.message
        # The user budget's reservation for the refused call was given back.
        assert await state.get("budget:user:alice:all") == b"5"
        assert await state.get(f"budget:team:t1:{week}") == b"5"


async def test_fail_open_or_closed_when_the_state_backend_fails(fake_openai, tmp_path):
    from litegate import Gateway, GatewayError
    from litegate.plugins.budget import BudgetPlugin
    from litegate.state import StateUnavailable

    for fail_open in (True, False):
        budget = f"""fail_open = {str(fail_open).lower()}
budgets = [{{ scope = "user", id = "alice", max_budget = 100 }}]"""
        gateway = Gateway.from_toml(
            _toml(
                fake_openai.base_url, kv="memory:", db=f"sqlite:///{tmp_path}/r.db", budget=budget
            ),
            env={},
            plugins=PLUGINS,
        )
        async with gateway:
            state = await gateway.open_state()

            async def down(*args, **kwargs):
                raise StateUnavailable("Redis at redis://127.0.0.1:1/0 did not answer")

            state._reserve = down  # type: ignore[method-assign]
            plugin = next(p for p in gateway.plugins if isinstance(p, BudgetPlugin))
            assert plugin.config.fail_open is fail_open
            call = gateway.new_call(
                "chat", dict(ASK), principal=Principal("k", "test", user="alice")
            )
            if fail_open:
                run = await gateway.run(call)
                await run.finish()
                assert call.status == 200
            else:
                with pytest.raises(GatewayError) as refused:
                    await gateway.run(call)
                assert refused.value.status == 503
                assert refused.value.code == "budget_unavailable"


def test_a_virtual_keys_budget_from_its_row(serve_gateway, fake_openai, tmp_path):
    db_url = f"sqlite:///{tmp_path}/r.db"

    async def make_key() -> str:
        db = Database(db_url)
        await db.upgrade()
        await db.connect()
        async with db.session() as session:
            key, _secret = await queries.create_key(session, name="ci", max_budget=Decimal(9))
        await db.aclose()
        return key.id

    key_id = asyncio.run(make_key())
    PrincipalsPlugin.extra["k-virtual"] = Principal(key_id, "virtual")
    server = serve_gateway(_toml(fake_openai.base_url, kv="memory:", db=db_url), plugins=PLUGINS)
    url = server.url + "/v1/chat/completions"
    headers = {"authorization": "Bearer k-virtual"}
    assert httpx.post(url, json=ASK, headers=headers, timeout=30).status_code == 200
    refused = httpx.post(url, json=ASK, headers=headers, timeout=30)
    assert refused.status_code == 429
    assert f"key '{key_id}'" in refused.json()["error"]["message"]


def test_money_given_back_later_never_refuses_a_call(serve_gateway, fake_openai, tmp_path):
    """Each call reserves $10 (max_tokens 10) and costs $5: the $5 it gives back waits (here
    up to 10 s), but a call the budget would refuse first writes it, so exactly the calls
    that fit succeed, as if every give-back were written at once."""
    budget = """give_back_delay = "10s"
budgets = [{ scope = "user", id = "alice", max_budget = 16, period = "daily" }]"""
    server = serve_gateway(
        _toml(fake_openai.base_url, kv="memory:", db=f"sqlite:///{tmp_path}/r.db", budget=budget),
        plugins=PLUGINS,
    )
    url = server.url + "/v1/chat/completions"
    headers = {"authorization": "Bearer k-alice"}
    ask = {**ASK, "max_tokens": 10}
    statuses = [httpx.post(url, json=ask, headers=headers, timeout=30) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    # $10 spent (two calls at $5) and the third's $10 estimate did not fit in the $6 left.
    assert "($10.00 of $16.00 spent" in statuses[2].json()["error"]["message"]

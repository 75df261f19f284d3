"""Spend reports: ``GET /admin/v1/spend`` (JSON and CSV) over a seeded ledger, each role
seeing what it covers; and ``litegate spend`` in the CLI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from litegate.cli import main
from litegate.db import Database
from litegate.db.queries.spend import SpendEntry, insert_spend

from .spend_support import PrincipalsPlugin

D1 = datetime(2026, 3, 1, 9, tzinfo=UTC)
D2 = datetime(2026, 3, 2, 17, tzinfo=UTC)
D3 = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)


def _row(n: int, at: datetime, key: str, user: str, team: str, org: str, model: str, cost: str):
    return SpendEntry(
        request_id=f"r{n}",
        alias=model,
        key_id=key,
        user_id=user,
        team_id=team,
        org_id=org,
        prompt_tokens=10 * n,
        completion_tokens=n,
        cost=Decimal(cost),
        created_at=at,
    )


LEDGER = [
    _row(1, D1, "k-alice", "alice", "t1", "o1", "gpt", "0.0100000001"),
    _row(2, D1, "k-alice", "alice", "t1", "o1", "claude", "1.25"),
    _row(3, D2, "k-bob", "bob", "t2", "o1", "gpt", "0.333"),
    _row(4, D2, "k-carol", "carol", "t3", "o2", "gpt", "2"),
    _row(5, D3, "k-alice", "alice", "t1", "o1", "gpt", "100"),  # outside March
]
MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def seeded(records_url):
    async def seed() -> None:
        db = Database(records_url)
        await db.upgrade()
        await db.connect()
        async with db.session() as session:
            await insert_spend(session, LEDGER)
        await db.aclose()

    asyncio.run(seed())
    return records_url


@pytest.fixture
def report(serve_gateway, seeded):
    server = serve_gateway(
        f"""
[state]
kv = "memory:"
db = "{seeded}"

[[pipeline]]
plugin = "principals"

[[pipeline]]
plugin = "spend"
""",
        plugins={"principals": PrincipalsPlugin},
    )

    def get(token: str | None, **params: str) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.get(server.url + "/admin/v1/spend", params=params, headers=headers, timeout=30)

    return get


def _sums(response: httpx.Response, by: str) -> dict[str, tuple[float, int]]:
    assert response.status_code == 200, response.text
    return {row[by]: (row["cost"], row["requests"]) for row in response.json()["data"]}


def test_sums_by_each_dimension(report):
    assert _sums(report("k-admin", group_by="team", **MARCH), "team") == {
        "t1": (1.2600000001, 2),
        "t2": (0.333, 1),
        "t3": (2.0, 1),
    }
    assert _sums(report("k-admin", group_by="user", **MARCH), "user") == {
        "alice": (1.2600000001, 2),
        "bob": (0.333, 1),
        "carol": (2.0, 1),
    }
    assert _sums(report("k-admin", group_by="model", **MARCH), "model") == {
        "claude": (1.25, 1),
        "gpt": (2.3430000001, 3),
    }
    assert _sums(report("k-admin", group_by="day", **MARCH), "day") == {
        "2026-03-01": (1.2600000001, 2),
        "2026-03-02": (2.333, 2),
    }
    keys = report("k-admin", group_by="key", start="2026-03-01", end="2026-04-30")
    assert _sums(keys, "key")["k-alice"] == (101.2600000001, 3)
    body = keys.json()
    assert body["total_requests"] == 5 and body["total_cost"] == pytest.approx(103.5930000001)
    assert (body["start"], body["end"], body["group_by"]) == ("2026-03-01", "2026-04-30", ["key"])


def test_csv_export(report):
    response = report("k-admin", group_by="team,day", format="csv", **MARCH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines() == [
        "team,day,cost,requests,prompt_tokens,completion_tokens,cached_tokens",
        "t1,2026-03-01,1.2600000001,2,30,3,0",
        "t2,2026-03-02,0.333,1,30,3,0",
        "t3,2026-03-02,2,1,40,4,0",
    ]


def test_each_role_sees_its_own(report):
    assert _sums(report("k-team1-admin", group_by="team", **MARCH), "team") == {
        "t1": (1.2600000001, 2)
    }
    assert report("k-team1-admin", group_by="team", team="t2", **MARCH).status_code == 403
    assert _sums(report("k-org1-admin", group_by="org", **MARCH), "org") == {
        "o1": (1.5930000001, 3)
    }
    assert _sums(report("k-org2-admin", group_by="team", **MARCH), "team") == {"t3": (2.0, 1)}
    assert set(_sums(report("k-viewer", group_by="org", **MARCH), "org")) == {"o1", "o2"}
    member = report("k-alice", group_by="team")
    assert member.status_code == 403 and member.json()["error"]["code"] == "insufficient_role"
    assert report(None, group_by="team").status_code == 401


def test_bad_requests(report):
    bad = report("k-admin", group_by="colour")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "group_by"
    assert report("k-admin", start="March").status_code == 400
    assert report("k-admin", start="2026-03-02", end="2026-03-01").status_code == 400


def test_cli(seeded, tmp_path, capsys):
    config = tmp_path / "pipeline.toml"
    config.write_text(f'[state]\ndb = "{seeded}"\n')
    args = ["spend", "--config", str(config), "--start", "2026-03-01", "--end", "2026-03-31"]
    assert main([*args, "--group-by", "team", "--csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "t1,1.2600000001,2,30,3,0",
        "t2,0.333,1,30,3,0",
        "t3,2,1,40,4,0",
    ]
    assert main([*args, "--group-by", "model", "--team", "t1"]) == 0
    out = capsys.readouterr().out
    assert "claude" in out and "total: $1.260000 over 2 request(s)" in out
    assert main([*args, "--group-by", "colour"]) == 2

"""PostgreSQL stopped and restarted during traffic (a server of the test's own: the shared
one serves other tests). Calls keep succeeding with bounded latency while it is down; the
spend ledger and the request log keep their rows queued and write them once it is back; the
gateway needs no restart."""

from __future__ import annotations

import time

import httpx
import pytest

from litegate.testing.private_postgres import private_postgres
from tests.plugins.spend_support import ledger_rows, wait_for

KEY = "sk-outage-master-0123456789"


def _toml(db: str) -> str:
    return f"""
[state]
kv = "memory:"
db = "{db}"

[[pipeline]]
plugin = "auth"
master_key = "{KEY}"

[[pipeline]]
plugin = "cost"

[[pipeline]]
plugin = "spend"
flush_interval = "50ms"
retry_interval = "200ms"

[[pipeline]]
plugin = "request_log"
flush_interval = "100ms"

[[models]]
name = "m"
provider = "mock"
"""


def _call(url: str) -> tuple[str, float]:
    started = time.monotonic()
    response = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hello"}]},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.headers["x-request-id"], time.monotonic() - started


@pytest.mark.services
@pytest.mark.timeout(240)
def test_postgres_stopped_and_restarted_under_traffic(serve_gateway):
    with private_postgres() as postgres:
        server = serve_gateway(_toml(postgres.url))
        before, _ = _call(server.url)
        wait_for(lambda: before in ledger_rows(postgres.url))

        postgres.stop()
        during = [_call(server.url) for _ in range(5)]
        # Nothing on the request path waits for the database.
        assert max(latency for _id, latency in during) < 2.0, during

        postgres.start()
        rows = wait_for(
            lambda: (r := ledger_rows(postgres.url)) and {i for i, _ in during} <= r.keys() and r,
            timeout=60,
        )
        assert rows[during[0][0]].status == "success"
        # Traffic after the restart is recorded as usual.
        after, _ = _call(server.url)
        wait_for(lambda: after in ledger_rows(postgres.url), timeout=30)
        # The request log caught up too.
        answer = httpx.get(
            server.url + "/admin/v1/requests",
            headers={"authorization": f"Bearer {KEY}"},
            params={"limit": 50},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        logged = {item["request_id"] for item in answer.json()["data"]}
        assert {i for i, _ in during} <= logged

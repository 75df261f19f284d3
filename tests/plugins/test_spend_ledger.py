"""The spend ledger writer: every call written off the request path, in batches; calls
succeed while the database is down and their rows are written once it is back; a full queue
drops and counts; shutdown flushes."""

from __future__ import annotations

import time

import httpx
import pytest

from litegate import Gateway
from litegate.plugins.spend import SpendPlugin
from litegate.testing import GatewayServer

from .spend_support import database_outage, ledger_rows, wait_for

KEY = "sk-test-master-0123456789"
ASK = {"model": "m", "messages": [{"role": "user", "content": "hello ledger"}]}


def _toml(db: str, **spend: object) -> str:
    options = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in spend.items())
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
{options}

[[models]]
name = "m"
provider = "mock"
pricing = {{ input_per_million = 1, output_per_million = 2 }}
"""


def _call(server: GatewayServer) -> str:
    response = httpx.post(
        server.url + "/v1/chat/completions",
        json=ASK,
        headers={"authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.headers["x-request-id"]


def _plugin(server: GatewayServer) -> SpendPlugin:
    return next(p for p in server.gateway.plugins if isinstance(p, SpendPlugin))


def test_calls_succeed_while_the_database_is_down(serve_gateway, records_url):
    server = serve_gateway(
        _toml(records_url, flush_interval="50ms", retry_interval="100ms"), plugins={}
    )
    plugin = _plugin(server)
    first = _call(server)
    wait_for(lambda: first in ledger_rows(records_url))
    with database_outage(records_url):
        started = time.monotonic()
        during = [_call(server) for _ in range(3)]
        # The calls did not wait for the database (SQLite waits 5 s for a lock per write).
        assert time.monotonic() - started < 4.5
        # (A call's row is queued just after its response is sent: wait for it.)
        wait_for(lambda: plugin.counts["failed_writes"] >= 1 and plugin.queued == 3)
    rows = wait_for(lambda: (r := ledger_rows(records_url)) and len(r) == 4 and r)
    assert set(during) <= rows.keys()
    assert all(row.cost > 0 and row.status == "success" for row in rows.values())
    assert plugin.queued == 0 and plugin.dropped == 0


class _Recorder:
    def __init__(self) -> None:
        self.added: list[int] = []

    def add(self, amount: int, attributes: object = None) -> None:
        self.added.append(amount)


def test_a_full_queue_drops_and_counts(serve_gateway, tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path}/records.db"
    server = serve_gateway(
        _toml(db, flush_interval="50ms", retry_interval="100ms", max_queue=2), plugins={}
    )
    plugin = _plugin(server)
    metric = _Recorder()
    monkeypatch.setattr(plugin, "_dropped_metric", metric)
    first = _call(server)
    wait_for(lambda: first in ledger_rows(db))
    with database_outage(db):
        during = [_call(server) for _ in range(4)]
        wait_for(lambda: plugin.dropped == 2)
        assert metric.added == [1, 1] and plugin.queued == 2
    rows = wait_for(lambda: (r := ledger_rows(db)) and len(r) == 3 and r)
    # The first two waited and were written; the last two were dropped.
    assert set(during[:2]) <= rows.keys() and not set(during[2:]) & rows.keys()


def test_shutdown_writes_what_is_queued(tmp_path):
    db = f"sqlite:///{tmp_path}/records.db"
    gateway = Gateway.from_toml(_toml(db, flush_interval="1h"), env={})
    with GatewayServer(gateway) as server:
        ids = [_call(server) for _ in range(3)]
        # A call's row is queued just after its response is sent: wait for the last one.
        wait_for(lambda: _plugin(server).queued == 3)
    assert set(ids) <= ledger_rows(db).keys()


@pytest.mark.parametrize("batch_size", [1, 2])
def test_batches(make_gateway, tmp_path, batch_size):
    db = f"sqlite:///{tmp_path}/records.db"
    gateway = make_gateway(_toml(db, flush_interval="1h", batch_size=batch_size))
    for _ in range(3):
        gateway.chat_sync(**ASK)
    gateway.close()
    rows = ledger_rows(db)
    assert len(rows) == 3
    assert {row.key_id for row in rows.values()} == {"in-process"}


def test_a_reused_client_request_id_still_gets_its_own_rows(serve_gateway, tmp_path):
    db = f"sqlite:///{tmp_path}/records.db"
    server = serve_gateway(_toml(db, flush_interval="50ms"), plugins={})
    for _ in range(2):
        response = httpx.post(
            server.url + "/v1/chat/completions",
            json=ASK,
            headers={"authorization": f"Bearer {KEY}", "x-request-id": "client-chosen-1"},
            timeout=30,
        )
        assert response.headers["x-request-id"] == "client-chosen-1"
    rows = wait_for(lambda: (r := ledger_rows(db)) and len(r) == 2 and r)
    assert all(request_id.startswith("client-chosen-1:") for request_id in rows)

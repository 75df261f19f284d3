"""The request log plugin: rows written in batches off the request path, on SQLite and
PostgreSQL; GET /admin/v1/requests with filters, pagination and roles; retention; bodies only
when asked for, redacted."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx

from litegate.db.queries.requestlog import delete_requests_before, insert_requests, list_requests
from litegate.plugins.request_log import RequestLogPlugin

MASTER = "sk-master-requestlog"
ADMIN = {"authorization": f"Bearer {MASTER}"}
MEMBER_KEY = "sk-member-requestlog"


def toml(db: str, extra: str = "") -> str:
    return f"""
[state]
db = "{db}"

[[pipeline]]
plugin = "auth"
master_key = "{MASTER}"
keys = [{{ name = "member-key", key = "{MEMBER_KEY}" }}, {{ name = "viewer-key", key = "sk-viewer-requestlog", role = "viewer" }}]

[[pipeline]]
plugin = "request_log"
flush_interval = "50ms"
{extra}

[[models]]
name = "m"
provider = "mock"

[[models]]
name = "other"
provider = "mock"
"""


def chat(url: str, model: str, key: str = MASTER, content: str = "hi") -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": content}]},
        timeout=30,
    )


def rows(url: str, headers=ADMIN, **params) -> httpx.Response:
    return httpx.get(url + "/admin/v1/requests", headers=headers, params=params, timeout=30)


def wait_rows(url: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        data = rows(url, limit=1000).json()["data"]
        if len(data) >= count:
            return data
        time.sleep(0.1)
    raise AssertionError(f"expected {count} rows")


def test_rows_filters_and_pages(serve_gateway, records_url):
    server = serve_gateway(toml(records_url))
    for _ in range(3):
        assert chat(server.url, "m").status_code == 200
    assert (
        chat(server.url, "other", key=MEMBER_KEY, content="my mail is a@b.example").status_code
        == 200
    )
    assert chat(server.url, "missing").status_code == 404
    data = wait_rows(server.url, 5)
    assert len(data) == 5
    newest = data[0]
    assert newest["model"] == "missing" and newest["status"] == 404
    assert newest["error_code"] == "model_not_found"
    ok = data[-1]
    assert ok["model"] == "m" and ok["status"] == 200 and ok["provider"] == "mock"
    assert ok["deployment"] == "m#0" and ok["key_id"] == "master"
    assert ok["prompt_tokens"] > 0 and ok["latency_ms"] >= 0 and ok["body"] is None
    assert all("a@b.example" not in str(row) for row in data)  # no bodies by default

    assert [r["model"] for r in rows(server.url, model="other").json()["data"]] == ["other"]
    assert len(rows(server.url, status="200").json()["data"]) == 4
    assert len(rows(server.url, status="4xx").json()["data"]) == 1
    assert [r["key_id"] for r in rows(server.url, key="member-key").json()["data"]] == [
        "member-key"
    ]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert rows(server.url, since=future).json()["data"] == []
    assert len(rows(server.url, until=future).json()["data"]) == 5

    first = rows(server.url, limit=2).json()
    second = rows(server.url, limit=2, cursor=first["next_cursor"]).json()
    third = rows(server.url, limit=2, cursor=second["next_cursor"]).json()
    ids = [r["id"] for page in (first, second, third) for r in page["data"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    assert third["next_cursor"] is None

    assert rows(server.url, headers={}).status_code == 401
    assert rows(server.url, headers={"authorization": f"Bearer {MEMBER_KEY}"}).status_code == 403
    assert (
        rows(server.url, headers={"authorization": "Bearer sk-viewer-requestlog"}).status_code
        == 200
    )
    assert rows(server.url, since="yesterday").status_code == 400


def test_bodies_only_when_asked_and_redacted(serve_gateway, tmp_path):
    server = serve_gateway(toml(f"sqlite:///{tmp_path}/r.db", "include_bodies = true"))
    assert (
        chat(
            server.url, "m", content="mail me at jane@corp.example, key sk-abcdefghijkl1234"
        ).status_code
        == 200
    )
    [row] = wait_rows(server.url, 1)
    text = str(row["body"])
    assert "mail me at" in text
    assert "jane@corp.example" not in text and "sk-abcdefghijkl1234" not in text
    assert "[REDACTED]" in text


def test_rows_are_written_in_batches_off_the_request_path(make_gateway, tmp_path):
    gateway = make_gateway(
        toml(f"sqlite:///{tmp_path}/r.db", "").replace(
            'flush_interval = "50ms"', 'flush_interval = "1h"\nbatch_size = 10'
        )
    )

    async def main() -> None:
        async with gateway:
            [plugin] = [p for p in gateway.plugins if isinstance(p, RequestLogPlugin)]
            db = await gateway.open_db()
            for _ in range(3):
                await gateway.chat(model="m", messages=[{"role": "user", "content": "x"}])
            assert len(plugin.queue) == 3  # queued, not yet written
            async with db.session() as session:
                assert (await list_requests(session)).items == []
            for _ in range(7):  # the 10th row wakes the writer
                await gateway.chat(model="m", messages=[{"role": "user", "content": "x"}])
            # The queue empties when the writer takes the batch, before its commit: wait for
            # the rows themselves (generously: the machine is shared).
            written = 0
            for _ in range(500):
                await asyncio.sleep(0.02)
                async with db.session() as session:
                    written = len((await list_requests(session)).items)
                if written == 10:
                    break
            assert written == 10
            await gateway.chat(model="m", messages=[{"role": "user", "content": "x"}])
        # Shutdown writes what is left.
        async with gateway:
            db = await gateway.open_db()
            async with db.session() as session:
                assert len((await list_requests(session)).items) == 11

    asyncio.run(main())


async def test_retention_deletes_old_rows(make_gateway, records_url):
    gateway = make_gateway(toml(records_url))
    db = await gateway.open_db()
    now = datetime.now(UTC)
    base = {
        "request_id": "r", "endpoint": "chat", "model": "m", "status": 200, "stream": False,
        "cache_hit": False, "prompt_tokens": 1, "completion_tokens": 1, "attempts": 1,
    }  # fmt: skip
    async with db.session() as session:
        await insert_requests(
            session,
            [{**base, "at": now - timedelta(days=40)}, {**base, "at": now - timedelta(days=1)}],
        )
    async with db.session() as session:
        assert await delete_requests_before(session, now - timedelta(days=30)) == 1
    async with db.session() as session:
        assert len((await list_requests(session)).items) == 1
    # The plugin's retention task runs at start-up.
    async with db.session() as session:
        await insert_requests(session, [{**base, "at": now - timedelta(days=31)}])
    await gateway.start()
    for _ in range(100):
        async with db.session() as session:
            if len((await list_requests(session)).items) == 1:
                break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("old row not deleted")
    await gateway.aclose()

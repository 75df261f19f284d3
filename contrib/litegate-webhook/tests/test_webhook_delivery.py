"""The webhook plugin against a real HTTP receiver: fields, batching, retries, drops, shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import openai
import pytest

from litegate import Gateway, GatewayError
from litegate.testing import free_port, make_call

HELLO = [{"role": "user", "content": "hello there"}]


async def calls(gateway: Gateway, count: int) -> None:
    for _ in range(count):
        await gateway.chat(model="m", messages=HELLO)


def test_events_carry_the_same_fields_as_the_log_line(
    make_gateway, webhook_toml, receiver, tmp_path: Path
) -> None:
    log_path = tmp_path / "access.log"
    logging_first = f'[[pipeline]]\nplugin = "logging"\npath = "{log_path}"\n'
    gateway = make_gateway(webhook_toml(receiver.url, before=logging_first))

    async def scenario() -> None:
        async with gateway:
            await gateway.chat(model="m", messages=HELLO)
            with pytest.raises(GatewayError):
                await gateway.chat(model="no-such-model", messages=HELLO)
            stream = await gateway.chat(model="m", messages=HELLO, stream=True)
            _ = [chunk async for chunk in stream]

    asyncio.run(scenario())
    logged = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert receiver.events == logged
    ok, failed, streamed = receiver.events
    assert ok["status"] == 200 and ok["model"] == "m" and ok["provider"] == "mock"
    assert ok["prompt_tokens"] > 0 and ok["total_tokens"] > ok["prompt_tokens"]
    assert "error_code" not in ok and "messages" not in ok
    assert failed["status"] == 404 and failed["error_code"] == "model_not_found"
    assert streamed["stream"] is True and streamed["completion_tokens"] > 0


def test_http_calls_are_delivered_with_their_request_ids(serve_gateway, webhook_toml, receiver):
    server = serve_gateway(webhook_toml(receiver.url, flush_interval="20ms"))
    with openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0) as client:
        client.chat.completions.create(
            model="m", messages=HELLO, extra_headers={"x-request-id": "req-1"}
        )
        stream = client.chat.completions.create(
            model="m",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"x-request-id": "req-2"},
        )
        for _chunk in stream:
            pass
        # Delivered while the gateway keeps running: the flush interval, not shutdown, sent it.
        events = receiver.wait_for_events(2)
    assert [e["request_id"] for e in events] == ["req-1", "req-2"]
    assert [e["stream"] for e in events] == [False, True]
    assert all(e["status"] == 200 and e["total_tokens"] > 0 for e in events)


def test_a_full_batch_goes_out_at_once_and_shutdown_flushes_the_rest(
    make_gateway, webhook_toml, receiver
):
    gateway = make_gateway(webhook_toml(receiver.url, batch_size=2, flush_interval="1h"))

    async def scenario() -> None:
        async with gateway:
            await calls(gateway, 5)
            # No interval will pass: only full batches may go out before shutdown.
            await asyncio.to_thread(receiver.wait_for_events, 4)
            assert [len(batch) for batch in receiver.batches] == [2, 2]

    asyncio.run(scenario())
    assert [len(batch) for batch in receiver.batches] == [2, 2, 1]
    assert len({e["request_id"] for e in receiver.events}) == 5
    stats = gateway.plugins[0].stats
    assert (stats.queued, stats.sent, stats.batches_sent, stats.failed) == (5, 5, 3, 0)


def test_a_partial_batch_goes_out_after_the_flush_interval(make_gateway, webhook_toml, receiver):
    gateway = make_gateway(webhook_toml(receiver.url, batch_size=100, flush_interval="50ms"))

    async def scenario() -> None:
        async with gateway:
            await calls(gateway, 3)
            # Delivered while the gateway runs: the interval, not shutdown, sent them.
            await asyncio.to_thread(receiver.wait_for_events, 3)
            assert len(receiver.events) == 3

    asyncio.run(scenario())
    assert len(receiver.batches) <= 2  # the calls may straddle one interval's end


def test_retries_after_503_and_sends_the_configured_headers(make_gateway, webhook_toml, receiver):
    receiver.fail_next(2, status=503)
    gateway = make_gateway(
        webhook_toml(
            receiver.url,
            flush_interval="10ms",
            retry_backoff="10ms",
            max_retries=3,
            headers={"authorization": "Bearer ${HOOK_TOKEN}"},
        ),
        env={"HOOK_TOKEN": "tok-123"},
    )

    async def scenario() -> None:
        async with gateway:
            await calls(gateway, 1)
            await asyncio.to_thread(receiver.wait_for_events, 1)

    asyncio.run(scenario())
    assert len(receiver.events) == 1
    assert len(receiver.requests) == 3
    assert all(r["authorization"] == "Bearer tok-123" for r in receiver.requests)
    assert all(r["content-type"] == "application/json" for r in receiver.requests)
    stats = gateway.plugins[0].stats
    assert (stats.sent, stats.retries, stats.failed) == (1, 2, 0)


def test_gives_up_after_max_retries_without_logging_secrets(
    make_gateway, webhook_toml, receiver, caplog
):
    receiver.fail_next(10, status=500)
    gateway = make_gateway(
        webhook_toml(
            receiver.url + "?token=in-the-url",
            flush_interval="10ms",
            retry_backoff="10ms",
            max_retries=2,
            headers={"x-api-key": "top-secret-value"},
        )
    )

    async def scenario() -> None:
        async with gateway:
            await calls(gateway, 2)

    with caplog.at_level(logging.DEBUG, logger="litegate"):
        asyncio.run(scenario())
    stats = gateway.plugins[0].stats
    assert (stats.sent, stats.failed, stats.batches_failed, stats.retries) == (0, 2, 1, 2)
    assert len(receiver.requests) == 3
    assert "gave up on a batch of 2 event(s) after 3 attempt(s): HTTP 500" in caplog.text
    assert "top-secret-value" not in caplog.text
    assert "in-the-url" not in caplog.text
    assert "top-secret-value" not in repr(gateway.plugins[0].config)


def test_a_client_error_is_not_retried(make_gateway, webhook_toml, receiver):
    receiver.fail_next(1, status=400)
    gateway = make_gateway(webhook_toml(receiver.url, flush_interval="10ms", retry_backoff="10ms"))

    async def scenario() -> None:
        async with gateway:
            await calls(gateway, 1)

    asyncio.run(scenario())
    stats = gateway.plugins[0].stats
    assert (len(receiver.requests), stats.retries, stats.failed) == (1, 0, 1)


def test_a_full_queue_drops_new_events_and_counts_them(make_gateway, webhook_toml, caplog):
    nobody_listens = f"http://127.0.0.1:{free_port()}/events"
    gateway = make_gateway(
        webhook_toml(
            nobody_listens,
            max_queue=3,
            batch_size=100,
            flush_interval="1h",
            max_retries=1,
            retry_backoff="10ms",
        )
    )
    plugin = gateway.plugins[0]

    async def scenario() -> None:
        async with gateway:
            await calls(gateway, 5)
            assert (plugin.stats.queued, plugin.stats.dropped) == (3, 2)

    with caplog.at_level(logging.WARNING, logger="litegate.webhook"):
        asyncio.run(scenario())
    full = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(full) == 1  # one warning per run of drops, not one per event
    # Shutdown tried the receiver, found nobody, retried once and gave up on the three.
    assert (plugin.stats.sent, plugin.stats.failed, plugin.stats.retries) == (0, 3, 1)
    assert "ConnectError" in caplog.text


def test_the_queue_takes_events_again_once_it_drained(make_gateway, webhook_toml, receiver, caplog):
    gateway = make_gateway(
        webhook_toml(receiver.url, max_queue=2, batch_size=2, flush_interval="1h")
    )
    plugin = gateway.plugins[0]

    async def scenario() -> None:
        async with gateway:
            # Three events with no await between them: the sender can't run before the third.
            for _ in range(3):
                plugin.on_success(make_call({"model": "m", "messages": HELLO}))
            await asyncio.to_thread(receiver.wait_for_events, 2)
            plugin.on_success(make_call({"model": "m", "messages": HELLO}))

    with caplog.at_level(logging.WARNING, logger="litegate.webhook"):
        asyncio.run(scenario())
    assert (plugin.stats.dropped, plugin.stats.sent) == (1, 3)
    assert [len(batch) for batch in receiver.batches] == [2, 1]
    assert "1 event(s) were dropped while it was full" in caplog.text


def test_shutdown_gives_up_at_its_deadline(make_gateway, webhook_toml, receiver, caplog):
    receiver.fail_next(100)
    gateway = make_gateway(
        webhook_toml(
            receiver.url,
            flush_interval="1h",
            max_retries=50,
            retry_backoff="100ms",
            shutdown_timeout="300ms",
        )
    )

    async def scenario() -> float:
        async with gateway:
            await calls(gateway, 4)
            started = time.monotonic()
        return time.monotonic() - started

    with caplog.at_level(logging.WARNING, logger="litegate.webhook"):
        took = asyncio.run(scenario())
    assert took < 2
    assert gateway.plugins[0].stats.failed == 4
    assert "shutdown gave up after 0.3s; 4 event(s) were not delivered" in caplog.text


def test_messages_are_sent_only_when_asked(make_gateway, webhook_toml, receiver):
    gateway = make_gateway(webhook_toml(receiver.url, include_messages=True))

    async def scenario() -> None:
        async with gateway:
            await calls(gateway, 1)

    asyncio.run(scenario())
    assert receiver.events[0]["messages"] == HELLO


def test_chat_sync_delivers_at_close(make_gateway, webhook_toml, receiver):
    # The README's example: the private loop of chat_sync runs the sender only when asked.
    gateway = make_gateway(webhook_toml(receiver.url))
    gateway.chat_sync(model="m", messages=HELLO)
    gateway.close()
    assert [e["status"] for e in receiver.events] == [200]

"""JSON log records carry the request id and trace id of the request being served; the
access log line carries the trace id too, and logged bodies are redacted."""

from __future__ import annotations

import json
import logging

from litegate import Gateway
from litegate.logs import REQUEST_ID, TRACE_ID, JsonFormatter
from litegate.plugins.access_log import redact

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_json_records_carry_request_and_trace_ids():
    record = logging.LogRecord(
        "litegate.x", logging.WARNING, __file__, 1, "hello %s", ("you",), None
    )
    plain = json.loads(JsonFormatter().format(record))
    assert plain["message"] == "hello you" and plain["level"] == "warning"
    assert "request_id" not in plain
    request_token, trace_token = REQUEST_ID.set("req-1"), TRACE_ID.set("abc")
    try:
        fields = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(request_token)
        TRACE_ID.reset(trace_token)
    assert fields["request_id"] == "req-1" and fields["trace_id"] == "abc"


async def test_access_lines_have_the_trace_id_and_redacted_messages(tmp_path):
    log = tmp_path / "calls.log"
    toml = f"""
[[pipeline]]
plugin = "tracing"
exporter = "none"

[[pipeline]]
plugin = "logging"
path = "{log}"
include_messages = true

[[models]]
name = "m"
provider = "mock"
"""
    async with Gateway.from_toml(toml, {}) as gw:
        messages = [{"role": "user", "content": "I am bob@example.com, token sk-live-abcdefghijkl"}]
        call = gw.new_call(
            "chat", {"model": "m", "messages": messages}, headers={"traceparent": TRACEPARENT}
        )
        run = await gw.run(call)
        await run.finish()
    [line] = log.read_text().splitlines()
    fields = json.loads(line)
    assert fields["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert "bob@example.com" not in line and "sk-live-abcdefghijkl" not in line
    assert "I am [REDACTED]" in line


def test_redact_covers_common_secrets():
    text = redact(
        {
            "a": "Authorization: Bearer abcdefghijklmnop",
            "b": ["AKIAABCDEFGHIJKLMNOP", "card 4111 1111 1111 1111", "eyJhbGciOi.eyJzdWIiOi.sig"],
            "c": 3,
        }
    )
    assert "abcdefghijklmnop" not in str(text) and "AKIA" not in str(text)
    assert "4111" not in str(text) and "eyJhbGciOi" not in str(text)
    assert text["c"] == 3


def upper_redactor(value):
    """A stand-in for a PII engine's redactor (loaded by name in the next test)."""
    return "CUSTOM"


async def test_a_named_redactor_replaces_the_built_in_one(tmp_path):
    log = tmp_path / "calls.log"
    toml = f"""
[[pipeline]]
plugin = "logging"
path = "{log}"
include_messages = true
redactor = "tests.core.test_logs:upper_redactor"

[[models]]
name = "m"
provider = "mock"
"""
    async with Gateway.from_toml(toml, {}) as gw:
        await gw.chat(model="m", messages=[{"role": "user", "content": "secret stuff"}])
    fields = json.loads(log.read_text().splitlines()[0])
    assert fields["messages"] == "CUSTOM"


def test_a_bad_redactor_name_stops_start_up():
    import pytest

    from litegate.config_errors import ConfigError

    with pytest.raises(ConfigError) as info:
        Gateway.from_toml('[[pipeline]]\nplugin = "logging"\nredactor = "nope.nothing:here"\n', {})
    assert "redactor" in info.value.render()

"""The pii plugin over real HTTP, with the openai SDK as the client and an upstream that
echoes what it receives (so what it saw is what the client would get back unmasked)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx
import openai
import pytest

from litegate.testing.sdk import assemble_stream

from .echo_upstream import EchoUpstream

KEY = "sk-gateway-test"
EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
SSN = "123-45-6789"
PHONE = "+1 212-736-5000"
AWS = "AKIAIOSFODNN7EXAMPLE"
PROMPT = f"Write to {EMAIL} or call {PHONE}; card {CARD}, SSN {SSN}, key {AWS}."
ORIGINALS = (EMAIL, CARD, SSN, PHONE, AWS, "jane.doe", "4111")


def toml(upstream: EchoUpstream, pii: str = "", log: str = "") -> str:
    logging_entry = f'[[pipeline]]\nplugin = "logging"\npath = "{log}"\n' if log else ""
    return f"""
[[pipeline]]
plugin = "auth"
master_key = "{KEY}"
keys = [{{ name = "support-bot", key = "sk-support" }}]

[[pipeline]]
plugin = "pii"
{pii}

{logging_entry}

[[models]]
name = "echo"
provider = "openai"
model = "echo-3"
api_base = "{upstream.base_url}"
api_key = "sk-upstream"

[[models]]
name = "echo-1"
provider = "openai"
model = "echo-1"
api_base = "{upstream.base_url}"
api_key = "sk-upstream"

[[models]]
name = "tool"
provider = "openai"
model = "tool-send_mail"
api_base = "{upstream.base_url}"
api_key = "sk-upstream"

[[models]]
name = "embed"
provider = "openai"
model = "text-embedding-3-small"
api_base = "{upstream.base_url}"
api_key = "sk-upstream"
"""


def client(server, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def wait_lines(path: Path, count: int) -> str:
    """The access log once it has `count` lines (written just after each response)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if len(text.splitlines()) >= count:
            return text
        time.sleep(0.02)
    raise AssertionError(f"the access log has fewer than {count} lines")


def assert_never_seen(upstream: EchoUpstream, *values: str) -> None:
    sent = upstream.sent()
    for value in values:
        assert value not in sent, f"the upstream saw {value!r}"


# -- mask ---------------------------------------------------------------------------------


def test_mask_round_trip(serve_gateway, echo):
    server = serve_gateway(toml(echo))
    with client(server) as sdk:
        reply = sdk.chat.completions.create(model="echo", messages=ask(PROMPT))
    assert reply.choices[0].message.content == PROMPT
    seen = echo.requests[-1]["messages"][0]["content"]
    assert seen == (
        "Write to <EMAIL_1> or call <PHONE_1>; card <CREDIT_CARD_1>, SSN <US_SSN_1>, "
        "key <SECRET_1>."
    )
    assert_never_seen(echo, *ORIGINALS)


@pytest.mark.parametrize("model", ["echo", "echo-1"])
def test_mask_round_trip_in_a_stream_split_across_chunks(serve_gateway, echo, model):
    # echo-3 cuts "<EMAIL_1>" as "<EM" "AIL" "_1>"; echo-1 sends one character a chunk.
    server = serve_gateway(toml(echo))
    with client(server) as sdk:
        chunks = list(
            sdk.chat.completions.create(
                model=model,
                messages=ask(PROMPT),
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    streamed = assemble_stream(chunks)
    assert streamed.text == PROMPT
    assert streamed.finish_reason == "stop" and streamed.usage.total_tokens == 10
    assert_never_seen(echo, *ORIGINALS)
    # No chunk carried a piece of a placeholder: pieces were held until whole.
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            assert "<EM" not in chunk.choices[0].delta.content


def test_the_same_value_gets_the_same_placeholder_across_messages(serve_gateway, echo):
    server = serve_gateway(toml(echo))
    messages = [
        {"role": "system", "content": f"The user is {EMAIL}."},
        {"role": "user", "content": [{"type": "text", "text": f"Mail {EMAIL} and b@c.io"}]},
    ]
    with client(server) as sdk:
        reply = sdk.chat.completions.create(model="echo", messages=messages)
    assert reply.choices[0].message.content == f"Mail {EMAIL} and b@c.io"
    seen = echo.requests[-1]["messages"]
    assert seen[0]["content"] == "The user is <EMAIL_1>."
    assert seen[1]["content"][0]["text"] == "Mail <EMAIL_1> and <EMAIL_2>"


def test_tool_results_are_masked_and_tool_call_arguments_restored(serve_gateway, echo):
    server = serve_gateway(toml(echo))
    messages = [
        {"role": "user", "content": "Look up the customer."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": f"customer: {EMAIL}, {SSN}"},
    ]
    with client(server) as sdk:
        reply = sdk.chat.completions.create(model="tool", messages=messages)
    assert_never_seen(echo, EMAIL, SSN)
    assert echo.requests[-1]["messages"][2]["content"] == "customer: <EMAIL_1>, <US_SSN_1>"
    arguments = json.loads(reply.choices[0].message.tool_calls[0].function.arguments)
    assert arguments == {"text": f"customer: {EMAIL}, {SSN}"}


@pytest.mark.parametrize("model", ["echo", "tool"])
def test_placeholders_written_as_json_escapes_are_restored_too(serve_gateway, echo, model):
    # An answer without a "<" is passed on unparsed; one whose JSON writes it as \u003c (Go's
    # encoder does, also inside tool call arguments: \\u003c there) must still be restored.
    echo.escape_html = True
    server = serve_gateway(toml(echo))
    with client(server) as sdk:
        reply = sdk.chat.completions.create(model=model, messages=ask(f"Mail {EMAIL} today."))
    message = reply.choices[0].message
    if model == "tool":
        arguments = json.loads(message.tool_calls[0].function.arguments)
        assert arguments == {"text": f"Mail {EMAIL} today."}
    else:
        assert message.content == f"Mail {EMAIL} today."
    assert_never_seen(echo, EMAIL)


def test_an_answer_without_placeholders_goes_out_as_the_upstream_sent_it(serve_gateway, echo):
    server = serve_gateway(toml(echo))
    echo.answers["echo-3"] = "Nothing to restore here."
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {KEY}"}) as http:
        response = http.post(
            "/v1/chat/completions", json={"model": "echo", "messages": ask(f"Mail {EMAIL}.")}
        )
    assert response.status_code == 200
    # The upstream's own bytes: the answer was neither changed nor re-encoded.
    assert response.content == echo.last_answer
    assert response.json()["choices"][0]["message"]["content"] == "Nothing to restore here."


def test_embeddings_inputs_are_masked(serve_gateway, echo):
    server = serve_gateway(toml(echo))
    with client(server) as sdk:
        result = sdk.embeddings.create(model="embed", input=[f"mail {EMAIL}", "plain"])
    assert len(result.data) == 2
    assert echo.requests[-1]["input"] == ["mail <EMAIL_1>", "plain"]


def test_text_that_looks_like_a_placeholder_is_left_alone(serve_gateway, echo):
    server = serve_gateway(toml(echo))
    text = f"Template <EMAIL_1> goes to {EMAIL}"
    with client(server) as sdk:
        reply = sdk.chat.completions.create(model="echo", messages=ask(text))
    assert reply.choices[0].message.content == text
    assert echo.requests[-1]["messages"][0]["content"] == "Template <EMAIL_1> goes to <EMAIL_2>"


# -- redact and block -----------------------------------------------------------------------


def test_redact_mode_is_irreversible(serve_gateway, echo):
    server = serve_gateway(toml(echo, 'mode = "redact"'))
    with client(server) as sdk:
        reply = sdk.chat.completions.create(model="echo", messages=ask(PROMPT))
    assert reply.choices[0].message.content == (
        "Write to <EMAIL> or call <PHONE>; card <CREDIT_CARD>, SSN <US_SSN>, key <SECRET>."
    )
    assert_never_seen(echo, *ORIGINALS)


def test_modes_per_entity(serve_gateway, echo):
    server = serve_gateway(toml(echo, 'modes = { US_SSN = "redact", EMAIL = "mask" }'))
    with client(server) as sdk:
        reply = sdk.chat.completions.create(model="echo", messages=ask(f"{EMAIL} {SSN}"))
    assert reply.choices[0].message.content == f"{EMAIL} <US_SSN>"


def test_block_mode_names_the_types_never_the_values(serve_gateway, echo, tmp_path):
    log = tmp_path / "calls.log"
    pii = 'modes = { CREDIT_CARD = "block", US_SSN = "block" }'
    server = serve_gateway(
        toml(echo, pii, log=str(log)).replace(
            'plugin = "logging"', 'plugin = "logging"\ninclude_messages = true'
        )
    )
    with client(server) as sdk, pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(model="echo", messages=ask(PROMPT))
    error = refused.value
    assert error.status_code == 400 and error.code == "pii_detected"
    assert "CREDIT_CARD" in error.message and "US_SSN" in error.message
    assert CARD not in str(error.body) and SSN not in str(error.body)
    assert echo.requests == []  # nothing went upstream
    logged = wait_lines(log, 1)
    assert "pii_detected" in logged
    for value in ORIGINALS:
        assert value not in logged  # even with include_messages


# -- nothing leaks ----------------------------------------------------------------------------


def test_originals_never_reach_the_upstream_or_the_logs(serve_gateway, echo, tmp_path, caplog):
    log = tmp_path / "calls.log"
    server = serve_gateway(
        toml(echo, log=str(log)).replace(
            'plugin = "logging"', 'plugin = "logging"\ninclude_messages = true'
        )
    )
    with caplog.at_level(logging.DEBUG), client(server) as sdk:
        sdk.chat.completions.create(model="echo", messages=ask(PROMPT))
        list(sdk.chat.completions.create(model="echo", messages=ask(PROMPT), stream=True))
    logged = wait_lines(log, 2)
    assert len(logged.splitlines()) == 2 and "<EMAIL_1>" in logged  # messages were logged
    counts = json.loads(logged.splitlines()[0])["pii"]
    assert counts == {"EMAIL": 1, "PHONE": 1, "CREDIT_CARD": 1, "US_SSN": 1, "SECRET": 1}
    for value in ORIGINALS:
        assert value not in logged
        assert value not in caplog.text
    assert_never_seen(echo, *ORIGINALS)


def test_a_failing_detector_fails_closed(serve_gateway, echo, monkeypatch, caplog):
    from litegate.plugins.pii import detectors

    def broken(value: str) -> bool:
        raise RuntimeError(f"cannot check {value}")

    monkeypatch.setattr(detectors, "_ip_valid", broken)
    server = serve_gateway(toml(echo))
    with client(server) as sdk, pytest.raises(openai.InternalServerError) as failed:
        sdk.chat.completions.create(model="echo", messages=ask("host 10.1.2.3"))
    assert failed.value.code == "pii_check_failed"
    assert echo.requests == []
    assert "10.1.2.3" not in caplog.text


# -- per team and per key ----------------------------------------------------------------------


def test_overrides_per_key(serve_gateway, echo):
    pii = """
[[pipeline.overrides]]
key = "support-bot"
mode = "redact"

[[pipeline.overrides]]
key = "master"
enabled = false
"""
    server = serve_gateway(toml(echo, pii))
    with client(server, "sk-support") as sdk:
        reply = sdk.chat.completions.create(model="echo", messages=ask(EMAIL))
    assert reply.choices[0].message.content == "<EMAIL>"
    with client(server) as sdk:
        sdk.chat.completions.create(model="echo", messages=ask(EMAIL))
    assert echo.requests[-1]["messages"][0]["content"] == EMAIL  # PII handling is off


def test_custom_entities(serve_gateway, echo):
    pii = """
entities = ["EMAIL"]

[[pipeline.custom]]
name = "EMPLOYEE_ID"
pattern = "EMP-[0-9]{6}"

[[pipeline.custom]]
name = "PROJECT"
pattern = "project (?:falcon|osprey)"
ignore_case = true
mode = "redact"
"""
    server = serve_gateway(toml(echo, pii))
    with client(server) as sdk:
        reply = sdk.chat.completions.create(
            model="echo", messages=ask(f"EMP-123456 on Project Falcon, {SSN}")
        )
    assert reply.choices[0].message.content == f"EMP-123456 on <PROJECT>, {SSN}"
    assert echo.requests[-1]["messages"][0]["content"] == f"<EMPLOYEE_ID_1> on <PROJECT>, {SSN}"


# -- answers ------------------------------------------------------------------------------------


def test_scan_output_redacts_what_the_answer_brings_up(serve_gateway, echo):
    echo.answers["leaky"] = "Sure: her card is 5500 0000 0000 0004 and she wrote from "
    pii = 'scan_output = true\nmodes = { CREDIT_CARD = "redact" }'
    config = toml(echo, pii) + (
        '[[models]]\nname = "leaky"\nprovider = "openai"\nmodel = "leaky"\n'
        f'api_base = "{echo.base_url}"\napi_key = "k"\n'
    )
    server = serve_gateway(config)
    with client(server) as sdk:
        reply = sdk.chat.completions.create(model="leaky", messages=ask(f"who is {EMAIL}?"))
        streamed = assemble_stream(
            sdk.chat.completions.create(model="leaky", messages=ask("hi"), stream=True)
        )
    expected = "Sure: her card is <CREDIT_CARD> and she wrote from "
    assert reply.choices[0].message.content == expected
    assert streamed.text == expected


def test_scan_output_keeps_the_callers_own_values(serve_gateway, echo):
    server = serve_gateway(toml(echo, "scan_output = true"))
    with client(server) as sdk:
        reply = sdk.chat.completions.create(model="echo", messages=ask(PROMPT))
    assert reply.choices[0].message.content == PROMPT


# -- the Anthropic-compatible API -----------------------------------------------------------------


def test_anthropic_messages_api_is_masked_too(serve_gateway, echo):
    import anthropic

    server = serve_gateway(toml(echo))
    with anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0) as sdk:
        message = sdk.messages.create(
            model="echo", max_tokens=100, messages=[{"role": "user", "content": PROMPT}]
        )
        with sdk.messages.stream(
            model="echo-1", max_tokens=100, messages=[{"role": "user", "content": PROMPT}]
        ) as stream:
            streamed = "".join(stream.text_stream)
    assert message.content[0].text == PROMPT
    assert streamed == PROMPT
    assert_never_seen(echo, *ORIGINALS)

"""Property-based tests (hypothesis): whatever arrives, the parsers and translators answer with
a result or a 4xx `GatewayError`/`ConfigError`, never another exception (which would be a
500 or a crash at start-up), and the SSE decoder finds the same events however the bytes
are split. Bounded budgets so CI stays fast."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litegate import ConfigError, GatewayError, parse_config
from litegate.request_limits import RequestLimits, check_request
from litegate.sse import SSEDecoder, encode_event
from litegate.translation.anthropic_inbound import to_openai_request
from litegate.translation.anthropic_outbound import to_anthropic_request
from litegate.validation import validate

BUDGET = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: JSON values, biased towards the shapes requests have.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=25,
)
roles = st.sampled_from(["user", "assistant", "system", "developer", "tool", "bogus", 3])
parts = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.one_of(st.text(), json_values)}),
    st.fixed_dictionaries(
        {
            "type": st.just("image_url"),
            "image_url": st.one_of(json_values, st.just({"url": "data:image/png;base64,AAAA"})),
        }
    ),
    json_values,
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": roles},
        optional={
            "content": st.one_of(st.text(), st.lists(parts, max_size=3), json_values),
            "tool_calls": json_values,
            "tool_call_id": json_values,
            "name": json_values,
        },
    ),
    max_size=4,
)
chat_requests = st.fixed_dictionaries(
    {"model": st.one_of(st.just("m"), json_values), "messages": st.one_of(messages, json_values)},
    optional={
        "stream": json_values,
        "temperature": json_values,
        "max_tokens": json_values,
        "tools": json_values,
        "tool_choice": json_values,
        "response_format": json_values,
        "stop": json_values,
        "n": json_values,
        "metadata": json_values,
    },
)


@BUDGET
@given(body=st.one_of(chat_requests, json_values))
def test_validation_answers_or_raises_a_4xx(body):
    for endpoint in ("chat", "completions", "embeddings", "moderations", "rerank"):
        try:
            validate(endpoint, body)
            check_request(body, RequestLimits())
        except GatewayError as error:
            assert 400 <= error.status < 500


@BUDGET
@given(request=chat_requests)
def test_the_anthropic_outbound_translator_answers_or_raises_a_4xx(request):
    try:
        validate("chat", request)
    except GatewayError:
        return  # the pipeline stops such requests before any translator sees them
    try:
        to_anthropic_request(
            request, model="claude", default_max_tokens=1024, provider="anthropic", drop=True
        )
    except GatewayError as error:
        assert 400 <= error.status < 500


anthropic_blocks = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": json_values}),
    st.fixed_dictionaries(
        {"type": st.just("tool_use"), "id": json_values, "name": json_values, "input": json_values}
    ),
    st.fixed_dictionaries(
        {"type": st.just("tool_result"), "tool_use_id": json_values, "content": json_values}
    ),
    st.fixed_dictionaries({"type": st.just("image"), "source": json_values}),
    st.fixed_dictionaries({"type": st.just("thinking"), "thinking": json_values}),
    json_values,
)
anthropic_bodies = st.fixed_dictionaries(
    {
        "model": st.one_of(st.just("m"), json_values),
        "max_tokens": st.one_of(st.integers(1, 4096), json_values),
        "messages": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "role": st.sampled_from(["user", "assistant", "x"]),
                        "content": st.one_of(st.text(), st.lists(anthropic_blocks, max_size=3)),
                    }
                ),
                max_size=3,
            ),
            json_values,
        ),
    },
    optional={
        "system": st.one_of(st.text(), st.lists(anthropic_blocks, max_size=2), json_values),
        "tools": json_values,
        "tool_choice": json_values,
        "thinking": json_values,
        "stop_sequences": json_values,
        "metadata": json_values,
    },
)


@BUDGET
@given(body=st.one_of(anthropic_bodies, json_values))
def test_the_anthropic_inbound_translator_answers_or_raises_a_4xx(body):
    try:
        to_openai_request(body)
    except GatewayError as error:
        assert 400 <= error.status < 500


# -- SSE -------------------------------------------------------------------------------------

payloads = st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b)


@BUDGET
@given(
    events=st.lists(payloads.filter(lambda b: b.strip() != b""), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
    crlf=st.booleans(),
)
def test_sse_events_survive_any_split(events, cuts, crlf):
    stream = b"".join(encode_event(e) for e in events)
    if crlf:
        stream = stream.replace(b"\n", b"\r\n")
    points = sorted({c for c in cuts if c < len(stream)})
    # Never split a CRLF pair: a lone CR ending one read and LF starting the next is the one
    # ambiguity of the format, and no HTTP stack splits a line ending that way in practice.
    points = [p for p in points if not (crlf and stream[p - 1 : p] == b"\r")]
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    decoder = SSEDecoder()
    found = []
    for piece in pieces:
        found += decoder.feed(piece)
    found += decoder.flush()
    # `encode_event` writes "data: " + payload and a decoder removes exactly that one space
    # (the SSE rule), so a payload that starts with a space of its own keeps it.
    assert [data for _name, data in found] == events


@BUDGET
@given(st.lists(st.binary(max_size=60), max_size=8))
def test_the_sse_decoder_never_raises_on_garbage(blocks):
    decoder = SSEDecoder()
    for block in blocks:
        decoder.feed(block)
    decoder.flush()


# -- config ----------------------------------------------------------------------------------

toml_keys = st.sampled_from(
    ["host", "port", "workers", "max_body_size", "keep_alive_timeout", "max_json_depth", "bogus"]
)
toml_values = st.one_of(
    st.integers(-5, 70000).map(str),
    st.text(alphabet=string.ascii_letters + string.digits + " .${}:-", max_size=12).map(
        lambda t: '"' + t.replace('"', "") + '"'
    ),
    st.sampled_from(["true", "[]", "[1, 2]", "{ a = 1 }", '"10m"', '"12x"', '"16MiB"']),
)


@BUDGET
@given(
    server=st.dictionaries(toml_keys, toml_values, max_size=4),
    garbage=st.text(max_size=30),
    plugin=st.sampled_from(["auth", "logging", "router", "nope", ""]),
)
def test_config_parsing_reports_problems_and_never_crashes(server, garbage, plugin):
    lines = ["[server]", *(f"{k} = {v}" for k, v in server.items())]
    lines += [
        "[[pipeline]]",
        f'plugin = "{plugin}"',
        "[[models]]",
        'name = "m"',
        'provider = "mock"',
    ]
    for text in ("\n".join(lines), "\n".join(lines) + "\n" + garbage):
        try:
            parse_config(text, env={})
        except ConfigError as error:
            assert str(error)  # every problem is a message, with its path


def test_a_payload_that_starts_with_a_space_keeps_it():
    """The example hypothesis found: only the space after "data:" is the format's."""
    decoder = SSEDecoder()
    assert decoder.feed(encode_event(b" \x00")) + decoder.flush() == [(None, b" \x00")]


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ([{"type": "text", "text": None}], "messages[0].content[0].text"),
        ([{"type": "tool_use", "id": 1, "name": "f", "input": {}}], "messages[0].content[0].id"),
        ([{"type": "tool_use", "id": "t", "input": {}}], "messages[0].content[0].name"),
    ],
)
def test_a_wrongly_typed_assistant_block_is_a_400_naming_it(content, where):
    """Found by the property above: such blocks were a TypeError (a 500)."""
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": content}]}
    with pytest.raises(GatewayError) as raised:
        to_openai_request(body)
    assert raised.value.status == 400 and raised.value.param == where

import pytest

from litegate import GatewayError
from litegate.validation import validate

OK = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"model": 5}, "model", "invalid_type"),
        ({"model": None}, "model", "missing_required_parameter"),
        ({"messages": None}, "messages", "missing_required_parameter"),
        ({"stream": "yes"}, "stream", "invalid_type"),
        ({"max_tokens": 1.5}, "max_tokens", "invalid_type"),
        ({"temperature": True}, "temperature", "invalid_type"),
        ({"messages": []}, "messages", "invalid_value"),
        ({"messages": ["hi"]}, "messages[0]", "invalid_type"),
        ({"messages": [{"role": "robot"}]}, "messages[0].role", "invalid_value"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content", "invalid_type"),
    ],
)
def test_chat_errors_name_the_field(change, param, code):
    with pytest.raises(GatewayError) as raised:
        validate("chat", {**OK, **change})
    assert (raised.value.status, raised.value.param, raised.value.code) == (400, param, code)


def test_valid_bodies_pass():
    validate("chat", {**OK, "temperature": 1, "stop": ["x"], "tools": [], "user": None})
    validate("embeddings", {"model": "m", "input": ["a"]})
    validate("completions", {"model": "m", "prompt": "x"})


def test_missing_and_empty():
    with pytest.raises(GatewayError, match="'input'"):
        validate("embeddings", {"model": "m"})
    with pytest.raises(GatewayError, match="must not be empty"):
        validate("embeddings", {"model": "m", "input": []})


@pytest.mark.parametrize(
    ("content", "param"),
    [
        ([1], "messages[0].content[0]"),
        ([{"text": "x"}], "messages[0].content[0].type"),
        ([{"type": "text", "text": 5}], "messages[0].content[0].text"),
    ],
)
def test_content_parts(content, param):
    with pytest.raises(GatewayError) as raised:
        validate("chat", {"model": "m", "messages": [{"role": "user", "content": content}]})
    assert raised.value.param == param


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": [{"a": 1}]}, "input[0]"),
        ({"input": [[]]}, "input[0]"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
    ],
)
def test_embedding_inputs(body, param):
    with pytest.raises(GatewayError) as raised:
        validate("embeddings", {"model": "m", **body})
    assert raised.value.param == param


def test_token_id_inputs_are_valid():
    validate("embeddings", {"model": "m", "input": [1, 2, 3]})
    validate("embeddings", {"model": "m", "input": [[1, 2], [3]]})


@pytest.mark.parametrize(
    ("endpoint", "change", "param", "code"),
    [
        ("chat", {"n": 0}, "n", "integer_below_min_value"),
        ("chat", {"n": 129}, "n", "integer_above_max_value"),
        ("chat", {"max_tokens": -1}, "max_tokens", "integer_below_min_value"),
        ("chat", {"max_completion_tokens": 0}, "max_completion_tokens", "integer_below_min_value"),
        ("chat", {"temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ("chat", {"temperature": -1}, "temperature", "integer_below_min_value"),
        ("chat", {"top_p": 1.01}, "top_p", "decimal_above_max_value"),
        ("chat", {"presence_penalty": -2.1}, "presence_penalty", "decimal_below_min_value"),
        ("chat", {"frequency_penalty": 3}, "frequency_penalty", "integer_above_max_value"),
        ("chat", {"top_logprobs": 21}, "top_logprobs", "integer_above_max_value"),
        ("completions", {"n": 0}, "n", "integer_below_min_value"),
        ("embeddings", {"dimensions": 0}, "dimensions", "integer_below_min_value"),
        ("images", {"n": 11}, "n", "integer_above_max_value"),
        ("speech", {"speed": 5}, "speed", "integer_above_max_value"),
        ("rerank", {"top_n": 0}, "top_n", "integer_below_min_value"),
    ],
)
def test_values_out_of_openais_ranges_are_refused(endpoint, change, param, code):
    bodies = {
        "chat": OK,
        "completions": {"model": "m", "prompt": "x"},
        "embeddings": {"model": "m", "input": "x"},
        "images": {"model": "m", "prompt": "x"},
        "speech": {"model": "m", "input": "x", "voice": "alloy"},
        "rerank": {"model": "m", "query": "q", "documents": ["d"]},
    }
    with pytest.raises(GatewayError) as raised:
        validate(endpoint, {**bodies[endpoint], **change})
    error = raised.value
    assert (error.status, error.param, error.code) == (400, param, code)
    assert f"Invalid '{param}'" in error.message and "Expected a value" in error.message


def test_values_at_the_edges_of_the_ranges_pass():
    validate(
        "chat",
        {
            **OK,
            "n": 1,
            "temperature": 2,
            "top_p": 0,
            "max_tokens": 1,
            "presence_penalty": -2,
            "frequency_penalty": 2.0,
            "top_logprobs": 0,
        },
    )
    validate("chat", {**OK, "n": 128, "temperature": 0.0, "top_p": 1.0})


@pytest.mark.parametrize(
    ("message", "param", "code"),
    [
        ({"role": "user"}, "messages[0].content", "missing_required_parameter"),
        ({"role": "system", "content": None}, "messages[0].content", "missing_required_parameter"),
        ({"role": "assistant"}, "messages[0].content", "missing_required_parameter"),
        (
            {"role": "tool", "content": "42"},
            "messages[0].tool_call_id",
            "missing_required_parameter",
        ),
        (
            {"role": "tool", "content": "42", "tool_call_id": 7},
            "messages[0].tool_call_id",
            "invalid_type",
        ),
    ],
)
def test_messages_without_what_their_role_needs_are_refused(message, param, code):
    with pytest.raises(GatewayError) as raised:
        validate("chat", {"model": "m", "messages": [message]})
    assert (raised.value.status, raised.value.param, raised.value.code) == (400, param, code)


def test_an_assistant_message_may_only_call_tools_or_refuse():
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    validate(
        "chat",
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "content": "42", "tool_call_id": "c1"},
                {"role": "user", "content": ""},
                {"role": "assistant", "content": None, "refusal": "I can't help with that."},
                {"role": "user", "content": "ok"},
            ],
        },
    )

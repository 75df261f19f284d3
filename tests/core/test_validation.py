import pytest

from litegate import GatewayError
from litegate.validation import validate

OK = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"model": 5}, "model", "invalid_type"),
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
    ],
)
def test_embedding_inputs(body, param):
    with pytest.raises(GatewayError) as raised:
        validate("embeddings", {"model": "m", **body})
    assert raised.value.param == param


def test_token_id_inputs_are_valid():
    validate("embeddings", {"model": "m", "input": [1, 2, 3]})
    validate("embeddings", {"model": "m", "input": [[1, 2], [3]]})

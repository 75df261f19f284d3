"""Structural limits and forbidden parameters (`litegate.request_limits`)."""

from __future__ import annotations

import pytest

from litegate import GatewayError
from litegate.request_limits import FORBIDDEN_PARAMETERS, RequestLimits, check_request

LIMITS = RequestLimits(max_depth=8, max_messages=3, max_tools=2)
MESSAGES = [{"role": "user", "content": "hi"}]


def _refused(body, allowed=(), **kwargs) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        check_request(body, LIMITS, allowed, **kwargs)
    assert caught.value.status == 400
    return caught.value


@pytest.mark.parametrize("name", sorted(FORBIDDEN_PARAMETERS))
def test_every_forbidden_parameter_is_refused_at_the_top(name):
    error = _refused({"model": "m", "messages": MESSAGES, name: "http://169.254.169.254"})
    assert error.code == "forbidden_parameter" and error.param == name
    assert "169.254" not in error.message  # the value is not echoed


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"metadata": {"x": {"api_key": "k"}}}, "metadata.x.api_key"),
        ({"messages": [{"role": "user", "content": "x", "base_url": "u"}]}, "messages[0].base_url"),
        (
            {"extra_body": [{"deep": [{"extra_headers": {}}]}]},
            "extra_body[0].deep[0].extra_headers",
        ),
    ],
)
def test_forbidden_parameters_are_found_at_any_depth(body, where):
    assert _refused(body).param == where


def test_json_schemas_may_use_those_words_as_property_names():
    schema = {"type": "object", "properties": {"api_key": {"type": "string"}, "headers": {}}}
    check_request(
        {
            "messages": MESSAGES,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
            "response_format": {"type": "json_schema", "json_schema": {"schema": schema}},
        },
        LIMITS,
    )


def test_an_operator_may_allow_a_parameter_for_a_key_and_in_process_code_is_trusted():
    body = {"messages": MESSAGES, "api_version": "2024-10-21"}
    check_request(body, LIMITS, {"api_version"})
    check_request(body, LIMITS, trusted=True)
    assert _refused(body, {"api_key"}).param == "api_version"


def test_nesting_deeper_than_the_limit():
    deep: dict = {}
    cursor = deep
    for _ in range(10):
        cursor["a"] = {}
        cursor = cursor["a"]
    error = _refused({"metadata": deep})
    assert error.code == "nesting_too_deep"
    check_request({"metadata": {"a": {"b": [[1]]}}}, LIMITS)


def test_counts_of_messages_and_tools():
    assert _refused({"messages": MESSAGES * 4}).code == "too_many_items"
    tool = {"type": "function", "function": {"name": "f"}}
    assert _refused({"messages": MESSAGES, "tools": [tool] * 3}).param == "tools"
    check_request({"messages": MESSAGES * 3, "tools": [tool] * 2}, LIMITS)

import orjson

from litegate.usage import usage_from_body


def test_finds_usage_at_the_end_of_a_big_body():
    body = orjson.dumps(
        {
            "data": [{"embedding": [0.1] * 3000}],
            "usage": {"prompt_tokens": 7, "total_tokens": 7},
        }
    )
    usage = usage_from_body(body)
    assert usage is not None and usage.prompt_tokens == 7 and usage.total_tokens == 7


def test_details_and_spaces():
    body = b'{"usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "prompt_tokens_details": {"cached_tokens": 1}, "completion_tokens_details": {"reasoning_tokens": 1}}}'
    usage = usage_from_body(body)
    assert (usage.cached_tokens, usage.reasoning_tokens, usage.total_tokens) == (1, 1, 5)


def test_content_mentioning_usage_is_not_a_key():
    body = orjson.dumps({"choices": [{"message": {"content": 'say "usage": {}'}}], "usage": None})
    assert usage_from_body(body) is None
    assert usage_from_body(b'{"id": 1}') is None


def test_a_usage_object_cut_off_or_broken_gives_none():
    assert (
        usage_from_body(b'{"usage": {"prompt_tokens": 3, "completion_tokens_details": {"a": 1}')
        is None
    )
    assert usage_from_body(b'{"usage": {"prompt_tokens": 3,, "total_tokens": 5}}') is None


def test_keys_after_the_usage_object_and_nested_details_first():
    body = b'{"usage":{"prompt_tokens_details":{"cached_tokens":2},"prompt_tokens":4,"total_tokens":6},"system_fingerprint":"fp_1"}'
    usage = usage_from_body(body)
    assert (usage.prompt_tokens, usage.cached_tokens, usage.total_tokens) == (4, 2, 6)

"""The chain's contract: pipeline order on the way in, reverse on the way out, short-circuits,
rejections, scopes, streams and events -- with plugins written the way authors write them."""

from __future__ import annotations

from contextlib import asynccontextmanager

import attrs
import orjson
import pytest

from litegate import ConfigError, Gateway, GatewayError, Reply, hookimpl


def recorder(name: str, log: list[str], **behaviour):
    """A plugin class that records each hook it sees as "<name>.<hook>"."""

    class Recorder:
        @attrs.frozen
        class Config:
            pass

        def __init__(self, config):
            self.config = config

        @hookimpl
        async def pre_call(self, call):
            log.append(f"{name}.pre_call")
            if behaviour.get("reject"):
                raise GatewayError(429, f"{name} says slow down", code="rate_limited")
            call.request.setdefault("seen_by", []).append(name)

        @hookimpl
        def cache_lookup(self, call):
            log.append(f"{name}.cache_lookup")
            if behaviour.get("answer"):
                return Reply({"choices": [], "answered_by": name})
            return None

        @hookimpl
        def post_call(self, call, response):
            log.append(f"{name}.post_call")
            return {**response, "path": [*response.get("path", []), name]}

        @hookimpl
        def on_success(self, call):
            log.append(f"{name}.on_success")

        @hookimpl
        async def on_failure(self, call, error):
            log.append(f"{name}.on_failure:{error.code}")

        @hookimpl
        def call_scope(self, call):
            @asynccontextmanager
            async def scope():
                log.append(f"{name}.enter")
                try:
                    yield
                finally:
                    log.append(f"{name}.exit")

            return scope()

    return Recorder


def chain(log, *specs, models='[[models]]\nname = "m"\nprovider = "mock"\n'):
    plugins = {}
    lines = []
    for name, behaviour in specs:
        plugins[name] = recorder(name, log, **behaviour)
        lines.append(f'[[pipeline]]\nplugin = "{name}"\n')
    return Gateway.from_toml("".join(lines) + models, env={}, plugins=plugins)


MESSAGES = [{"role": "user", "content": "hi"}]


async def test_onion_order():
    log: list[str] = []
    async with chain(log, ("a", {}), ("b", {}), ("c", {})) as gw:
        response = await gw.chat(model="m", messages=MESSAGES)
    assert response["path"] == ["c", "b", "a"]
    assert log == [
        "a.enter", "b.enter", "c.enter",
        "a.pre_call", "a.cache_lookup", "b.pre_call", "b.cache_lookup",
        "c.pre_call", "c.cache_lookup",
        "c.post_call", "b.post_call", "a.post_call",
        "c.exit", "b.exit", "a.exit",
        "c.on_success", "b.on_success", "a.on_success",
    ]  # fmt: skip


async def test_short_circuit_runs_only_the_passed_plugins_response_side():
    log: list[str] = []
    async with chain(log, ("a", {}), ("b", {"answer": True}), ("c", {})) as gw:
        response = await gw.chat(model="m", messages=MESSAGES)
    assert response["answered_by"] == "b"
    assert response["path"] == ["b", "a"]
    assert "c.pre_call" not in log and "c.post_call" not in log


async def test_rejection_notifies_and_exits_scopes():
    log: list[str] = []
    async with chain(log, ("a", {}), ("b", {"reject": True}), ("c", {})) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
    assert raised.value.status == 429
    assert "c.pre_call" not in log
    assert log[-6:] == [
        "c.exit", "b.exit", "a.exit",
        "c.on_failure:rate_limited", "b.on_failure:rate_limited", "a.on_failure:rate_limited",
    ]  # fmt: skip


async def test_unknown_model_is_404():
    async with chain([]) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="nope", messages=MESSAGES)
    assert (raised.value.status, raised.value.code) == (404, "model_not_found")


async def test_async_first_hook_that_returns_none_lets_the_next_one_answer():
    class Quiet:
        @hookimpl
        async def cache_lookup(self, call):
            return None

    class Answers:
        @hookimpl
        async def cache_lookup(self, call):
            return Reply({"answered": True})

    toml = '[[pipeline]]\nplugin = "q"\n[[pipeline]]\nplugin = "a"\n[[models]]\nname = "m"\nprovider = "mock"\n'
    async with Gateway.from_toml(toml, {}, plugins={"q": Quiet, "a": Answers}) as gw:
        assert (await gw.chat(model="m", messages=MESSAGES))["answered"] is True


def test_reordering_options_are_refused():
    class Pushy:
        @hookimpl(tryfirst=True)
        def pre_call(self, call):
            pass

    with pytest.raises(ConfigError, match="tryfirst/trylast"):
        Gateway.from_toml('[[pipeline]]\nplugin = "p"\n', {}, plugins={"p": Pushy})


def test_pluggy_wrappers_are_refused():
    class Wrapper:
        @hookimpl(wrapper=True)
        def pre_call(self, call):
            return (yield)

    with pytest.raises(ConfigError, match="call_scope"):
        Gateway.from_toml('[[pipeline]]\nplugin = "w"\n', {}, plugins={"w": Wrapper})


def test_unknown_hook_names_are_refused():
    class Typo:
        @hookimpl
        def pre_cal(self, call):
            pass

    with pytest.raises(ConfigError, match="pre_cal"):
        Gateway.from_toml('[[pipeline]]\nplugin = "t"\n', {}, plugins={"t": Typo})


def test_async_stream_chunk_hook_is_refused():
    class Slow:
        @hookimpl
        async def on_stream_chunk(self, chunk):
            return chunk

    with pytest.raises(ConfigError, match="plain def"):
        Gateway.from_toml('[[pipeline]]\nplugin = "s"\n', {}, plugins={"s": Slow})


def test_unimplemented_hooks_cost_nothing():
    gw = Gateway.from_toml('[[models]]\nname = "m"\nprovider = "mock"\n', {})
    assert gw.dispatcher.impls("pre_call") == ()
    assert gw.pipeline._steps == ((-1, 2, None),)  # only the body check
    assert gw.pipeline.passthrough_streams


def test_plugin_setup_errors_name_the_entry():
    class Broken:
        def __init__(self):
            raise ValueError("needs a database")

    with pytest.raises(ConfigError) as raised:
        Gateway.from_toml('[[pipeline]]\nplugin = "b"\n', {}, plugins={"b": Broken})
    assert raised.value.problems == ["pipeline[0] (b): could not be set up: needs a database"]


async def test_stream_chunk_hooks_change_and_drop_chunks_and_add_a_tail():
    class Upper:
        @hookimpl
        def on_stream_chunk(self, chunk):
            for choice in chunk["choices"]:
                content = choice["delta"].get("content")
                if content == " is":
                    return None  # dropped
                if content:
                    choice["delta"]["content"] = content.upper()
            return chunk

        @hookimpl
        def on_stream_end(self, tail):
            return [*tail, {"choices": [{"index": 0, "delta": {"content": "!"}}]}]

    toml = '[[pipeline]]\nplugin = "u"\n[[models]]\nname = "m"\nprovider = "mock"\nreply = "this is it"\n'
    async with Gateway.from_toml(toml, {}, plugins={"u": Upper}) as gw:
        chunks = [c async for c in await gw.chat(model="m", messages=MESSAGES, stream=True)]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "THIS IT!"
    assert all(c["choices"] for c in chunks)  # no usage chunk: not asked for


async def test_stream_usage_chunk_when_asked():
    async with Gateway.from_toml('[[models]]\nname = "m"\nprovider = "mock"\n', {}) as gw:
        chunks = [
            c
            async for c in await gw.chat(
                model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        ]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


async def test_route_hook_chooses_the_deployment():
    class Last:
        @hookimpl
        def route(self, deployments):
            return deployments[-1]

    toml = (
        '[[pipeline]]\nplugin = "r"\n'
        '[[models]]\nname = "m"\nprovider = "mock"\nmodel = "one"\n'
        '[[models]]\nname = "m"\nprovider = "mock"\nmodel = "two"\n'
    )
    async with Gateway.from_toml(toml, {}, plugins={"r": Last}) as gw:
        assert (await gw.chat(model="m", messages=MESSAGES))["model"] == "two"
        assert [d.id for d in gw.deployments["m"]] == ["m#0", "m#1"]


async def test_event_hook_failures_never_break_the_response(caplog):
    class Broken:
        @hookimpl
        def on_success(self, call):
            raise RuntimeError("boom")

    toml = '[[pipeline]]\nplugin = "b"\n[[models]]\nname = "m"\nprovider = "mock"\n'
    async with Gateway.from_toml(toml, {}, plugins={"b": Broken}) as gw:
        assert (await gw.chat(model="m", messages=MESSAGES))["choices"]
    assert "failed in an event hook" in caplog.text


async def test_unexpected_plugin_error_is_a_500_without_details(caplog):
    class Buggy:
        @hookimpl
        def pre_call(self, call):
            raise KeyError("internal detail /srv/secret/path")

    toml = '[[pipeline]]\nplugin = "b"\n[[models]]\nname = "m"\nprovider = "mock"\n'
    async with Gateway.from_toml(toml, {}, plugins={"b": Buggy}) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
    assert raised.value.status == 500 and raised.value.code == "internal_error"
    assert "/srv/secret" not in raised.value.message
    assert "/srv/secret" in caplog.text  # ...but the operator's log has it


async def test_startup_and_shutdown_order():
    log: list[str] = []

    def lifecycle(name):
        class Plugin:
            @hookimpl
            async def startup(self, gateway):
                log.append(f"{name}.startup")

            @hookimpl
            def shutdown(self):
                log.append(f"{name}.shutdown")

        return Plugin

    toml = '[[pipeline]]\nplugin = "a"\n[[pipeline]]\nplugin = "b"\n'
    gw = Gateway.from_toml(toml, {}, plugins={"a": lifecycle("a"), "b": lifecycle("b")})
    async with gw:
        assert gw.ready
    assert log == ["a.startup", "b.startup", "b.shutdown", "a.shutdown"]


_RAW_ANSWER = (
    b'{"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}'
)


def _post_call_chain(names: list[str], seen: list[tuple[str, object]]) -> Gateway:
    """`names` in pipeline order, then a plugin answering with raw bytes. A "raw" plugin's
    post_call takes `reply` (and it records the call's usage at the end); a "body" one's
    takes `response`."""

    class RawReader:
        @hookimpl
        def post_call(self, call, reply):
            seen.append(("raw", reply.parsed))

        @hookimpl
        def on_success(self, call):
            seen.append(("usage", call.usage.total_tokens))

    class BodyReader:
        @hookimpl
        def post_call(self, call, response):
            seen.append(("body", response))

    class Answers:
        @hookimpl
        def cache_lookup(self, call):
            return Reply(raw=_RAW_ANSWER)

    plugins = {"raw": RawReader, "body": BodyReader, "answers": Answers}
    lines = [f'[[pipeline]]\nplugin = "{name}"\n' for name in [*names, "answers"]]
    toml = "".join(lines) + '[[models]]\nname = "m"\nprovider = "mock"\n'
    return Gateway.from_toml(toml, env={}, plugins=plugins)


async def test_post_call_taking_reply_sees_the_answer_before_it_is_parsed():
    # Nobody takes `response`: the answer is never parsed, its usage read from the bytes.
    seen: list[tuple[str, object]] = []
    async with _post_call_chain(["raw"], seen) as gw:
        await gw.chat(model="m", messages=MESSAGES)
    assert seen == [("raw", None), ("usage", 7)]
    # The response side runs in reverse: "raw" first sees nothing parsed, then "body" gets
    # the parsed answer.
    seen.clear()
    async with _post_call_chain(["body", "raw"], seen) as gw:
        await gw.chat(model="m", messages=MESSAGES)
    assert seen == [("raw", None), ("body", orjson.loads(_RAW_ANSWER)), ("usage", 7)]
    # "body" first: "raw" then sees the body parsed for it.
    seen.clear()
    async with _post_call_chain(["raw", "body"], seen) as gw:
        await gw.chat(model="m", messages=MESSAGES)
    assert seen == [("body", orjson.loads(_RAW_ANSWER)), ("raw", seen[0][1]), ("usage", 7)]

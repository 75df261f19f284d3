"""The attempt loop: a ``retry`` impl decides what follows a failed attempt (another
deployment, another alias, or giving up); every attempt is recorded; streams are retryable
until their first chunk."""

from __future__ import annotations

import pytest

from litegate import Gateway, GatewayError, Reply, ReplyStream, Retry, hookimpl
from litegate.errors import upstream_error
from litegate.provider import ProviderAdapter

MESSAGES = [{"role": "user", "content": "hi"}]


class Scripted(ProviderAdapter):
    """Behaves as its deployment's model says: "ok", "fail-<status>", "fail-mid-stream"."""

    uses_http = False

    @hookimpl
    async def provider_call(self, call, deployment):
        model = deployment.model
        if model.startswith("fail-") and model != "fail-mid-stream":
            failure = upstream_error(
                int(model.removeprefix("fail-")),
                {"error": {"message": "scripted", "code": model}},
                provider="scripted",
                deployment=deployment.id,
            )
            if call.stream:
                return ReplyStream(_chunks(model, fail_at=0, error=failure))
            raise failure
        if call.stream:
            fail_at = 1 if model == "fail-mid-stream" else None
            return ReplyStream(_chunks(model, fail_at=fail_at))
        return Reply({"object": "chat.completion", "model": model, "choices": []})


async def _chunks(model, fail_at=None, error=None):
    for index in range(3):
        if index == fail_at:
            raise error or GatewayError(502, "broke mid-stream", code="upstream_error")
        yield {"model": model, "choices": [{"index": 0, "delta": {"content": f"{index} "}}]}


class NextThenFallback:
    """Tries the alias's next deployment, then each deployment of alias "backup"; gives up
    on 400s."""

    @hookimpl
    def retry(self, call, error, attempt, deployments):
        if error.status == 400:
            return None
        tried = {a.deployment for a in call.attempts}
        for deployment in [*deployments[call.alias], *deployments.get("backup", ())]:
            if deployment.id not in tried:
                return Retry(deployment, delay=0.01)
        return None


def gateway(*models: tuple[str, str], retry: type | None = NextThenFallback) -> Gateway:
    toml = '[[pipeline]]\nplugin = "r"\n' if retry else ""
    for alias, model in models:
        toml += f'[[models]]\nname = "{alias}"\nprovider = "scripted"\nmodel = "{model}"\n'
    plugins = {"r": retry} if retry else {}
    return Gateway.from_toml(toml, {}, plugins=plugins, providers={"scripted": Scripted})


async def test_a_failed_attempt_is_retried_on_the_next_deployment():
    gw = gateway(("m", "fail-500"), ("m", "ok"))
    async with gw:
        call = gw.new_call("chat", {"model": "m", "messages": MESSAGES})
        run = await gw.run(call)
        await run.finish()
    assert run.reply is not None and run.reply.data["model"] == "ok"
    assert [(a.deployment, a.status, a.error) for a in call.attempts] == [
        ("m#0", 502, "upstream_error"),
        ("m#1", 200, None),
    ]
    assert all(a.duration is not None and a.duration >= 0 for a in call.attempts)
    assert call.deployment is gw.deployments["m"][1]


async def test_fallback_to_another_alias():
    async with gateway(("m", "fail-503"), ("backup", "ok")) as gw:
        assert (await gw.chat(model="m", messages=MESSAGES))["model"] == "ok"


async def test_giving_up_sends_the_last_error():
    async with gateway(("m", "fail-500"), ("m", "fail-429")) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
    assert raised.value.status == 429


async def test_a_400_is_not_retried_when_the_impl_says_so():
    gw = gateway(("m", "fail-400"), ("m", "ok"))
    async with gw:
        call = gw.new_call("chat", {"model": "m", "messages": MESSAGES})
        with pytest.raises(GatewayError) as raised:
            await gw.run(call)
    assert raised.value.status == 400
    assert [a.deployment for a in call.attempts] == ["m#0"]


async def test_without_a_retry_impl_one_attempt_is_all():
    gw = gateway(("m", "fail-500"), ("m", "ok"), retry=None)
    assert gw.pipeline._retry == ()
    async with gw:
        call = gw.new_call("chat", {"model": "m", "messages": MESSAGES})
        with pytest.raises(GatewayError) as raised:
            await gw.run(call)
    assert raised.value.status == 502
    assert [(a.deployment, a.status) for a in call.attempts] == [("m#0", 502)]


async def test_a_stream_failing_before_its_first_chunk_is_retried():
    async with gateway(("m", "fail-500"), ("m", "ok")) as gw:
        chunks = await gw.chat(model="m", messages=MESSAGES, stream=True)
        received = [chunk async for chunk in chunks]
    assert [c["choices"][0]["delta"]["content"] for c in received] == ["0 ", "1 ", "2 "]
    assert {c["model"] for c in received} == {"ok"}


async def test_a_stream_failing_after_its_first_chunk_ends_with_an_error_event():
    gw = gateway(("m", "fail-mid-stream"), ("m", "ok"))
    async with gw:
        call = gw.new_call("chat", {"model": "m", "messages": MESSAGES, "stream": True})
        run = await gw.run(call)
        frames = [frame async for frame in run.sse()]
    assert frames[0].startswith(b"data: {") and b'"0 "' in frames[0]
    assert b"broke mid-stream" in frames[-1]
    assert [(a.deployment, a.status, a.error) for a in call.attempts] == [
        ("m#0", 502, "upstream_error")
    ]
    assert call.status == 502


async def test_a_retry_impl_returning_none_lets_the_next_impl_decide():
    class Abstains:
        @hookimpl
        async def retry(self, error):
            return None

    toml = (
        '[[pipeline]]\nplugin = "a"\n[[pipeline]]\nplugin = "r"\n'
        '[[models]]\nname = "m"\nprovider = "scripted"\nmodel = "fail-500"\n'
        '[[models]]\nname = "m"\nprovider = "scripted"\nmodel = "ok"\n'
    )
    plugins = {"a": Abstains, "r": NextThenFallback}
    async with Gateway.from_toml(toml, {}, plugins=plugins, providers={"scripted": Scripted}) as gw:
        assert (await gw.chat(model="m", messages=MESSAGES))["model"] == "ok"


async def test_an_impl_that_never_gives_up_is_stopped():
    class Forever:
        @hookimpl
        def retry(self, call, deployments):
            return Retry(deployments[call.alias][0])

    async with gateway(("m", "fail-503"), retry=Forever) as gw:
        with pytest.raises(GatewayError) as raised:
            await gw.chat(model="m", messages=MESSAGES)
    assert raised.value.status == 502

"""Per-team overrides and config errors, in process (principals with a team)."""

from __future__ import annotations

import pytest

from litegate import ConfigError, Gateway, Principal

TOML = """
[[pipeline]]
plugin = "pii"
modes = { US_SSN = "block" }

[[pipeline.overrides]]
team = "support"
mode = "redact"
modes = { US_SSN = "redact" }

[[pipeline.overrides]]
team = "research"
entities = ["EMAIL"]

[[models]]
name = "m"
provider = "mock"
"""


async def said(gateway: Gateway, text: str, team: str | None) -> str:
    principal = Principal("k", "static", team=team)
    call = gateway.new_call(
        "chat", {"model": "m", "messages": [{"role": "user", "content": text}]}, principal=principal
    )
    run = await gateway.run(call)
    await run.finish()
    assert run.reply is not None
    return str(run.reply.data["choices"][0]["message"]["content"]).split("You said: ")[1]


async def test_team_overrides():
    from litegate import GatewayError

    text = "a@b.io 123-45-6789"
    async with Gateway.from_toml(TOML, {}) as gateway:
        with pytest.raises(GatewayError) as refused:
            await said(gateway, text, None)
        assert refused.value.code == "pii_detected"
        assert await said(gateway, text, "support") == "<EMAIL> <US_SSN>"
        # research: only emails are looked for, and the plugin's US_SSN mode is dropped.
        assert await said(gateway, text, "research") == text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[pipeline.overrides]]\nmode = "redact"', "exactly one of team or key"),
        ('[[pipeline.overrides]]\nteam = "a"\nmodes = { PASSPORT = "redact" }', "not among"),
        ('[[pipeline.overrides]]\nteam = "a"\nmode = "shred"', "expected one of"),
    ],
)
def test_override_errors(extra, message):
    toml = TOML.replace("[[models]]", extra + "\n\n[[models]]")
    with pytest.raises(ConfigError, match=message):
        Gateway.from_toml(toml, {})
